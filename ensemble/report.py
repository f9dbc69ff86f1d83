"""The training report: DIR/report.json and DIR/report.md, from the weight files themselves.

Every number comes from the exported weight files (their metadata for training facts, a fresh
CPU evaluation for errors), so `python -m ensemble.evaluate` recomputes the same errors. What the
validation split was comes from the members' data config; a validation split the members trained
on (--full-train) is reported as "val_trained_on", never as "val". The test split appears only
when it was evaluated (train_all.py --test). Reports written before these fields existed
(checkpoints/report.json of the interim weights) still render: `report_markdown` reads both.
"""
from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

from .atomic import write_atomic


def hardware() -> dict:
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    hw = {"cpu": cpu, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    if torch.cuda.is_available():
        hw["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return hw


def software() -> dict:
    import numpy
    import pytorch_lightning
    import torch
    import torchvision
    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "pytorch_lightning": pytorch_lightning.__version__,
            "numpy": numpy.__version__, "platform": platform.platform()}


def command_line(argv=None) -> str:
    """The training command: sys.argv, or `train_all.py` + argv when main(argv) was called."""
    return "python " + shlex.join(sys.argv if argv is None else ["train_all.py", *argv])


def _hw(hw: dict) -> str:
    gpus = hw.get("gpus")
    return f"{hw.get('cpu')}, {hw.get('cpu_count')} CPUs" + (f"; GPU: {', '.join(gpus)}" if gpus else "; no GPU")


def _pct(x):
    return "–" if x is None else f"{100 * x:.2f} %"


SPLIT_TITLES = {"val": "val error", "val_trained_on": "val error (trained-on)", "test": "test error"}


def build_report(weights_dir: Path, metas: dict, splits: dict, total_wall_s: float, argv=None, *,
                 validation: dict | None = None, test: dict | None = None) -> dict:
    """metas: {member: weight-file metadata}; splits: {split: evaluate(...)} for the splits measured.

    Split names: "val" (held out), "val_trained_on" (the validation images were trained on too:
    --full-train) and "test" (only when the test set was evaluated). Each becomes the fields
    `<split>_errors` / `<split>_error` of every member row and of the ensemble, so a trained-on
    error can never be read as a held-out one. validation: {"split", "n", "held_out",
    "description"}; test: {"evaluated": bool, "note": str}.
    """
    members = {}
    for name, m in sorted(metas.items()):
        met = m.get("metrics", {})
        row = {"arch": m["arch"], "params": met.get("params"), "macs_per_image": met.get("macs_per_image"),
               "epochs": met.get("epochs"), "steps": met.get("steps"), "wall_time_s": met.get("wall_time_s"),
               "trained_on": met.get("hardware"), "precision": met.get("precision")}
        if m.get("init_from"):     # a fine-tune: where it started, and how that was trained
            src = m["init_from"]
            row["init_from"] = {k: src.get(k) for k in ("file", "sha256", "epochs", "wall_time_s", "trained_on")}
        members[name] = row
    ens = {}
    for split, res in splits.items():
        if res is not None:
            _put_split(members, ens, split, res)
    rep = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": command_line(argv),
           "weights_dir": str(weights_dir), "total_wall_time_s": round(total_wall_s, 1),
           "hardware": hardware(), "software": software(), "members": members, "ensemble": ens,
           "evaluation": "errors recomputed on CPU from the exported weight files (python -m ensemble.evaluate)",
           # Interim: some member was not trained on a GPU (CPU stand-in weights).
           "interim": not all(isinstance(r.get("trained_on"), dict) and r["trained_on"].get("gpus")
                              for r in members.values())}
    if validation is not None:
        rep["validation"] = validation
    if test is not None:
        rep["test_set"] = test
    return rep


def check_test_addable(rep, names, metas=None) -> None:
    """ValueError unless `add_test` may add test errors for these members to `rep`, and the result
    still renders. metas (optional, in the order of `names`): the weight files' metadata, whose
    epochs and steps must be the report's (the same weights, not others with the same names)."""
    if not isinstance(rep, dict) or not isinstance(rep.get("members"), dict) or not isinstance(rep.get("ensemble"), dict):
        raise ValueError("report.json is not a training report (no members / ensemble)")
    if (rep.get("test_set") or {}).get("evaluated") or "test_errors" in rep["ensemble"]:
        raise ValueError("the report already has test errors: the test set is evaluated once")
    if set(names) != set(rep["members"]):
        raise ValueError(f"the weights ({', '.join(sorted(names))}) are not the report's members "
                         f"({', '.join(sorted(rep['members']))})")
    for name, meta in zip(names, metas or []):
        met, row = meta.get("metrics") or {}, rep["members"][name]
        if (met.get("epochs"), met.get("steps")) != (row.get("epochs"), row.get("steps")):
            raise ValueError(f"{name}: the weight file ({met.get('epochs')} epochs, {met.get('steps')} steps) is not "
                             f"the one the report describes ({row.get('epochs')} epochs, {row.get('steps')} steps)")
    dummy = {"n": 0, "members": {n: {"errors": 0, "error": 0.0} for n in names}, "ensemble": {"errors": 0, "error": 0.0}}
    try:
        report_markdown(_with_test(rep, dummy, ""))
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise ValueError(f"report.json does not render as a training report ({type(e).__name__}: {e})") from None


def add_test(rep: dict, result: dict, note: str) -> dict:
    """A copy of `rep` with the test split's errors added: `test_errors` / `test_error` for every
    member and the ensemble (`test_n` too), and `test_set` = {"evaluated": True, "note": note}.

    For a run whose report left the test set out (weights written outside checkpoints/, compared
    with the shipped ones on validation first). result: `evaluate(...)` on MNIST's test split.
    Refuses a report that already has test errors (the test set is read once) or other members.
    """
    check_test_addable(rep, list(result["members"]))
    return _with_test(rep, result, note)


def _put_split(members: dict, ens: dict, split: str, res: dict) -> None:
    """One split's `evaluate(...)` result into the report's rows: `<split>_errors` / `<split>_error`
    for every member it has and for the ensemble (`<split>_n` too)."""
    for name, row in members.items():
        if name in res["members"]:
            row[f"{split}_errors"] = res["members"][name]["errors"]
            row[f"{split}_error"] = res["members"][name]["error"]
    ens[f"{split}_errors"] = res["ensemble"]["errors"]
    ens[f"{split}_error"] = res["ensemble"]["error"]
    ens[f"{split}_n"] = res["n"]


def _with_test(rep: dict, result: dict, note: str) -> dict:
    out = json.loads(json.dumps(rep))                                        # a deep copy
    _put_split(out["members"], out["ensemble"], "test", result)
    out["test_set"] = {"evaluated": True, "note": note}
    return out


def report_splits(rep: dict) -> list[str]:
    """The splits a report holds, in table order. Reads reports of every version: the first ones
    (no "validation"/"test_set" fields) had held-out "val" and, always, "test"."""
    ens = rep.get("ensemble", {})
    return [s for s in SPLIT_TITLES if f"{s}_errors" in ens]


def report_markdown(rep: dict) -> str:
    splits = report_splits(rep)
    val = rep.get("validation")
    test = rep.get("test_set")
    lines = ["# Ensemble training report", "",
             f"- Date: {rep['date']}", f"- Command: `{rep['command']}`",
             f"- Hardware: {_hw(rep['hardware'])}",
             f"- Software: " + ", ".join(f"{k} {v}" for k, v in rep["software"].items()),
             f"- Interim (not GPU-trained): {'yes' if rep.get('interim') else 'no'}",
             f"- Total wall time: {rep['total_wall_time_s']:.0f} s", f"- {rep['evaluation']}"]
    if val is not None:
        lines.append(f"- Validation: {val['description']} ({val['n']:,} images)")
    if test is not None:
        lines.append(f"- Test: {test['note']}")
    starts = {r["init_from"]["file"] for r in rep["members"].values() if r.get("init_from")}
    if starts:
        lines.append("- Fine-tuned (--init-from): each member started from its weight file in "
                     + ", ".join(sorted({str(Path(f).parent) for f in starts}))
                     + "; epochs and wall s below are that training's + this run's")
    head = "| member | arch | params | MACs/img | epochs | wall s | " + " | ".join(SPLIT_TITLES[s] for s in splits) + " |"
    lines += ["", head, "|---|---|---:|---:|---:|---:|" + "---:|" * len(splits)]
    for name, r in rep["members"].items():
        cells = [f"{_pct(r.get(f'{s}_error'))} ({r.get(f'{s}_errors', '–')})" for s in splits]
        epochs, wall = r["epochs"], r["wall_time_s"]
        if r.get("init_from"):                              # fine-tuned: its start's epochs and time first
            epochs, wall = f"{r['init_from']['epochs']} + {epochs}", f"{r['init_from']['wall_time_s']} + {wall}"
        lines.append(f"| {name} | {r['arch']} | {r['params'] or '–'} | "
                     f"{(r['macs_per_image'] or 0) / 1e6:.1f} M | {epochs} | {wall} | "
                     + " | ".join(cells) + " |")
    e = rep["ensemble"]
    cells = [(f"**{_pct(e.get(f'{s}_error'))}**" if s == "test" else _pct(e.get(f"{s}_error")))
             + f" ({e.get(f'{s}_errors', '–')})" for s in splits]
    lines.append("| **majority vote** | | | | | | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_report(weights_dir: Path, rep: dict) -> tuple[Path, Path]:
    weights_dir = Path(weights_dir)
    j, md = weights_dir / "report.json", weights_dir / "report.md"
    text = report_markdown(rep)                      # rendered first: a report that fails to render writes nothing
    write_atomic(j, json.dumps(rep, indent=2) + "\n")
    write_atomic(md, text)
    return j, md
