"""Load a labelled image folder (one subfolder per class, as torchvision's ImageFolder).

``load_image_folder(root, size=28)`` returns ``(images, labels, class_names)``:
``images`` a ``torch.uint8`` tensor ``(N, size, size)`` (``(N, 3, size, size)`` with
``grayscale=False``), ``labels`` a ``torch.int64`` tensor ``(N,)`` and ``class_names``
the sorted subfolder names (label ``i`` is ``class_names[i]``). The number of classes
comes from the data, so EMNIST (47 classes), Fashion-MNIST etc. work the same way.

Images are decoded with Pillow; images with transparency are flattened onto white;
images not already ``size`` x ``size`` are resized (Pillow's antialiased bilinear
filter, aspect ratio not kept). Problems raise ``ImageFolderError`` (a ``ValueError``)
naming the path at fault.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

__all__ = ["load_image_folder", "ImageFolderError"]


class ImageFolderError(ValueError):
    """The folder is missing, has no classes/images, or holds an unreadable image."""


def load_image_folder(root, size=28, *, grayscale=True):
    """Return ``(images, labels, class_names)`` for the class-per-subfolder tree ``root``."""
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
    for i, (path, _) in enumerate(samples):
        images[i] = _load_image(path, size, mode)
    labels = torch.tensor([label for _, label in samples], dtype=torch.int64)
    out = torch.from_numpy(images)
    return (out if grayscale else out.permute(0, 3, 1, 2).contiguous()), labels, class_names


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
