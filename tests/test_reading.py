"""The package's reading API (ensemble.reading): the one path behind vote.py and the HTTP API."""
import io
import os

import numpy as np
import pytest
from PIL import Image

from ensemble import Ensemble
from ensemble.reading import Item, Reader, find_inputs, row_record
from standins import CLASSES, ink_digits, save_ink_members, save_oracles


@pytest.fixture(scope="module")
def ink(tmp_path_factory):
    return Ensemble(save_ink_members(tmp_path_factory.mktemp("ink")), device="cpu")


@pytest.fixture(scope="module")
def tie(tmp_path_factory):
    """Two oracles that disagree (3 vs 7): every vote is a tie, broken by summed confidence."""
    folder = save_oracles(tmp_path_factory.mktemp("tie"))
    (folder / "b.safetensors").unlink()
    return Ensemble(folder, device="cpu")


def png(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


def test_bytes_arrays_and_files_read_alike(ink, tmp_path):
    reader = Reader(ink, keep_images=True, keep_probs=True)
    d = ink_digits()
    Image.fromarray(d[6]).save(tmp_path / "six.png")
    found = find_inputs([str(tmp_path / "six.png")], CLASSES)
    from_file = reader.read(found.items)[0]
    from_bytes = reader.read_bytes(png(d[6]), name="upload.png")
    from_array = reader.read_gray(d[6])
    for r in (from_file, from_bytes, from_array):
        assert (r.status, r.prediction, r.agreement, r.member_predictions) == ("ok", 6, 2, [6, 6, 7])
        assert np.array_equal(r.image, d[6]) and r.probs.shape == (3, 10)
    assert from_bytes.path == "upload.png"


def test_bad_bytes_give_a_reason_not_an_exception(ink):
    reader = Reader(ink)
    assert reader.read_bytes(b"").status == "empty file"
    assert "not an image" in reader.read_bytes(b"hello").status
    assert "truncated" in reader.read_bytes(png(ink_digits()[3])[:60]).status
    assert reader.read_gray(np.zeros((40, 40), np.uint8)).status.startswith("no digit found")


@pytest.mark.parametrize("workers,batch", [(0, 256), (2, 256), (2, 3)])
def test_readings_come_back_in_input_order(ink, workers, batch):
    d = ink_digits()
    order = [9, 1, 1, 4, 0, 7, 2, 8, 3, 6, 5, 2]
    items = [Item(f"img{i}", data=d[k]) for i, k in enumerate(order)] + [Item("bad", data=b"junk")]
    out = Reader(ink, workers=workers, batch_size=batch).read(items)
    assert [r.path for r in out] == [it.path for it in items]
    assert [r.prediction for r in out] == order + [None]


def test_tie_break_is_reported(tie):
    r = Reader(tie).read_gray(ink_digits()[5])
    assert r.agreement == 1 and r.tie_break and r.prediction in (3, 7)
    rec = row_record(r, tie.class_names, tie.member_names)
    assert rec["tie_break"] is True and rec["members_total"] == 2


def test_row_record_numbers_and_names(ink):
    r = Reader(ink, keep_probs=True).read_gray(ink_digits()[4])
    rec = row_record(r, ink.class_names, ink.member_names, min_agreement=3, include_probs=True)
    assert rec["prediction"] == 4 and rec["class_name"] == "4" and rec["agreement"] == 2
    assert rec["review"] == "yes" and rec["members"] == {"a": 4, "b": 4, "c": 5}
    assert set(rec["member_probs"]) == {"a", "b", "c"} and len(rec["member_probs"]["a"]) == 10
    bad = Reader(ink).read_bytes(b"")
    rec = row_record(bad, ink.class_names, ink.member_names)
    assert rec["prediction"] is None and rec["members"] is None and rec["review"] == ""


def test_find_inputs_labels_missing_and_dedup(tmp_path):
    for c in ("3", "7"):
        (tmp_path / "lab" / c).mkdir(parents=True)
        Image.fromarray(ink_digits()[int(c)]).save(tmp_path / "lab" / c / "x.png")
    (tmp_path / "lab" / "3" / ".hidden.png").write_bytes(b"")
    (tmp_path / "lab" / "3" / "notes.txt").write_text("x")
    found = find_inputs([str(tmp_path / "lab"), str(tmp_path / "lab" / "3" / "x.png"), str(tmp_path / "nope")],
                        CLASSES)
    assert [(os.path.basename(i.path), i.label, i.status) for i in found.items] == [
        ("x.png", 3, None), ("x.png", 7, None), ("nope", None, "no such file")]
    assert found.labelled == [str(tmp_path / "lab")] and found.missing == [str(tmp_path / "nope")]


def test_pooled_vote_counts_members_times_images():
    from ensemble.reading import Reading, vote_pooled
    p = np.zeros((2, 3, 10), np.float32)                   # 2 members x 3 frames
    p[0, :, 4] = 1.0                                       # member 0: 4, 4, 4
    p[1, 0, 9], p[1, 1, 9], p[1, 2, 4] = 1.0, 1.0, 1.0     # member 1: 9, 9, 4
    r = Reading("clip")
    vote_pooled(r, p)
    # agreement counts members (as in a row for one image: "1/2"); the pooled votes are kept too
    assert (r.prediction, r.agreement, r.member_predictions, r.tie_break) == (4, 1, [4, 9], False)
    assert (r.extra["votes"], r.extra["votes_total"]) == (4, 6)
    assert r.confidence == pytest.approx(4 / 6)


def test_workers_do_not_hang_after_the_caller_used_opencv_threads(tmp_path):
    """A program that ran OpenCV on its thread pool, then reads with worker processes: the
    forked workers must not reconfigure a pool whose threads live only in the parent (they used
    to wait forever in cv2.setNumThreads, at `import ensemble.morph`). Run in a fresh interpreter,
    with a deadline, so that a hang fails the test instead of the suite."""
    import subprocess
    import sys
    import textwrap
    for i, d in enumerate(ink_digits()):
        Image.fromarray(np.pad(255 - d, 20, constant_values=255)).save(tmp_path / f"{i}.png")   # not MNIST-style
    weights = save_ink_members(tmp_path / "w")
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = {[os.path.dirname(__file__), os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]!r}
        import cv2, numpy as np
        cv2.setNumThreads(2)
        for _ in range(3):                      # the pool's threads run, then wait on its condition
            cv2.GaussianBlur(np.ones((1500, 1500), np.float32), (31, 31), 5)
        from ensemble import Ensemble
        from ensemble.reading import Reader, find_inputs
        ens = Ensemble({str(weights)!r}, device="cpu")
        found = find_inputs([{str(tmp_path)!r}], ens.class_names)
        assert "ensemble.morph" not in sys.modules      # else this test would not test the fork
        readings = Reader(ens).read(found.items, workers=2)
        print("read", sum(r.status == "ok" for r in readings), len(readings))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)                          # the hung workers too
        proc.communicate()
        pytest.fail("reading with 2 workers after OpenCV used its thread pool did not finish in 90 s")
    assert proc.returncode == 0, stderr[-2000:]
    n = len(ink_digits())
    assert stdout.split() == ["read", str(n), str(n)]
