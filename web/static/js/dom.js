// el("div", {class: "x"}, child, "text", ...): a tiny element builder. Text is always set as
// text (never parsed as HTML), so file names and server messages cannot inject markup.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "style") {
      node.style.cssText = value;      // CSSOM, not an inline style attribute: allowed by the page's CSP
      continue;
    }
    node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Call fn at most once per `ms` of quiet.
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
