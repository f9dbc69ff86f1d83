"""Time vote.py end to end: process start, decode, normalize, five members, vote, CSV out.

    python benchmarks/vote.py                       # trained weights in checkpoints/
    python benchmarks/vote.py --weights DIR --photos 300 --device cpu

Two workloads, generated once into --cache (default ~/.cache/digit-ensemble/bench):
  mnist-test-png/<label>/<index>.png   the 10,000 MNIST test digits as 28x28 PNGs (a labelled
                                       folder, so the run also reports the test accuracy);
  photos/<label>/photo_<index>.jpg     --photos large (1600x1200) phone-photo-like JPEGs of
                                       test digits (dark ink, uneven light, grain).
Prints: workload, images, seconds, images/s, device, accuracy. Target on 2 CPU cores:
>= 300 images/s for the 28x28 PNGs. Needs trained weights (train_all.py writes them).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))


def build_mnist_pngs(folder: Path, images, labels) -> None:
    done = folder / ".complete"
    if done.exists():
        return
    print(f"writing {len(images)} PNGs to {folder} (once)", file=sys.stderr)
    for i, (img, y) in enumerate(zip(images, labels)):
        (folder / str(y)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(folder / str(y) / f"{i:05d}.png")
    done.touch()


def build_photos(folder: Path, images, labels, n: int) -> None:
    from make_examples import photo_like
    done = folder / f".complete-{n}"
    if done.exists():
        return
    print(f"writing {n} photo-like JPEGs to {folder} (once)", file=sys.stderr)
    rng = np.random.default_rng(0)
    for i in range(n):
        (folder / str(labels[i])).mkdir(parents=True, exist_ok=True)
        photo_like(Image.fromarray(images[i]), rng, size=(1600, 1200)).save(
            folder / str(labels[i]) / f"photo_{i:05d}.jpg", quality=85)
    done.touch()


def time_vote(folder: Path, args) -> dict:
    cmd = [sys.executable, str(ROOT / "vote.py"), str(folder), "--format", "csv", "--output", os.devnull,
           "--device", args.device, "--precision", args.precision] + \
        (["--weights", args.weights] if args.weights else [])
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if r.returncode not in (0, 2):
        sys.exit(f"benchmarks/vote.py: vote.py failed: {r.stderr.strip().splitlines()[-1]}")
    n = sum(1 for p in folder.rglob("*") if p.suffix in (".png", ".jpg"))
    acc = re.search(r"ensemble accuracy: ([\d.]+%)", r.stdout)
    return {"images": n, "seconds": seconds, "rate": n / seconds, "accuracy": acc.group(1) if acc else "-"}


def main(argv=None) -> int:
    from vote import PRECISIONS             # ../vote.py's choices (ROOT precedes this folder on sys.path)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", help="folder of *.safetensors (default: checkpoints/)")
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "digit-ensemble" / "bench"))
    ap.add_argument("--photos", type=int, default=300)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", choices=PRECISIONS, default="auto",
                    help="vote.py's --precision (default auto, as vote.py: bfloat16 where the CPU has it)")
    args = ap.parse_args(argv)

    weights = Path(args.weights) if args.weights else ROOT / "checkpoints"
    if not list(weights.glob("*.safetensors")):
        print(f"benchmarks/vote.py: no trained weights in {weights}: run `python train_all.py` first "
              "or pass --weights DIR", file=sys.stderr)
        return 1
    from generators import load_mnist
    images, labels = load_mnist("test")
    images, labels = images.numpy(), labels.numpy()
    cache = Path(args.cache)
    build_mnist_pngs(cache / "mnist-test-png", images, labels)
    build_photos(cache / "photos", images, labels, args.photos)

    import torch
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        device = f"cpu ({os.cpu_count()} cores)"
    from ensemble.inference import resolve_precision
    device += ", " + resolve_precision(args.precision, torch.device(device.split()[0]))   # as vote.py resolves it
    print(f"{'workload':<22} {'images':>7} {'seconds':>8} {'images/s':>9}  {'accuracy':>8}  device")
    for name, folder in [("MNIST test, 28x28 PNG", cache / "mnist-test-png"),
                         ("photos 1600x1200 JPEG", cache / "photos")]:
        r = time_vote(folder, args)
        print(f"{name:<22} {r['images']:>7} {r['seconds']:>8.1f} {r['rate']:>9.0f}  {r['accuracy']:>8}  {device}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
