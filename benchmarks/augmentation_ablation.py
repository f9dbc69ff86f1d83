"""Should the members train with the pen-width and low-resolution distortions? Decided on
VALIDATION data only: short runs of a few members with and without them, compared on the MNIST
validation split and on validation renderings of the robustness families.

    python benchmarks/augmentation_ablation.py                            # c5_pool + nopool_k5, 3 epochs
    python benchmarks/augmentation_ablation.py --members c5_pool --epochs 2 --n 300
    python benchmarks/augmentation_ablation.py --variants current,redraw --members c3_pool,nopool_k5 \
        --init-from checkpoints --epochs 2 --lr 0.001 --rule pen     # the redraw decision (fine-tunes)

Each variant is `train_all.py` itself (the member's own config with the variant's distortion
fields set, `--no-test`), trained on the first 55,000 training images; the validation images are
MNIST's last 5,000 training images, which no member trained on. The test split is never read.
The rule (fixed before the first run, README of the decision in benchmarks/RESULTS.md): adopt the
variant when, averaged over the members, its validation error is at most 0.10 points worse than
the base recipe's and its mean accuracy over the robustness families is at least 0.5 points
better.

`--rule pen` (the redraw decision, written here before its first run): the variant is compared
with the first one named in --variants; adopt it when, averaged over the members, its validation
error is at most 0.10 points worse, its mean over the pen and canvas families (PEN_FAMILIES) is
at least 0.3 points better, and its mean over all families is not lower. With --init-from DIR
each variant is a fine-tune of the weights in DIR (train_all.py --init-from), so both sides
start from the same members and train the same epochs.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

VARIANTS = {
    # explicit zeros: the member configs carry the adopted fields since the decision
    "base": {"thicken": 0.0, "thin": 0.0, "lowres": 0.0},
    "pen+lowres": {"thicken": 0.6, "thin": 0.4, "lowres": 0.6, "lowres_p": 0.3},
    "current": {},                       # the member configs as they are
    "redraw": {"redraw": 0.5},           # + half the samples redrawn with a uniform pen (generators/redraw.py)
}
PEN_FAMILIES = ["mnist_pen", "hairline", "bold", "very_bold", "brush", "transparent", "photo"]
FAMILIES = ["mnist_pen", "hairline", "bold", "very_bold", "brush", "transparent", "photo",
            "lowres8", "lowres10", "lowres12", "lowres16", "fonts"]


def configs_for(variant: dict, folder: Path) -> Path:
    """A copy of configs/ whose member files get the variant's distortion fields."""
    shutil.copytree(ROOT / "configs", folder)
    for f in (folder / "members").glob("*.yaml"):
        cfg = yaml.safe_load(f.read_text())
        cfg["distortion"] = {**cfg.get("distortion", {}), **variant}
        f.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return folder


def score(weights: Path, val_x, val_y, fam_digits, fam_labels, n: int, seed: int) -> dict:
    """Validation error of each member, and the robustness families read through vote.py's path."""
    import tempfile as tf

    from ensemble import Ensemble
    from ensemble.evaluate import evaluate
    from robustness import read_with_ensemble, render_family, uci_digits
    ens = Ensemble(weights, device="cpu")
    out = {"val": evaluate(ens, val_x, val_y), "families": {}}
    for k, name in enumerate(FAMILIES + ["uci8x8"]):
        d, y = (uci_digits("val") if name == "uci8x8" else (fam_digits, fam_labels))
        d, y = d[:n], y[:n]
        if name == "fonts":
            y = np.arange(len(y)) % 10
        images = render_family(name, d, y, seed=seed * 1000 + k)
        with tf.TemporaryDirectory() as tmp:
            paths = []
            for i, img in enumerate(images):
                p = f"{tmp}/{i:05d}" + (".jpg" if name == "photo" else ".png")
                img.save(p, quality=85) if p.endswith(".jpg") else img.save(p)
                paths.append(p)
            pred = read_with_ensemble(paths, ens)
        out["families"][name] = float((pred == y).mean())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--members", default="c5_pool,nopool_k5")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--n", type=int, default=500, help="validation digits per robustness family")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--keep", metavar="DIR", help="keep each variant's weights under DIR/<variant>/")
    ap.add_argument("--reuse", action="store_true", help="with --keep: score weights already there, do not retrain")
    ap.add_argument("--init-from", metavar="DIR", help="fine-tune the weights in DIR (train_all.py --init-from)")
    ap.add_argument("--lr", type=float, help="peak learning rate (train_all.py --lr)")
    ap.add_argument("--rule", choices=("families", "pen"), default="families",
                    help="the decision rule (module docstring); pen: against the first variant")
    args = ap.parse_args(argv)

    import train_all
    from generators import load_mnist
    from robustness import split_digits
    x, y = load_mnist("train")
    val_x, val_y = x[-5000:], y[-5000:]
    fam_digits, fam_labels = split_digits("val", args.n, args.seed)
    results = {}
    for name in args.variants.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            out = Path(args.keep) / name if args.keep else tmp / "ck"
            t = time.perf_counter()
            reuse = args.keep and args.reuse and len(list(out.glob("*.safetensors"))) == len(args.members.split(","))
            if not reuse:
                train_all.main(["--configs", str(configs_for(VARIANTS[name], tmp / "configs")),
                                "--members", args.members, "--epochs", str(args.epochs),
                                "--checkpoints", str(out), "--logdir", str(tmp / "runs"), "--overwrite",
                                "--no-report", "--no-test", "--no-progress", "--accelerator", "cpu",
                                *(["--init-from", args.init_from] if args.init_from else []),
                                *(["--lr", str(args.lr)] if args.lr else [])])
            wall = time.perf_counter() - t
            results[name] = {**score(out, val_x, val_y, fam_digits, fam_labels, args.n, args.seed),
                             "train_s": round(wall)}
        r = results[name]
        print(f"{name}: trained in {wall:.0f} s; val error " +
              ", ".join(f"{m} {100 * v['error']:.2f} %" for m, v in r["val"]["members"].items()) +
              f"; families mean {100 * np.mean(list(r['families'].values())):.2f} %", flush=True)

    names = list(results)
    print("\n| | " + " | ".join(names) + " |\n|---|" + "---:|" * len(names))
    members = list(results[names[0]]["val"]["members"])
    for m in members:
        print(f"| val error {m} | " + " | ".join(f"{100 * results[v]['val']['members'][m]['error']:.2f} %"
                                                for v in names) + " |")
    for fam in results[names[0]]["families"]:
        print(f"| {fam} | " + " | ".join(f"{100 * results[v]['families'][fam]:.1f} %" for v in names) + " |")
    mean = {v: float(np.mean(list(results[v]["families"].values()))) for v in names}
    verr = {v: float(np.mean([results[v]["val"]["members"][m]["error"] for m in members])) for v in names}
    print("| **families, mean** | " + " | ".join(f"**{100 * mean[v]:.2f} %**" for v in names) + " |")
    print("| **val error, mean of members** | " + " | ".join(f"**{100 * verr[v]:.2f} %**" for v in names) + " |")
    if args.rule == "pen":
        ref = names[0]
        pen = {v: float(np.mean([results[v]["families"][f] for f in PEN_FAMILIES])) for v in names}
        print("| **pen and canvas families, mean** | " + " | ".join(f"**{100 * pen[v]:.2f} %**" for v in names) + " |")
        for v in names[1:]:
            adopt = (verr[v] - verr[ref] <= 0.0010 and pen[v] - pen[ref] >= 0.003 and mean[v] >= mean[ref])
            print(f"\nrule (pen): {v} vs {ref}: val error {100 * (verr[v] - verr[ref]):+.2f} points, "
                  f"pen families {100 * (pen[v] - pen[ref]):+.2f} points, all families "
                  f"{100 * (mean[v] - mean[ref]):+.2f} points -> {'ADOPT' if adopt else 'keep ' + ref}")
    elif "base" in results:
        for v in names:
            if v != "base":
                adopt = verr[v] - verr["base"] <= 0.0010 and mean[v] - mean["base"] >= 0.005
                print(f"\nrule: {v} vs base: val error {100 * (verr[v] - verr['base']):+.2f} points, "
                      f"families {100 * (mean[v] - mean['base']):+.2f} points -> {'ADOPT' if adopt else 'keep base'}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "variants": VARIANTS, "results": results},
                                              indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
