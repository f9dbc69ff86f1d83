"""How well vote.py's reading path reads real-looking digits: accuracy per family of renderings.

    python benchmarks/robustness.py                         # MNIST test digits, 1,000 per family
    python benchmarks/robustness.py --split val             # validation digits: for design and tuning
    python benchmarks/robustness.py --n 300 --families bold,lowres8 --save-samples out/
    python benchmarks/robustness.py --json after.json --compare before.json --peer

Every family is rendered from MNIST digits (`--split test`: the test set, for reports only;
`--split val`: training images 55,000-59,999, which no member trained on; tune on these),
saved as image files of the kind a user has (PNG, JPEG, RGBA PNG), and read exactly as
vote.py reads a file: through `ensemble.reading.Reader` (see `read_with_ensemble`, the one place
that calls it). A file that cannot be read counts as wrong.

Families (pen widths are fractions of the digit's height; MNIST's own pen is ~0.11):
  mnist28     the digit itself as a 28x28 PNG (must read exactly as `python -m ensemble.evaluate`)
  mnist_pen   redrawn at 280x280 along its skeleton (Zhang-Suen) with a round pen as wide as its
              own strokes, black on white: what the other pens are compared with
  hairline    pen 0.015-0.03                    bold        pen 1/6 (a bold marker)
  very_bold   pen 0.25-0.30                     brush       white brush on black, pen 0.10-0.25
  transparent black strokes on a transparent RGBA canvas, pen 0.10-0.25
  photo       a blurred phone photo (own pen): dark ink on unevenly lit grainy paper, 640x480 JPEG
  lowres8/10/12/16   the digit (own pen) reduced to an 8/10/12/16 px square (area average, like a scanner
              or a thumbnail), 8-bit, then scaled back up to 112 px (bicubic), black on white
  uci8x8      other writers' digits: scikit-learn's bundled UCI optical digits, 8x8 levels 0-16,
              as 8x8 PNGs, black on white (val: the first 897 of the 1,797, test: the other 900)
  fonts       printed digits in the TrueType fonts found on the machine (DejaVu, Liberation,
              FreeFont: `apt-get install fonts-dejavu-core fonts-liberation2 fonts-freefont-ttf`),
              black on white, a little rotation, 200x200 PNG
`render_family(name, digits, labels, seed)` returns the PIL images for any family, e.g. to
decide on retraining with distortions. `--peer` adds digit-recognizer-py (a small pretrained
CNN from the package index, `pip install -e .[bench]`) as a row, reading the same files through
its own preprocessing.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

CANVAS = 280                 # the pen families are drawn at 10x MNIST's resolution
PAD = 40                     # drawn with this margin first, so that a bold pen stays on the canvas
UP = 5                       # skeletons are found at 5x (140 px): strokes ~11 px wide, cheap to thin
MNIST_PEN = None             # "mnist_pen", "photo", "lowres*": each digit redrawn with its own pen
FAMILIES = {                 # name -> one-line description (the table's second column)
    "mnist28": "MNIST 28x28 PNG (as is)",
    "mnist_pen": "own pen, 280 px, black on white",
    "hairline": "hairline pen 0.015-0.03",
    "bold": "bold marker, pen 1/6",
    "very_bold": "very bold, pen 0.25-0.30",
    "brush": "white brush on black canvas",
    "transparent": "black on transparent canvas",
    "photo": "blurred phone photo (JPEG)",
    "lowres8": "low resolution 8 px",
    "lowres10": "low resolution 10 px",
    "lowres12": "low resolution 12 px",
    "lowres16": "low resolution 16 px",
    "uci8x8": "UCI 8x8 digits (scikit-learn)",
    "fonts": "printed digits, several fonts",
}
FONT_DIRS = ["/usr/share/fonts", "/usr/local/share/fonts", str(Path.home() / ".fonts")]
FONT_NAMES = ["DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf",
              "LiberationSans-Regular.ttf", "LiberationSerif-Regular.ttf", "LiberationMono-Regular.ttf",
              "FreeSans.ttf", "FreeSerif.ttf", "FreeMono.ttf"]


# ---- drawing a digit with another pen -----------------------------------------------------
def _masks(digits: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) MNIST digits -> bool (N, 28*UP, 28*UP): their ink, bilinearly upscaled."""
    import torch
    x = torch.from_numpy(digits.astype(np.float32) / 255)[:, None]           # (N, 1, 28, 28)
    big = torch.nn.functional.interpolate(x, scale_factor=UP, mode="bilinear", align_corners=False)
    return big[:, 0].numpy() > 0.4                                           # (N, 140, 140)


def skeletons(digits: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) MNIST digits -> bool (N, 28*UP, 28*UP) centre lines of their strokes."""
    from ensemble.skeleton import thin
    return thin(_masks(digits))


def own_pens(digits: np.ndarray) -> np.ndarray:
    """Each digit's own pen width at CANVAS scale, (N,) px: twice the median distance to the
    background along the ridges of its ink (the normalization measures MNIST's pen the same way)."""
    pens = []
    for m in _masks(digits):
        dist = ndi.distance_transform_edt(m)
        ridge = m & (dist >= ndi.maximum_filter(dist, 3))
        pens.append(2 * float(np.median(dist[ridge])) * CANVAS / (28 * UP))
    return np.array(pens)


def draw(skel: np.ndarray, pen: np.ndarray) -> np.ndarray:
    """Skeletons (N, 140, 140) redrawn at 2x with a round pen `pen` (N,) px wide -> ink (N, 360, 360).

    Ink is in [0, 1] (light on dark, anti-aliased edges); the MNIST framing plus 40 px on each
    side, so that even a very bold pen stays on the canvas.
    """
    k = CANVAS // (28 * UP)                                                  # 2: 140 -> 280
    out = np.empty((len(skel), CANVAS + 2 * PAD, CANVAS + 2 * PAD), np.float32)
    for i, s in enumerate(skel):
        big = np.pad(s.repeat(k, 0).repeat(k, 1), PAD)                       # (360, 360), blocks of k px
        dist = ndi.distance_transform_edt(~big)                              # px to the centre line
        # the block line is ~k px wide already; the pen adds the rest on each side
        out[i] = np.clip((pen[i] - k) / 2 + 1 - dist, 0, 1)
    return out


def _heights(digits: np.ndarray) -> np.ndarray:
    """Height of each digit's ink box at CANVAS scale, (N,) px."""
    rows = (digits > 64).any(2)                                              # (N, 28)
    top = rows.argmax(1)
    bottom = 28 - rows[:, ::-1].argmax(1)
    return np.maximum(bottom - top, 4) * (CANVAS / 28)


def pen_ink(digits: np.ndarray, frac: tuple[float, float] | None, rng: np.random.Generator,
            shift: int = 20) -> np.ndarray:
    """Redraw `digits` with a pen frac[0]..frac[1] of the digit's height wide (None: each with
    its own pen): ink (N, 280, 280).

    The digit keeps MNIST's framing, moved by up to `shift` px, but never closer than 4 px to
    the edge (a digit too big for that is scaled down to fit).
    """
    if frac is None:                                                         # the digit's own pen
        pen = own_pens(digits)
    else:
        pen = rng.uniform(*frac, len(digits)) * _heights(digits)             # (N,) px
    big = draw(skeletons(digits), pen)                                       # (N, 360, 360)
    out = np.empty((len(digits), CANVAS, CANVAS), np.float32)
    for i, ink in enumerate(big):
        rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
        extent = max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
        if extent > CANVAS - 8:                                              # too big: shrink to fit
            img = Image.fromarray(ink, "F")
            size = round(ink.shape[0] * (CANVAS - 8) / extent)
            ink = np.asarray(img.resize((size, size), Image.Resampling.LANCZOS)).clip(0, 1)
            rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
        top_left = []
        for lo_ink, hi_ink in ((rows[0], rows[-1]), (cols[0], cols[-1])):
            centre = (ink.shape[0] - CANVAS) // 2                            # MNIST framing
            lo, hi = hi_ink + 5 - CANVAS, lo_ink - 4                          # window starts keeping a margin
            start = int(np.clip(centre + rng.integers(-shift, shift + 1), lo, hi))
            top_left.append(start)
        y, x = top_left
        window = np.zeros((CANVAS, CANVAS), np.float32)
        ys, xs = max(0, y), max(0, x)
        part = ink[ys:y + CANVAS, xs:x + CANVAS]
        window[ys - y:ys - y + part.shape[0], xs - x:xs - x + part.shape[1]] = part
        out[i] = window
    return out


# ---- families -----------------------------------------------------------------------------
def _gray(a: np.ndarray) -> Image.Image:
    return Image.fromarray(np.rint(np.clip(a, 0, 1) * 255).astype(np.uint8), "L")


def _lowres(ink: np.ndarray, side: int, rng: np.random.Generator) -> Image.Image:
    """Ink (H, W) -> the digit's square box (8 % margin) reduced to side x side, 8-bit, back up to 112."""
    ys, xs = np.nonzero(ink > 0.05)
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    half = 0.5 * max(np.ptp(ys), np.ptp(xs)) * 1.16 + 1
    box = tuple(int(round(v)) for v in (cx - half, cy - half, cx + half, cy + half))
    img = _gray(1 - ink).crop(box)                                           # black on white, padded white
    img = Image.fromarray(np.where(_inside(box, ink.shape), np.asarray(img), 255).astype(np.uint8))
    small = img.resize((side, side), Image.Resampling.BOX)                   # area average
    return small.resize((112, 112), Image.Resampling.BICUBIC)


def _inside(box, shape) -> np.ndarray:
    """Mask of the crop box's pixels that lie inside the image (PIL pads outside with 0)."""
    x0, y0, x1, y1 = box
    yy, xx = np.mgrid[y0:y1, x0:x1]
    return (yy >= 0) & (yy < shape[0]) & (xx >= 0) & (xx < shape[1])


def _photo(ink: np.ndarray, rng: np.random.Generator) -> Image.Image:
    from make_examples import photo_like
    img = photo_like(_gray(ink), rng, size=(640, 480))
    return img.filter(ImageFilter.GaussianBlur(rng.uniform(1.5, 3.0)))


def font_files() -> list[Path]:
    """The fonts of FONT_NAMES found on this machine (benchmark families need not have them all)."""
    found = {}
    for d in FONT_DIRS:
        for p in sorted(Path(d).rglob("*.ttf")) if Path(d).is_dir() else []:
            found.setdefault(p.name, p)
    return [found[n] for n in FONT_NAMES if n in found]


def _printed(label: int, font: Path, rng: np.random.Generator) -> Image.Image:
    img = Image.new("L", (200, 200), 255)
    size = int(rng.uniform(90, 150))
    at = (100 + rng.uniform(-25, 25), 100 + rng.uniform(-20, 20))
    ImageDraw.Draw(img).text(at, str(label), fill=0, font=ImageFont.truetype(str(font), size), anchor="mm")
    return img.rotate(rng.uniform(-6, 6), Image.Resampling.BICUBIC, fillcolor=255)


def uci_digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 UCI digits: (images uint8 (N, 8, 8) light on dark, labels (N,))."""
    from sklearn.datasets import load_digits
    d = load_digits()
    x = np.rint(d.images * 255 / 16).astype(np.uint8)
    cut = 897
    return (x[:cut], d.target[:cut]) if split == "val" else (x[cut:], d.target[cut:])


def render_family(name: str, digits: np.ndarray, labels: np.ndarray, seed: int = 0) -> list[Image.Image]:
    """Render `digits` (uint8 (N, 28, 28), MNIST-style) as family `name`: a list of N PIL images.

    "uci8x8" takes its own 8x8 digits (from `uci_digits`) as `digits`; "fonts" uses only
    `labels` (which digit to print). The same seed gives the same images.
    """
    rng = np.random.default_rng(seed)
    if name == "mnist28":
        return [Image.fromarray(d) for d in digits]
    if name == "uci8x8":
        return [Image.fromarray(255 - d) for d in digits]
    if name == "fonts":
        fonts = font_files()
        if not fonts:
            raise RuntimeError("no TrueType fonts found (apt-get install fonts-dejavu-core)")
        return [_printed(int(y), fonts[(i // 10) % len(fonts)], rng) for i, y in enumerate(labels)]
    pens = {"mnist_pen": MNIST_PEN, "hairline": (0.015, 0.03), "bold": (1 / 6, 1 / 6),
            "very_bold": (0.25, 0.30), "brush": (0.10, 0.25), "transparent": (0.10, 0.25),
            "photo": MNIST_PEN}
    if name.startswith("lowres"):
        side = int(name[len("lowres"):])
        return [_lowres(k, side, rng) for k in pen_ink(digits, MNIST_PEN, rng, shift=0)]
    if name not in pens:
        raise ValueError(f"unknown family {name!r}; known: {', '.join(FAMILIES)}")
    ink = pen_ink(digits, pens[name], rng)                                   # (N, 280, 280)
    if name == "brush":
        return [_gray(k) for k in ink]
    if name == "transparent":
        alpha = np.rint(ink * 255).astype(np.uint8)
        return [Image.fromarray(np.dstack([np.zeros_like(a)] * 3 + [a]), "RGBA") for a in alpha]
    if name == "photo":
        return [_photo(k, rng) for k in ink]
    return [_gray(1 - k) for k in ink]


def _suffix(img: Image.Image, name: str) -> str:
    return ".jpg" if name == "photo" else ".png"


# ---- reading ------------------------------------------------------------------------------
def read_with_ensemble(paths: list[str], ens) -> np.ndarray:
    """vote.py's reading path (ensemble.reading: find, decode, normalize, vote) for each file
    -> predicted class index (N,), -1 if unreadable."""
    from ensemble.reading import Item, Reader
    readings = Reader(ens).read([Item(p) for p in paths])
    return np.array([r.prediction if r.ok else -1 for r in readings])


def read_with_peer(paths: list[str], peer) -> np.ndarray:
    """digit-recognizer-py's own path: its preprocess (resize to 28, auto-invert) + its CNN."""
    import torch
    x = torch.cat([peer.preprocess(p) for p in paths])                      # (N, 1, 28, 28)
    with torch.no_grad():
        return torch.cat([peer.model(b).argmax(1) for b in x.split(512)]).cpu().numpy()


def load_peer():
    try:
        from digit_recognizer import DigitRecognizer
    except ImportError as e:
        raise SystemExit(f"robustness.py: --peer needs digit-recognizer-py (pip install -e .[bench]): {e}")
    return DigitRecognizer(device="cpu")


def split_digits(split: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n digits of the split, a fixed random sample: uint8 (n, 28, 28), labels (n,)."""
    from generators import load_mnist
    if split == "test":
        x, y = load_mnist("test")
    else:
        x, y = load_mnist("train")
        x, y = x[-5000:], y[-5000:]
    idx = np.sort(np.random.default_rng(seed).permutation(len(x))[:n])
    return x.numpy()[idx], y.numpy()[idx]


# ---- the table ----------------------------------------------------------------------------
def run(args) -> tuple[dict, str]:
    """-> (results per family, the members' arithmetic in use: fp32 or bf16)."""
    from ensemble.inference import Ensemble
    ens = Ensemble(args.weights, device="cpu", precision=args.precision)
    print(f"members in {ens.precision}", file=sys.stderr)
    peer = load_peer() if args.peer else None
    digits, labels = split_digits(args.split, args.n, args.seed)
    results = {}
    print(f"{'family':<12} {'description':<34} {'n':>5} {'ensemble':>9}" + (f" {'peer':>7}" if peer else "")
          + f" {'s':>5}", flush=True)
    for k, name in enumerate(args.families):
        t = time.perf_counter()
        d, y = (uci_digits(args.split) if name == "uci8x8" else (digits, labels))
        if name == "uci8x8":
            d, y = d[:args.n], y[:args.n]
        if name == "fonts":
            y = np.arange(args.n) % 10
        images = render_family(name, d, y, seed=args.seed * 1000 + k)
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for i, img in enumerate(images):
                p = os.path.join(tmp, f"{i:05d}{_suffix(img, name)}")
                img.save(p, quality=85) if p.endswith(".jpg") else img.save(p)
                paths.append(p)
            if args.save_samples:
                grid = _grid(images[:40])
                Path(args.save_samples).mkdir(parents=True, exist_ok=True)
                grid.save(Path(args.save_samples) / f"{name}.png")
            pred = read_with_ensemble(paths, ens)
            row = {"n": len(y), "correct": int((pred == y).sum()), "unreadable": int((pred < 0).sum())}
            if peer is not None:
                row["peer_correct"] = int((read_with_peer(paths, peer) == y).sum())
        if name == "mnist28":       # the same bytes must give exactly what the evaluation gives
            row["matches_evaluate"] = bool(np.array_equal(pred, ens.predict(d).prediction.numpy()))
        results[name] = row
        acc = 100 * row["correct"] / row["n"]
        print(f"{name:<12} {FAMILIES[name]:<34} {row['n']:>5} {acc:>8.2f}%"
              + (f" {100 * row['peer_correct'] / row['n']:>6.2f}%" if peer else "")
              + f" {time.perf_counter() - t:>5.0f}", flush=True)
    return results, ens.precision


def _grid(images: list[Image.Image], tile: int = 96) -> Image.Image:
    """Samples side by side (what the renderings look like), composited on grey."""
    cols = 10
    out = Image.new("RGB", (cols * tile, math.ceil(len(images) / cols) * tile), (128, 128, 128))
    for i, img in enumerate(images):
        im = img.convert("RGBA")
        im.thumbnail((tile - 4, tile - 4), Image.Resampling.LANCZOS if max(im.size) > tile else Image.Resampling.NEAREST)
        if max(img.size) < tile // 2:
            im = img.convert("RGBA").resize((tile - 4, tile - 4), Image.Resampling.NEAREST)
        out.paste(im, ((i % cols) * tile + 2, (i // cols) * tile + 2), im)
    return out


def markdown(results: dict, before: dict | None, args) -> str:
    """The table for RESULTS.md: family, n, before, after, peer."""
    peer = any("peer_correct" in r for r in results.values())
    cols = ["family", "n"] + (["before"] if before else []) + ["ensemble"] + (["digit-recognizer-py"] if peer else [])
    lines = ["| " + " | ".join(cols) + " |", "|---|" + "---:|" * (len(cols) - 1)]
    for name, r in results.items():
        cells = [FAMILIES[name], str(r["n"])]
        if before:
            b = before.get(name)
            cells.append(f"{100 * b['correct'] / b['n']:.2f} %" if b else "–")
        cells.append(f"{100 * r['correct'] / r['n']:.2f} %")
        if "peer_correct" in r:
            cells.append(f"{100 * r['peer_correct'] / r['n']:.2f} %")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from vote import PRECISIONS             # vote.py's choices (ROOT is on sys.path)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=("val", "test"), default="test")
    ap.add_argument("--n", type=int, default=1000, help="digits per family (default 1000)")
    ap.add_argument("--families", default=",".join(FAMILIES), help="comma-separated (default: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoints", "--weights", dest="weights", metavar="DIR",
                    help="folder of *.safetensors (default: checkpoints/)")
    ap.add_argument("--precision", choices=PRECISIONS, default="auto",
                    help="the members' arithmetic (default auto, as vote.py: bfloat16 where the CPU computes it natively)")
    ap.add_argument("--peer", action="store_true", help="also read with digit-recognizer-py")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--compare", help="a --json file from another run (e.g. the code before a change)")
    ap.add_argument("--save-samples", metavar="DIR", help="a PNG grid of 40 renderings per family")
    args = ap.parse_args(argv)
    args.families = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [f for f in args.families if f not in FAMILIES]
    if unknown:
        ap.error(f"unknown families {unknown}; known: {', '.join(FAMILIES)}")
    if args.n < 1:
        ap.error("--n must be at least 1")
    results, precision = run(args)
    if "mnist28" in results and not results["mnist28"]["matches_evaluate"]:
        print("robustness.py: MNIST 28x28 PNGs are NOT read as the evaluation reads them", file=sys.stderr)
    before = json.loads(Path(args.compare).read_text())["results"] if args.compare else None
    print()
    print(markdown(results, before, args))
    if args.json:
        Path(args.json).write_text(json.dumps({"split": args.split, "n": args.n, "seed": args.seed,
                                               "precision": precision, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
