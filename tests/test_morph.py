"""ensemble/morph.py: OpenCV's and numpy's filters give scipy.ndimage's results bit for bit."""
import numpy as np
import pytest
from scipy import ndimage as ndi

from ensemble.morph import binary_dilation, distance_transform_edt, grey_closing, maximum_filter, median_filter

SHAPES = [(1, 1), (1, 9), (9, 1), (5, 7), (24, 32), (37, 61), (120, 90)]


def _smooth(shape, seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return ndi.gaussian_filter(rng.random(shape), 1.5).astype(dtype)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("size", [1, 3, 9, 41, 129])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grey_closing_is_scipys_with_the_border_repeated(shape, size, dtype):
    x = _smooth(shape, size, dtype)
    x[0, -1] = 1.5                                         # a peak on the border: the mode shows
    got = grey_closing(x, size)
    assert got.dtype == x.dtype and got.shape == x.shape
    assert np.array_equal(got, ndi.grey_closing(x, size=(size, size), mode="nearest"))


def test_grey_closing_takes_non_contiguous_input_and_refuses_even_sizes():
    x = _smooth((40, 60), 0)[:, ::2]
    assert np.array_equal(grey_closing(x, 7), ndi.grey_closing(x, size=(7, 7), mode="nearest"))
    with pytest.raises(ValueError, match="odd"):
        grey_closing(x, 8)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("iterations", [1, 2, 3])
@pytest.mark.parametrize("square", [False, True])
def test_binary_dilation_is_scipys(shape, iterations, square):
    rng = np.random.default_rng(iterations)
    mask = rng.random(shape) > 0.93
    mask[0, 0] = mask[-1, -1] = True                       # ink on the border: outside is unset
    structure = np.ones((3, 3), bool) if square else None
    got = binary_dilation(mask, iterations=iterations, square=square)
    assert got.dtype == bool and got.shape == mask.shape
    assert np.array_equal(got, ndi.binary_dilation(mask, structure=structure, iterations=iterations))
    assert not binary_dilation(np.zeros(shape, bool), iterations).any()


def test_binary_dilation_takes_labels_and_leaves_its_input_alone():
    labels = np.zeros((9, 9), np.int32)
    labels[4, 4] = 7                                       # non-zero is set, as for scipy
    before = labels.copy()
    assert np.array_equal(binary_dilation(labels), ndi.binary_dilation(labels))
    assert np.array_equal(labels, before)
    with pytest.raises(ValueError, match="iterations"):
        binary_dilation(labels, iterations=0)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("size", [1, 3, 13, 41])
def test_median_filter_is_scipys_with_the_border_repeated(shape, size):
    x = np.random.default_rng(size).random(shape).astype(np.float32)
    x[:, 0] = 0.0                                          # a dark edge: the mode shows
    got = median_filter(x, size)
    assert got.dtype == x.dtype and got.shape == x.shape
    assert np.array_equal(got, ndi.median_filter(x, size=size, mode="nearest"))
    with pytest.raises(ValueError, match="odd"):
        median_filter(x, size + 1)


@pytest.mark.parametrize("shape", SHAPES + [(82, 62), (300, 20)])
@pytest.mark.parametrize("size", [1, 3, 7])
def test_maximum_filter_is_scipys(shape, size):
    x = _smooth(shape, size, np.float64)
    x[0, :] = 2.0                                          # a bright edge: the border handling shows
    got = maximum_filter(x, size)
    assert got.dtype == x.dtype and np.array_equal(got, ndi.maximum_filter(x, size))
    with pytest.raises(ValueError, match="odd"):
        maximum_filter(x, 2)


@pytest.mark.parametrize("seed", range(12))
def test_distance_transform_is_scipys(seed):
    rng = np.random.default_rng(seed)
    shape = [(82, 62), (5, 5), (1, 9), (120, 40), (256, 200), (64, 1030)][seed % 6]
    mask = ndi.gaussian_filter(rng.random(shape), 2) > 0.45 + 0.02 * (seed % 4)
    mask[rng.integers(shape[0]), rng.integers(shape[1])] = False          # at least one background pixel
    got = distance_transform_edt(mask)
    assert got.dtype == np.float64 and np.array_equal(got, ndi.distance_transform_edt(mask))


@pytest.mark.parametrize("shape", [(256, 256), (256, 3), (1000, 700)])
def test_distance_transform_of_a_blob_far_from_the_background(shape):
    mask = np.ones(shape, bool)
    mask[0, 0] = False                                     # the longest distances the side allows
    assert np.array_equal(distance_transform_edt(mask), ndi.distance_transform_edt(mask))


def test_distance_transform_needs_background():
    with pytest.raises(ValueError, match="background"):
        distance_transform_edt(np.ones((4, 4), bool))
