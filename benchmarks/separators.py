"""Two numbers with a mark between them (a dash, a point, a slash): how they read.

    python benchmarks/separators.py                  # validation digits, 60 pairs of numbers
    python benchmarks/separators.py --n 100 --seed 1

Dates, amounts and references put a mark between numbers: 2026-11-25, 12.50, 25.11.2026,
12/05. `vote.py --number` gives no mark in `text`; it should break the word there ("12 50"),
not read the mark as a digit ("12150") nor run the numbers together ("1250").

Each pair is two numbers of 1-3 validation digits (training images 55,000-59,999,
`numbers.split_digits("val")`), rendered by `generators.numbers.render_number` as one number
with a slot 0.3-0.8 H wide between them (the paper's column there repeated; H the digits'
height), every other pair as a photo, the rest as scans. The same picture is read with the slot
empty and with each mark drawn in it, in the darkest ink of the picture:

  none    nothing (a control: the slot is narrower than a word gap, so the numbers run together)
  dash    a bar 0.3-0.6 H long across the digits' middle, 1-1.5 pens thick
  point   a filled disk 1.2-2.4 pens across on the digits' baseline
  slash   a straight stroke 0.9-1.3 H tall, 20-40 degrees from upright, one pen thick

(one pen: H / 9, about MNIST's). A pair whose slot would cross ink (a slanted digit's foot) is
drawn again. Prints per mark the share read as the two numbers ("12 50"), run together
("1250") and otherwise (a digit misread, or the mark read as one). One process, the package's
reading path (`ensemble.numbers.read_number`); no speed is measured.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MARKS = ("none", "dash", "point", "slash")


def pair(images, labels, rng):
    """One picture of two numbers with an empty slot between them -> (uint8 (h, w) grey, left text,
    right text, slot's middle x, the digits' top, baseline and height H), or None when the slot
    would cross ink."""
    import numpy as np
    from PIL import Image

    from generators.numbers import NumberStyle, render_number
    nl, nr = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    idx = rng.choice(len(images), nl + nr + 1, replace=False)
    digits = images[idx].copy()
    digits[nl] = 0
    digits[nl, 13:15, 13:15] = 255                          # a speck that holds the slot's place
    look = "photo" if rng.random() < 0.5 else "scan"
    img, boxes = render_number(digits, seed=int(rng.integers(2 ** 31)), style=NumberStyle(look=look))
    img = np.array(Image.fromarray(img).convert("L")) if img.ndim == 3 else img.copy()
    b = np.asarray(boxes, np.float64)                       # (k, 4) x0, y0, x1, y1
    real = [i for i in range(len(b)) if i != nl]
    H = float(np.median(b[real, 3] - b[real, 1]))
    top, base = float(np.median(b[real, 1])), float(np.median(b[real, 3]))
    x0, y0, x1, y1 = (int(v) for v in b[nl])
    img[y0 - 3:y1 + 3, x0 - 3:x1 + 3] = np.median(img[y0 - 12:y1 + 12, x0 - 12:x1 + 12])   # the speck gone
    xm = (x0 + x1) // 2
    if img[:, xm].min() < np.median(img[:, xm]) - 40:     # the slot's column crosses ink
        return None
    slot = int(rng.uniform(0.3, 0.8) * H)
    img = np.concatenate([img[:, :xm], np.repeat(img[:, xm:xm + 1], slot, axis=1), img[:, xm:]], axis=1)
    text = lambda ks: "".join(str(int(labels[i])) for i in ks)      # noqa: E731
    return img, text(idx[:nl]), text(idx[nl + 1:]), xm + slot / 2, top, base, H


def draw(img, mark: str, xc: float, top: float, base: float, H: float, rng):
    """The picture with `mark` drawn in the slot centred at column xc (a copy)."""
    import numpy as np
    from PIL import Image, ImageDraw
    g = Image.fromarray(img)
    d, ink, pen = ImageDraw.Draw(g), int(img.min()), H / 9
    if mark == "dash":
        half, ym = rng.uniform(0.15, 0.3) * H, (top + base) / 2 + rng.uniform(-0.05, 0.05) * H
        d.line([(xc - half, ym), (xc + half, ym)], fill=ink, width=max(2, round(pen * rng.uniform(1, 1.5))))
    elif mark == "point":
        r = pen * rng.uniform(0.6, 1.2)
        d.ellipse([xc - r, base - 2 * r, xc + r, base], fill=ink)
    elif mark == "slash":
        tall, lean = H * rng.uniform(0.9, 1.3), np.radians(rng.uniform(20, 40))
        ym, dx = (top + base) / 2, tall * np.tan(lean) / 2
        d.line([(xc - dx, ym + tall / 2), (xc + dx, ym - tall / 2)], fill=ink, width=max(2, round(pen)))
    return np.asarray(g)


def main(argv=None) -> None:
    import numpy as np
    from tqdm import tqdm

    from benchmarks.numbers import split_digits
    from ensemble import Ensemble
    from ensemble.numbers import read_number
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60, help="pairs of numbers")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.n < 1:
        ap.error("--n must be at least 1")
    images, labels = split_digits("val")
    ens = Ensemble(ROOT / "checkpoints", device="cpu")
    rng = np.random.default_rng(a.seed)
    counts = {m: {"two numbers": 0, "run together": 0, "other": 0} for m in MARKS}
    done = 0
    with tqdm(total=a.n, desc="pairs", file=sys.stderr) as bar:
        while done < a.n:
            p = pair(images, labels, rng)
            if p is None:
                continue
            img, left, right, xc, top, base, H = p
            for mark in MARKS:
                r = read_number(ens, draw(img, mark, xc, top, base, H, rng))
                got = r.extra.get("text") if r.ok else None
                counts[mark]["two numbers" if got == f"{left} {right}" else
                             "run together" if got == left + right else "other"] += 1
            done += 1
            bar.update()
    print(f"validation digits, seed {a.seed}, {a.n} pairs of numbers of 1-3 digits, half photos, half scans")
    print(f"{'mark':8s} {'two numbers':>12s} {'run together':>13s} {'other':>8s}")
    for mark, c in counts.items():
        print(f"{mark:8s} {100 * c['two numbers'] / a.n:10.1f} % {100 * c['run together'] / a.n:11.1f} % "
              f"{100 * c['other'] / a.n:6.1f} %")


if __name__ == "__main__":
    main()
