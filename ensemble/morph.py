"""Exact, faster twins of the scipy.ndimage filters the reading path runs on every image.

    from ensemble.morph import grey_closing, binary_dilation, median_filter
    paper = grey_closing(x, 39)                # == ndi.grey_closing(x, size=(39, 39), mode="nearest")
    rim = binary_dilation(mask, iterations=2)  # == ndi.binary_dilation(mask, iterations=2)
    bg = median_filter(thumb, 13)              # == ndi.median_filter(thumb, size=13, mode="nearest")
    top = maximum_filter(x, 3)                 # == ndi.maximum_filter(x, 3)
    dist = distance_transform_edt(mask)        # == ndi.distance_transform_edt(mask)

Minimum, maximum and median are exact whatever the algorithm, and so is a Euclidean distance
transform that finds each pixel's squared distance (an integer), so these give scipy's results bit
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
from scipy import ndimage as ndi


def one_thread() -> None:
    """Run OpenCV on the calling thread only (no thread pool).

    The callers parallelize by processes (reading workers) or requests (the server); on images
    this small OpenCV's own pool only oversubscribes the cores. And the pool does not survive a
    fork: a forked child that reconfigures it (`cv2.setNumThreads`, which importing this module
    does) after the parent ran it waits forever, in pthread_cond_destroy, for threads that live
    only in the parent. So `Reader.read` calls this in the parent before it forks its workers,
    whatever OpenCV did there before (a user's own cv2 code, a renderer); the caller's OpenCV
    then stays on one thread. Processes a user forks themselves are not covered: import
    `ensemble.normalize` (or this module) in the parent before forking them.
    """
    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)


one_thread()

EDT_MAX_SIDE = 256      # px: OpenCV's float32 transform is exact well beyond (distance_transform_edt)
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


def maximum_filter(x: np.ndarray, size: int) -> np.ndarray:
    """`ndi.maximum_filter(x, size)` of a 2-D float array, size odd. scipy mirrors the border
    ("reflect"); for a window centred on its pixel the mirrored pixels lie inside the window's
    own part of the image, so repeating the border pixel gives the same maxima."""
    if size % 2 == 0:
        raise ValueError(f"maximum_filter: size must be odd, got {size}")
    return cv2.dilate(np.ascontiguousarray(x), np.ones((size, size), np.uint8), borderType=cv2.BORDER_REPLICATE)


def distance_transform_edt(mask: np.ndarray) -> np.ndarray:
    """`ndi.distance_transform_edt(mask)` of a 2-D mask with at least one background pixel: float64
    distance of every pixel to the nearest background one. OpenCV's (Felzenszwalb) transform works
    in float32: on masks up to EDT_MAX_SIDE px its result squared rounds back to the exact squared
    distance, an integer, whose float64 square root is scipy's value. (Single-threaded, it is off
    by one in d^2 for distances near 900 px; exact in every test up to 512 px.) Larger masks go to
    scipy itself. The reading path measures strokes on crops of ~80 px."""
    m = np.asarray(mask).astype(bool).view(np.uint8)
    if m.all():
        raise ValueError("distance_transform_edt: the mask needs a background pixel")
    if max(m.shape) > EDT_MAX_SIDE:
        return ndi.distance_transform_edt(m)
    d = cv2.distanceTransform(m, cv2.DIST_L2, cv2.DIST_MASK_PRECISE).astype(np.float64)
    return np.sqrt(np.rint(d * d))
