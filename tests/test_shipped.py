"""The weights shipped in checkpoints/: complete, self-describing, reading digits, matching the report.

test_report_errors_are_reproduced_from_the_weights reads the real MNIST test split. Like every
test it gets it from the suite's own cache folder (tests/conftest.py: .data/mnist/), downloaded
there on the first run (CI included), never from the user's cache.
"""
import json
from pathlib import Path

import pytest

from ensemble import Ensemble
from ensemble.config import load_configs
from ensemble.export import load_member, read_metadata

ROOT = Path(__file__).resolve().parent.parent
CK = ROOT / "checkpoints"
REPORT = json.loads((CK / "report.json").read_text())


def test_one_weight_file_per_configured_member():
    files = sorted(p.stem for p in CK.glob("*.safetensors"))
    assert files == sorted(c["name"] for c in load_configs())
    assert set(REPORT["members"]) == set(files)


@pytest.mark.parametrize("path", sorted(CK.glob("*.safetensors")), ids=lambda p: p.stem)
def test_weight_file_describes_itself(path):
    net, meta = load_member(path)
    assert meta["class_names"] == [str(i) for i in range(10)]
    assert meta["quick"] is False, "quick smoke weights must not ship"
    assert path.stat().st_size < 16 * 2 ** 20
    assert meta["metrics"]["epochs"] == meta["train"]["epochs"]  # last-epoch weights of the recipe


# Misreads allowed on examples/digits: the shipped weights misread 1 of the 103 (font_1.jpg, a
# seriffed "1", read as 7), so three more misreads fail the test. Retrained weights: re-count.
MAX_MISREADS = 3


def _examples():
    files = sorted((ROOT / "examples" / "digits").rglob("*.*"))
    return [f for f in files if f.suffix.lower() in {".png", ".jpg"}]


def test_shipped_ensemble_reads_the_bundled_examples():
    from ensemble.normalize import load_and_normalize
    import numpy as np
    import torch
    files = _examples()
    x = torch.from_numpy(np.stack([load_and_normalize(f) for f in files]))        # (N, 28, 28) uint8
    y = torch.tensor([int(f.parent.name) for f in files])
    vote = Ensemble(CK).predict(x)
    wrong = [f"{f.parent.name}/{f.name} -> {int(p)}" for f, p, t in zip(files, vote.prediction, y) if p != t]
    assert len(wrong) <= MAX_MISREADS, wrong


def test_most_examples_go_through_the_whole_normalization():
    """Photos, drawings, canvases and thumbnails, not only 28x28 MNIST files (the shortcut)."""
    from ensemble.normalize import is_mnist_style, load_gray
    files = _examples()
    full = [f for f in files if not is_mnist_style(load_gray(f))]
    assert len(full) >= 60 and len(full) > len(files) / 2
    kinds = {f.stem.split("_")[-1] for f in full}
    assert {"photo", "bold", "brush", "transparent", "lowres12"} <= kinds


def test_report_errors_are_reproduced_from_the_weights():
    """`python -m ensemble.evaluate` on the test split gives exactly the report's numbers."""
    from ensemble.evaluate import evaluate
    from generators import load_mnist
    x, y = load_mnist("test")
    res = evaluate(CK, x, y)
    assert res["ensemble"]["errors"] == REPORT["ensemble"]["test_errors"]
    for name, r in res["members"].items():
        assert r["errors"] == REPORT["members"][name]["test_errors"], name
    for name, row in REPORT["members"].items():  # and the report agrees with the files' metadata
        assert row["epochs"] == read_metadata(CK / f"{name}.safetensors")["metrics"]["epochs"]
