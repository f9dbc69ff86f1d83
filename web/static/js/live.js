// Live camera reading: the last readings as a strip, and whether the vote has settled, so that
// the user sees it go from a half-written stroke to a steady answer.

import { el } from "./dom.js";

export const HISTORY = 12;        // readings kept in the strip
export const STEADY = 4;          // this many readings in a row on one class: settled

export class LiveStrip {
  constructor({ panel, summary, strip }) {
    Object.assign(this, { panel, summary, strip });
    this.rows = [];               // newest last: {status, class_name, agreement, members_total, confidence}
  }

  reset(on) {
    this.rows = [];
    this.panel.hidden = !on;
    this.render();
  }

  // Adds one reading; returns the settled class name (or null) after it.
  add(row) {
    this.rows.push(row);
    if (this.rows.length > HISTORY) this.rows.shift();
    this.render();
    return this.settled;
  }

  get settled() {
    const last = this.rows.slice(-STEADY);
    if (last.length < STEADY || last.some((r) => r.status !== "ok")) return null;
    return last.every((r) => r.class_name === last[0].class_name) ? last[0].class_name : null;
  }

  render() {
    const settled = this.settled;
    const latest = this.rows.at(-1);
    let text;
    if (!latest) text = "Waiting for the first frame…";
    else if (settled !== null) {
      const last = this.rows.slice(-STEADY);
      const agree = Math.min(...last.map((r) => r.agreement));
      text = [el("span", { class: "live-digit", "data-testid": "live-settled" }, settled),
        el("span", {}, el("b", {}, "Settled"), ` · the last ${STEADY} readings agree; at least ${agree} of ` +
          `${latest.members_total} members each time`)];
    } else if (latest.status !== "ok") text = `Settling… ${latest.status.startsWith("no digit") ? "no digit in the square" : latest.status}`;
    else text = `Settling… latest reading ${latest.class_name} (${latest.agreement} of ${latest.members_total})`;
    this.summary.replaceChildren(...[text].flat());
    this.summary.classList.toggle("settled", settled !== null);
    this.strip.replaceChildren(...this.rows.map((r, i) => {
      const ok = r.status === "ok";
      const level = !ok ? "none" : r.agreement === r.members_total ? "full" : r.agreement > r.members_total / 2 ? "partial" : "split";
      return el("li", { class: `chip ${level}${i === this.rows.length - 1 ? " latest" : ""}`, "data-testid": "live-reading",
        title: ok ? `${r.class_name}: ${r.agreement} of ${r.members_total} members, confidence ${(100 * r.confidence).toFixed(1)} %` : r.status },
      el("b", {}, ok ? r.class_name : "–"),
      el("small", {}, ok ? `${r.agreement}/${r.members_total}` : ""),
      el("span", { class: "conf", style: `height:${ok ? (100 * r.confidence).toFixed(0) : 0}%` }));
    }));
  }
}
