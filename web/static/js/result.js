// The result panel: the vote, agreement, confidence, a sentence when the tie-break decided,
// the 28x28 image the networks saw, and each member's vote with its probability bars.

import { el } from "./dom.js";

const pct = (p) => `${(100 * p).toFixed(1)} %`;

// Which classes tied on votes, and their probabilities summed over the members.
function tieSentence(row, classNames) {
  const counts = new Map();
  for (const k of Object.values(row.members)) counts.set(k, (counts.get(k) || 0) + 1);
  const top = Math.max(...counts.values());
  const tied = [...counts.keys()].filter((k) => counts.get(k) === top).sort((a, b) => a - b);
  const names = tied.map((k) => classNames[k]);
  const split = [...counts.values()].sort((a, b) => b - a).join("–");
  let sums = "";
  if (row.member_probs) {
    const sum = (k) => Object.values(row.member_probs).reduce((s, p) => s + p[k], 0);
    sums = ` (${tied.map((k) => `${classNames[k]}: ${sum(k).toFixed(2)}`).join(" vs ")})`;
  }
  const list = names.length === 2 ? `${names[0]} and ${names[1]}` : `${names.slice(0, -1).join(", ")} and ${names.at(-1)}`;
  return `The members split ${split}: ${list} got ${top} vote${top === 1 ? "" : "s"} each. ` +
    `The tie was broken by the probabilities summed over all ${row.members_total} members, which are highest ` +
    `for ${classNames[row.prediction]}${sums}.`;
}

export function renderResult(target, row, doc, source) {
  target.replaceChildren();
  if (row.status !== "ok") {
    target.append(
      el("p", { class: "note bad" }, `Could not read ${source ? `“${source}”` : "this image"}: ${row.status}.`),
      el("p", { class: "placeholder" },
        row.status.startsWith("no digit") ? "Draw or photograph a darker, larger digit." : "Try another image."),
    );
    return;
  }
  const classNames = doc.class_names;
  const total = row.members_total;
  const level = row.agreement === total ? "full" : row.agreement > total / 2 ? "partial" : "split";
  const verdict = el("div", { class: `verdict ${level}` },
    el("div", { class: "digit", "data-testid": "prediction", "aria-label": `prediction ${row.class_name}` }, row.class_name),
    el("div", { class: "facts" },
      el("div", { class: "agreement", "data-testid": "agreement" },
        el("b", {}, `${row.agreement} of ${total}`), ` members vote ${row.class_name}`),
      el("div", { class: "confidence" }, "confidence ", el("b", {}, pct(row.confidence)),
        el("span", { class: "meter", title: "the winner's probability averaged over all members" },
          el("span", { style: `width:${(100 * row.confidence).toFixed(1)}%` }))),
      source ? el("div", { class: "source" }, source) : null),
    row.image_png ? el("figure", { class: "seen-fig" },
      el("img", { src: `data:image/png;base64,${row.image_png}`, alt: "the 28×28 image the networks saw" }),
      el("figcaption", {}, "what the networks saw", el("br"), "(28×28, normalized)")) : null);
  target.append(verdict);

  if (row.tie_break) target.append(el("p", { class: "note", "data-testid": "tie" }, tieSentence(row, classNames)));
  else if (level === "split") {
    target.append(el("p", { class: "note" },
      `Only ${row.agreement} of ${total} members agree: the networks are unsure about this one.`));
  }

  target.append(el("div", { class: "members-head" }, "Each member's vote",
    el("small", {}, "bars: its probability for each class")));
  const grid = el("div", { class: "members" });
  for (const name of doc.members) {
    const vote = row.members[name];
    const probs = row.member_probs ? row.member_probs[name] : null;
    const card = el("div", { class: `member${vote !== row.prediction ? " dissent" : ""}`, "data-member": name },
      el("div", { class: "member-top" },
        el("span", { class: "member-name" }, name),
        el("span", { class: "member-vote" }, "votes ", el("b", {}, classNames[vote]),
          probs ? ` · ${pct(probs[vote])}` : "")));
    if (probs) {
      card.append(el("div", { class: "bars", role: "img",
        "aria-label": `${name}: ${probs.map((p, k) => `${classNames[k]} ${pct(p)}`).join(", ")}` },
      ...probs.map((p, k) => el("div", { class: `bar${k === vote ? " voted" : ""}`, title: `${classNames[k]}: ${pct(p)}` },
        el("span", { class: "fill", style: `height:${Math.max(0, Math.min(100, 100 * p)).toFixed(1)}%` })))));
      card.append(el("div", { class: "bar-labels" },
        ...classNames.map((c, k) => el("span", { class: k === vote ? "win" : "" }, c))));
    }
    grid.append(card);
  }
  target.append(grid);
}

// ---- a number (POST /api/vote?mode=number): the text, each digit's vote, the boxes --------------
const levelOf = (agreement, total) => (agreement === total ? "full" : agreement > total / 2 ? "partial" : "split");
// A digit of a touching pair was read by the pair reader, not voted on by the members (their
// agreement counts one-digit votes on the pair's crop): "check it", not a split vote.
const digitLevel = (d, total) => (d.pair ? "partial" : levelOf(d.agreement, total));
const RANK = { full: 2, partial: 1, split: 0 };

// Draws the digit boxes (x0, y0, x1, y1 in the image's pixels) on a 2-D context, `scale` image
// pixels -> canvas pixels, each labelled with its vote; `selected` gets a thicker frame.
export function drawBoxes(ctx, digits, total, scale = 1, selected = -1) {
  const colours = { full: "#2b8a3e", partial: "#d9480f", split: "#c92a2a" };
  const px = Math.max(1, scale * 2);
  ctx.font = `700 ${Math.round(Math.max(12, 16 * Math.max(1, scale)))}px system-ui, sans-serif`;
  ctx.textBaseline = "bottom";
  for (const d of digits) {
    const [x0, y0, x1, y1] = d.box.map((v) => v * scale);
    const colour = colours[digitLevel(d, total)];
    ctx.strokeStyle = ctx.fillStyle = colour;
    ctx.lineWidth = d.index === selected ? 2 * px : px;
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    // the vote beside the class where it fits before the next box on the line (a pair's two
    // boxes touch, a 1's box is narrow): else the class alone, the cards below say the rest
    const next = Math.min(...digits.filter((o) => o.line === d.line && o.box[0] > d.box[0]).map((o) => o.box[0] * scale));
    const long = `${d.class_name} ${d.agreement}/${total}`;
    const label = !d.pair && ctx.measureText(long).width + 8 <= next - x0 ? long : d.class_name;
    const w = ctx.measureText(label).width + 6;
    const top = y0 > 20 * Math.max(1, scale) ? y0 - 1 : y1 + 20 * Math.max(1, scale);
    ctx.fillRect(x0 - px / 2, top - 19 * Math.max(1, scale), w, 19 * Math.max(1, scale));
    ctx.fillStyle = "#fff";
    ctx.fillText(label, x0 + 3, top - 2);
  }
}

// The input picture with its digit boxes, as a canvas (uploads and snapshots: the drawing pad
// draws its boxes over itself).
async function boxedPicture(blob, row) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(blob);
  } catch {
    return null;                                   // a format the browser cannot show (TIFF...)
  }
  const scale = Math.min(1, 900 / bitmap.width);
  const canvas = el("canvas", { class: "boxed", "data-testid": "number-boxes",
    "aria-label": `the image with the ${row.digits.length} digit boxes` });
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  drawBoxes(ctx, row.digits, row.members_total, scale);
  return canvas;
}

// onDigit(digit): a digit card was chosen (the "inside" views follow it).
export function renderNumber(target, row, doc, source, { blob = null, onDigit = null } = {}) {
  target.replaceChildren();
  if (row.status !== "ok") {
    target.append(
      el("p", { class: "note bad" }, `Could not read ${source ? `“${source}”` : "this image"}: ${row.status}.`),
      el("p", { class: "placeholder" }, "Write the digits side by side in dark strokes, with a little space between them."));
    return;
  }
  const total = row.members_total;
  const level = row.digits.map((d) => digitLevel(d, total)).reduce((a, b) => (RANK[b] < RANK[a] ? b : a), "full");
  const voted = row.digits.filter((d) => !d.pair);               // the members' own digits
  const pairs = row.digits.length - voted.length;
  const weakest = voted.reduce((a, d) => (d.agreement < a.agreement ? d : a), voted[0]);
  const pairCount = pairs / 2;                                   // a pair gives two digits
  const pairNote = pairs ? `; ${pairCount} touching pair${pairCount === 1 ? "" : "s"} read by the pair reader` : "";
  // "every one" of several digits, "the other digit" or "each of the others" beside pairs, "it" alone
  const whom = voted.length === 1 ? (pairs ? "the other digit" : "it") : pairs ? "each of the others" : "every one";
  target.append(el("div", { class: `verdict number ${level}` },
    el("div", { class: "number-text", "data-testid": "number-text", "aria-label": `number ${row.text}` }, row.text),
    el("div", { class: "facts" },
      el("div", { class: "agreement", "data-testid": "agreement" },
        el("b", {}, `${row.digits.length} digit${row.digits.length === 1 ? "" : "s"}`),
        !weakest ? "" : weakest.agreement === total ? `, all ${total} members agree on ${whom}`
          : `; weakest: the ${ordinal(weakest.index + 1)} digit, ${weakest.agreement} of ${total} members`,
        pairNote),
      el("div", { class: "confidence", title: "the confidence of the least sure digit" },
        el("span", { class: "nowrap" }, "lowest confidence"), el("b", {}, pct(row.confidence)),
        el("span", { class: "meter" }, el("span", { style: `width:${(100 * row.confidence).toFixed(1)}%` }))),
      row.lines.length > 1 ? el("div", { class: "source" }, `${row.lines.length} lines: ${row.lines.join(" / ")}`) : null,
      source ? el("div", { class: "source" }, source) : null)));

  const pictureSlot = el("div", { class: "boxed-wrap" });
  target.append(pictureSlot);
  if (blob) boxedPicture(blob, row).then((c) => c && pictureSlot.append(c));

  target.append(el("div", { class: "members-head" }, "Each digit's vote",
    el("small", {}, "28×28 input · vote · members agreeing")));
  const cards = el("div", { class: "digits" });
  row.digits.forEach((d) => {
    const dissent = Object.entries(d.members).filter(([, k]) => k !== d.prediction);
    const card = el("button", { type: "button", class: `digit-card ${digitLevel(d, total)}`, "data-testid": "number-digit",
      title: "show this digit in the views below" },
    d.image_png ? el("img", { src: `data:image/png;base64,${d.image_png}`, alt: `digit ${d.index + 1} as the networks saw it` }) : null,
    el("b", {}, d.class_name),
    el("span", { class: "agree" }, d.pair ? "pair" : `${d.agreement}/${total}`),
    el("span", { class: "meter" }, el("span", { style: `width:${(100 * d.confidence).toFixed(1)}%` })),
    // a pair's digits: the pair reader read two touching digits in one crop, the members saw one digit there
    el("small", { title: d.pair ? "the members saw one digit in this pair's crop" : null },
      d.pair ? "pair reader: read with its neighbour"
      : dissent.length ? dissent.map(([m, k]) => `${m}: ${doc.class_names[k]}`).join(", ") : "unanimous"));
    card.addEventListener("click", () => {
      for (const c of cards.children) c.classList.toggle("chosen", c === card);
      onDigit?.(d);
    });
    cards.append(card);
  });
  cards.firstChild?.classList.add("chosen");
  target.append(cards);
  if (row.digits.some((d) => d.tie_break)) {
    target.append(el("p", { class: "note", "data-testid": "tie" },
      "For at least one digit the members' votes tied; the probabilities summed over all members decided."));
  }
}

function ordinal(n) {
  const s = ["th", "st", "nd", "rd"];
  const v = n % 100;
  return `${n}${s[(v - 20) % 10] || s[v] || s[0]}`;
}
