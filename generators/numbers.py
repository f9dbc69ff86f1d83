"""Render multi-digit numbers from MNIST digits, as ink on paper: the data of benchmarks/numbers.py.

    from generators.numbers import NumberStyle, render_number
    img, boxes = render_number(digits, seed=0)                    # digits: uint8 (n, 28, 28)
    img, boxes = render_number(digits, seed=1, style=NumberStyle(touch=True, look="scan"))
    # img: uint8 (H, W, 3) phone photo or (H, W) scan; boxes: (n, 4) x0, y0, x1, y1 per digit

A number is laid out left to right on a canvas at 4 px per MNIST pixel: each digit cropped to
its ink, scaled by a random size jitter, dropped by a random baseline jitter, separated from the
previous one by a random gap measured between ink (row by row, so slanted digits may still
overlap in the column projection). With `touch`, one random pair is pushed together until its
ink touches: the closest rows' ink overlaps by `overlap` MNIST px (-0.5..0.5 by default: from a
hairline gap that the pens' anti-aliased rims bridge to half a pixel of overlap; larger values
make overlapping pairs). With `broken`, that share of the digits get one or two gaps in their
strokes (`break_strokes`). The whole number is then slanted (shear)
and drawn as dark ink on paper:

- look="photo": a 1600x1200 (or 1200x1600) phone photo: the number placed anywhere, digit
  height 60..200 px, light falling off across the page, paper grain, warm tint, slight blur
  (the JPEG artefacts come from saving it as JPEG);
- look="scan": a 300 dpi-like grey scan cropped around the number: digit height 45..100 px,
  white paper with a little noise, margins of 0.3..1.5 digit heights.

Pure functions of (digits, seed, style): the same arguments give the same image.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

UP = 4                                  # canvas px per MNIST px


@dataclass(frozen=True)
class NumberStyle:
    """How a number is written and pictured. Lengths in MNIST px (a digit is ~20 tall)."""

    look: str = "photo"                       # "photo" or "scan"
    gap: tuple[float, float] = (2.0, 8.0)     # ink-to-ink gap between neighbours
    touch: bool = False                       # one random pair touches or overlaps
    overlap: tuple[float, float] = (-0.5, 0.5)  # how far the touching pair's ink overlaps
                                              # (< 0: a hairline gap that the pens' rims bridge)
    size_jitter: float = 0.12                 # digit scale in 1 +- this
    baseline_jitter: float = 2.0              # vertical offset in +- this
    slant: float = 0.25                       # shear (x += slant * -y) in +- this
    broken: float = 0.0                       # share of digits with 1-2 gaps in their strokes

    def __post_init__(self):
        if self.look not in ("photo", "scan"):
            raise ValueError(f"look must be 'photo' or 'scan', got {self.look!r}")
        lo, hi = self.gap
        if not 0 <= lo <= hi:
            raise ValueError(f"gap must be a range 0 <= lo <= hi, got {(lo, hi)}")
        lo, hi = self.overlap
        if not -1 <= lo <= hi:
            raise ValueError(f"overlap must be a range -1 <= lo <= hi, got {(lo, hi)}")
        if not 0 <= self.size_jitter < 0.5:
            raise ValueError(f"size_jitter must be in [0, 0.5), got {self.size_jitter}")
        if not 0 <= self.broken <= 1:
            raise ValueError(f"broken must be a share in [0, 1], got {self.broken}")
        if self.baseline_jitter < 0 or not 0 <= self.slant <= 1:
            raise ValueError("baseline_jitter must be >= 0 and slant in [0, 1]")


def break_strokes(a: np.ndarray, rng: np.random.Generator, breaks: int = 1) -> np.ndarray:
    """Erase `breaks` gaps (discs 1.6-2.6 MNIST px across, at canvas scale) centred on random ink
    pixels: a pen that skipped. A 0 broken twice falls apart into two arcs."""
    a = a.copy()
    ys, xs = np.nonzero(a > 0.5)
    if len(ys) == 0:
        return a
    yy, xx = np.mgrid[:a.shape[0], :a.shape[1]]
    for _ in range(breaks):
        k = int(rng.integers(len(ys)))
        r = UP * rng.uniform(0.8, 1.3)
        a[(yy - ys[k]) ** 2 + (xx - xs[k]) ** 2 <= r * r] = 0
    return a


def _crop_ink(d: np.ndarray) -> np.ndarray:
    """An MNIST digit cropped to its ink: float (h, w) in [0, 1]."""
    ys, xs = np.nonzero(d > 0)
    return d[ys.min():ys.max() + 1, xs.min():xs.max() + 1].astype(np.float32) / 255


def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    return np.clip(np.asarray(Image.fromarray(a, "F").resize((max(1, w), max(1, h)), Image.Resampling.BICUBIC)), 0, 1)


def _layout(digits: np.ndarray, rng: np.random.Generator, style: NumberStyle):
    """Each digit's ink at canvas scale and its top-left corner: list of (a (h, w), y, x)."""
    n = len(digits)
    inks = []
    for d in digits:
        c = _crop_ink(d)
        s = UP * (1 + rng.uniform(-style.size_jitter, style.size_jitter))
        a = _resize(c, round(c.shape[0] * s), round(c.shape[1] * s))
        if rng.random() < style.broken:
            a = break_strokes(a, rng, int(rng.integers(1, 3)))
        inks.append(a)
    height = UP * 20
    touch_at = int(rng.integers(1, n)) if style.touch and n > 1 else -1
    placed, x = [], 0
    for k, a in enumerate(inks):
        h, w = a.shape
        bottom = height + UP * rng.uniform(-style.baseline_jitter, style.baseline_jitter)
        y = int(round(bottom - h))
        if k == 0:
            placed.append((a, y, 0))
            continue
        if k == touch_at:
            gap = -UP * rng.uniform(*style.overlap)
        else:
            gap = UP * rng.uniform(*style.gap)
        # x so that the smallest row-wise ink gap to every earlier digit is `gap`
        x = max(_min_x(p, py, px, a, y, gap) for p, py, px in placed)
        placed.append((a, y, max(x, placed[-1][2] + 1)))       # never left of the previous digit
    return placed


def _min_x(left: np.ndarray, ly: int, lx: int, right: np.ndarray, ry: int, gap: float) -> int:
    """Leftmost x for `right` (top at ry) so that its ink starts >= gap after `left`'s ink on
    every shared row; rows without shared ink fall back to the bounding boxes."""
    on_l, on_r = left > 0.3, right > 0.3
    top, bot = max(ly, ry), min(ly + left.shape[0], ry + right.shape[0])
    need = lx + left.shape[1] + gap                    # bounding-box rule (no shared rows)
    if bot > top:
        rows = np.arange(top, bot)
        lr = on_l[rows - ly]
        rr = on_r[rows - ry]
        has = lr.any(1) & rr.any(1)
        if has.any():
            last_l = lx + left.shape[1] - 1 - np.argmax(lr[has][:, ::-1], axis=1)    # rightmost ink of left
            first_r = np.argmax(rr[has], axis=1)                                     # leftmost ink of right
            need = float(np.max(last_l - first_r + 1 + gap))
    return int(np.ceil(need))


def render_number(digits, seed: int = 0, style: NumberStyle | None = None):
    """Digits (uint8 (n, 28, 28), MNIST style) -> (image, boxes).

    image: uint8 (H, W, 3) for look="photo", (H, W) for look="scan"; dark ink on paper.
    boxes: int (n, 4) each digit's ink box x0, y0, x1, y1 (exclusive) in image pixels.
    """
    style = style or NumberStyle()
    digits = np.asarray(digits)
    if digits.ndim != 3 or digits.shape[1:] != (28, 28) or len(digits) == 0:
        raise ValueError(f"digits must be (n, 28, 28) with n >= 1, got {digits.shape}")
    rng = np.random.default_rng(seed)
    placed = _layout(digits, rng, style)
    # canvas with room for the shear: x' = x + k * (H - y)  (slant to the right when k > 0)
    k = rng.uniform(-style.slant, style.slant)
    top = min(y for _, y, _ in placed)
    H = max(y + a.shape[0] for a, y, _ in placed) - top
    W = max(x + a.shape[1] for a, _, x in placed)
    pad = int(np.ceil(abs(k) * H)) + 2
    layers = np.zeros((len(placed), H, W + 2 * pad), np.float32)            # (n, H, W') ink per digit
    for i, (a, y, x) in enumerate(placed):
        layers[i, y - top:y - top + a.shape[0], pad + x:pad + x + a.shape[1]] = a
    yy = np.arange(H, dtype=np.float32)
    shift = k * (H - 1 - yy)                                                   # (H,) per-row x shift
    if k != 0:
        for i in range(len(layers)):
            layers[i] = np.stack([ndi.shift(row, s, order=1, mode="constant") for row, s in zip(layers[i], shift)])
    ink = layers.max(0)                                                        # (H, W')
    # where the number goes and how big
    digit_h = rng.uniform(60, 200) if style.look == "photo" else rng.uniform(45, 100)
    f = digit_h / (20 * UP)
    if style.look == "photo":
        page_w, page_h = (1600, 1200) if rng.random() < 0.7 else (1200, 1600)
        f = min(f, 0.9 * page_w / ink.shape[1], 0.5 * page_h / ink.shape[0])
    nh, nw = max(1, round(ink.shape[0] * f)), max(1, round(ink.shape[1] * f))
    if style.look == "scan":
        m = rng.uniform(0.3, 1.5, 4) * digit_h
        page_w, page_h = int(nw + m[0] + m[1]), int(nh + m[2] + m[3])
        ox, oy = int(m[0]), int(m[2])
    else:
        ox, oy = int(rng.integers(0, page_w - nw + 1)), int(rng.integers(0, page_h - nh + 1))
    a = np.zeros((page_h, page_w), np.float32)
    a[oy:oy + nh, ox:ox + nw] = _resize(ink, nh, nw)
    boxes = []
    for layer in layers:
        ys, xs = np.nonzero(layer > 0.3)
        boxes.append([ox + int(xs.min() * f), oy + int(ys.min() * f),
                      ox + int(np.ceil((xs.max() + 1) * f)), oy + int(np.ceil((ys.max() + 1) * f))])
    boxes = np.array(boxes)
    return _paper(a, rng, style.look), boxes


def _paper(a: np.ndarray, rng: np.random.Generator, look: str) -> np.ndarray:
    """Ink opacity (H, W) in [0, 1] -> dark ink on paper, uint8."""
    h, w = a.shape
    darkness = rng.uniform(0.6, 0.85)                        # how dark the pen is
    if look == "scan":
        a = ndi.gaussian_filter(a, 0.6)
        paper = rng.uniform(0.9, 0.98) * (1 - darkness * a) + rng.normal(0, 0.012, (h, w))
        return np.clip(paper * 255, 0, 255).astype(np.uint8)
    a = ndi.gaussian_filter(a, rng.uniform(0.8, 1.6))        # focus blur
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)                        # light falls off in a random direction
    ramp = np.cos(angle) * xx / w + np.sin(angle) * yy / h
    light = 0.95 - rng.uniform(0.2, 0.45) * (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)   # (h, w)
    paper = light * (1 - darkness * a) + rng.normal(0, 0.02, (h, w))                          # grain
    tint = np.array([1.0, 0.97, 0.9], np.float32)            # warm indoor light
    return np.clip(paper[..., None] * tint * 255, 0, 255).astype(np.uint8)                    # (h, w, 3)
