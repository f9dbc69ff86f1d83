"""LightningDataModule over MNIST (or any labelled image folder) with a held-out validation split.

Batches are uint8 (B, H, W) + int64 (B,): 4x fewer bytes to move than float. The LightningModule
converts and distorts them after they reach the device (`on_after_batch_transfer`). Training
batches also carry each image's dataset index (B,): it keys the image's distortion.
"""
from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from generators import load_image_folder, load_mnist


def load_dataset(dataset: str, root=None, with_test: bool = True):
    """-> (train_x uint8 (N, H, W), train_y, test_x or None, test_y or None, class_names)."""
    if dataset == "mnist":
        x, y = load_mnist("train", root)
        tx, ty = load_mnist("test", root) if with_test else (None, None)
        return x, y, tx, ty, [str(i) for i in range(10)]
    x, y, names = load_image_folder(dataset)
    # Folders come sorted by class: shuffle once with a fixed seed so the tail split is mixed.
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return x[perm], y[perm], None, None, list(names)


class DigitsDataModule(pl.LightningDataModule):
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
        x, y, _, _, self.class_names = load_dataset(self.cfg["dataset"], self.root, with_test=False)
        n_val = int(self.cfg.get("val_size") or 0)
        if not 0 < n_val < len(x):
            raise ValueError(f"data.val_size={n_val} must be between 1 and {len(x) - 1}")
        # The validation split is the tail of the training set (MNIST: images 55,000-59,999).
        self.val_x, self.val_y = x[-n_val:], y[-n_val:]
        self.train_x, self.train_y = (x, y) if self.cfg.get("full_train") else (x[:-n_val], y[:-n_val])
        if self.cfg.get("train_subset"):
            self.train_x, self.train_y = self.train_x[: self.cfg["train_subset"]], self.train_y[: self.cfg["train_subset"]]
        if self.cfg.get("val_subset"):
            self.val_x, self.val_y = self.val_x[: self.cfg["val_subset"]], self.val_y[: self.cfg["val_subset"]]

    @property
    def num_classes(self):
        return len(self.class_names)

    @property
    def input_size(self):
        return int(self.train_x.shape[-1])

    def _loader(self, x, y, train):
        ds = TensorDataset(x, y, torch.arange(len(x))) if train else TensorDataset(x, y)  # train: + index
        return DataLoader(ds, batch_size=self.batch_size if train else 1000,
                          shuffle=train, drop_last=train, num_workers=self.num_workers,
                          pin_memory=torch.cuda.is_available(),
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self):
        return self._loader(self.train_x, self.train_y, True)

    def val_dataloader(self):
        return self._loader(self.val_x, self.val_y, False)
