"""The training report: what it claims, and that the reports already written still read."""
import json
from pathlib import Path

import pytest

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


def _shipped_without_test() -> dict:
    rep = json.loads((ROOT / "checkpoints" / "report.json").read_text())
    for row in [*rep["members"].values(), rep["ensemble"]]:
        for key in ("test_errors", "test_error", "test_n"):
            row.pop(key, None)
    rep["test_set"] = {"evaluated": False, "note": "MNIST test set not evaluated"}
    return rep


def test_test_errors_are_added_once_and_only_for_the_reports_members():
    from ensemble.report import add_test
    rep = _shipped_without_test()
    names = sorted(rep["members"])
    result = {"n": 10, "members": {n: {"errors": i, "error": i / 10} for i, n in enumerate(names)},
              "ensemble": {"errors": 1, "error": 0.1}}
    out = add_test(rep, result, "read once")
    assert "test_errors" not in rep["ensemble"]                               # the input is left as it was
    assert out["ensemble"] == {**rep["ensemble"], "test_errors": 1, "test_error": 0.1, "test_n": 10}
    assert [out["members"][n]["test_errors"] for n in names] == list(range(len(names)))
    assert out["test_set"] == {"evaluated": True, "note": "read once"}
    assert "| test error |" in report_markdown(out) and "| test error |" not in report_markdown(rep)
    with pytest.raises(ValueError, match="evaluated once"):
        add_test(out, result, "twice")
    with pytest.raises(ValueError, match="not the report's members"):
        add_test(rep, {**result, "members": {"other": {"errors": 0, "error": 0.0}}}, "x")


def test_evaluate_into_report_writes_the_errors_evaluate_computes(tmp_path, monkeypatch):
    """`python -m ensemble.evaluate --into-report` on a copy of the shipped weights, a report
    without test errors, and the first 300 test images: the report gets exactly evaluate()'s errors
    and report.md is rendered from it; a second call is refused before the test set is read,
    touching neither file."""
    import shutil
    from ensemble import evaluate as ev
    from generators import load_mnist
    for f in (ROOT / "checkpoints").glob("*.safetensors"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "report.json").write_text(json.dumps(_shipped_without_test()))
    x, y = load_mnist("test")
    reads = []
    monkeypatch.setattr(ev, "load_split", lambda split, val_size=5000: reads.append(split) or (x[:300], y[:300]))
    assert ev.main(["--checkpoints", str(tmp_path), "--into-report"]) == 0 and reads == ["test"]
    rep = json.loads((tmp_path / "report.json").read_text())
    want = ev.evaluate(tmp_path, x[:300], y[:300])
    assert rep["ensemble"]["test_errors"] == want["ensemble"]["errors"] and rep["ensemble"]["test_n"] == 300
    assert {n: r["test_errors"] for n, r in rep["members"].items()} == \
           {n: r["errors"] for n, r in want["members"].items()}
    assert rep["test_set"]["evaluated"] and "--into-report" in rep["test_set"]["note"]
    assert "device cpu" in rep["test_set"]["note"]                           # --device auto means the CPU here
    assert (tmp_path / "report.md").read_text() == report_markdown(rep)
    before = [(tmp_path / f).read_text() for f in ("report.json", "report.md")]
    assert ev.main(["--checkpoints", str(tmp_path), "--into-report"]) == 1
    assert reads == ["test"] and [(tmp_path / f).read_text() for f in ("report.json", "report.md")] == before


@pytest.mark.parametrize("case", ["split val", "other weights", "no date", "members only", "a list"])
def test_evaluate_into_report_refuses_before_reading_the_test_set(tmp_path, monkeypatch, case, capsys):
    import shutil
    from ensemble import evaluate as ev
    for f in (ROOT / "checkpoints").glob("*.safetensors"):
        shutil.copy(f, tmp_path / f.name)
    rep = _shipped_without_test()
    if case == "other weights":
        rep["members"]["c3_pool"]["steps"] += 1        # same names, not the weights this report describes
    elif case == "no date":
        del rep["date"]
    elif case == "members only":
        del rep["ensemble"]
    elif case == "a list":
        rep = [rep]
    (tmp_path / "report.json").write_text(json.dumps(rep))
    before = (tmp_path / "report.json").read_text()
    monkeypatch.setattr(ev, "load_split", lambda *a, **k: pytest.fail("the test set was read"))
    argv = ["--checkpoints", str(tmp_path), "--into-report"] + (["--split", "val"] if case == "split val" else [])
    assert ev.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("ensemble.evaluate: error: ") and err.count("\n") == 1, err
    assert (tmp_path / "report.json").read_text() == before and not (tmp_path / "report.md").exists()
