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

// Call fn once things have been quiet for `ms`; with `maxWait`, also at least every `maxWait` ms
// while calls keep coming (the vote follows the pen during a long stroke, not only after it).
export function debounce(fn, ms, maxWait = Infinity) {
  let timer = null;
  let first = null;                 // when the current burst of calls began
  return (...args) => {
    const now = performance.now();
    if (first === null) first = now;
    clearTimeout(timer);
    const wait = Math.max(0, Math.min(ms, first + maxWait - now));
    timer = setTimeout(() => {
      first = null;
      fn(...args);
    }, wait);
  };
}
