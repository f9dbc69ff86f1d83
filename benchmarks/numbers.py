"""Multi-digit number reading: sequence and digit accuracy per condition, numbers/s.

    python benchmarks/numbers.py                        # MNIST test digits: the reported table
    python benchmarks/numbers.py --split val --n 100    # validation digits: for tuning
    python benchmarks/numbers.py --markdown             # the table as Markdown (benchmarks/RESULTS.md)
    python benchmarks/numbers.py --repeat 3             # time each folder 3 times: the median speed
    python benchmarks/numbers.py --split val --why      # where each row's misreads come from

The data: numbers rendered by `generators.numbers.render_number` from MNIST digits of the
chosen split (test: the 10,000 test digits; val: training images 55,000-59,999, the
validation split that thresholds were tuned on), drawn as dark ink on paper:

  condition       digits  writing
  4 gaps          4       gaps of 2-8 MNIST px between the digits' ink
  4 touching      4       the same, but one random pair touches: its closest ink rows overlap
                          by -0.5..0.5 px (a hairline gap bridged by the pens' rims, up to
                          half a pixel of overlap)
  4 overlapping   4       one pair overlaps by 0.5-2 px (strokes merge; no target)
  4 broken        4       gaps of 2-8 px; half the digits have 1-2 gaps in their strokes
  8 gaps          8       gaps of 2-8 px
  2-10 mixed      2..10   gaps of 2-8 px; a touching or overlapping pair (-0.5..2 px) in 30 %,
                          10 % of the digits broken
  1 digit         1       a lone digit, a quarter of them broken: must read as one digit (a
                          broken 0 is not "67", a broken 4 not "61"); not in the speed row

each with size (+-12 %) and baseline (+-2 px) jitter per digit and a slant (shear +-0.25) per
number, pictured two ways: "photo" (1600x1200 or 1200x1600 phone photo, JPEG quality 85-95,
uneven light, grain, blur; digits 60-200 px tall) and "scan" (grey PNG cropped around the
number, digits 45-100 px tall). The files are written once under --cache, named
`<number>_<index>.<ext>`, i.e. a labelled number folder that `vote.py --number` reads too.

Reading goes through the package's one path: find_inputs + number labels + Reader with
NumberMode (decode, segment, normalize each candidate digit, members, vote), --workers
processes. Prints per condition and look: numbers, sequence accuracy (the whole string right),
digit accuracy (1 - edit distance / digits, summed), numbers/s (wall clock: depends on what else
the machine runs) and CPU ms/number (user + system time of this process and its reading workers,
`resource.getrusage`: about what the reading costs whatever the load; 2 free cores read at most
2000 / that numbers/s). --repeat K reads every folder K times and reports the median wall time and
CPU time of the K reads (each median on its own; single runs on a 2-core VM spread by several per
cent); the readings must be the same every time. Targets: 4 gaps >= 98 %,
4 touching >= 93 %, 8 gaps >= 90 % sequence accuracy; >= 50 numbers/s on 2 cores (the "all
numbers" row: every condition but "1 digit", whose lone digits read 3-4x faster).

--why sorts each row's misread numbers by cause, from the renderer's truth.json (`misread_causes`):
"segmentation" (the digits read are not the digits drawn: another count, or a box off its digit,
IoU < 0.6), "members" (the boxes are right and a misread digit is one that the ensemble misreads
even as its own 28x28 MNIST image: better members would fix it) or "crop" (right boxes, and every
misread digit is read right as its MNIST image: lost between the picture and the 28x28 that the
members saw: light strokes, a cut a little off, a neighbour's ink).
"""
from __future__ import annotations

import os
import sys

if __name__ == "numbers":
    # A script in benchmarks/ has this folder first on sys.path, so `import numbers` (numpy
    # does it) finds this file, not the standard library's module: hand over to the real one.
    # (The rest of this file then only defines functions; numpy is imported inside them.)
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _here]
    del sys.modules["numbers"]
    import numbers as _standard_numbers  # noqa: E402  (the standard library's, found now)
    sys.modules["numbers"] = _standard_numbers

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONDITIONS = {     # name: (min digits, max digits, share with a touching pair, its ink overlap, broken digits)
    "4 gaps": (4, 4, 0.0, None, 0.0),
    "4 touching": (4, 4, 1.0, (-0.5, 0.5), 0.0),
    "4 overlapping": (4, 4, 1.0, (0.5, 2.0), 0.0),
    "4 broken": (4, 4, 0.0, None, 0.5),
    "8 gaps": (8, 8, 0.0, None, 0.0),
    "2-10 mixed": (2, 10, 0.3, (-0.5, 2.0), 0.1),
    "1 digit": (1, 1, 0.0, None, 0.25),   # last, so the rows above keep their renders
}
LONE = "1 digit"    # not a number: left out of the speed row, which is about the 2-10 digit numbers
LOOKS = ("photo", "scan")
TARGETS = {"4 gaps": 0.98, "4 touching": 0.93, "8 gaps": 0.90}
SPEED_TARGET = 50.0         # numbers/s on 2 cores, all the numbers' conditions together (not LONE)


def choices(ap, text: str, allowed, what: str) -> list[str]:
    """A comma-separated option -> its names, each one of `allowed` (else the parser's error)."""
    names = [c.strip() for c in text.split(",") if c.strip()]
    for c in names:
        if c not in allowed:
            ap.error(f"unknown {what} {c!r}; choose from {', '.join(allowed)}")
    return names


def split_digits(split: str):
    """uint8 (N, 28, 28) digits and int labels (N,) of the split: test, or val (train[-5000:])."""
    from generators import load_mnist
    if split == "test":
        x, y = load_mnist("test", verbose=False)
    else:
        x, y = load_mnist("train", verbose=False)
        x, y = x[-5000:], y[-5000:]
    return x.numpy(), y.numpy()


def build(folder: Path, images, labels, condition: str, look: str, n: int, seed: int) -> None:
    """Render n numbers of one condition and look into folder (once)."""
    import numpy as np
    from PIL import Image

    from generators.numbers import NumberStyle, render_number
    done = folder / ".complete"
    if done.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    lo, hi, touch_share, overlap, broken = CONDITIONS[condition]
    rng = np.random.default_rng([seed, list(CONDITIONS).index(condition), LOOKS.index(look)])
    print(f"rendering {n} numbers into {folder} (once)", file=sys.stderr)
    truth = {}
    for i in range(n):
        k = int(rng.integers(lo, hi + 1))
        idx = rng.choice(len(images), k, replace=False)
        style = NumberStyle(look=look, touch=bool(rng.random() < touch_share), overlap=overlap or (-0.5, 0.5),
                            broken=broken)
        img, boxes = render_number(images[idx], seed=int(rng.integers(2 ** 31)), style=style)
        text = "".join(str(int(v)) for v in labels[idx])
        pil = Image.fromarray(img)
        name = f"{text}_{i:04d}.{'jpg' if look == 'photo' else 'png'}"
        if look == "photo":
            pil.save(folder / name, quality=int(rng.integers(85, 96)))
        else:
            pil.save(folder / name)
        truth[name] = {"mnist_index": idx.tolist(), "boxes": boxes.tolist()}
    (folder / "truth.json").write_text(json.dumps(truth))     # digit boxes, for diagnostics
    done.touch()


def iou(a, b):
    """IoU of box a (4,) with boxes b (K, 4), x0 y0 x1 y1: float (K,)."""
    from ensemble.verifier import box_iou
    return box_iou([a], b)[0]


CAUSES = ("segmentation", "members", "crop")


def misread_causes(readings, truth: dict, raw_right, class_names) -> dict:
    """How many misread numbers each cause (CAUSES, see the docstring's --why) explains.

    readings: a labelled folder's readings; truth: its truth.json (name -> mnist_index, boxes);
    raw_right: bool per digit of the split, whether the ensemble reads its 28x28 MNIST image right.
    """
    from ensemble.numbers import number_text
    counts = dict.fromkeys(CAUSES, 0)
    for r in readings:
        want = r.label.replace(" ", "")
        read = number_text(r, class_names).replace(" ", "")          # as number_summary compares
        if read == want:
            continue
        digits = (r.extra.get("digits") or []) if r.ok else []
        t = truth[os.path.basename(r.path)]
        if len(digits) != len(t["boxes"]) or any(iou(d["box"], b)[0] < 0.6 for d, b in zip(digits, t["boxes"])):
            counts["segmentation"] += 1
        elif all(raw_right[t["mnist_index"][k]] for k in range(len(want)) if read[k] != want[k]):
            counts["crop"] += 1
        else:
            counts["members"] += 1
    return counts


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its finished, waited-for children (the
    reading workers, which the DataLoader joins when a read ends)."""
    import resource
    return sum(u.ru_utime + u.ru_stime for u in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def read_folder(folder: Path, ens, workers: int | None):
    """Read a labelled number folder: (readings, wall seconds, CPU seconds of all processes)."""
    from ensemble.numbers import NumberMode, label_numbers
    from ensemble.reading import Reader, find_inputs
    found = label_numbers(find_inputs([str(folder)], ens.class_names))
    mode = NumberMode(class_names=ens.class_names)
    mode.load_verifier()                      # loaded once per process, before the clock starts
    reader = Reader(ens, mode=mode, workers=workers)
    t, cpu = time.perf_counter(), cpu_seconds()
    readings = reader.read(found.items)
    return readings, time.perf_counter() - t, cpu_seconds() - cpu


def main(argv=None) -> int:
    from vote import PRECISIONS             # vote.py's choices (ROOT is on sys.path)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("test", "val"), default="test")
    ap.add_argument("--n", type=int, default=200, help="numbers per condition and look (default 200)")
    ap.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated subset")
    ap.add_argument("--looks", default=",".join(LOOKS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--weights", help="folder of *.safetensors (default: checkpoints/)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", choices=PRECISIONS, default="auto",
                    help="the members' arithmetic (default auto: bfloat16 where the CPU computes it natively, "
                         "as vote.py reads)")
    ap.add_argument("--workers", type=int, default=2, help="reading processes (default 2)")
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "digit-ensemble" / "bench"))
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--errors", type=int, default=0, metavar="K", help="also list K misread numbers per row")
    ap.add_argument("--repeat", type=int, default=1, metavar="K",
                    help="read each folder K times; wall and CPU time are each the median of the K reads (default 1)")
    ap.add_argument("--why", action="store_true",
                    help="also sort each row's misreads by cause: segmentation, members, crop (see above)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    conditions = choices(ap, args.conditions, CONDITIONS, "condition")
    looks = choices(ap, args.looks, LOOKS, "look")

    import numpy as np

    from ensemble import Ensemble
    from ensemble.outputs import number_summary
    images, labels = split_digits(args.split)
    ens = Ensemble(args.weights, device=args.device, precision=args.precision)
    raw_right = (ens.predict(images).prediction.numpy() == labels) if args.why else None   # (N,) bool
    rows, causes = [], []
    for cond in conditions:
        for look in looks:
            folder = Path(args.cache) / f"numbers-v3-{args.split}-s{args.seed}-n{args.n}" / \
                f"{cond.replace(' ', '_')}-{look}"
            build(folder, images, labels, cond, look, args.n, args.seed)
            runs = [read_folder(folder, ens, args.workers) for _ in range(args.repeat)]
            readings = runs[0][0]
            texts = [[(r.path, r.status, r.extra.get("text")) for r in rs] for rs, _, _ in runs]
            if any(t != texts[0] for t in texts[1:]):
                raise SystemExit(f"numbers.py: {folder}: the {args.repeat} reads disagree (reading must be deterministic)")
            seconds = float(np.median([t for _, t, _ in runs]))
            cpu = float(np.median([c for _, _, c in runs]))
            s = number_summary(readings, ens.member_names)
            rows.append((cond, look, s, seconds, cpu))
            if args.why:
                truth = json.loads((folder / "truth.json").read_text())
                causes.append(misread_causes(readings, truth, raw_right, ens.class_names))
            print(f"{cond:<13} {look:<6} n={s['n']:>4}  sequence {100 * s['sequence_accuracy']:6.2f}%  "
                  f"digits {100 * s['digit_accuracy']:6.2f}%  {s['n'] / seconds:6.1f} numbers/s  "
                  f"CPU {1000 * cpu / s['n']:5.1f} ms/number", file=sys.stderr, flush=True)
            for path in s["misread"][:args.errors]:
                r = next(r for r in readings if r.path == path)
                print(f"    {os.path.basename(path)}: read {r.extra.get('text', r.status)!r}", file=sys.stderr)
    print(table(rows, args, ens), end="")
    if args.why:
        print("\n" + why_table(rows, causes, args.markdown), end="")
    return 0


def why_table(rows, causes, markdown: bool) -> str:
    """Misread numbers per row, by cause (counts)."""
    head = ["condition", "look", "numbers", "misread", *CAUSES]
    body = [[cond, look, str(s["n"]), str(s["n"] - s["correct"]), *(str(c[k]) for k in CAUSES)]
            for (cond, look, s, _, _), c in zip(rows, causes)]
    return grid(head, body, markdown)


def grid(head: list[str], body: list[list[str]], markdown: bool) -> str:
    """Rows of cells as aligned text, or as Markdown (condition and look left, numbers right)."""
    if not markdown:
        w = [max(len(r[k]) for r in [head] + body) for k in range(len(head))]
        return "\n".join("  ".join(c.ljust(wd) for c, wd in zip(r, w)).rstrip() for r in [head] + body) + "\n"
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    return "\n".join(out + ["| " + " | ".join(r) + " |" for r in body]) + "\n"


def table(rows, args, ens) -> str:
    import torch
    device = args.device if args.device != "cpu" else f"CPU ({os.cpu_count()} cores, {args.workers} workers)"
    head = ["condition", "look", "numbers", "sequence acc.", "digit acc.", "numbers/s", "CPU ms/number", "target"]
    body = []
    for cond, look, s, seconds, cpu in rows:
        target = TARGETS.get(cond)
        seq = s["sequence_accuracy"]
        body.append([cond, look, str(s["n"]), f"{100 * seq:.2f} %", f"{100 * s['digit_accuracy']:.2f} %",
                     f"{s['n'] / seconds:.1f}", f"{1000 * cpu / s['n']:.1f}",
                     "" if target is None else f"≥ {100 * target:.0f} % {'✔' if seq >= target else '✘'}"])
    numbers = [r for r in rows if r[0] != LONE]       # the speed target is about numbers of 2-10 digits
    total_n = sum(r[2]["n"] for r in numbers)
    total_t = sum(r[3] for r in numbers)
    total_cpu = sum(r[4] for r in numbers)
    speed = total_n / max(total_t, 1e-9)
    goal = f"≥ {SPEED_TARGET:g}/s"
    if {(r[0], r[1]) for r in numbers} != {(c, lk) for c in CONDITIONS if c != LONE for lk in LOOKS}:
        goal += " (all conditions)"                   # the target is for the whole table, on the CPU
    elif args.device != "cpu":
        goal += " (on the CPU)"
    else:
        goal += f" {'✔' if speed >= SPEED_TARGET else '✘'}"
    if numbers:
        body.append(["all numbers" if len(numbers) < len(rows) else "all", "", str(total_n), "", "", f"{speed:.1f}",
                     f"{1000 * total_cpu / total_n:.1f}", goal])
    timing = f", speed: median of {args.repeat} reads per folder" if args.repeat > 1 else ""
    precision = f", {ens.precision}" if ens is not None else ""          # the members' arithmetic in use
    info = f"split={args.split}, seed={args.seed}, device: {device}{precision}, torch {torch.__version__}{timing}"
    return info + ("\n\n" if args.markdown else "\n") + grid(head, body, args.markdown)


if __name__ == "__main__":
    sys.exit(main())
