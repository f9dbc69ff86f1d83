"""Centre lines of strokes, and strokes redrawn along them with another pen.

    from ensemble.skeleton import thin, redraw
    skel = thin(mask)                 # bool (H, W) or (N, H, W) -> 1-px 8-connected centre lines
    ink = redraw(skel, width=8.0)     # float (H, W) in [0, 1]: a round pen `width` px wide

Used by the normalization (where eroding a bold pen would cut a stroke, its centre line is
redrawn with MNIST's pen, so it stays whole) and by benchmarks/robustness.py (MNIST digits
redrawn with other pens). Zhang & Suen's thinning (1984), vectorized over the whole batch:
each pass peels one layer of boundary pixels whose removal keeps the shape connected (a
256-entry table per sub-step says which, from a pixel's 8 neighbours packed into a byte by one
OpenCV correlation).
"""
from __future__ import annotations

import numpy as np

from .morph import cv2          # OpenCV, set to run on one thread (see morph.one_thread)
from .morph import distance_transform_edt


def _zhang_suen_tables() -> np.ndarray:
    """bool (2, 256): may a set pixel be peeled in sub-step 0 / 1, given its 8 neighbours coded
    as bits P2..P9 (bit k = neighbour k clockwise from north)? Zhang & Suen's conditions: 2..6
    set neighbours, exactly one 0 -> 1 transition around it, and the sub-step's own pair of
    "P2.P4.P6 = 0, P4.P6.P8 = 0" (south-east) or "P2.P4.P8 = 0, P2.P6.P8 = 0" (north-west)."""
    table = np.zeros((2, 256), bool)
    for code in range(256):
        n = [(code >> k) & 1 for k in range(8)]
        b = sum(n)
        a = sum(n[k] == 0 and n[(k + 1) % 8] == 1 for k in range(8))
        if 2 <= b <= 6 and a == 1:
            table[0, code] = not (n[0] and n[2] and n[4]) and not (n[2] and n[4] and n[6])
            table[1, code] = not (n[0] and n[2] and n[6]) and not (n[0] and n[4] and n[6])
    return table


_PEEL = _zhang_suen_tables()


# bit k of a pixel's code = its neighbour P(k+2), clockwise from north (P2) to north-west (P9)
_BITS = np.array([[128, 1, 2], [64, 0, 4], [32, 16, 8]], np.float32)


def thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning: bool (..., H, W) -> bool (..., H, W), 1 px wide, same connectivity."""
    mask = np.asarray(mask, bool)
    batch = mask.reshape((-1,) + mask.shape[-2:])
    rows, cols = np.flatnonzero(batch.any((0, 2))), np.flatnonzero(batch.any((0, 1)))
    if rows.size == 0:
        return mask.copy()
    # only the ink's bounding box is worked on (outside it nothing is set, so nothing changes)
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    m = np.pad(batch[:, y0:y1, x0:x1], ((0, 0), (1, 1), (1, 1))).view(np.uint8)   # (N, h+2, w+2) 0/1
    # the batch as one tall image: each sample's own empty border rows keep it from its neighbours
    tall = m.reshape(-1, m.shape[-1])                                  # (N (h+2), w+2), a view of m
    while True:
        changed = False
        for step in (0, 1):
            # the 8 neighbours as one byte per pixel: a 3x3 correlation with the bit weights (exact
            # in float32), one OpenCV call for the whole batch
            code = cv2.filter2D(tall, cv2.CV_32F, _BITS, borderType=cv2.BORDER_CONSTANT).astype(np.uint8)
            kill = _PEEL[step][code] & (tall == 1)                     # one table lookup per pixel
            if kill.any():
                tall[kill] = 0
                changed = True
        if not changed:
            out = np.zeros_like(batch)
            out[:, y0:y1, x0:x1] = m[:, 1:-1, 1:-1].view(bool)
            return out.reshape(mask.shape)


def redraw(skel: np.ndarray, width: float) -> np.ndarray:
    """A centre line (H, W) drawn with a round pen `width` px wide: ink (H, W) in [0, 1].

    Anti-aliased: ink falls from 1 to 0 over the last pixel of the pen's radius.
    """
    if not skel.any():
        return np.zeros(skel.shape, np.float32)
    dist = distance_transform_edt(~skel)                           # (H, W) px to the centre line (scipy's, exactly)
    return np.clip(width / 2 + 0.5 - dist, 0, 1).astype(np.float32)
