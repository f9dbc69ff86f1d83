"""The one LightningModule: receives a plain member net, distorts batches on the device, trains.

Batches arrive as uint8 on the device; `MemberModule.prepare_batch` turns them into the network's
input (and distorts training batches) at the top of training_step / validation_step.

Metric names: train/loss, train/acc, train/aux{i}_loss, train/lr, val/loss, val/acc, val/error.
Images: images/distorted (originals + distortions), images/val_confusion.
"""
from __future__ import annotations

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn as nn
import torch.nn.functional as F

from generators import DistortionConfig
from generators.distort import distort
from generators.preview import preview_grid

from .plots import confusion_matrix, confusion_matrix_image


class MemberModule(pl.LightningModule):
    def __init__(self, net: nn.Module, cfg: dict, class_names: list[str]):
        super().__init__()
        self.net = net
        self.cfg = cfg
        self.class_names = list(class_names)
        self.dcfg = DistortionConfig.from_dict(cfg.get("distortion"))
        self.tcfg = cfg["train"]
        self.save_hyperparameters({"member": cfg["name"], "arch": cfg["arch"], **_flat(cfg)}, logger=False)
        self._val_preds, self._val_targets = [], []
        self._preview = None      # (10, 1, H, W) fixed validation digits for the distortion grid

    # ---------------------------------------------------------------- the batch, on the device
    def prepare_batch(self, batch, train: bool):
        """A batch as the DataLoader made it (already on the device) -> the network's input.

        uint8 (B, H, W) images -> float (B, 1, H, W) in [0, 1]; training batches (`train=True`,
        which carry each image's dataset index (B,)) are distorted, fresh per sample and epoch;
        validation batches never are. Called at the top of training_step / validation_step, the
        one place the batch is turned into input (Lightning wants `on_after_batch_transfer` on
        the DataModule, not here, when both exist).
        """
        x, y, *index = batch                                           # uint8 (B, H, W), (B,)[, (B,)]
        x = x.unsqueeze(1).float().div_(255)                           # (B, 1, H, W) in [0, 1]
        if train:
            if not index:
                raise ValueError("training batches must carry the dataset indices: (images, labels, index)")
            # The steps run under the precision plugin's autocast: keep the sampling grid fp32.
            with torch.autocast(x.device.type, enabled=False):
                x = self.distort_batch(x, index[0])
        return x, y

    def distort_batch(self, x, index):
        """Sample i's distortion is a function of (member seed, epoch, dataset index i) alone:
        batch-independent, resumable, and `python -m generators.preview --index i --epochs e` shows it."""
        return distort(x, self.dcfg, keys=(int(self.cfg.get("seed", 0)), int(self.current_epoch), index))

    # ---------------------------------------------------------------- training
    def aux_weights(self):
        decay = float(self.tcfg.get("aux_decay", 1.0)) ** self.current_epoch
        return [float(w) * decay for w in self.tcfg.get("aux_weights") or []]

    def compute_loss(self, logits, aux, y):
        """main + sum_i w_i * aux_i; returns (total, main, [aux_i])."""
        ls = float(self.tcfg.get("label_smoothing", 0.0))
        main = F.cross_entropy(logits, y, label_smoothing=ls)
        aux_losses = [F.cross_entropy(a, y, label_smoothing=ls) for a in aux]
        weights = self.aux_weights()
        if len(aux_losses) != len(weights):
            raise ValueError(f"member {self.cfg['name']}: {len(aux_losses)} auxiliary heads but "
                             f"train.aux_weights has {len(weights)} entries")
        total = main + sum(w * a for w, a in zip(weights, aux_losses))
        return total, main, aux_losses

    def training_step(self, batch, batch_idx):
        x, y = self.prepare_batch(batch, train=True)                  # (B, 1, H, W) distorted
        logits, aux = self.net(x, return_aux=True)
        total, main, aux_losses = self.compute_loss(logits, aux, y)
        acc = (logits.argmax(1) == y).float().mean()
        self.log("train/loss", total, prog_bar=True)
        self.log("train/main_loss", main)
        self.log("train/acc", acc, prog_bar=True)
        for i, a in enumerate(aux_losses):
            self.log(f"train/aux{i}_loss", a)
        self.log("train/lr", self.optimizers().param_groups[0]["lr"])
        return total

    def validation_step(self, batch, batch_idx):
        x, y = self.prepare_batch(batch, train=False)                 # (B, 1, H, W) as is
        logits = self.net(x)
        self.log("val/loss", F.cross_entropy(logits, y), prog_bar=True, sync_dist=True)
        pred = logits.argmax(1)
        self.log("val/acc", (pred == y).float().mean(), prog_bar=True, sync_dist=True)
        self.log("val/error", (pred != y).float().mean(), sync_dist=True)
        self._val_preds.append(pred.cpu())
        self._val_targets.append(y.cpu())
        if self._preview is None:  # first digit of each class present in this batch
            firsts = [int((y == c).nonzero()[0]) for c in range(min(10, self.net.num_classes)) if (y == c).any()]
            self._preview = x[firsts].detach().clone()

    def on_validation_epoch_end(self):
        preds, targets = self._val_preds, self._val_targets
        self._val_preds, self._val_targets = [], []
        if self.trainer.sanity_checking or not preds:
            return
        tb = _tensorboard(self)
        if tb is None:
            return
        cm = confusion_matrix(torch.cat(preds).numpy(), torch.cat(targets).numpy(), len(self.class_names))
        img = confusion_matrix_image(cm, self.class_names, f"{self.cfg['name']} validation, epoch {self.current_epoch}")
        tb.add_image("images/val_confusion", np.asarray(img), self.global_step, dataformats="HWC")
        if self._preview is not None:
            g = torch.Generator(device=self._preview.device).manual_seed(self.current_epoch)
            tb.add_image("images/distorted", preview_grid(self._preview.float(), self.dcfg, 7, g), self.global_step)

    def configure_optimizers(self):
        t = self.tcfg
        if t.get("optimizer", "adamw") != "adamw":
            raise ValueError(f"train.optimizer={t['optimizer']!r}: only 'adamw' is implemented")
        opt = torch.optim.AdamW(self.parameters(), lr=float(t["lr"]), weight_decay=float(t["weight_decay"]))
        if t.get("schedule", "onecycle") == "constant":
            return opt
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=float(t["lr"]), total_steps=int(self.trainer.estimated_stepping_batches),
            pct_start=float(t.get("warmup_frac", 0.15)), anneal_strategy="cos",
            div_factor=25.0, final_div_factor=1e3)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def _tensorboard(module):
    """The SummaryWriter of the module's TensorBoard logger, if any (rank 0 only)."""
    if module.global_rank != 0:
        return None
    for lg in module.loggers:
        exp = getattr(lg, "experiment", None)
        if exp is not None and hasattr(exp, "add_image"):
            return exp
    return None


def _flat(d: dict, prefix: str = "") -> dict:
    """{'train': {'lr': 1}} -> {'train.lr': 1}; lists become strings (hparams need scalars)."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v if isinstance(v, (int, float, str, bool)) or v is None else str(v)
    return out


def fit_on_crops(net: nn.Module, cfg: dict, class_names: list[str], train: tuple, val: tuple, logdir: str,
                 name: str, progress: bool = True) -> tuple[pl.Trainer, float]:
    """Train a small helper net (the verifier, the pair reader) on in-memory crops with MemberModule on
    the CPU, TensorBoard under logdir/name, last-epoch weights: train, val = (uint8 (N, 28, 28), int64 (N,)).
    Returns the trainer and the training wall time (s)."""
    import time

    from pytorch_lightning.callbacks import TQDMProgressBar
    from pytorch_lightning.loggers import TensorBoardLogger
    from torch.utils.data import DataLoader, TensorDataset
    module = MemberModule(net, cfg, class_names)
    tX, tY, vX, vY = (torch.from_numpy(np.ascontiguousarray(v)) for v in (*train, *val))
    bs = int(cfg["train"]["batch_size"])
    loader = DataLoader(TensorDataset(tX, tY, torch.arange(len(tX))), batch_size=bs, shuffle=True, drop_last=True)
    logger = TensorBoardLogger(logdir, name=name, default_hp_metric=False)
    trainer = pl.Trainer(max_epochs=int(cfg["train"]["epochs"]), accelerator="cpu", precision="32-true",
                         logger=logger, callbacks=[TQDMProgressBar(refresh_rate=20)] if progress else [],
                         enable_progress_bar=progress, enable_checkpointing=False,
                         num_sanity_val_steps=0, enable_model_summary=False, log_every_n_steps=20)
    t0 = time.perf_counter()
    trainer.fit(module, loader, DataLoader(TensorDataset(vX, vY), batch_size=1000))
    return trainer, time.perf_counter() - t0
