"""ensemble/skeleton.py: the table-driven Zhang-Suen thinning against a plain per-pixel one,
and the redrawn pen."""
import numpy as np
import pytest
from scipy import ndimage as ndi

from ensemble.skeleton import redraw, thin


def reference_thin(mask: np.ndarray) -> np.ndarray:
    """Zhang & Suen (1984) as written in the paper: pixel by pixel, each sub-step deciding on
    the picture as it was before it."""
    m = np.pad(np.asarray(mask, bool), 1).astype(int)
    while True:
        changed = False
        for step in (0, 1):
            kill = []
            for y, x in zip(*np.nonzero(m)):
                p = [m[y - 1, x], m[y - 1, x + 1], m[y, x + 1], m[y + 1, x + 1],
                     m[y + 1, x], m[y + 1, x - 1], m[y, x - 1], m[y - 1, x - 1]]     # P2..P9
                b = sum(p)
                a = sum(p[k] == 0 and p[(k + 1) % 8] == 1 for k in range(8))
                if step == 0:
                    c = p[0] * p[2] * p[4] == 0 and p[2] * p[4] * p[6] == 0
                else:
                    c = p[0] * p[2] * p[6] == 0 and p[0] * p[4] * p[6] == 0
                if 2 <= b <= 6 and a == 1 and c:
                    kill.append((y, x))
            for y, x in kill:
                m[y, x] = 0
            changed |= bool(kill)
        if not changed:
            return m[1:-1, 1:-1].astype(bool)


def blobs(seed: int, n: int = 12) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        h, w = rng.integers(3, 30, 2)
        noise = ndi.gaussian_filter(rng.random((h, w)), rng.uniform(0.5, 3))
        out.append(noise > np.quantile(noise, rng.uniform(0.3, 0.8)))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_thin_is_zhang_suen(seed):
    for m in blobs(seed):
        assert np.array_equal(thin(m), reference_thin(m))


def test_thin_works_on_a_batch_and_on_ink_at_the_border():
    ms = [np.pad(b, ((0, 30 - b.shape[0]), (30 - b.shape[1], 0))) for b in blobs(9, 6)]   # ink on the edges
    batch = np.stack(ms)                                           # (6, 30, 30)
    out = thin(batch)
    assert out.shape == batch.shape and out.dtype == bool
    for one, m in zip(out, ms):
        assert np.array_equal(one, reference_thin(m))
    assert np.array_equal(thin(np.ones((1, 1), bool)), np.ones((1, 1), bool))   # a dot stays


def test_thin_keeps_strokes_one_pixel_wide_and_connected():
    m = np.zeros((40, 40), bool)
    m[5:35, 10:18] = True                                          # an upright bar 8 px wide
    m[26:34, 10:34] = True                                         # and a foot: an L
    skel = thin(m)
    assert skel.sum() > 30 and not (skel & ~m).any()
    assert ndi.label(skel, np.ones((3, 3)))[1] == 1                # one piece, like the L
    assert not (skel[:-1, :-1] & skel[1:, :-1] & skel[:-1, 1:] & skel[1:, 1:]).any()   # no 2x2 block
    assert not thin(np.zeros((5, 7), bool)).any() and thin(np.zeros((5, 7), bool)).shape == (5, 7)


def test_redraw_draws_a_round_pen_of_the_width():
    skel = np.zeros((41, 41), bool)
    skel[20, 5:36] = True                                          # a horizontal centre line
    ink = redraw(skel, 9.0)
    col = ink[:, 20]
    assert col.max() == 1.0 and 8.5 <= col.sum() <= 9.5            # 9 px across
    assert ink[20, 0] == 0 and ink[20, 1] > 0                      # round cap: 4.5 px past the end
    assert not redraw(np.zeros((4, 4), bool), 3.0).any()


def test_redraw_measures_the_distance_exactly_as_scipy():
    """redraw's distances come from ensemble/morph's OpenCV transform: scipy's, bit for bit."""
    from scipy import ndimage as ndi
    rng = np.random.default_rng(0)
    for shape in [(40, 30), (90, 70), (300, 20)]:                  # the last beyond OpenCV's size: scipy
        skel = thin(ndi.binary_dilation(rng.random(shape) > 0.97, iterations=3))
        want = np.clip(6.0 / 2 + 0.5 - ndi.distance_transform_edt(~skel), 0, 1).astype(np.float32)
        assert np.array_equal(redraw(skel, 6.0), want)
