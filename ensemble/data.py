"""LightningDataModule over MNIST (or any labelled image folder) with a held-out validation split.

Batches are uint8 (B, H, W) + int64 (B,): 4x fewer bytes to move than float. The LightningModule
converts them (and distorts training batches) once they are on the device
(`MemberModule.prepare_batch`). Training batches also carry each image's dataset index (B,):
it keys the image's distortion.

The split: validation is the LAST `data.val_size` images of the training set (MNIST: images
55,000-59,999), training the ones before it, so the two never share an image. `train_subset` /
`val_subset` take the first N of each part. `full_train: true` trains on all images, the
validation ones included: validation numbers are then measured on trained-on images.

Image folders are read the way vote.py reads images (`ensemble.normalize`: decode, polarity,
crop, fit into 20 px, centre in 28x28), so a member trained on dark-on-light scans sees what
vote.py will feed it. The polarity of the source images is measured and recorded.
"""
from __future__ import annotations

from typing import NamedTuple

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from generators import load_image_folder, load_mnist

from .normalize import load_gray, normalize_digit

LIGHT_ON_DARK, DARK_ON_LIGHT, MIXED = "light-on-dark", "dark-on-light", "mixed"


class Dataset(NamedTuple):
    train_x: torch.Tensor              # uint8 (N, H, W), light digit on black
    train_y: torch.Tensor              # int64 (N,)
    test_x: torch.Tensor | None        # MNIST's test split when asked for, else None
    test_y: torch.Tensor | None
    class_names: list[str]
    source: dict                       # what the images were and what was done to them


def polarity_counts(images: torch.Tensor) -> dict[str, int]:  # pragma: no mutate block
    """How many images are light-on-dark vs dark-on-light. images: (N, H, W), any dtype.

    The background covers most of a digit image, so the median pixel is background: an image
    is dark-on-light when its median is nearer its brightest value than its darkest.
    """
    f = images.flatten(1).float()                                      # (N, H*W)
    med = f.median(1).values
    dark_on_light = (med - f.amin(1)) > (f.amax(1) - med)              # (N,) bool
    n = int(dark_on_light.sum())
    return {LIGHT_ON_DARK: len(f) - n, DARK_ON_LIGHT: n}


def polarity_label(counts: dict[str, int]) -> str:  # pragma: no mutate block
    """'light-on-dark' / 'dark-on-light' when all images agree, else 'mixed'."""
    present = [k for k, n in counts.items() if n]
    return present[0] if len(present) == 1 else MIXED


def _read_folder(root) -> Dataset:  # pragma: no mutate block
    """A labelled folder, each image decoded and normalized exactly as vote.py does it."""
    counts = {LIGHT_ON_DARK: 0, DARK_ON_LIGHT: 0}

    def read(path):
        gray = load_gray(path)                                         # float32 (H, W) in [0, 1]
        for k, n in polarity_counts(torch.from_numpy(gray)[None]).items():
            counts[k] += n
        return normalize_digit(gray)                                   # uint8 (28, 28), light on black

    # generators/ is the lower layer and knows nothing of ensemble/: it takes the reader as an argument.
    x, y, names = load_image_folder(root, loader=read)
    # Folders come sorted by class: shuffle once with a fixed seed so the tail split is mixed.
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    source = {"kind": "image folder", "path": str(root), "images": len(x),
              "polarity": polarity_label(counts), "polarity_counts": counts,
              "normalized": "ensemble.normalize (as vote.py): polarity, crop, longest side 20 px, "
                            "centre of mass at the centre of 28x28, light digit on black",
              "order": "shuffled once (seed 0); validation = the last data.val_size images"}
    return Dataset(x[perm], y[perm], None, None, list(names), source)


def load_dataset(dataset: str, root=None, with_test: bool = False) -> Dataset:  # pragma: no mutate block
    """'mnist' or a labelled folder -> Dataset. MNIST's test split only `with_test` (final report)."""
    if dataset == "mnist":
        x, y = load_mnist("train", root)
        tx, ty = load_mnist("test", root) if with_test else (None, None)
        counts = polarity_counts(x)
        source = {"kind": "mnist", "images": len(x), "polarity": polarity_label(counts),
                  "polarity_counts": counts, "normalized": "no: MNIST defines the input format"}
        return Dataset(x, y, tx, ty, [str(i) for i in range(10)], source)
    return _read_folder(dataset)


class DigitsDataModule(pl.LightningDataModule):  # pragma: no mutate block
    def __init__(self, data_cfg: dict, batch_size: int = 128, num_workers: int = 0, root=None):
        super().__init__()
        self.cfg, self.batch_size, self.num_workers, self.root = dict(data_cfg), batch_size, num_workers, root
        self.class_names = None

    def prepare_data(self):
        # Fills the MNIST cache once, on one process (DDP); nothing to do once data is in memory.
        if self.class_names is None and self.cfg["dataset"] == "mnist":
            load_mnist("train", self.root)

    def setup(self, stage=None):
        if self.class_names is not None:
            return
        # Training never looks at the test split: it is only read for the final report.
        data = load_dataset(self.cfg["dataset"], self.root, with_test=False)
        x, y, self.class_names, self.source = data.train_x, data.train_y, data.class_names, data.source
        self.train_idx, self.val_idx = split_indices(len(x), self.cfg)
        self.train_x, self.train_y = x[self.train_idx], y[self.train_idx]
        self.val_x, self.val_y = x[self.val_idx], y[self.val_idx]

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def input_size(self):
        return int(self.train_x.shape[-1])

    def _loader(self, x, y, train):
        # training batches carry each image's index in the loaded dataset: it keys its distortion
        ds = TensorDataset(x, y, self.train_idx) if train else TensorDataset(x, y)
        return DataLoader(ds, batch_size=self.batch_size if train else 1000,
                          shuffle=train, drop_last=train, num_workers=self.num_workers,
                          pin_memory=torch.cuda.is_available(),
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self):
        return self._loader(self.train_x, self.train_y, True)

    def val_dataloader(self):
        return self._loader(self.val_x, self.val_y, False)


def split_indices(n: int, cfg: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (train indices, validation indices) into the n training images, per the data config.

    Validation is the tail (the last `val_size`), training the head; disjoint unless `full_train`.
    """
    n_val = int(cfg.get("val_size") or 0)
    if not 0 < n_val < n:
        raise ValueError(f"data.val_size={n_val} must be between 1 and {n - 1}")
    idx = torch.arange(n)
    val_idx = idx[n - n_val:]                     # MNIST: images 55,000-59,999
    train_idx = idx if cfg.get("full_train") else idx[: n - n_val]
    if cfg.get("train_subset"):
        train_idx = train_idx[: int(cfg["train_subset"])]
    if cfg.get("val_subset"):
        val_idx = val_idx[: int(cfg["val_subset"])]
    return train_idx, val_idx


def validation_description(data_cfg: dict, n_total: int | None = None) -> str:  # pragma: no mutate block
    """What the validation split is, in words, from the data config (for the report)."""
    n_val = int(data_cfg.get("val_size") or 0)
    mnist = data_cfg.get("dataset") == "mnist"
    text = f"the last {n_val:,} " + ("MNIST training images" if mnist else
                                     f"images of the folder {data_cfg.get('dataset')} (after a fixed shuffle)")
    if n_total and mnist:
        text += f" (indices {n_total - n_val:,}-{n_total - 1:,})"
    if data_cfg.get("full_train"):
        return text + ", which the members also TRAINED ON (--full-train): trained-on errors, not held out"
    return text + ", held out from training"
