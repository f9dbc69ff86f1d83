// Upload: a file picker and drag and drop. One file shows its result; several give a table,
// one row per file, and clicking a row shows its details.

import { vote } from "./api.js";
import { el } from "./dom.js";

export class Uploads {
  constructor({ input, dropzone, table, message, limits, onSelect, mode = () => "digit" }) {
    this.mode = mode;              // () -> "digit" | "number": what each image holds
    this.input = input;
    this.table = table;
    this.tbody = table.querySelector("tbody");
    this.message = message;
    this.limits = limits;          // {maxFileBytes, maxFiles}, filled from /api/health
    this.onSelect = onSelect;      // (row, doc, name) -> show it in the result panel
    this.urls = [];
    input.addEventListener("change", () => {
      this.read([...input.files]);
      input.value = "";            // choosing the same file again still fires "change"
    });
    dropzone.addEventListener("dragover", (e) => {
      e.preventDefault();
      dropzone.classList.add("over");
    });
    dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
    dropzone.addEventListener("drop", (e) => {
      e.preventDefault();
      dropzone.classList.remove("over");
      this.read([...e.dataTransfer.files]);
    });
  }

  say(text, error = false) {
    this.message.textContent = text;
    this.message.classList.toggle("error", error);
  }

  async read(files) {
    if (!files.length) return;
    const { maxFileBytes, maxFiles } = this.limits;
    const tooBig = files.filter((f) => f.size > maxFileBytes);
    const sendable = files.filter((f) => f.size <= maxFileBytes);
    this.say(`Reading ${files.length} image${files.length === 1 ? "" : "s"}…`);
    // requests of at most maxFiles files; over-size files are not sent, they get a row saying so
    const results = [];
    try {
      for (let i = 0; i < sendable.length; i += maxFiles) {
        const part = sendable.slice(i, i + maxFiles);
        const doc = await vote(part.map((f) => ({ blob: f, name: f.name })), undefined, this.mode());
        doc.images.forEach((row, k) => results.push({ file: part[k], row, doc }));
      }
    } catch (err) {
      this.say(`The server refused the upload: ${err.message}`, true);
      return;
    }
    const mib = (maxFileBytes / 2 ** 20).toFixed(0);
    for (const f of tooBig) results.push({ file: f, row: { path: f.name, status: `over the ${mib} MiB limit, not sent` }, doc: null });
    const bad = results.filter((r) => r.row.status !== "ok").length;
    this.say(`${results.length} image${results.length === 1 ? "" : "s"} read` +
      (bad ? `, ${bad} could not be used (see status)` : "") + ".", bad > 0 && bad === results.length);
    this.show(results);
  }

  show(results) {
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
    this.tbody.replaceChildren();
    const wrap = this.table.parentElement;
    wrap.hidden = results.length < 2;
    const first = results.find((r) => r.doc) || results[0];
    for (const r of results) {
      const url = URL.createObjectURL(r.file);
      this.urls.push(url);
      const ok = r.row.status === "ok";
      const seen = r.row.image_png ?? r.row.digits?.[0]?.image_png;     // a number: its first digit
      const thumb = el("img", { src: url, alt: "" });
      thumb.addEventListener("error", () => thumb.replaceWith(el("span", { class: "thumb", title: "the browser cannot show it" })));
      const tr = el("tr", { "data-testid": "upload-row" },
        el("td", {}, thumb),
        el("td", {}, seen ? el("img", { class: "seen", src: `data:image/png;base64,${seen}`, alt: "28×28 input" }) : ""),
        el("td", { class: "file", title: r.file.name }, el("span", { class: "name" }, r.file.name),
          ok ? null : el("small", { "data-testid": "row-status" }, r.row.status)),
        el("td", { class: "vote" }, ok ? (r.row.text ?? r.row.class_name) : "–"),
        el("td", {}, ok ? `${r.row.agreement}/${r.row.members_total}` : ""),
        el("td", {}, ok ? `${(100 * r.row.confidence).toFixed(1)} %` : ""));
      tr.addEventListener("click", () => this.select(tr, r));
      this.tbody.append(tr);
      if (r === first) this.select(tr, r);
    }
  }

  select(tr, r) {
    for (const other of this.tbody.children) other.classList.toggle("selected", other === tr);
    this.onSelect(r.row, r.doc, r.file.name, r.file);
  }
}
