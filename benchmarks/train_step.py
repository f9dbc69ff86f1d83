"""Where one training step's time goes: the distortion against the member net's forward + backward
+ AdamW step (bf16 autocast on a GPU), per member and batch size. Both through `MemberModule`, as
training runs them: `prepare_batch` (uint8 -> float, the keyed distortion) and `compute_loss` (label
smoothing, the auxiliary heads' losses).

    python benchmarks/train_step.py                          # the GPU if there is one, batches 128,512,2048
    python benchmarks/train_step.py --device cpu --batch-sizes 16

Columns (milliseconds per step, mean of --steps after --warmup): distort (the member's whole
distortion config), distort without the redraw stage, the net's step on undistorted input, both
together (what a training step costs), and the steps/s and images/s that gives for one member
alone. Random training digits (the first 55,000 MNIST training images); nothing is trained.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ensemble.config import load_configs  # noqa: E402
from ensemble.module import MemberModule  # noqa: E402
from ensemble.registry import create_member  # noqa: E402
from generators import load_mnist  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch-sizes", default="128,512,2048")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    a = ap.parse_args(argv)
    dev = torch.device(a.device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    amp = dict(device_type=dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda")

    def ms(fn):
        for _ in range(a.warmup):
            fn()
        sync()
        t = time.perf_counter()
        for _ in range(a.steps):
            fn()
        sync()
        return (time.perf_counter() - t) / a.steps * 1e3

    x_all, y_all = load_mnist("train")
    x_all = torch.as_tensor(x_all[:55000]).to(dev)                            # (55000, 28, 28) uint8
    y_all = torch.as_tensor(y_all[:55000]).long().to(dev)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"# {name}, torch {torch.__version__}, {a.steps} steps after {a.warmup} warm-up")
    print("| member | batch | distort ms | distort, no redraw ms | net step ms | both ms | steps/s | images/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for cfg in load_configs():
        net = create_member(cfg["arch"], **cfg.get("arch_args", {}))
        m = MemberModule(net, cfg, [str(c) for c in range(10)]).to(dev).train()
        full, plain = m.dcfg, replace(m.dcfg, redraw=0.0)
        opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
        for B in (int(b) for b in a.batch_sizes.split(",")):
            idx = torch.randint(0, len(x_all), (B,), device=dev)                # dataset indices: the keys
            batch = (x_all[idx], y_all[idx], idx)                             # as the DataLoader gives it
            x, y = m.prepare_batch(batch[:2], train=False)                     # (B, 1, 28, 28), undistorted

            def step(inp):
                with torch.autocast(**amp):
                    logits, aux = m.net(inp, return_aux=True)
                    loss = m.compute_loss(logits.float(), [t.float() for t in aux], y)[0]
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()

            def distorted(cfg_d):
                m.dcfg = cfg_d
                return m.prepare_batch(batch, train=True)[0]

            td0 = ms(lambda: distorted(plain))
            td = ms(lambda: distorted(full))
            tn = ms(lambda: step(x))
            tb = ms(lambda: step(distorted(full)))
            print(f"| {cfg['name']} | {B} | {td:.2f} | {td0:.2f} | {tn:.2f} | {tb:.2f} | {1e3 / tb:.1f} | "
                  f"{B * 1e3 / tb:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
