"""ensemble.batching.Batcher: concurrent callers share forward passes, and read exactly as Reader."""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from ensemble import Ensemble
from ensemble.batching import Batcher
from ensemble.reading import Item, Reader
from standins import ink_digits, save_ink_members


@pytest.fixture(scope="module")
def ink(tmp_path_factory):
    return Ensemble(save_ink_members(tmp_path_factory.mktemp("ink")), device="cpu")


def items(order, bad=False):
    d = ink_digits()
    return [Item(f"i{n}", data=d[k]) for n, k in enumerate(order)] + ([Item("bad", data=b"junk")] if bad else [])


def test_readings_equal_reader_read(ink):
    reader = Reader(ink, keep_images=True, keep_probs=True)
    its = items([5, 0, 9, 3], bad=True)
    with Batcher(reader) as b:
        got = b.read(its)
    want = reader.read(its)
    for g, w in zip(got, want):
        assert (g.path, g.status, g.prediction, g.agreement, g.member_predictions, g.tie_break) == \
               (w.path, w.status, w.prediction, w.agreement, w.member_predictions, w.tie_break)
        assert (g.probs is None and w.probs is None) or np.allclose(g.probs, w.probs)
    assert b.passes == 1 and b.inputs == 5


def test_callers_waiting_during_a_pass_share_the_next_one(ink):
    reader = Reader(ink)
    real = reader.vote_prepared
    entered, release = threading.Event(), threading.Event()

    def slow_first(its, prepared):
        if not entered.is_set():
            entered.set()
            release.wait(10)                          # the members are "busy" with the first caller
        return real(its, prepared)

    reader.vote_prepared = slow_first
    with Batcher(reader) as b:
        first = b.submit(items([1]))
        assert entered.wait(10)
        later = [b.submit(items([k, (k + 1) % 10])) for k in range(6)]     # queue up meanwhile
        release.set()
        assert [r.prediction for r in first.result(10)] == [1]
        for k, fut in enumerate(later):
            assert [r.prediction for r in fut.result(10)] == [k, (k + 1) % 10]
        assert b.passes == 2                          # 1 + everything that queued behind it
        assert b.inputs == 13


def test_max_batch_splits_passes(ink):
    with Batcher(Reader(ink), max_batch=4) as b:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda k: b.read(items([k % 10, 2])), range(16)))
    assert all([r.prediction for r in res] == [k % 10, 2] for k, res in enumerate(results))
    assert b.passes >= 8                              # 32 inputs, at most 4 per pass


def test_a_failed_pass_fails_its_callers_not_the_batcher(ink):
    reader = Reader(ink)
    real = reader.vote_prepared
    calls = []

    def fail_once(its, prepared):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real(its, prepared)

    reader.vote_prepared = fail_once
    with Batcher(reader) as b:
        with pytest.raises(RuntimeError, match="boom"):
            b.read(items([3]))
        assert [r.prediction for r in b.read(items([4]))] == [4]


def test_cancelled_callers_are_skipped_and_close_stops(ink):
    reader = Reader(ink)
    entered, release = threading.Event(), threading.Event()
    real = reader.vote_prepared
    seen = []

    def blocking(its, prepared):
        entered.set()
        release.wait(10)
        seen.append([it.path for it in its])
        return real(its, prepared)

    reader.vote_prepared = blocking
    b = Batcher(reader)
    first = b.submit(items([1]))
    assert entered.wait(10)                           # the first pass is under way: the next ones wait
    gone = b.submit([Item("gone", data=ink_digits()[2])])
    assert gone.cancel()
    kept = b.submit([Item("kept", data=ink_digits()[3])])
    release.set()
    assert first.result(10)[0].prediction == 1 and kept.result(10)[0].prediction == 3
    assert ["gone"] not in seen and all("gone" not in s for s in seen)
    b.close()
    with pytest.raises(RuntimeError, match="closed"):
        b.submit(items([1]))
