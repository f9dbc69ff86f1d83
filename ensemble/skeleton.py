"""Centre lines of strokes, and strokes redrawn along them with another pen.

    from ensemble.skeleton import thin, redraw
    skel = thin(mask)                 # bool (H, W) or (N, H, W) -> 1-px 8-connected centre lines
    ink = redraw(skel, width=8.0)     # float (H, W) in [0, 1]: a round pen `width` px wide

Used by the normalization (where eroding a bold pen would cut a stroke, its centre line is
redrawn with MNIST's pen, so it stays whole) and by benchmarks/robustness.py (MNIST digits
redrawn with other pens). Zhang & Suen's thinning (1984), vectorized over the whole batch:
each pass peels one layer of boundary pixels whose removal keeps the shape connected.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi


def thin(mask: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning: bool (..., H, W) -> bool (..., H, W), 1 px wide, same connectivity."""
    mask = np.asarray(mask, bool)
    batch = mask.reshape((-1,) + mask.shape[-2:])
    m = np.pad(batch, ((0, 0), (1, 1), (1, 1)))                   # (N, H+2, W+2)
    while True:
        changed = False
        for step in (0, 1):
            p = m.view(np.uint8)
            # neighbours P2..P9, clockwise from north, each (N, H, W)
            n = [p[:, :-2, 1:-1], p[:, :-2, 2:], p[:, 1:-1, 2:], p[:, 2:, 2:],
                 p[:, 2:, 1:-1], p[:, 2:, :-2], p[:, 1:-1, :-2], p[:, :-2, :-2]]
            b = sum(n)                                             # set neighbours, 0..8
            a = sum((n[k] < n[(k + 1) % 8]) for k in range(8))     # 0 -> 1 transitions around
            if step == 0:                                          # south-east boundary
                c = ((n[0] & n[2] & n[4]) == 0) & ((n[2] & n[4] & n[6]) == 0)
            else:                                                  # north-west boundary
                c = ((n[0] & n[2] & n[6]) == 0) & ((n[0] & n[4] & n[6]) == 0)
            kill = m[:, 1:-1, 1:-1] & (b >= 2) & (b <= 6) & (a == 1) & c
            if kill.any():
                m[:, 1:-1, 1:-1] &= ~kill
                changed = True
        if not changed:
            return m[:, 1:-1, 1:-1].reshape(mask.shape)


def redraw(skel: np.ndarray, width: float) -> np.ndarray:
    """A centre line (H, W) drawn with a round pen `width` px wide: ink (H, W) in [0, 1].

    Anti-aliased: ink falls from 1 to 0 over the last pixel of the pen's radius.
    """
    if not skel.any():
        return np.zeros(skel.shape, np.float32)
    dist = ndi.distance_transform_edt(~skel)                       # (H, W) px to the centre line
    return np.clip(width / 2 + 0.5 - dist, 0, 1).astype(np.float32)
