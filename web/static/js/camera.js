// Camera: a live preview from getUserMedia (webcams and phones); a snapshot of the square in the
// middle is sent like any upload. Live mode sends that square a few times a second (one request
// in flight at most) and the page shows the vote settling. Without a secure context (plain http
// from another machine) browsers hide the camera API: the page says so and offers the phone's
// photo picker instead.

const LIVE_EVERY_MS = 400;        // a new frame at most this often (the next waits for the answer)

export class Camera {
  constructor({ video, start, snap, live, select, message, off, onSnapshot, onLive, onLiveChange }) {
    Object.assign(this, { video, start, snap, live, select, message, off, onSnapshot, onLive, onLiveChange });
    this.stream = null;
    this.liveRun = 0;             // bumped on every start/stop: a stale loop or answer sees it and quits
    this.abort = null;
    this.opening = null;          // the pending open() while live mode starts the camera
    start.addEventListener("click", () => (this.stream ? this.stop() : this.open()));
    snap.addEventListener("click", () => this.snapshot());
    live.addEventListener("click", () => (this.isLive ? this.stopLive() : this.startLive()));
    select.addEventListener("change", () => this.open(select.value));
    // a hidden page (another tab, a locked phone) stops reading and turns the camera off
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden" && this.stream) {
        const wasLive = this.isLive;
        this.stop();
        if (wasLive) this.say("Live reading stopped: the page was hidden. Turn it on again to go on.");
      }
    });
  }

  get isLive() {
    return this.live.getAttribute("aria-pressed") === "true";
  }

  say(text, error = false) {
    this.message.textContent = text;
    this.message.classList.toggle("error", error);
  }

  // true when the camera runs; false (live reading off, and a message saying why) when it cannot.
  // Live reading goes on across a change of camera: its loop reads whatever the video shows.
  async open(deviceId) {
    if (!navigator.mediaDevices?.getUserMedia) {
      this.stopLive();
      this.say("This browser gives no camera access to this page (cameras need https or " +
        "http://127.0.0.1). Use “take a photo” below instead.", true);
      return false;
    }
    this.stop({ keepLive: true });
    try {
      const video = deviceId ? { deviceId: { exact: deviceId } }
        : { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } };
      this.stream = await navigator.mediaDevices.getUserMedia({ video, audio: false });
    } catch (err) {
      this.say(err.name === "NotAllowedError" || err.name === "SecurityError"
        ? "Camera permission was denied: allow the camera for this page in the browser's site settings, " +
          "or use “take a photo” below."
        : err.name === "NotFoundError" || err.name === "OverconstrainedError"
          ? "No camera found on this device. Use “take a photo” below, or upload an image."
          : err.name === "NotReadableError"
            ? "The camera is in use by another program (or blocked by the system)."
            : `No camera: ${err.message || err.name}`, true);
      this.stopLive();
      return false;
    }
    this.video.srcObject = this.stream;
    await this.video.play().catch(() => {});
    this.off.hidden = true;
    this.snap.disabled = false;
    this.start.textContent = "Stop camera";
    this.say(this.isLive ? "Live: hold the digit inside the square and keep it still; the vote settles below."
      : "Hold the digit inside the square, then take a snapshot or turn on live reading.");
    const cams = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
    if (cams.length > 1 && !this.select.options.length) {
      cams.forEach((d, i) => this.select.add(new Option(d.label || `camera ${i + 1}`, d.deviceId)));
      this.select.hidden = false;
    }
    return true;
  }

  stop({ keepLive = false } = {}) {
    if (!keepLive) this.stopLive();
    if (!this.stream) return;
    for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    this.video.srcObject = null;
    this.off.hidden = false;
    this.snap.disabled = true;
    this.start.textContent = "Start camera";
  }

  // ---- live: the square, a few times a second, never more than one request in flight ----------
  async startLive() {
    if (this.isLive) return;
    this.live.setAttribute("aria-pressed", "true");
    this.live.textContent = "● Live: on";
    const run = ++this.liveRun;
    if (!this.stream) {
      // one getUserMedia at a time, however often "Live" is clicked while it asks
      this.opening ??= this.open().finally(() => (this.opening = null));
      if (!(await this.opening)) return;                     // open() said why and turned live off
    }
    if (run !== this.liveRun) return;                        // toggled off (or on again) meanwhile
    this.onLiveChange?.(true);
    this.say("Live: hold the digit inside the square and keep it still; the vote settles below.");
    while (run === this.liveRun) {
      const began = performance.now();
      const blob = await this.grab();
      if (run !== this.liveRun) break;
      if (blob) {
        this.abort = new AbortController();
        try {
          await this.onLive(blob, this.abort.signal, () => run === this.liveRun);
        } catch (err) {
          if (run !== this.liveRun) break;                   // stopped meanwhile: the abort is ours
          this.say(`Live reading paused: ${err.message}`, true);
        }
      }
      const wait = LIVE_EVERY_MS - (performance.now() - began);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  stopLive() {
    const was = this.isLive;
    this.liveRun++;
    this.abort?.abort();
    this.abort = null;
    this.live.setAttribute("aria-pressed", "false");
    this.live.textContent = "Live: off";
    if (was) this.onLiveChange?.(false);
  }

  // The guide square of the current frame as a PNG blob, or null before the first frame.
  async grab() {
    const { videoWidth: w, videoHeight: h } = this.video;
    if (!w || !h) return null;
    // the guide square: 60 % of the preview's width, centred (see .guide in style.css)
    const box = this.video.getBoundingClientRect();
    const shown = Math.min(box.width / w, box.height / h);          // object-fit: contain
    const side = Math.min(w, h, (0.6 * box.width) / shown);
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = Math.round(side);
    canvas.getContext("2d").drawImage(this.video, (w - side) / 2, (h - side) / 2, side, side, 0, 0, side, side);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  }

  async snapshot() {
    const blob = await this.grab();
    if (!blob) {
      this.say("The camera has not delivered a picture yet.", true);
      return;
    }
    this.onSnapshot(blob);
  }
}
