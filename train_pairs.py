"""Train the pair reader that reads two touching digits in one candidate for `vote.py --number`.

    python train_pairs.py                         # configs/pairs.yaml -> checkpoints/verifier/pair.safetensors
    python train_pairs.py --quick --out runs/quick/pairs   # a smoke run: minutes -> seconds
    tensorboard --logdir runs                     # watch (runs/pairs)

1. Data (ensemble/pairs.py): synthetic touching pairs of MNIST training digits 0-54,999 and lone
   digits pictured the same way ("not a pair"), normalized as every candidate is, plus the
   candidates of numbers rendered from those digits and read as `vote.py --number` reads them, labelled by their boxes (the pair "ab", not a pair, or left out).
   The same from the validation digits 55,000-59,999 for the validation crops. Cached under --cache,
   keyed by the config and the code they come from; the report names a cache it read.
2. Trains ensemble.pairs.PairNet (101 classes) with the members' LightningModule, last-epoch weights.
3. Writes OUT/pair.safetensors (weights + config, data sizes, errors) and OUT/pair_report.json /
   OUT/pair_report.md (command, hardware, wall time, validation errors). The MNIST test set is not read.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "pairs.yaml"))
    ap.add_argument("--out", default=str(ROOT / "checkpoints" / "verifier"), help="where the weights and report go")
    ap.add_argument("--logdir", default=str(ROOT / "runs"), help="TensorBoard runs (runs/pairs)")
    ap.add_argument("--cache", default=str(Path.home() / ".cache" / "digit-ensemble" / "pairs"))
    ap.add_argument("--workers", type=int, default=2, help="processes that make the data")
    ap.add_argument("--quick", action="store_true", help="a few hundred crops, 1 epoch: checks the pipeline")
    ap.add_argument("--no-progress", action="store_true", help="no progress bars")
    return ap.parse_args(argv)


def crops(cfg: dict, split: str, a) -> tuple:
    """uint8 (K, 28, 28), int64 (K,) synthetic pairs and uint8, int64 rendered candidates, for the
    split ("train" or "val"), cached; and the cache file if it was read."""
    from ensemble.pairs import pair_crops, synthetic_pairs
    from ensemble.verifier import cached_arrays
    from generators import load_mnist
    d = cfg["data"]
    mix = [{**m, "look": look} for m in d["mix"] for look in d["looks"]]
    n_syn, n_one, n_num = ((d["synthetic"], d["singles"], d["numbers"]) if split == "train"
                           else (d["val_synthetic"], d["val_singles"], d["val_numbers"]))
    sources = [ROOT / f for f in ("generators/numbers.py", "ensemble/reading.py", "ensemble/numbers.py",
                                  "ensemble/segment.py", "ensemble/normalize.py", "ensemble/verifier.py",
                                  "ensemble/pairs.py", "train_pairs.py")]

    def make():
        x, y = load_mnist("train", verbose=False)
        x, y = x.numpy(), y.numpy()
        cut = slice(None, -5000) if split == "train" else slice(-5000, None)   # the members' split: val = the last 5,000
        x, y = x[cut], y[cut]
        seed = int(d["seed"]) + (0 if split == "train" else 1000)
        sx, sy = synthetic_pairs(x, y, int(n_syn), seed, workers=a.workers, desc=f"synthetic {split} pairs",
                                 singles=int(n_one))
        rx, ry = pair_crops(x, y, mix, int(n_num), seed + 1, workers=a.workers, desc=f"reading {split} numbers",
                            keep_not=float(d["keep_not"]))
        return {"sx": sx, "sy": sy, "rx": rx, "ry": ry}
    z, store = cached_arrays(a.cache, f"pairs-{split}", sources,
                             [mix, n_syn, n_one, n_num, d["keep_not"], d["seed"], split], make, f"pair data: {split} crops")
    return z["sx"], z["sy"], z["rx"], z["ry"], store


def main(argv=None) -> int:
    a = parse_args(argv)
    import numpy as np
    import yaml
    from pytorch_lightning import seed_everything

    from ensemble.flops import count_macs, count_params
    from ensemble.module import fit_on_crops
    from ensemble.pairs import NOT_PAIR, PairNet, PairReader, save_pair_reader
    from ensemble.report import command_line, hardware, software

    cfg = yaml.safe_load(Path(a.config).read_text())
    if a.quick:
        cfg["data"].update(synthetic=300, val_synthetic=60, singles=60, val_singles=20, numbers=4, val_numbers=2)
        cfg["train"]["epochs"] = 1
    class_names = [f"{p // 10}{p % 10}" for p in range(NOT_PAIR)] + ["not a pair"]
    t0 = time.perf_counter()
    tsx, tsy, trx, try_, t_cached = crops(cfg, "train", a)
    vsx, vsy, vrx, vry, v_cached = crops(cfg, "val", a)
    data_s = time.perf_counter() - t0
    rep = int(cfg["data"]["real_repeat"])
    tx = np.concatenate([tsx] + [trx] * rep)
    ty = np.concatenate([tsy] + [try_] * rep)
    print(f"pair data: {len(tsx):,} synthetic ({(tsy < NOT_PAIR).sum():,} pairs) + {len(trx):,} rendered training "
          f"crops ({(try_ < NOT_PAIR).sum():,} "
          f"pairs), {len(vsx):,} + {len(vrx):,} validation crops, {data_s:.0f} s", file=sys.stderr)

    seed_everything(int(cfg["seed"]), workers=True, verbose=False)
    net = PairNet(**cfg["arch_args"])
    vx, vy = np.concatenate([vsx, vrx]), np.concatenate([vsy, vry])
    trainer, train_s = fit_on_crops(net, cfg, class_names, (tx, ty), (vx, vy), a.logdir, "pairs", not a.no_progress)

    reader = PairReader(net.eval())

    def errors(x, y):
        return int((reader(x).argmax(1) != y).sum()) if len(y) else 0
    es, er = errors(vsx, vsy), errors(vrx, vry)
    pairs = vry < NOT_PAIR
    erp = errors(vrx[pairs], vry[pairs])
    meta = {"arch": cfg["arch"], "arch_args": cfg["arch_args"], "class_names": class_names,
            "data": {**cfg["data"], "train_synthetic_crops": len(tsx), "train_rendered_crops": len(trx),
                     "val_synthetic_crops": len(vsx), "val_rendered_crops": len(vrx),
                     "val_rendered_pairs": int(pairs.sum()),
                     "train_digits": "MNIST training images 0-54,999", "val_digits": "MNIST training images 55,000-59,999",
                     "crops_from_cache": [c for c in (t_cached, v_cached) if c]},
            "train": cfg["train"], "distortion": cfg["distortion"], "seed": cfg["seed"], "quick": a.quick,
            "metrics": {"val_synthetic_errors": es, "val_rendered_errors": er, "val_rendered_pair_errors": erp,
                        "epochs": trainer.current_epoch, "steps": trainer.global_step,
                        "params": count_params(net), "macs_per_image": count_macs(net, 1, 28),
                        "data_wall_time_s": round(data_s, 1), "train_wall_time_s": round(train_s, 1)}}
    out = Path(a.out)
    path = save_pair_reader(out / "pair.safetensors", net, meta)
    report = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "command": command_line(),
              "hardware": hardware(), "software": software(),
              "weights": str(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path), **meta, "test_set": "not read"}
    (out / "pair_report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    m = meta["metrics"]
    cached = meta["data"]["crops_from_cache"]
    made = f"read from the cache of an earlier run: {', '.join(cached)}" if cached else f"{data_s:.0f} s to make"
    pct = lambda e, n: f"{100 * e / max(n, 1):.2f} % ({e:,} / {n:,})"      # noqa: E731
    (out / "pair_report.md").write_text(
        f"# Pair reader: training report\n\n- date: {report['date']}\n- command: `{report['command']}`\n"
        f"- hardware: {json.dumps(report['hardware'])}\n"
        f"- data: {len(tsx):,} synthetic crops ({int((tsy < NOT_PAIR).sum()):,} pairs, the rest lone digits) and "
        f"{len(trx):,} candidates of rendered numbers "
        f"({int((try_ < NOT_PAIR).sum()):,} pairs) from MNIST training digits 0-54,999; validation from digits "
        f"55,000-59,999; {made}\n"
        f"- training: {m['epochs']} epochs, {m['steps']} steps, {train_s:.0f} s on the CPU; {m['params']:,} "
        f"parameters, {m['macs_per_image'] / 1e6:.2f} M multiply-adds per image\n"
        f"- **validation error: synthetic crops {pct(es, len(vsy))}; rendered candidates {pct(er, len(vry))}, "
        f"of which the pairs {pct(erp, int(pairs.sum()))}**\n"
        f"- the MNIST test set was not read\n")
    print(f"pair reader: validation errors synthetic {pct(es, len(vsy))}, rendered {pct(er, len(vry))}, "
          f"rendered pairs {pct(erp, int(pairs.sum()))} -> {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
