"""The training report: DIR/report.json and DIR/report.md, from the weight files themselves.

Every number comes from the exported weight files (their metadata for training facts, a fresh
CPU evaluation for errors), so `python -m ensemble.evaluate` recomputes the same errors.
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
    return "python " + shlex.join(argv if argv is not None else sys.argv)


def _hw(hw: dict) -> str:
    gpus = hw.get("gpus")
    return f"{hw.get('cpu')}, {hw.get('cpu_count')} CPUs" + (f"; GPU: {', '.join(gpus)}" if gpus else "; no GPU")


def _pct(x):
    return "–" if x is None else f"{100 * x:.2f} %"


def build_report(weights_dir: Path, metas: dict, splits: dict, total_wall_s: float, argv=None) -> dict:
    """metas: {member: weight-file metadata}; splits: {"val": evaluate(...), "test": evaluate(...) or None}."""
    members = {}
    for name, m in sorted(metas.items()):
        met = m.get("metrics", {})
        row = {"arch": m["arch"], "params": met.get("params"), "macs_per_image": met.get("macs_per_image"),
               "epochs": met.get("epochs"), "steps": met.get("steps"), "wall_time_s": met.get("wall_time_s"),
               "trained_on": met.get("hardware"), "precision": met.get("precision")}
        for split, res in splits.items():
            if res is not None and name in res["members"]:
                row[f"{split}_errors"] = res["members"][name]["errors"]
                row[f"{split}_error"] = res["members"][name]["error"]
        members[name] = row
    ens = {}
    for split, res in splits.items():
        if res is not None:
            ens[f"{split}_errors"] = res["ensemble"]["errors"]
            ens[f"{split}_error"] = res["ensemble"]["error"]
            ens[f"{split}_n"] = res["n"]
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "command": command_line(argv),
            "weights_dir": str(weights_dir), "total_wall_time_s": round(total_wall_s, 1),
            "hardware": hardware(), "software": software(), "members": members, "ensemble": ens,
            "evaluation": "errors recomputed on CPU from the exported weight files "
                          "(python -m ensemble.evaluate); validation = last 5,000 training images",
            # Interim: some member was not trained on a GPU (CPU stand-in weights).
            "interim": not all(isinstance(r.get("trained_on"), dict) and r["trained_on"].get("gpus")
                               for r in members.values())}


def report_markdown(rep: dict) -> str:
    lines = ["# Ensemble training report", "",
             f"- Date: {rep['date']}", f"- Command: `{rep['command']}`",
             f"- Hardware: {_hw(rep['hardware'])}",
             f"- Software: " + ", ".join(f"{k} {v}" for k, v in rep["software"].items()),
             f"- Interim (not GPU-trained): {'yes' if rep.get('interim') else 'no'}",
             f"- Total wall time: {rep['total_wall_time_s']:.0f} s", f"- {rep['evaluation']}", "",
             "| member | arch | params | MACs/img | epochs | wall s | val error | test error |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in rep["members"].items():
        lines.append(f"| {name} | {r['arch']} | {r['params'] or '–'} | "
                     f"{(r['macs_per_image'] or 0) / 1e6:.1f} M | {r['epochs']} | {r['wall_time_s']} | "
                     f"{_pct(r.get('val_error'))} ({r.get('val_errors', '–')}) | "
                     f"{_pct(r.get('test_error'))} ({r.get('test_errors', '–')}) |")
    e = rep["ensemble"]
    lines.append(f"| **majority vote** | | | | | | {_pct(e.get('val_error'))} ({e.get('val_errors', '–')}) | "
                 f"**{_pct(e.get('test_error'))}** ({e.get('test_errors', '–')}) |")
    return "\n".join(lines) + "\n"


def write_report(weights_dir: Path, rep: dict) -> tuple[Path, Path]:
    weights_dir = Path(weights_dir)
    j, md = weights_dir / "report.json", weights_dir / "report.md"
    write_atomic(j, json.dumps(rep, indent=2) + "\n")
    write_atomic(md, report_markdown(rep))
    return j, md
