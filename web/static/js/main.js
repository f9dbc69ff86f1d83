// Wires the page: three ways to get a digit (draw, upload, camera; live camera reading), a
// "one digit / a number" switch for drawing and uploads, one result panel, and the two "inside"
// views that follow whatever digit the result panel shows.

import { getJSON, vote } from "./api.js";
import { Camera } from "./camera.js";
import { DrawingPad } from "./canvas.js";
import { debounce } from "./dom.js";
import { FeatureMaps, Playground } from "./inside.js";
import { LiveStrip } from "./live.js";
import { drawBoxes, renderNumber, renderResult } from "./result.js";
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
// inside: whether the "inside" views follow this reading (live mode: only when the vote settles)
function show(row, doc, source, { blob = null, inside = true } = {}) {
  if (doc.mode === "number") {
    const follow = (d) => d.image_png && (features.setImage(d.image_png), playground.setImage(d.image_png, d.class_name));
    renderNumber(resultBox, row, doc, source, { blob, onDigit: follow });
    if (row.status === "ok" && inside) follow(row.digits[0]);
    return;
  }
  renderResult(resultBox, row, doc, source);
  if (row.status === "ok" && row.image_png && inside) {
    features.setImage(row.image_png);
    playground.setImage(row.image_png, row.class_name);
  }
}

// ---- one digit or a number (drawing and uploads; the camera reads one digit) -------------------
let mode = "digit";
const grid = document.querySelector("main.grid");
const drawHint = $("draw-hint");
for (const radio of document.querySelectorAll("input[name=read-mode]")) {
  radio.addEventListener("change", () => {
    if (!radio.checked) return;
    mode = radio.value;
    layout();
    drawHint.textContent = mode === "number"
      ? "Write a number, digits side by side (a gap between them helps). A point or a dash between digits " +
        "splits it: 12.50 reads \u201c12 50\u201d. The reading updates while you write."
      : "Draw one digit, large and centred. The vote updates while you draw.";
    boxes.clear();
    if (!pad.isEmpty) voteDrawingSoon();
  });
}

// number mode widens the input column, except on the camera tab (which reads one digit)
function layout() {
  grid.classList.toggle("number-mode", mode === "number" && $("tab-camera").hidden);
}

// the digit boxes of a number, over the drawing pad (its PNG's pixels are the pad's backing pixels)
const boxes = {
  canvas: $("pad-boxes"),
  clear() {
    this.canvas.getContext("2d").clearRect(0, 0, this.canvas.width, this.canvas.height);
  },
  draw(row) {
    const pad = $("pad");
    this.canvas.width = pad.width;
    this.canvas.height = pad.height;
    if (row.status === "ok") drawBoxes(this.canvas.getContext("2d"), row.digits, row.members_total, 1);
  },
};

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
  document.querySelector(".mode-switch").classList.toggle("off", name === "camera");
  layout();
  if (name === "draw" && missedVote && !pad.isEmpty) voteDrawingSoon();   // what changed while away
  missedVote = false;
}
for (const t of tabs) $(`tab-btn-${t}`).addEventListener("click", () => selectTab(t));

// ---- drawing: the vote follows the pen, debounced; one request in flight at a time -----------
let inFlight = false;
let missedVote = false;                      // a vote on the pad skipped or dropped while its tab was hidden
let again = false;
const pad = new DrawingPad($("pad"), {
  onChange: () => {
    $("undo").disabled = $("clear").disabled = pad.isEmpty;
    boxes.clear();                               // the boxes belong to the last answer, not to new ink
    if (pad.isEmpty) {
      resultBox.replaceChildren();
      const p = document.createElement("p");
      p.className = "placeholder";
      p.textContent = mode === "number"
        ? "Write a number, upload an image or take a photo: the five members will vote on each digit."
        : "Draw a digit, upload an image or take a photo: the five members will vote.";
      resultBox.append(p);
      return;
    }
    voteDrawingSoon();
  },
});
const voteDrawingSoon = debounce(voteDrawing, 150, 400);     // quiet 150 ms, or every 400 ms while drawing
// a resized pad (window, mode switch) has new pixels: the boxes go, a new answer brings them back
let padSize = "";
new ResizeObserver(() => {
  if ($("tab-draw").hidden) return;          // another tab hid the pad (it shrank to 1x1): nothing to read
  const size = `${$("pad").width}x${$("pad").height}`;
  if (size === padSize) return;
  padSize = size;
  boxes.clear();
  if (!pad.isEmpty && mode === "number") voteDrawingSoon();
}).observe($("pad"));

async function voteDrawing() {
  if (pad.isEmpty) return;
  if ($("tab-draw").hidden) {                // another tab is shown: vote when the Draw tab is back
    missedVote = true;
    return;
  }
  if (inFlight) {
    again = true;                            // vote once more when the current answer is in
    return;
  }
  inFlight = true;
  try {
    const asked = mode;
    const blob = await pad.toBlob();
    const doc = await vote([{ blob, name: "drawing.png" }], undefined, asked);
    // cleared, switched mode or left the tab meanwhile: nothing to show (an upload's answer stays)
    if ($("tab-draw").hidden) missedVote = true;
    else if (!pad.isEmpty && asked === mode) {
      show(doc.images[0], doc, "your drawing");
      if (asked === "number") boxes.draw(doc.images[0]);
    }
  } catch (err) {
    if ($("tab-draw").hidden) missedVote = true;     // not over an upload's answer
    else showError(`The server did not answer: ${err.message}`);
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
  mode: () => mode,
  onSelect: (row, doc, name, file) => (doc ? show(row, doc, name, { blob: file }) : showError(`${name}: ${row.status}`)),
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
// live: one frame at a time (Camera waits for each answer); the inside views follow the settled vote
const strip = new LiveStrip({ panel: $("live-panel"), summary: $("live-summary"), strip: $("live-strip") });
let settledShown = null;
async function voteLive(blob, signal, current) {
  const doc = await vote([{ blob, name: "camera (live)" }], signal);
  if (!current()) return;                      // stopped while the answer was on its way
  const row = doc.images[0];
  const settled = strip.add(row);
  const follow = settled !== null && settled !== settledShown;
  if (settled !== settledShown) settledShown = settled;
  show(row, doc, "camera (live)", { inside: follow });
}
camera = new Camera({
  video: $("video"), start: $("cam-start"), snap: $("cam-snap"), live: $("cam-live"), select: $("cam-device"),
  message: $("cam-msg"), off: $("camera-off"), onSnapshot: (blob) => voteSnapshot(blob, "camera snapshot"),
  onLive: voteLive,
  onLiveChange: (on) => {
    settledShown = null;
    strip.reset(on);
  },
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
