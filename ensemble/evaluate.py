"""Recompute each member's and the ensemble's error on MNIST from the weight files alone.

    python -m ensemble.evaluate                              # checkpoints/, MNIST test split
    python -m ensemble.evaluate --device cpu                 # exactly the training report's numbers
    python -m ensemble.evaluate --checkpoints DIR --split val --format json
    python -m ensemble.evaluate --checkpoints DIR --into-report  # add the test errors to DIR/report.*, once

Prints a table (member, errors, error %) or, with --format json, the dict `evaluate()` returns:

    {"n": 10000,
     "members":  {"c5_pool": {"errors": 61, "error": 0.0061}, ...},
     "ensemble": {"errors": 42, "error": 0.0042}}

"error" is a fraction in [0, 1] (errors / n); the table shows it as a percentage.
Exit status: 0 on success, 1 for bad weights / missing data (one-line message).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SPLITS = ("test", "val", "train")


def evaluate(weights_dir, images_uint8, labels, device: str = "cpu", batch_size: int = 1024) -> dict:
    """Errors of every member (its own argmax) and of the vote, on uint8 images (N, 28, 28)."""
    import torch
    from .inference import Ensemble
    ens = weights_dir if isinstance(weights_dir, Ensemble) else Ensemble(weights_dir, device=device)
    labels = torch.as_tensor(labels, dtype=torch.int64).cpu()                 # (N,)
    if labels.dim() != 1 or len(labels) != len(images_uint8):
        raise ValueError(f"need one label per image; got {len(labels)} labels for {len(images_uint8)} images")
    if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < len(ens.class_names):
        raise ValueError(f"labels must be class indices 0..{len(ens.class_names) - 1}")
    vote = ens.predict(images_uint8, batch_size=batch_size)
    n = len(labels)

    def score(pred):                                                        # pred (N,)
        errors = int((pred != labels).sum())
        return {"errors": errors, "error": errors / n if n else 0.0}

    return {"n": n,
            "members": {name: score(vote.member_predictions[m]) for m, name in enumerate(ens.member_names)},
            "ensemble": score(vote.prediction)}


def load_split(split: str, val_size: int = 5000):
    """MNIST images and labels of `split`: test, val (the last `val_size` training images: the
    validation split training holds out) or train (all 60,000 training images)."""
    from generators import load_mnist
    if split == "val":
        x, y = load_mnist("train")
        return x[-val_size:], y[-val_size:]
    return load_mnist(split)


def format_table(result: dict) -> str:
    rows = [(name, r) for name, r in result["members"].items()] + [("ensemble (vote)", result["ensemble"])]
    width = max(len(name) for name, _ in rows)
    lines = [f"{'member':<{width}}  {'errors':>7}  {'error %':>7}"]
    for name, r in rows:
        if name.startswith("ensemble"):
            lines.append("-" * len(lines[0]))
        lines.append(f"{name:<{width}}  {r['errors']:>7d}  {100 * r['error']:>7.2f}")
    lines.append(f"({result['n']} images)")
    return "\n".join(lines)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(prog="python -m ensemble.evaluate", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:5]))
    ap.add_argument("--checkpoints", "--weights", dest="checkpoints", metavar="DIR",
                    help="folder of *.safetensors weight files (default: checkpoints/); --weights is an alias")
    ap.add_argument("--split", default="test", choices=SPLITS,
                    help="MNIST split: test (default, 10,000 images), val (the validation images "
                         "training held out: the last data.val_size = 5,000 training images) or "
                         "train (all 60,000)")
    ap.add_argument("--device", default="auto",
                    help="auto (default: the GPU if there is one), cpu, cuda, cuda:N; the training "
                         "report's numbers were computed with --device cpu")
    ap.add_argument("--format", choices=("table", "json"), default="table",
                    help="table (default) or json (the dict shown above)")
    ap.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")
    ap.add_argument("--into-report", action="store_true",
                    help="--split test only: add the errors to DIR/report.json and DIR/report.md (a run whose "
                         "report left the test set out; on the CPU unless --device says otherwise); refused, "
                         "before the test set is read, if the report already has test errors or other weights")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.into_report and args.split != "test":
        print("ensemble.evaluate: error: --into-report adds the test split's errors: use it with --split test",
              file=sys.stderr)
        return 1
    if args.into_report and args.device == "auto":
        args.device = "cpu"           # the report's errors are CPU numbers ("errors recomputed on CPU")
    from .export import WeightFileError
    from .inference import Ensemble
    try:
        ens = Ensemble(args.checkpoints, device=args.device)
        if args.into_report:                                  # check the report before reading the test set
            from .report import add_test, check_test_addable, hardware, write_report
            folder = Path(ens.weights_dir)
            rep = json.loads((folder / "report.json").read_text())
            check_test_addable(rep, ens.member_names, ens.metas)
        val_size = int((ens.metas[0].get("data") or {}).get("val_size") or 5000)
        images, labels = load_split(args.split, val_size)
        result = evaluate(ens, images, labels)
        if args.into_report:
            import time
            note = (f"MNIST test set evaluated once, after training, by `python -m ensemble.evaluate --split test "
                    f"--into-report` ({time.strftime('%Y-%m-%d %H:%M:%S %Z')}, device {ens.device}, "
                    f"{hardware()['cpu']})")
            j, md = write_report(folder, add_test(rep, result, note))
            print(f"added the test errors to {j} and {md}", file=sys.stderr)
    except (WeightFileError, ValueError, OSError) as e:   # MnistDataError is a ValueError
        print(f"ensemble.evaluate: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2) if args.format == "json" else format_table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
