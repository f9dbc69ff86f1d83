// A drawing pad: mouse, touch and pen through Pointer Events; strokes kept for undo.
// Dark ink on white paper, like a pen on a sheet; the server's normalization makes it MNIST-like.

const INK = "#111";
const PAPER = "#fff";

export class DrawingPad {
  constructor(canvas, { onChange } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.strokes = [];          // [{width, points: [{x, y}]}] in CSS pixels
    this.current = null;
    this.brush = 18;
    this.onChange = onChange || (() => {});
    this.resize();
    new ResizeObserver(() => this.resize()).observe(canvas);
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
      canvas.addEventListener(type, (e) => this.up(e));
    }
  }

  get isEmpty() {
    return this.strokes.length === 0;
  }

  resize() {
    // backing store at the device's pixel ratio: crisp lines on phones and HiDPI screens
    const rect = this.canvas.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(rect.width * dpr));
    const h = Math.max(1, Math.round(rect.height * dpr));
    this.scale = { x: w / Math.max(1, rect.width), y: h / Math.max(1, rect.height) };
    if (w === this.canvas.width && h === this.canvas.height) return;
    this.canvas.width = w;
    this.canvas.height = h;
    this.redraw();
  }

  point(e) {
    const rect = this.canvas.getBoundingClientRect();
    return { x: e.clientX - rect.left, y: e.clientY - rect.top };
  }

  down(e) {
    if (e.button !== undefined && e.button > 0) return;   // right/middle mouse button
    e.preventDefault();
    this.canvas.setPointerCapture?.(e.pointerId);
    this.current = { width: this.brush, points: [this.point(e)] };
    this.strokes.push(this.current);
    this.paintSegment(this.current, 0);
    this.onChange("draw");
  }

  move(e) {
    if (!this.current) return;
    e.preventDefault();
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const ev of events.length ? events : [e]) {
      this.current.points.push(this.point(ev));
      this.paintSegment(this.current, this.current.points.length - 1);
    }
    this.onChange("draw");
  }

  up() {
    if (!this.current) return;
    this.current = null;
    this.onChange("stroke");
  }

  undo() {
    this.current = null;
    this.strokes.pop();
    this.redraw();
    this.onChange("undo");
  }

  clear() {
    this.current = null;
    this.strokes = [];
    this.redraw();
    this.onChange("clear");
  }

  paintSegment(stroke, i) {
    const { ctx } = this;
    const s = this.scale;
    const p = stroke.points[i];
    const q = stroke.points[Math.max(0, i - 1)];
    ctx.strokeStyle = INK;
    ctx.fillStyle = INK;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = stroke.width * s.x;
    ctx.beginPath();
    if (i === 0) {
      ctx.arc(p.x * s.x, p.y * s.y, (stroke.width * s.x) / 2, 0, 2 * Math.PI);
      ctx.fill();
    } else {
      ctx.moveTo(q.x * s.x, q.y * s.y);
      ctx.lineTo(p.x * s.x, p.y * s.y);
      ctx.stroke();
    }
  }

  redraw() {
    const { ctx, canvas } = this;
    ctx.fillStyle = PAPER;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    for (const stroke of this.strokes) {
      for (let i = 0; i < stroke.points.length; i++) this.paintSegment(stroke, i);
    }
  }

  toBlob() {
    return new Promise((resolve) => this.canvas.toBlob(resolve, "image/png"));
  }
}
