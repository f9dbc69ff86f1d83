"""Numbers written on a ruled line, in a box, or cropped tight: sequence accuracy per setting.

    python benchmarks/ruled_lines.py                 # validation digits, 60 numbers per setting
    python benchmarks/ruled_lines.py --n 100 --seed 1

A form's line under the number, a box around it and a crop tight to the ink are common in real
pictures and absent from benchmarks/numbers.py. Numbers of 1-5 validation digits (training
images 55,000-59,999, `numbers.split_digits("val")`) are rendered as scans by
`generators.numbers.render_number`; each is read plain, over a 3-4 px line at `gap` px under its
lowest digit (< 0: through the digits' feet) reaching `reach` x H past its ends, in a box 8 px
around it (3 px thick), in a box 0.3 H around it (0.15 H thick, tilted 3 degrees), in a comb field
(a cell per digit, 0.2 H around, dividers halfway between neighbours: a slanted digit may cross
one), and cropped to its ink (the scan's ink, darker than 128, plus 0 or 3 px). One process, the
package's reading path (`ensemble.numbers.read_number`); no speed is measured.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LINES = [(-3, 0.0), (-3, 1.0), (0, 0.0), (0, 1.0), (4, 0.0), (4, 1.0), (12, 0.0), (12, 1.0)]   # (gap px, reach H)


def settings(img, boxes):
    """Yield (name, picture) for one rendered scan: plain, on each line, boxed, cropped tight."""
    import numpy as np
    from PIL import Image, ImageDraw
    b = np.asarray(boxes)
    H = float(np.median(b[:, 3] - b[:, 1]))
    yield "plain", img
    for gap, reach in LINES:
        g = Image.fromarray(img)
        ImageDraw.Draw(g).line([(b[:, 0].min() - reach * H, b[:, 3].max() + gap),
                                (b[:, 2].max() + reach * H, b[:, 3].max() + gap)], fill=40, width=int(max(3, H / 10)))
        yield f"line {gap:+d} px, reach {reach:g} H", np.asarray(g)
    g = Image.fromarray(img)
    ImageDraw.Draw(g).rectangle([b[:, 0].min() - 8, b[:, 1].min() - 8, b[:, 2].max() + 8, b[:, 3].max() + 8],
                                outline=40, width=3)
    yield "box", np.asarray(g)
    m, t = 0.3 * H, np.deg2rad(3)                  # a thick box 0.3 H around, tilted 3 degrees (a photo)
    x0, y0, x1, y1 = b[:, 0].min() - m, b[:, 1].min() - m, b[:, 2].max() + m, b[:, 3].max() + m
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    corners = [(cx + (x - cx) * np.cos(t) - (y - cy) * np.sin(t), cy + (x - cx) * np.sin(t) + (y - cy) * np.cos(t))
               for x, y in [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]]
    g = Image.fromarray(img)
    ImageDraw.Draw(g).line(corners + corners[:1], fill=40, width=max(3, int(0.15 * H)), joint="curve")
    yield "box thick, tilted 3 deg", np.asarray(g)
    g = Image.fromarray(img)                       # a comb field: a cell per digit, dividers halfway between
    d, m = ImageDraw.Draw(g), 0.2 * H
    xs = [b[0, 0] - m] + [(b[k, 2] + b[k + 1, 0]) / 2 for k in range(len(b) - 1)] + [b[-1, 2] + m]
    d.rectangle([xs[0], b[:, 1].min() - m, xs[-1], b[:, 3].max() + m], outline=40, width=3)
    for x in xs[1:-1]:
        d.line([(x, b[:, 1].min() - m), (x, b[:, 3].max() + m)], fill=40, width=3)
    yield "comb field", np.asarray(g)
    ys, xs = np.nonzero(img < 128)
    for m in (0, 3):
        yield f"tight +{m} px", img[max(0, ys.min() - m):ys.max() + 1 + m, max(0, xs.min() - m):xs.max() + 1 + m]


def main(argv=None) -> None:
    import numpy as np
    from tqdm import tqdm

    from benchmarks.numbers import split_digits
    from ensemble import Ensemble
    from ensemble.numbers import read_number
    from generators.numbers import NumberStyle, render_number
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60, help="numbers per setting")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.n < 1:
        ap.error("--n must be at least 1")
    images, labels = split_digits("val")
    ens = Ensemble(ROOT / "checkpoints", device="cpu")
    rng = np.random.default_rng(a.seed)
    right: dict[str, int] = {}
    for _ in tqdm(range(a.n), desc="numbers", file=sys.stderr):
        idx = rng.choice(len(images), int(rng.integers(1, 6)), replace=False)
        text = "".join(str(int(labels[i])) for i in idx)
        img, boxes = render_number(images[idx], seed=int(rng.integers(2 ** 31)), style=NumberStyle(look="scan"))
        for name, pic in settings(img, boxes):
            r = read_number(ens, pic)
            right[name] = right.get(name, 0) + (r.ok and r.extra.get("text") == text)
    print(f"validation digits, seed {a.seed}, {a.n} scanned numbers of 1-5 digits per setting")
    print(f"{'setting':26s} {'sequence acc.':>14s}")
    for name, k in right.items():
        print(f"{name:26s} {100 * k / a.n:13.1f} %")


if __name__ == "__main__":
    main()
