// Looking inside: the feature maps of one member's first convolution layers, and the distortion
// playground. Both are computed by the server (ensemble.features, generators.distort) on the
// current digit's 28x28 image; the sliders are built from the generator's own fields and bounds.

import { Newest, postJSON } from "./api.js";
import { debounce, el } from "./dom.js";

const png = (b64) => `data:image/png;base64,${b64}`;

export class FeatureMaps {
  constructor({ select, target }) {
    this.select = select;
    this.target = target;
    this.image = null;
    this.newest = new Newest();
    select.addEventListener("change", () => this.update());
  }

  setMembers(names) {
    this.select.replaceChildren(...names.map((n) => new Option(n, n)));
  }

  setImage(image) {
    this.image = image;
    this.update();
  }

  async update() {
    if (!this.image || !this.select.value) return;
    const doc = await this.newest.run(                 // null: a newer digit or member is on its way
      () => postJSON("/api/features", { image: this.image, member: this.select.value, layers: 2 }),
      (err) => this.target.replaceChildren(el("p", { class: "hint error" }, err.message)));
    if (!doc) return;
    this.target.replaceChildren(
      el("figure", {}, el("img", { src: png(doc.image_png), alt: "input", style: "width:112px;height:112px;background:#000" }),
        el("figcaption", {}, el("b", {}, "input"), " 28×28")),
      ...doc.layers.map((layer) => el("figure", { "data-testid": "feature-layer" },
        el("img", { src: png(layer.png), alt: `${layer.name} feature maps` }),
        el("figcaption", {}, el("b", {}, layer.name), ` · ${layer.channels} filters of ${layer.kernel.join("×")}` +
          ` · maps ${layer.size.join("×")}`))));
  }
}

function formatValue(field, v) {
  if (field.integer) return String(Math.round(v));
  const decimals = Math.max(0, -Math.floor(Math.log10(field.step)));
  return v.toFixed(decimals);
}

export class Playground {
  constructor({ list, preset, reseed, samples, caption }) {
    Object.assign(this, { list, preset, samples, caption });
    this.fields = [];
    this.inputs = new Map();
    this.image = null;
    this.prediction = null;
    this.seed = 1;
    this.newest = new Newest();
    this.request = debounce(() => this.update(), 120);
    reseed.addEventListener("click", () => {
      this.seed = Math.floor(Math.random() * 2 ** 31);
      this.update();
    });
    preset.addEventListener("change", () => this.applyPreset(preset.value));
  }

  setSpec(spec) {
    this.fields = spec.fields;
    this.total = Object.keys(spec.members).length;
    this.presets = { defaults: Object.fromEntries(spec.fields.map((f) => [f.name, f.default])) };
    this.preset.replaceChildren(new Option("the generator's defaults", "defaults"));
    for (const [member, cfg] of Object.entries(spec.members)) {
      this.presets[member] = cfg;
      this.preset.add(new Option(`${member}'s training setting`, member));
    }
    this.list.replaceChildren();
    for (const f of spec.fields) {
      const input = el("input", { type: "range", min: f.min, max: f.max, step: f.step, value: f.default,
        name: f.name, "aria-label": f.label });
      const out = el("output", {}, formatValue(f, f.default));
      input.addEventListener("input", () => {
        out.textContent = formatValue(f, Number(input.value));
        this.request();
      });
      this.inputs.set(f.name, { input, out, field: f });
      this.list.append(el("label", { class: "slider" }, el("span", { class: "name" }, f.label), out, input,
        el("small", {}, f.help)));
    }
  }

  applyPreset(name) {
    const cfg = this.presets[name] || {};
    for (const [key, { input, out, field }] of this.inputs) {
      const v = key in cfg ? cfg[key] : field.default;
      input.value = v;
      out.textContent = formatValue(field, Number(input.value));
    }
    this.update();
  }

  config() {
    return Object.fromEntries([...this.inputs].map(([k, { input }]) => [k, Number(input.value)]));
  }

  setImage(image, prediction) {
    this.image = image;
    this.prediction = prediction;
    this.update();
  }

  async update() {
    if (!this.image || !this.fields.length) return;
    const doc = await this.newest.run(
      () => postJSON("/api/distort", { image: this.image, config: this.config(), seed: this.seed, count: 15 }),
      (err) => { this.caption.textContent = `Cannot distort: ${err.message}`; });
    if (!doc) return;
    const want = this.prediction;
    const same = doc.samples.filter((s) => s.class_name === want).length;
    this.samples.replaceChildren(
      el("figure", { class: "sample original" }, el("img", { src: png(doc.image_png), alt: "original" }), "original"),
      ...doc.samples.map((s) => el("figure", { class: `sample${s.class_name !== want ? " wrong" : ""}`, "data-testid": "sample" },
        el("img", { src: png(s.png), alt: `distorted sample read as ${s.class_name}` }),
        `${s.class_name} · ${s.agreement}/${this.total}`)));
    this.caption.textContent = `The ensemble reads ${same} of ${doc.samples.length} distorted samples as ${want}` +
      (same < doc.samples.length ? " (red: read as something else)." : ".");
  }
}
