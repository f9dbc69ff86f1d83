"""The one-digit verifier (ensemble/verifier.py, train_verifier.py): labels, weight files, the
shipped weights on real renders, its place in choosing a number's segmentation."""
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ensemble.export import WeightFileError
from ensemble.verifier import DEFAULT_PATH, OneDigitNet, Verifier, box_iou, label_candidates, save_verifier

ROOT = Path(__file__).resolve().parent.parent


def test_candidates_are_labelled_by_their_boxes():
    """IoU >= 0.75 with a drawn digit: one digit; < 0.5 with every one: not; between: left out."""
    truth = [[0, 0, 10, 20], [12, 0, 22, 20]]
    boxes = [[0, 0, 10, 20],          # digit 0 exactly
             [12, 0, 21, 20],         # digit 1 less a column: IoU 0.9
             [0, 0, 22, 20],          # both digits: IoU 10*20 / 22*20 = 0.45 with each
             [0, 0, 10, 10],          # the top half of digit 0: 0.5 -> left out
             [0, 0, 10, 13],          # 0.65: left out
             [40, 0, 50, 20],         # nothing there
             [0, 0, 10, 15]]          # exactly 0.75: one digit
    assert label_candidates(boxes, truth).tolist() == [1, 1, 0, -1, -1, 0, 1]
    assert label_candidates([], truth).tolist() == []
    assert label_candidates(boxes[:2], []).tolist() == [0, 0]
    assert box_iou([[0, 0, 10, 20]], truth)[0] == pytest.approx([1.0, 0.0])


def test_weight_file_round_trip_and_clear_errors(tmp_path):
    torch.manual_seed(0)
    net = OneDigitNet(width=4, hidden=8).eval()
    path = save_verifier(tmp_path / "v" / "one_digit.safetensors", net,
                         {"arch": "one_digit", "arch_args": {"width": 4, "hidden": 8}})
    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    v = Verifier.load(path)
    with torch.no_grad():
        logits = net(torch.from_numpy(x).float().div(255).unsqueeze(1))
    assert v(x) == pytest.approx((logits[:, 1] - logits[:, 0]).double().numpy(), abs=1e-6)
    assert v(np.zeros((0, 28, 28), np.uint8)).shape == (0,)
    with pytest.raises(WeightFileError, match="no verifier weights"):
        Verifier.load(tmp_path / "missing.safetensors")
    member = next((ROOT / "checkpoints").glob("*.safetensors"))          # a member's file: not a verifier
    with pytest.raises(WeightFileError, match="not a verifier weights file"):
        Verifier.load(member)
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(WeightFileError, match="junk.safetensors"):
        Verifier.load(tmp_path / "junk.safetensors")


def test_shipped_verifier_comes_with_its_report():
    """The shipped weights were made by train_verifier.py: its report says how, and the error it
    gives is the one stored in the weights."""
    v = Verifier.load()
    rep = json.loads((DEFAULT_PATH.parent / "report.json").read_text())
    assert rep["command"].startswith("python train_verifier.py") and not rep["quick"]
    assert rep["test_set"] == "not read"
    assert rep["metrics"] == v.meta["metrics"]
    assert rep["metrics"]["val_n"] > 5000 and rep["metrics"]["val_error"] < 0.05


def test_shipped_verifier_tells_whole_digits_from_pairs_and_pieces():
    """On numbers rendered from validation digits (never trained on) and read as vote.py reads
    them, the shipped verifier labels the candidates as their boxes do, nearly always."""
    from ensemble.verifier import candidate_crops
    from generators import load_mnist
    x, _ = load_mnist("train", verbose=False)
    mix = [{"digits": [3, 3], "touch": 1.0, "look": "scan"}, {"digits": [3, 3], "broken": 0.5, "look": "photo"}]
    crops, y = candidate_crops(x[-5000:].numpy(), mix, 6, seed=7, workers=0)
    assert 0.2 < y.mean() < 0.9 and len(y) > 40                  # both kinds are there
    agree = ((Verifier.load()(crops) > 0) == (y == 1)).mean()
    assert agree > 0.85


def test_a_doubted_candidate_loses_the_path():
    """The verify feature reaches the choice: two readings of one line, a wide candidate over
    both pieces or one candidate per piece; the verifier alone decides between them."""
    from ensemble.numbers import Scoring, best_path, candidate_votes, span_scores
    from ensemble.reading import Reading, vote_into
    sc = Scoring()
    assert sc.weights[-1] > 0                                     # fitted: the verifier's logit counts for a digit
    probs = np.full((5, 3, 10), 0.001)                            # (M, K, C): every member sure of every candidate
    probs[:, 0, 8] = probs[:, 1, 1] = probs[:, 2, 7] = 0.99
    cands = [Reading("") for _ in range(3)]
    vote_into(cands, probs)
    line = {"n": 2, "spans": [(0, 2, 0), (0, 1, 1), (1, 2, 2)], "widths": [0.8, 0.35, 0.5],
            "heights": [1.0, 1.0, 1.0], "cuts": [], "cut_runs": [0, 0], "cut_ink": [0, 0],
            "main": [True, True], "parents": [-1, -1]}
    read = {}
    for name, verify in (("whole", [8.0, -8.0, -8.0]), ("pair", [-8.0, 8.0, 8.0])):
        v = candidate_votes(probs, cands, np.array(verify))
        read[name] = best_path(line, span_scores(line, v, sc), sc)
    assert read == {"whole": [0], "pair": [1, 2]}


def test_number_mode_pickles_without_a_loaded_net_and_keeps_what_it_was_given(tmp_path):
    """Workers get the mode pickled without a net loaded from a file (they only segment), but
    with what it was given: a copy that reads loads the same verifier again. A Verifier given as
    such travels. A named file that is missing is a clear error; the default is the shipped one."""
    from ensemble.numbers import NumberMode
    m = NumberMode()
    assert isinstance(m.load_verifier(), Verifier) and m.load_verifier() is m._verifier
    copy = pickle.loads(pickle.dumps(m))
    assert copy.verifier is None and copy._verifier is None
    torch.manual_seed(1)
    mine = save_verifier(tmp_path / "mine.safetensors", OneDigitNet(width=4, hidden=8),
                         {"arch": "one_digit", "arch_args": {"width": 4, "hidden": 8}})
    x = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    named = NumberMode(verifier=mine)
    want = named.load_verifier()(x)
    copy = pickle.loads(pickle.dumps(named))
    assert copy._verifier is None and copy.load_verifier()(x) == pytest.approx(want)
    given = NumberMode(verifier=Verifier.load(mine))
    assert pickle.loads(pickle.dumps(given)).load_verifier()(x) == pytest.approx(want)
    with pytest.raises(WeightFileError, match="nope.safetensors"):
        NumberMode(verifier=tmp_path / "nope.safetensors").load_verifier()


class _Fake:
    """A stand-in verifier whose answer for a crop is its mean pixel: tells whose crop it was."""

    def __call__(self, images):
        return np.asarray(images, np.float64).reshape(len(images), -1).mean(1)


def test_combine_gives_every_number_and_frame_its_own_candidates_logits(monkeypatch):
    """A chunk of numbers (and a clip's frames) is verified at once; each number, each frame,
    must get the logits of its own candidates, not its neighbours'."""
    from ensemble import numbers
    from ensemble.reading import Prepared, Reading
    seen = []
    real = numbers.candidate_votes
    monkeypatch.setattr(numbers, "candidate_votes",
                        lambda probs, cands, verify, *a: seen.append(np.array(verify)) or real(probs, cands, verify, *a))
    rng = np.random.default_rng(0)

    def line(k):
        return {"n": k, "spans": [(i, i + 1, i) for i in range(k)], "widths": [0.6] * k, "heights": [1.0] * k,
                "cuts": [], "cut_runs": [0] * k, "cut_ink": [0.0] * k, "main": [True] * k,
                "parents": [-1] * k, "breaks": []}

    def still(k):
        return Prepared("ok", rng.integers(0, 256, (k, 28, 28), dtype=np.uint8),
                        {"lines": [line(k)], "boxes": [[10 * i, 0, 10 * i + 8, 20] for i in range(k)]})
    clip_images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    frames = [{"index": 0, "time": 0.0, "start": 0, "lines": [line(2)], "boxes": [[0, 0, 8, 20], [10, 0, 18, 20]]},
              {"index": 1, "time": 0.1, "start": 2, "lines": [line(3)],
               "boxes": [[0, 0, 8, 20], [10, 0, 18, 20], [20, 0, 28, 20]]}]
    clip = Prepared("ok", clip_images, {"video": True, "frames": frames, "still": True, "sampled": 2,
                                        "span": (0.0, 0.1)})
    prepared = [still(3), clip, still(1), still(4)]
    probs = [np.full((5, len(p.images), 10), 0.1, np.float32) for p in prepared]
    mode = numbers.NumberMode(verifier=_Fake())
    mode.combine([Reading(f"n{i}") for i in range(4)], prepared, probs)
    want = [_Fake()(prepared[0].images), _Fake()(clip_images[:2]), _Fake()(clip_images[2:]),
            _Fake()(prepared[2].images), _Fake()(prepared[3].images)]
    assert len(seen) == 5 and all(np.array_equal(a, b) for a, b in zip(seen, want))


def test_web_app_refuses_to_start_without_its_verifier(tmp_path, monkeypatch):
    """Not a 500 on the first number request: the app does not start, and says why."""
    from ensemble import numbers
    from ensemble.inference import Ensemble
    from web import create_app
    monkeypatch.setattr(numbers, "_shipped_verifier", lambda: Verifier.load(tmp_path / "gone.safetensors"))
    with pytest.raises(WeightFileError, match="gone.safetensors"):
        create_app(Ensemble(device="cpu"))


def test_vote_number_says_when_the_verifier_is_missing(tmp_path, monkeypatch, capsys):
    import vote
    from ensemble import numbers
    monkeypatch.setattr(numbers, "_shipped_verifier", lambda: Verifier.load(tmp_path / "gone.safetensors"))
    img = tmp_path / "12.png"
    from PIL import Image
    Image.fromarray(np.full((40, 60), 255, np.uint8)).save(img)
    assert vote.main([str(img), "--number", "--workers", "0", "--precision", "fp32"]) == 1
    assert "gone.safetensors: no verifier weights" in capsys.readouterr().err


def test_train_verifier_quick_run_writes_weights_and_report(tmp_path):
    """The real script, shrunk: renders and reads numbers, trains with Lightning, writes a weight
    file the Verifier loads and a report that says what was done; a second run reuses the crops
    and its report says so."""
    out, cache = tmp_path / "out", tmp_path / "cache"
    cmd = [sys.executable, str(ROOT / "train_verifier.py"), "--quick", "--out", str(out), "--cache", str(cache),
           "--logdir", str(tmp_path / "runs"), "--no-progress", "--workers", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads((out / "report.json").read_text())
    assert rep["quick"] and rep["metrics"]["epochs"] == 1 and rep["metrics"]["val_n"] > 50
    assert rep["data"]["train_crops"] > 300
    v = Verifier.load(out / "one_digit.safetensors")
    assert v.meta["metrics"] == rep["metrics"]
    assert "validation error" in (out / "report.md").read_text()
    assert len(list(cache.glob("crops-*.npz"))) == 2 and rep["data"]["crops_from_cache"] == []
    assert list((tmp_path / "runs" / "verifier").glob("version_0/events.*"))          # TensorBoard
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    again = json.loads((out / "report.json").read_text())
    assert sorted(again["data"]["crops_from_cache"]) == sorted(str(p) for p in cache.glob("crops-*.npz"))
    assert again["data"]["train_crops"] == rep["data"]["train_crops"]
    assert "read from the cache" in (out / "report.md").read_text()
