"""The pair reader (ensemble/pairs.py, train_pairs.py): labels, synthetic pairs, weight files,
the shipped weights on validation pairs, and its place in choosing a number's segmentation."""
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ensemble.export import WeightFileError
from ensemble.pairs import (DEFAULT_PATH, NOT_PAIR, PairNet, PairReader, _synthetic_pair, label_pairs,
                            save_pair_reader)

ROOT = Path(__file__).resolve().parent.parent


def test_candidates_are_labelled_by_the_pair_boxes():
    """The box around two neighbours (IoU >= 0.8, >= 0.9 of each digit inside): their pair;
    IoU < 0.5 with every pair box: not a pair; between: left out."""
    truth = [[0, 0, 10, 20], [12, 0, 22, 20], [30, 0, 40, 20]]
    digits = [1, 9, 4]
    boxes = [[0, 0, 22, 20],          # digits 0 and 1: "19"
             [12, 0, 40, 20],         # digits 1 and 2: "94"
             [0, 0, 10, 20],          # digit 0 alone: IoU 0.45 with "19"'s box -> not a pair
             [1, 0, 22, 20],          # "19" less a column of the 1: 0.9 of the 1 inside -> still "19"
             [3, 0, 22, 20],          # 0.7 of the 1 inside: IoU 0.86, but not both digits -> left out
             [60, 0, 70, 20],         # nothing there
             [0, 0, 40, 20]]          # all three: IoU 0.55 with each pair box -> left out
    assert label_pairs(boxes, truth, digits).tolist() == [19, 94, NOT_PAIR, 19, -1, NOT_PAIR, -1]
    assert label_pairs(boxes[:2], truth[:1], digits[:1]).tolist() == [NOT_PAIR, NOT_PAIR]   # one digit: no pairs
    assert label_pairs([], truth, digits).tolist() == []


def test_a_synthetic_pair_holds_both_digits():
    """Two MNIST digits written touching, normalized as a candidate: a 28x28 with the ink of both,
    wider than tall, and the same for the same seed."""
    from generators import load_mnist
    x, y = load_mnist("train", verbose=False)
    one, zero = x[y == 1][0].numpy(), x[y == 0][0].numpy()
    a = _synthetic_pair((one, zero, 3))
    assert a.shape == (28, 28) and a.dtype == np.uint8
    assert np.array_equal(a, _synthetic_pair((one, zero, 3)))
    cols, rows = np.flatnonzero((a > 64).any(0)), np.flatnonzero((a > 64).any(1))
    assert cols[-1] - cols[0] > rows[-1] - rows[0]                 # a pair: wider than tall
    mid = (cols[0] + cols[-1]) // 2
    assert (a[:, :mid] > 64).sum() > 10 and (a[:, mid:] > 64).sum() > 10
    lone = _synthetic_pair((one, None, 3))                          # a lone digit, pictured the same way
    cols, rows = np.flatnonzero((lone > 64).any(0)), np.flatnonzero((lone > 64).any(1))
    assert lone.shape == (28, 28) and rows[-1] - rows[0] >= 15 and cols[-1] - cols[0] <= rows[-1] - rows[0] + 2


def test_weight_file_round_trip_and_clear_errors(tmp_path):
    torch.manual_seed(0)
    net = PairNet(width=4, hidden=8).eval()
    path = save_pair_reader(tmp_path / "p" / "pair.safetensors", net,
                            {"arch": "pair_net", "arch_args": {"width": 4, "hidden": 8}})
    x = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    r = PairReader.load(path)
    with torch.no_grad():
        want = torch.softmax(net(torch.from_numpy(x).float().div(255).unsqueeze(1)), 1).double().numpy()
    assert r(x) == pytest.approx(want, abs=1e-6) and r(x).shape == (5, NOT_PAIR + 1)
    assert r(np.zeros((0, 28, 28), np.uint8)).shape == (0, NOT_PAIR + 1)
    with pytest.raises(WeightFileError, match="no pair reader weights"):
        PairReader.load(tmp_path / "missing.safetensors")
    with pytest.raises(WeightFileError, match="not a pair reader weights file"):
        PairReader.load(ROOT / "checkpoints" / "verifier" / "one_digit.safetensors")   # the verifier's file
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(WeightFileError, match="junk.safetensors"):
        PairReader.load(tmp_path / "junk.safetensors")


def test_shipped_pair_reader_comes_with_its_report_and_reads_validation_pairs():
    """The shipped weights were made by train_pairs.py (its report says how, with the errors stored in
    the weights) and read synthetic pairs of validation digits, which it never trained on."""
    from generators import load_mnist
    r = PairReader.load()
    rep = json.loads((DEFAULT_PATH.parent / "pair_report.json").read_text())
    assert rep["metrics"] == r.meta["metrics"] and rep["test_set"] == "not read" and not rep["quick"]
    x, y = load_mnist("train", verbose=False)
    x, y = x[-5000:].numpy(), y[-5000:].numpy()
    rng = np.random.default_rng(7)
    i, j = rng.integers(5000, size=150), rng.integers(5000, size=150)
    crops = np.stack([_synthetic_pair((x[a], x[b], int(s))) for a, b, s in zip(i, j, rng.integers(2 ** 31, size=150))])
    read = r(crops).argmax(1)
    assert (read == 10 * y[i] + y[j]).mean() > 0.8
    # lone MNIST digits: "not a pair" (96.3 % of the last 1,000 validation digits when it was trained; it
    # learnt lone digits pictured like its pairs), and never as sure of a pair as of the real ones
    single = r(x[:300])
    assert (single.argmax(1) == NOT_PAIR).mean() > 0.9
    assert np.median(single[:, :NOT_PAIR].max(1)) < 0.1 < np.median(r(crops)[:, :NOT_PAIR].max(1))


def _line(widths):
    k = len(widths)
    return {"n": 2, "spans": [(0, 2, 0), (0, 1, 1), (1, 2, 2)][:k], "widths": widths, "heights": [1.0] * k,
            "cuts": [], "cut_runs": [0, 0], "cut_ink": [0, 0], "main": [True, True], "parents": [-1, -1],
            "breaks": []}


def _votes(pair_top):
    """Members sure of every candidate (8 for the wide one, 1 and 7 for the halves); the pair reader
    sure that the wide candidate is `pair_top` (or not a pair for None), the halves not pairs."""
    from ensemble.numbers import candidate_votes
    from ensemble.reading import Reading, vote_into
    probs = np.full((5, 3, 10), 0.001)
    probs[:, 0, 8] = probs[:, 1, 1] = probs[:, 2, 7] = 0.99
    cands = [Reading("") for _ in range(3)]
    vote_into(cands, probs)
    pair = np.full((3, NOT_PAIR + 1), 1e-4)
    pair[0, NOT_PAIR if pair_top is None else pair_top] = pair[1, NOT_PAIR] = pair[2, NOT_PAIR] = 0.99
    return probs, cands, candidate_votes(probs, cands, np.array([-6.0, -6.0, -6.0]), pair)


def test_a_wide_candidate_is_offered_as_a_pair():
    """line_options adds a two-digit option for each candidate at least min_width wide, reading the
    pair reader's top pair; none without the pair reader's probabilities or PairScoring."""
    from ensemble.numbers import PairScoring, Scoring, line_options
    _, _, v = _votes(19)
    line = _line([0.8, 0.3, 0.45])
    opts, score, texts = line_options(line, v, Scoring(), PairScoring(min_width=0.4, min_prob=0.0))
    assert texts == ["8", "1", "7", "19", "00"] and opts["spans"][3:] == [(0, 2, 0), (1, 2, 2)]
    assert len(score) == 5
    opts, _, texts = line_options(line, v, Scoring(), PairScoring(min_width=0.5, min_prob=0.0))
    assert texts == ["8", "1", "7", "19"]
    assert line_options(line, v, Scoring(), None)[2] == ["8", "1", "7"]
    # the third candidate's likeliest pair ("00") has p 1e-4: offered only without a floor
    assert line_options(line, v, Scoring(), PairScoring(min_width=0.4, min_prob=0.5))[2] == ["8", "1", "7", "19"]
    with pytest.raises(ValueError, match="min_prob"):
        PairScoring(min_prob=1.5)
    no_pair = {k: a for k, a in v.items() if k != "pair"}
    assert line_options(line, no_pair, Scoring(), PairScoring())[2] == ["8", "1", "7"]


def test_a_pair_read_by_the_pair_reader_becomes_two_digits():
    """A single wide candidate (no cut gives its halves) that the members read as an 8 and the
    pair reader as "19": the number reads "19" with the pair, "8" without. Each of the two digits
    says it came from a pair; its box is half the candidate's; its agreement counts the members
    that voted its class on the pair's crop (none for either here: the flag for review)."""
    from ensemble.numbers import NumberMode, PairScoring
    from ensemble.reading import Prepared, Reading
    probs, cands, v = _votes(19)
    line = {**_line([1.0]), "n": 1, "spans": [(0, 1, 0)], "main": [True], "parents": [-1],
            "cut_runs": [0], "cut_ink": [0]}
    p = Prepared("ok", np.zeros((1, 28, 28), np.uint8), {"lines": [line], "boxes": [[10, 0, 30, 20]]})
    read = {}
    for name, pairs in (("pairs", PairScoring(weights=(2.0, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0))), ("no pairs", None)):
        r = Reading("n")
        NumberMode(pairs=pairs)._fill(r, p, cands[:1], {k: a[:1] for k, a in v.items()})
        read[name] = r
    r = read["pairs"]
    assert r.extra["text"] == "19" and read["no pairs"].extra["text"] == "8"
    d1, d9 = r.extra["digits"]
    assert (d1["prediction"], d9["prediction"]) == (1, 9) and d1["pair"] and d9["pair"]
    assert d1["box"] == [10, 0, 20, 20] and d9["box"] == [20, 0, 30, 20]
    assert d1["agreement"] == d9["agreement"] == 0 and r.agreement == 0
    assert d1["confidence"] == pytest.approx(0.99) and d1["member_predictions"] == [8] * 5
    from ensemble.numbers import number_record
    names, members = [str(c) for c in range(10)], list("abcde")
    assert [d["pair"] for d in number_record(r, names, members)["digits"]] == [True, True]
    assert [d["pair"] for d in number_record(read["no pairs"], names, members)["digits"]] == [False]


def test_number_mode_pickles_without_a_loaded_pair_reader(tmp_path):
    from ensemble.numbers import NumberMode
    m = NumberMode()
    assert isinstance(m.load_pair_reader(), PairReader)
    copy = pickle.loads(pickle.dumps(m))
    assert copy.pair_reader is None and copy._pair_reader is None
    torch.manual_seed(1)
    mine = save_pair_reader(tmp_path / "mine.safetensors", PairNet(width=4, hidden=8),
                            {"arch": "pair_net", "arch_args": {"width": 4, "hidden": 8}})
    x = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    named = NumberMode(pair_reader=mine)
    want = named.load_pair_reader()(x)
    assert pickle.loads(pickle.dumps(named)).load_pair_reader()(x) == pytest.approx(want)
    with pytest.raises(WeightFileError, match="nope.safetensors"):
        NumberMode(pair_reader=tmp_path / "nope.safetensors").load_pair_reader()


def test_train_pairs_quick_run_writes_weights_and_report(tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, str(ROOT / "train_pairs.py"), "--quick", "--out", str(out), "--logdir", str(tmp_path / "runs"),
           "--cache", str(tmp_path / "cache"), "--no-progress"]
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT, timeout=300)
    r = PairReader.load(out / "pair.safetensors")
    rep = json.loads((out / "pair_report.json").read_text())
    assert rep["quick"] and rep["metrics"] == r.meta["metrics"] and rep["test_set"] == "not read"
    assert rep["data"]["crops_from_cache"] == [] and "validation error" in (out / "pair_report.md").read_text()
    assert list((tmp_path / "runs" / "pairs").rglob("events.out.tfevents.*"))
    subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT, timeout=300)     # the second run: cached crops
    assert len(json.loads((out / "pair_report.json").read_text())["data"]["crops_from_cache"]) == 2


class _Counting:
    """A stand-in pair reader: sure of "19" for every crop it is given; records how many it got."""

    def __init__(self):
        self.given = []

    def __call__(self, images):
        self.given.append(len(images))
        out = np.full((len(images), NOT_PAIR + 1), 1e-4)
        out[:, 19] = 0.99
        return out


def test_only_candidates_wide_enough_go_to_the_pair_reader():
    """combine reads a chunk's candidates at once; only those at least min_width wide (in a still
    image or a clip's frames) reach the pair reader, the rest are "not a pair"."""
    from ensemble.numbers import NumberMode, PairScoring
    from ensemble.reading import Prepared, Reading

    def line(widths):
        k = len(widths)
        return {"n": k, "spans": [(i, i + 1, i) for i in range(k)], "widths": widths, "heights": [1.0] * k,
                "cuts": [], "cut_runs": [0] * k, "cut_ink": [0.0] * k, "main": [True] * k,
                "parents": [-1] * k, "breaks": []}
    img = np.zeros((3, 28, 28), np.uint8)
    still = Prepared("ok", img, {"lines": [line([0.3, 0.9, 0.45])], "boxes": [[0, 0, 8, 20]] * 3})
    # the clip's wide candidate is in its second frame (which starts at the clip's third image): its
    # offset in the chunk is the still's 3 images + the frame's start 2 + its own index 0
    frames = [{"index": 0, "time": 0.0, "start": 0, "lines": [line([0.2, 0.3])], "boxes": [[0, 0, 8, 20]] * 2},
              {"index": 1, "time": 0.1, "start": 2, "lines": [line([0.6])], "boxes": [[0, 0, 8, 20]]}]
    clip = Prepared("ok", np.zeros((3, 28, 28), np.uint8),
                    {"video": True, "frames": frames, "still": True, "sampled": 2, "span": (0.0, 0.1)})
    failed = Prepared("unreadable", np.zeros((0, 28, 28), np.uint8))
    reader = _Counting()
    mode = NumberMode(pairs=PairScoring(weights=(20.0, 0, 0, 0, 0, 0, 0), min_width=0.5), pair_reader=reader)
    probs = mode._pair_probs([still, failed, clip], np.zeros((6, 28, 28), np.uint8))
    assert reader.given == [2]                                         # the 0.9 and the clip's 0.6
    assert probs[:, 19].round(2).tolist() == [0.0, 0.99, 0.0, 0.0, 0.0, 0.99]
    assert probs[[0, 2, 3, 4], NOT_PAIR].tolist() == [1.0] * 4
    # combine: each number and frame reads its own candidates' pair probabilities (every member votes 3 for
    # every candidate; a pair option scores 20, so wherever one is offered it wins)
    probs = np.full((5, 3, 10), 0.01, np.float32)
    probs[:, :, 3] = 0.91
    a, c = Reading("a"), Reading("c")
    mode.combine([a, c], [still, clip], [probs, probs])
    assert reader.given == [2, 2]
    assert a.extra["text"] == "3193" and [d["pair"] for d in a.extra["digits"]] == [False, True, True, False]
    assert [f["text"] for f in c.extra["video"]["frames"]] == ["33", "19"]
    assert still.info["selected"] == [0, 1, 1, 2]                       # one kept image per digit


def test_pair_options_keep_their_candidates_apart():
    """Several candidates, their image indices out of span order, the pair option neither the first
    candidate nor the first option: the number reads the members' digits where no pair wins and the pair
    reader's pair where one does, each digit with its own candidate's box; the kept images follow the
    digits (the web page shows digit k's crop and probabilities from them)."""
    from ensemble.numbers import NumberMode, PairScoring, candidate_votes
    from ensemble.reading import Prepared, Reading, vote_into
    # pieces 0, 1, 2; spans: [0,1) k=2 -> 4, [1,2) k=0 -> 1 (narrow), [1,3) k=3 -> 8 (wide: "57" as a pair),
    # [2,3) k=1 -> 7 (narrow)
    pred = {2: 4, 0: 1, 3: 8, 1: 7}
    probs = np.full((5, 4, 10), 0.001)
    for k, c in pred.items():
        probs[:, k, c] = 0.99
    cands = [Reading("") for _ in range(4)]
    vote_into(cands, probs)
    pair = np.full((4, NOT_PAIR + 1), 1e-4)
    pair[:, NOT_PAIR] = 0.99
    pair[3, NOT_PAIR], pair[3, 57] = 1e-4, 0.99
    line = {"n": 3, "spans": [(0, 1, 2), (1, 2, 0), (1, 3, 3), (2, 3, 1)], "widths": [0.6, 0.3, 1.0, 0.35],
            "heights": [1.0] * 4, "cuts": [], "cut_runs": [0, 0, 0], "cut_ink": [0, 0, 0], "main": [True] * 3,
            "parents": [-1] * 3, "breaks": []}
    boxes = [[40, 0, 50, 20], [52, 0, 60, 20], [0, 0, 20, 20], [40, 0, 60, 20]]
    p = Prepared("ok", np.zeros((4, 28, 28), np.uint8), {"lines": [line], "boxes": boxes})
    r = Reading("n")
    v = candidate_votes(probs, cands, np.zeros(4), pair)
    NumberMode(pairs=PairScoring(weights=(30.0, 0, 0, 0, 0, 0, 0)))._fill(r, p, cands, v)
    assert r.extra["text"] == "457"
    assert [d["box"] for d in r.extra["digits"]] == [[0, 0, 20, 20], [40, 0, 50, 20], [50, 0, 60, 20]]
    assert [d["pair"] for d in r.extra["digits"]] == [False, True, True]
    assert p.info["selected"] == [2, 3, 3]
    r = Reading("n")
    NumberMode(pairs=None)._fill(r, p, cands, v)
    assert r.extra["text"] == "48" and p.info["selected"] == [2, 3]     # the wide candidate as the members read it
    assert r.extra["digits"][1]["box"] == [40, 0, 60, 20]
