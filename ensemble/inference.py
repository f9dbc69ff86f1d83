"""The trained ensemble, loaded from a folder of weight files, ready to vote.

    from ensemble.inference import Ensemble
    ens = Ensemble()                      # every checkpoints/*.safetensors, GPU if present
    ens = Ensemble("my_weights", device="cpu")
    ens = Ensemble(precision="auto")      # bfloat16 where the CPU computes it natively (2x faster)
    result = ens.predict(images)          # images: uint8 (N, 28, 28) or float (N, 1, 28, 28) in [0, 1]
    result.prediction, result.agreement, result.confidence, result.member_predictions

Loading never executes code: each member is rebuilt from the JSON metadata in its
safetensors file by the architecture registry (see `ensemble.export`). All members
must agree on `class_names` and on the input format; otherwise `WeightFileError`
names the first file that disagrees.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .export import WeightFileError, load_member
from .voting import VoteResult, vote_details

DEFAULT_WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
DEFAULT_BATCH_SIZE = 1024
PRECISIONS = ("fp32", "bf16", "auto")


def native_bf16(device: torch.device, cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> bool:
    """Does this CPU compute bfloat16 natively (AVX512-BF16 or AMX-BF16 instructions)? There the
    members ran ~2x faster in bf16 (autocast) on the 2-core AMD EPYC VM (benchmarks/RESULTS.md).
    Where bf16 is only emulated it may well be slower (not measured: no such machine here), and
    on a GPU float32 is what was measured, so "auto" keeps float32 everywhere else (Linux only: the
    CPU flags come from /proc/cpuinfo)."""
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    try:                                   # a private op of oneDNN builds: absent elsewhere
        if not getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)():
            return False
    except (AttributeError, RuntimeError):
        return False
    try:
        with open(cpuinfo) as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """One of PRECISIONS on `device` -> the arithmetic the members run in: "fp32" or "bf16"
    ("auto": bf16 where `native_bf16`). ValueError for bf16 on a device other than CPU or CUDA."""
    used = precision if precision != "auto" else ("bf16" if native_bf16(device) else "fp32")
    if used == "bf16" and device.type not in ("cpu", "cuda"):
        raise ValueError(f"precision bf16 runs on a CPU or a CUDA GPU, not on {device.type}")
    return used


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """'auto'/None -> CUDA when available, else CPU; anything else must name a usable device."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r} (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available here")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} requested but MPS is not available here")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"unsupported device {device!r} (use auto, cpu, cuda or cuda:N)")
    if dev.type == "cpu" and dev.index not in (None, 0):
        raise ValueError(f"device {device!r}: there is one CPU device (use cpu)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here "
                         f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
    return dev


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm2d that directly follows a Conv2d into the conv's weights.

    Same outputs (up to float rounding), one memory pass less per conv: ~10 % faster on CPU.
    In place; only for inference (the BN statistics are frozen into the conv).
    """
    for child in module.children():
        if isinstance(child, nn.Sequential):
            for i in range(len(child) - 1):
                if isinstance(child[i], nn.Conv2d) and isinstance(child[i + 1], nn.BatchNorm2d):
                    child[i] = fuse_conv_bn_eval(child[i], child[i + 1])
                    child[i + 1] = nn.Identity()
        fold_batchnorm(child)
    return module


class Ensemble:
    """Every member in `weights_dir`, run on `device`; results come back as CPU tensors.

    optimize=True (default) folds BatchNorm into the convs and uses the channels-last memory
    layout: identical predictions, ~1.7x the throughput on CPU.

    precision: "fp32" (default: the numbers in checkpoints/report.json), "bf16" (the members run
    under bfloat16 autocast; probabilities move by up to ~0.03, and on the 5,000 validation digits
    no vote changed) or "auto" (bf16 where the CPU computes it natively, `native_bf16`, else fp32).
    `self.precision` is the one in use.
    """

    def __init__(self, weights_dir: str | os.PathLike | None = None,
                 device: str | torch.device | None = None, optimize: bool = True, precision: str = "fp32"):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
        self.weights_dir = Path(weights_dir) if weights_dir is not None else DEFAULT_WEIGHTS_DIR
        if not self.weights_dir.is_dir():
            raise WeightFileError(f"{self.weights_dir}: no such weights folder")
        self.files = sorted(self.weights_dir.glob("*.safetensors"))
        if not self.files:
            raise WeightFileError(f"{self.weights_dir}: no *.safetensors weight files "
                                  "(train them with `python train_all.py` or pass --weights DIR)")
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.nets, self.metas = [], []
        for path in self.files:
            net, meta = load_member(path, map_location=self.device)
            if len(meta["class_names"]) != meta["num_classes"]:
                raise WeightFileError(f"{path}: {len(meta['class_names'])} class_names "
                                      f"but num_classes={meta['num_classes']}")
            if self.metas:
                self._check_agrees(path, meta)
            if optimize:
                net = fold_batchnorm(net).to(memory_format=torch.channels_last)
            self.nets.append(net)
            self.metas.append(meta)
        self.memory_format = torch.channels_last if optimize else torch.contiguous_format

    def _check_agrees(self, path: Path, meta: dict) -> None:
        first, ref = self.files[0].name, self.metas[0]
        for key in ("class_names", "input"):
            if meta[key] != ref[key]:
                raise WeightFileError(f"{path}: {key} {meta[key]} disagrees with {first} ({ref[key]}); "
                                      "all members of an ensemble must share them")
        names = [m["member"] for m in self.metas]
        if meta["member"] in names:
            raise WeightFileError(f"{path}: member name {meta['member']!r} already used by "
                                  f"{self.files[names.index(meta['member'])].name}")

    # ---- what the ensemble is -------------------------------------------------------------
    @property
    def member_names(self) -> list[str]:
        return [m["member"] for m in self.metas]

    @property
    def class_names(self) -> list[str]:
        return list(self.metas[0]["class_names"])

    @property
    def input_spec(self) -> dict:
        """e.g. {"size": 28, "channels": 1, "range": [0, 1], "polarity": "light-on-dark"}."""
        return dict(self.metas[0]["input"])

    def __len__(self) -> int:
        return len(self.nets)

    def __repr__(self) -> str:
        return (f"Ensemble({len(self)} members {self.member_names}, {len(self.class_names)} classes, "
                f"device={self.device}, precision={self.precision})")

    # ---- running it ----------------------------------------------------------------------
    def _as_batch(self, x) -> torch.Tensor:
        """uint8 / float, (N, H, W) or (N, C, H, W) -> float (N, C, H, W) in [0, 1]."""
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(np.ascontiguousarray(x))
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"images must be a torch tensor or numpy array, not {type(x).__name__}")
        size, channels = self.input_spec["size"], self.input_spec["channels"]
        if x.dim() == 3 and channels == 1:
            x = x.unsqueeze(1)                                   # (N, 1, H, W)
        if x.dim() != 4 or tuple(x.shape[1:]) != (channels, size, size):
            raise ValueError(f"images must have shape (N, {channels}, {size}, {size})"
                             f"{f' or (N, {size}, {size})' if channels == 1 else ''}; got {tuple(x.shape)}")
        if x.dtype == torch.uint8:
            return x.float().div_(255)
        if not x.is_floating_point():
            raise ValueError(f"images must be uint8 or float in [0, 1]; got {x.dtype}")
        if x.numel() and float(x.max()) > 1.5:  # the common mistake: floats in 0..255
            raise ValueError("float images must be in [0, 1]; got values up to "
                             f"{float(x.max()):g} (divide by 255 or pass uint8)")
        return x.float()

    def predict_proba(self, x, batch_size: int = DEFAULT_BATCH_SIZE) -> torch.Tensor:
        """Each member's softmax output: float (M, N, C) on the CPU."""
        x = self._as_batch(x)
        out = torch.empty(len(self.nets), x.shape[0], len(self.class_names))   # (M, N, C)
        bf16 = torch.autocast(self.device.type, dtype=torch.bfloat16) if self.precision == "bf16" else \
            contextlib.nullcontext()                             # (MPS has no autocast on older torch)
        with torch.inference_mode(), bf16:
            for start in range(0, x.shape[0], batch_size):
                xb = x[start:start + batch_size].to(self.device, non_blocking=True)
                xb = xb.contiguous(memory_format=self.memory_format)          # (B, C, H, W)
                for m, net in enumerate(self.nets):
                    out[m, start:start + xb.shape[0]] = torch.softmax(net(xb).float(), dim=1).cpu()
        return out

    def predict(self, x, batch_size: int = DEFAULT_BATCH_SIZE) -> VoteResult:
        """The vote on images `x` (see `ensemble.voting` for the rule)."""
        return vote_details(self.predict_proba(x, batch_size))
