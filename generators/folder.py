"""Load a labelled image folder (one subfolder per class, as torchvision's ImageFolder).

``load_image_folder(root, size=28)`` returns ``(images, labels, class_names)``:
``images`` a ``torch.uint8`` tensor ``(N, size, size)`` (``(N, 3, size, size)`` with
``grayscale=False``), ``labels`` a ``torch.int64`` tensor ``(N,)`` and ``class_names``
the sorted subfolder names (label ``i`` is ``class_names[i]``). The number of classes
comes from the data, so EMNIST (47 classes), Fashion-MNIST etc. work the same way.

By default images are decoded with Pillow; images with transparency are flattened onto
white; images not already ``size`` x ``size`` are resized (Pillow's antialiased bilinear
filter, aspect ratio not kept, polarity and centring not checked): a plain reader for data
that is already in shape. ``loader=fn`` replaces it: ``fn(path)`` returns one uint8
``(size, size)`` array. Training passes the reader's own normalization this way
(``ensemble.data``), so this lower layer never imports ``ensemble``.

Problems raise ``ImageFolderError`` (a ``ValueError``) naming the path at fault, also for
errors the ``loader`` raises (``OSError`` or ``ValueError``).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

__all__ = ["load_image_folder", "ImageFolderError"]


class ImageFolderError(ValueError):
    """The folder is missing, has no classes/images, or holds an unreadable image."""


def load_image_folder(root, size=28, *, grayscale=True, loader=None):
    """Return ``(images, labels, class_names)`` for the class-per-subfolder tree ``root``.

    loader: None (decode + resize), or a callable path -> uint8 array (size, size) (grayscale only).
    """
    if loader is not None and not grayscale:
        raise ValueError("load_image_folder: a custom loader gives grayscale images; grayscale=False is not supported with it")
    root = Path(root)
    if not root.is_dir():
        raise ImageFolderError(f"{root}: no such directory")
    try:
        class_names, class_to_idx = find_classes(root)
    except FileNotFoundError:
        raise ImageFolderError(f"{root}: no class subfolders (expected one subfolder per class)") from None
    try:
        samples = make_dataset(root, class_to_idx, extensions=IMG_EXTENSIONS)
    except FileNotFoundError as e:  # some class folder holds no image
        raise ImageFolderError(f"{root}: {e}") from None

    mode = "L" if grayscale else "RGB"
    images = np.empty((len(samples), size, size) + (() if grayscale else (3,)), dtype=np.uint8)
    for i, (path, _) in enumerate(tqdm(samples, desc=f"reading {root}", unit="img", disable=None,
                                         leave=False)):
        images[i] = _load_image(path, size, mode) if loader is None else _call_loader(loader, path, size)
    labels = torch.tensor([label for _, label in samples], dtype=torch.int64)
    out = torch.from_numpy(images)
    return (out if grayscale else out.permute(0, 3, 1, 2).contiguous()), labels, class_names


def _call_loader(loader, path, size):
    try:
        img = np.asarray(loader(path))
    except (OSError, ValueError) as e:   # ensemble.normalize.ImageError is a ValueError
        raise ImageFolderError(f"{path}: cannot use image ({e})") from None
    if img.shape != (size, size) or img.dtype != np.uint8:
        raise ImageFolderError(f"{path}: the loader returned {img.dtype} {img.shape}, expected uint8 ({size}, {size})")
    return img


def _load_image(path, size, mode):
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
                rgba = img.convert("RGBA")
                img = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
            img = img.convert(mode)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise ImageFolderError(f"{path}: cannot read image ({type(e).__name__}: {e})") from None
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
    return np.asarray(img, dtype=np.uint8)
