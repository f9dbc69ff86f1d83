// Camera: a live preview from getUserMedia (webcams and phones); a snapshot of the square in the
// middle is sent like any upload. Without a secure context (plain http from another machine)
// browsers hide the camera API: the page says so and offers the phone's photo picker instead.

export class Camera {
  constructor({ video, start, snap, select, message, off, onSnapshot }) {
    Object.assign(this, { video, start, snap, select, message, off, onSnapshot });
    this.stream = null;
    start.addEventListener("click", () => (this.stream ? this.stop() : this.open()));
    snap.addEventListener("click", () => this.snapshot());
    select.addEventListener("change", () => this.open(select.value));
  }

  say(text, error = false) {
    this.message.textContent = text;
    this.message.classList.toggle("error", error);
  }

  async open(deviceId) {
    if (!navigator.mediaDevices?.getUserMedia) {
      this.say("This browser gives no camera access to this page (cameras need https or " +
        "http://127.0.0.1). Use “take a photo” below instead.", true);
      return;
    }
    this.stop();
    try {
      const video = deviceId ? { deviceId: { exact: deviceId } }
        : { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } };
      this.stream = await navigator.mediaDevices.getUserMedia({ video, audio: false });
    } catch (err) {
      this.say(err.name === "NotAllowedError" ? "Camera permission was denied." : `No camera: ${err.message || err.name}`, true);
      return;
    }
    this.video.srcObject = this.stream;
    await this.video.play().catch(() => {});
    this.off.hidden = true;
    this.snap.disabled = false;
    this.start.textContent = "Stop camera";
    this.say("Hold the digit inside the square, then take a snapshot.");
    const cams = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
    if (cams.length > 1 && !this.select.options.length) {
      cams.forEach((d, i) => this.select.add(new Option(d.label || `camera ${i + 1}`, d.deviceId)));
      this.select.hidden = false;
    }
  }

  stop() {
    if (!this.stream) return;
    for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    this.video.srcObject = null;
    this.off.hidden = false;
    this.snap.disabled = true;
    this.start.textContent = "Start camera";
  }

  async snapshot() {
    const { videoWidth: w, videoHeight: h } = this.video;
    if (!w || !h) {
      this.say("The camera has not delivered a picture yet.", true);
      return;
    }
    // the guide square: 60 % of the preview's width, centred (see .guide in style.css)
    const box = this.video.getBoundingClientRect();
    const shown = Math.min(box.width / w, box.height / h);          // object-fit: contain
    const side = Math.min(w, h, (0.6 * box.width) / shown);
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = Math.round(side);
    canvas.getContext("2d").drawImage(this.video, (w - side) / 2, (h - side) / 2, side, side, 0, 0, side, side);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    this.onSnapshot(blob);
  }
}
