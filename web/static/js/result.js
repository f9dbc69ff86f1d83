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
