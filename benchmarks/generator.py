"""Throughput of the distortion generator: torch path (CPU, GPU) and albumentations path.

    python benchmarks/generator.py                 # 2 CPU threads, batch 512, GPU rows if present
    python benchmarks/generator.py --threads 2 --seconds 5

Targets: >= 20,000 samples/s for the torch path on 2 CPU cores at batch 512;
>= 2,000,000 samples/s for the torch path on one H100/H200.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from generators import DistortionConfig, distort  # noqa: E402


def fake_digits(n, device):
    x = torch.zeros(n, 1, 28, 28, device=device)
    x[:, :, 6:22, 11:17] = 1.0                      # a bar where MNIST ink lives
    return x


def time_torch(device, batch, seconds):
    x = fake_digits(batch, device)
    g = torch.Generator(device=device).manual_seed(0)
    cfg = DistortionConfig()
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for _ in range(5):
        distort(x, cfg, g)
    sync()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(10):
            distort(x, cfg, g)
        n += 10 * batch
        sync()
    return n / (time.perf_counter() - t0)


def time_albumentations(workers, batch, seconds):
    from generators.albu import AlbumentationsDataset
    u8 = (fake_digits(8192, "cpu")[:, 0] * 255).to(torch.uint8)
    ds = AlbumentationsDataset(u8, torch.zeros(len(u8), dtype=torch.long))
    dl = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                                     persistent_workers=workers > 0, drop_last=True)
    it = iter(dl)
    next(it)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        try:
            xb, _ = next(it)
        except StopIteration:
            it = iter(dl)
            continue
        n += len(xb)
    return n / (time.perf_counter() - t0)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (the 2-core target)")
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--gpu-batches", default="512,8192,65536")
    p.add_argument("--seconds", type=float, default=3.0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    rows = [("torch", f"cpu ({a.threads} threads)", a.batch, time_torch("cpu", a.batch, a.seconds), 20_000),
            ("albumentations", "cpu (2 workers)", a.batch, time_albumentations(2, a.batch, a.seconds), None)]
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        for b in (int(s) for s in a.gpu_batches.split(",")):
            rows.append(("torch", name, b, time_torch("cuda", b, a.seconds), 2_000_000))
    print(f"# generator throughput, {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}")
    print(f"| {'backend':15s} | {'device':28s} | {'batch':>6s} | {'samples/s':>12s} | {'target':>10s} | ok |")
    print(f"|{'-' * 17}|{'-' * 30}|{'-' * 8}|{'-' * 14}|{'-' * 12}|----|")
    for backend, dev, b, sps, target in rows:
        ok = "" if target is None else ("yes" if sps >= target else "NO")
        print(f"| {backend:15s} | {dev:28s} | {b:6d} | {sps:12,.0f} | {target or '':>10} | {ok:2s} |")


if __name__ == "__main__":
    main()
