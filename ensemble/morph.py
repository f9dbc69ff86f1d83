"""Exact, faster twins of the scipy.ndimage filters the reading path runs on every image.

    from ensemble.morph import grey_closing, binary_dilation, median_filter
    paper = grey_closing(x, 39)                # == ndi.grey_closing(x, size=(39, 39), mode="nearest")
    rim = binary_dilation(mask, iterations=2)  # == ndi.binary_dilation(mask, iterations=2)
    bg = median_filter(thumb, 13)              # == ndi.median_filter(thumb, size=13, mode="nearest")

Minimum, maximum and median are exact whatever the algorithm, so these give scipy's results bit
for bit (`tests/test_morph.py` compares them on random images, border cases included) in a
fraction of the time: OpenCV's (albumentations' dependency) min/max filters and dilation are
2-5x faster on the page-sized images of `ink_map` and the candidate crops of ensemble/segment.py,
and a median over numpy's sliding windows ~3x faster than scipy's on a small thumbnail. Number
reading runs them ~10 times per number (benchmarks/numbers.py).
"""
from __future__ import annotations

import cv2
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

# The callers parallelize by processes (reading workers) or requests (the server); on images this
# small OpenCV's own thread pool only oversubscribes the cores.
cv2.setNumThreads(1)

_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)   # scipy's default structure in 2-D
_SQUARE = np.ones((3, 3), np.uint8)


def grey_closing(x: np.ndarray, size: int) -> np.ndarray:
    """`ndi.grey_closing(x, size=(size, size), mode="nearest")` of a float32/float64 (H, W), size odd:
    the maximum over a size x size window, then the minimum, the border repeated outwards."""
    if size % 2 == 0:
        raise ValueError(f"grey_closing: size must be odd, got {size}")
    kernel = np.ones((size, size), np.uint8)
    big = cv2.dilate(np.ascontiguousarray(x), kernel, borderType=cv2.BORDER_REPLICATE)
    return cv2.erode(big, kernel, borderType=cv2.BORDER_REPLICATE)


def binary_dilation(mask: np.ndarray, iterations: int = 1, square: bool = False) -> np.ndarray:
    """`ndi.binary_dilation(mask, structure, iterations)` of a 2-D mask (non-zero is set): the
    structure is scipy's default 3x3 cross, or the 3x3 square with square=True; outside is unset."""
    if iterations < 1:
        raise ValueError(f"binary_dilation: iterations must be >= 1, got {iterations}")
    m = np.asarray(mask).astype(bool).view(np.uint8)                # (H, W) 0/1
    out = cv2.dilate(m, _SQUARE if square else _CROSS, iterations=iterations,
                     borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return out.view(bool)


def median_filter(x: np.ndarray, size: int) -> np.ndarray:
    """`ndi.median_filter(x, size=size, mode="nearest")` of a 2-D array, size odd (the middle of
    size^2 values: no averaging, so exact)."""
    if size % 2 == 0:
        raise ValueError(f"median_filter: size must be odd, got {size}")
    r, n = size // 2, size * size
    windows = sliding_window_view(np.pad(x, r, mode="edge"), (size, size))    # (H, W, size, size), a view
    return np.partition(windows.reshape(*x.shape, n), n // 2, axis=-1)[..., n // 2]
