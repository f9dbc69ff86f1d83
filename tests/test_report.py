"""The training report: what it claims, and that the reports already written still read."""
import json
from pathlib import Path

from ensemble.report import build_report, report_markdown, report_splits

ROOT = Path(__file__).resolve().parent.parent


def test_a_report_written_by_the_first_version_still_renders_identically():
    """tests/data/report_v1.*: the report shipped with the weights of 2026-11-21 (git: cadae84^)."""
    rep = json.loads((ROOT / "tests" / "data" / "report_v1.json").read_text())
    assert "validation" not in rep and "test_set" not in rep      # written before those fields existed
    assert report_splits(rep) == ["val", "test"]
    assert report_markdown(rep) == (ROOT / "tests" / "data" / "report_v1.md").read_text()


def test_the_shipped_report_renders_identically():
    rep = json.loads((ROOT / "checkpoints" / "report.json").read_text())
    assert report_markdown(rep) == (ROOT / "checkpoints" / "report.md").read_text()


def _result(errors, n):
    return {"n": n, "members": {"m": {"errors": errors, "error": errors / n}},
            "ensemble": {"errors": errors, "error": errors / n}}


META = {"m": {"arch": "convpool", "metrics": {"params": 1, "macs_per_image": 2, "epochs": 1, "steps": 3,
                                             "wall_time_s": 1.0, "hardware": {"cpu": "x"}}}}


def test_trained_on_validation_never_reads_as_held_out():
    rep = build_report(Path("w"), META, {"val_trained_on": _result(3, 100)}, 1.0, ["--full-train"],
                       validation={"split": "val_trained_on", "n": 100, "held_out": False,
                                   "description": "the last 100 ..., which the members also TRAINED ON"},
                       test={"evaluated": False, "note": "MNIST test set not evaluated"})
    assert "val_errors" not in rep["ensemble"] and rep["ensemble"]["val_trained_on_errors"] == 3
    assert "val_error" not in rep["members"]["m"]
    md = report_markdown(rep)
    assert "val error (trained-on)" in md and "| val error |" not in md and "test error" not in md
    assert "TRAINED ON" in md and "not evaluated" in md
    assert rep["command"] == "python train_all.py --full-train"
