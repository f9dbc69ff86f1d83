// Wires the page: three ways to get a digit (draw, upload, camera), one result panel, and the
// two "inside" views that follow whatever digit the result panel shows.

import { getJSON, vote } from "./api.js";
import { Camera } from "./camera.js";
import { DrawingPad } from "./canvas.js";
import { debounce } from "./dom.js";
import { FeatureMaps, Playground } from "./inside.js";
import { renderResult } from "./result.js";
import { Uploads } from "./upload.js";

const $ = (id) => document.getElementById(id);
const resultBox = $("result");
const status = $("server-status");
const limits = { maxFileBytes: 10 * 2 ** 20, maxFiles: 100 };

const features = new FeatureMaps({ select: $("feat-member"), target: $("features") });
const playground = new Playground({
  list: $("slider-list"), preset: $("preset"), reseed: $("reseed"),
  samples: $("samples"), caption: $("samples-caption"),
});

// ---- the result panel and the digit the "inside" views follow ----------------------------
function show(row, doc, source) {
  renderResult(resultBox, row, doc, source);
  if (row.status === "ok" && row.image_png) {
    features.setImage(row.image_png);
    playground.setImage(row.image_png, row.class_name);
  }
}

function showError(message) {
  resultBox.replaceChildren();
  const p = document.createElement("p");
  p.className = "note bad";
  p.textContent = message;
  resultBox.append(p);
}

// ---- tabs ----------------------------------------------------------------------------------
const tabs = ["draw", "upload", "camera"];
let camera = null;
function selectTab(name) {
  for (const t of tabs) {
    $(`tab-btn-${t}`).setAttribute("aria-selected", String(t === name));
    $(`tab-${t}`).hidden = t !== name;
  }
  if (name !== "camera") camera?.stop();      // the camera light goes off when leaving the tab
}
for (const t of tabs) $(`tab-btn-${t}`).addEventListener("click", () => selectTab(t));

// ---- drawing: the vote follows the pen, debounced; one request in flight at a time -----------
let inFlight = false;
let again = false;
const pad = new DrawingPad($("pad"), {
  onChange: () => {
    $("undo").disabled = $("clear").disabled = pad.isEmpty;
    if (pad.isEmpty) {
      resultBox.replaceChildren();
      const p = document.createElement("p");
      p.className = "placeholder";
      p.textContent = "Draw a digit, upload an image or take a photo: the five members will vote.";
      resultBox.append(p);
      return;
    }
    voteDrawingSoon();
  },
});
const voteDrawingSoon = debounce(voteDrawing, 150, 400);     // quiet 150 ms, or every 400 ms while drawing

async function voteDrawing() {
  if (pad.isEmpty) return;
  if (inFlight) {
    again = true;                            // vote once more when the current answer is in
    return;
  }
  inFlight = true;
  try {
    const blob = await pad.toBlob();
    const doc = await vote([{ blob, name: "drawing.png" }]);
    if (!pad.isEmpty) show(doc.images[0], doc, "your drawing");    // cleared meanwhile: nothing to show
  } catch (err) {
    showError(`The server did not answer: ${err.message}`);
  } finally {
    inFlight = false;
    if (again) {
      again = false;
      voteDrawing();
    }
  }
}

const brush = $("brush");
brush.addEventListener("input", () => {
  pad.brush = Number(brush.value);
  $("brush-out").textContent = `${brush.value} px`;
});
$("undo").addEventListener("click", () => pad.undo());
$("clear").addEventListener("click", () => pad.clear());

// ---- upload -------------------------------------------------------------------------------
const uploads = new Uploads({
  input: $("file-input"), dropzone: $("dropzone"), table: $("rows"), message: $("upload-msg"), limits,
  onSelect: (row, doc, name) => (doc ? show(row, doc, name) : showError(`${name}: ${row.status}`)),
});

// ---- camera ---------------------------------------------------------------------------------
async function voteSnapshot(blob, name) {
  try {
    const doc = await vote([{ blob, name }]);
    show(doc.images[0], doc, name);
  } catch (err) {
    showError(`The server did not answer: ${err.message}`);
  }
}
camera = new Camera({
  video: $("video"), start: $("cam-start"), snap: $("cam-snap"), select: $("cam-device"),
  message: $("cam-msg"), off: $("camera-off"), onSnapshot: (blob) => voteSnapshot(blob, "camera snapshot"),
});
$("cam-file").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (file) voteSnapshot(file, file.name);
  e.target.value = "";
});

// ---- start-up: what the server has ------------------------------------------------------------
async function start() {
  try {
    const [health, members, spec] = await Promise.all(
      [getJSON("/api/health"), getJSON("/api/members"), getJSON("/api/distortion")]);
    limits.maxFileBytes = health.max_file_bytes;
    limits.maxFiles = health.max_files;
    $("upload-limits").textContent = `PNG, JPEG, BMP, GIF, TIFF or WebP, up to ${(health.max_file_bytes / 2 ** 20).toFixed(0)} MiB ` +
      `each. Several at once give a table.`;
    status.textContent = `${health.members} members ready · ${health.device}`;
    features.setMembers(members.members.map((m) => m.name));
    playground.setSpec(spec);
    document.body.dataset.ready = "true";
  } catch (err) {
    status.textContent = "server unreachable";
    status.classList.add("down");
    showError(`Cannot reach the server: ${err.message}`);
  }
}
start();
