"""Train the one-digit verifier that helps `vote.py --number` choose a number's segmentation.

    python train_verifier.py                      # configs/verifier.yaml -> checkpoints/verifier/
    python train_verifier.py --quick --out runs/quick/verifier      # a smoke run: minutes -> seconds
    tensorboard --logdir runs                     # watch (runs/verifier)

1. Renders numbers from MNIST training digits 0-54,999 and reads each one as `vote.py --number`
   does (segment, normalize every candidate digit); labels every candidate by its box: one whole
   digit (IoU >= 0.75 with a drawn digit) or not (IoU < 0.5 with all). The same from the
   validation digits 55,000-59,999 for the validation crops. (Cached under --cache, keyed by the
   config and the code they come from; the report names a cache it read.)
2. Trains ensemble.verifier.OneDigitNet with the members' LightningModule (ensemble/module.py),
   2 classes, last-epoch weights.
3. Writes OUT/one_digit.safetensors (weights + the config, data sizes, errors) and OUT/report.json,
   OUT/report.md (command, hardware, wall time, validation error). The MNIST test set is not read.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
CLASS_NAMES = ["not one digit", "one digit"]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "verifier.yaml"))
    ap.add_argument("--out", default=str(ROOT / "checkpoints" / "verifier"), help="where the weights and report go")
    ap.add_argument("--logdir", default=str(ROOT / "runs"), help="TensorBoard runs (runs/verifier)")
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "digit-ensemble" / "verifier"))
    ap.add_argument("--workers", type=int, default=2, help="processes that render and read the numbers")
    ap.add_argument("--quick", action="store_true", help="8 numbers per kind, 1 epoch: checks the pipeline")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    return ap.parse_args(argv)


def crops(cfg: dict, split: str, n: int, a) -> tuple:
    """uint8 (K, 28, 28) candidates and int64 (K,) labels for the split ("train" or "val"), cached."""
    from ensemble.verifier import cached_arrays, candidate_crops
    from generators import load_mnist
    d = cfg["data"]
    mix = [{**m, "look": look} for m in d["mix"] for look in d["looks"]]
    # what the crops depend on: the renderer, the reading path (decode, segment, normalize), the
    # tasks and labels (ensemble/verifier.py), the split (this file), the config
    sources = [ROOT / f for f in ("generators/numbers.py", "ensemble/reading.py", "ensemble/numbers.py",
                                  "ensemble/segment.py", "ensemble/normalize.py", "ensemble/verifier.py",
                                  "train_verifier.py")]

    def make():
        x, _y = load_mnist("train", verbose=False)
        x = x.numpy()
        x = x[:-5000] if split == "train" else x[-5000:]        # the members' own split: val = the last 5,000
        seed = int(d["seed"]) + (0 if split == "train" else 1000)
        cx, cy = candidate_crops(x, mix, n, seed, workers=a.workers, desc=f"reading {split} numbers")
        return {"x": cx, "y": cy}
    z, store = cached_arrays(a.cache, f"crops-{split}", sources, [mix, n, d["seed"], split], make,
                             f"verifier data: {split} crops")
    return z["x"], z["y"], store


def main(argv=None) -> int:
    a = parse_args(argv)
    import numpy as np
    import yaml
    from pytorch_lightning import seed_everything

    from ensemble.flops import count_macs, count_params
    from ensemble.module import fit_on_crops
    from ensemble.report import command_line, hardware, software
    from ensemble.verifier import OneDigitNet, Verifier, save_verifier

    cfg = yaml.safe_load(Path(a.config).read_text())
    if a.quick:
        cfg["data"].update(numbers=8, val_numbers=3)
        cfg["train"]["epochs"] = 1
    t0 = time.perf_counter()
    tx, ty, t_cached = crops(cfg, "train", int(cfg["data"]["numbers"]), a)
    vx, vy, v_cached = crops(cfg, "val", int(cfg["data"]["val_numbers"]), a)
    data_s = time.perf_counter() - t0
    print(f"verifier data: {len(tx):,} training crops ({ty.mean():.1%} one digit), {len(vx):,} validation crops "
          f"({vy.mean():.1%}), {data_s:.0f} s", file=sys.stderr)

    seed_everything(int(cfg["seed"]), workers=True, verbose=False)
    net = OneDigitNet(**cfg["arch_args"])
    trainer, train_s = fit_on_crops(net, cfg, CLASS_NAMES, (tx, ty), (vx, vy), a.logdir, "verifier", not a.no_progress)

    net.eval()
    logit = Verifier(net)(vx)
    errors = int(((logit > 0).astype(np.int64) != vy).sum())
    meta = {"arch": cfg["arch"], "arch_args": cfg["arch_args"], "class_names": CLASS_NAMES,
            "data": {**cfg["data"], "train_crops": len(tx), "val_crops": len(vx),
                     "train_digits": "MNIST training images 0-54,999", "val_digits": "MNIST training images 55,000-59,999",
                     "crops_from_cache": [c for c in (t_cached, v_cached) if c]},
            "train": cfg["train"], "distortion": cfg["distortion"], "seed": cfg["seed"], "quick": a.quick,
            "metrics": {"val_errors": errors, "val_error": errors / max(len(vy), 1), "val_n": len(vy),
                        "epochs": trainer.current_epoch, "steps": trainer.global_step,
                        "params": count_params(net), "macs_per_image": count_macs(net, 1, 28),
                        "data_wall_time_s": round(data_s, 1), "train_wall_time_s": round(train_s, 1)}}
    out = Path(a.out)
    path = save_verifier(out / "one_digit.safetensors", net, meta)
    rep = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "command": command_line(),
           "hardware": hardware(), "software": software(), "weights": str(path.relative_to(ROOT)
                                                                            if path.is_relative_to(ROOT) else path),
           **meta, "test_set": "not read"}
    (out / "report.json").write_text(json.dumps(rep, indent=2, default=str) + "\n")
    m = meta["metrics"]
    cached = meta["data"]["crops_from_cache"]
    made = (f"read from the cache of an earlier run: {', '.join(cached)}" if cached
            else f"{data_s:.0f} s to render and read")
    (out / "report.md").write_text(
        f"# One-digit verifier: training report\n\n- date: {rep['date']}\n- command: `{rep['command']}`\n"
        f"- hardware: {json.dumps(rep['hardware'])}\n"
        f"- data: {len(tx):,} training crops from numbers of MNIST training digits 0-54,999 "
        f"({ty.mean():.1%} one digit), {len(vx):,} validation crops from digits 55,000-59,999; {made}\n"
        f"- training: {m['epochs']} epochs, {m['steps']} steps, {train_s:.0f} s on the CPU; "
        f"{m['params']:,} parameters, {m['macs_per_image'] / 1e6:.2f} M multiply-adds per image\n"
        f"- **validation error: {100 * m['val_error']:.2f} % ({errors:,} / {len(vy):,} crops)**\n"
        f"- the MNIST test set was not read\n")
    print(f"verifier: validation error {100 * m['val_error']:.2f} % ({errors}/{len(vy)}) -> {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
