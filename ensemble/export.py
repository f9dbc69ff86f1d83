"""Self-describing member weight files: safetensors tensors + JSON metadata (no code runs on load).

A file `DIR/<member>.safetensors` holds the inference weights (auxiliary heads dropped) and,
under the metadata key "digit_ensemble", a JSON document:

    {"format_version": 1, "member": "c5_pool", "arch": "convpool", "arch_args": {...},
     "num_classes": 10, "class_names": ["0", ..., "9"],
     "input": {"size": 28, "channels": 1, "range": [0, 1], "polarity": "light-on-dark"},
     "distortion": {...}, "train": {...}, "seed": 1, "metrics": {...}, "software": {...}}

`load_member(path)` rebuilds the network from that document alone.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from safetensors import safe_open

from .registry import create_member

FORMAT_VERSION = 1
META_KEY = "digit_ensemble"
TRAINING_ONLY_PREFIXES = ("aux_heads.",)
REQUIRED_META = ("member", "arch", "arch_args", "num_classes", "class_names", "input")


class WeightFileError(ValueError):
    """A weight file is missing, unreadable, or does not describe a usable member."""


def inference_state_dict(net: nn.Module) -> dict[str, torch.Tensor]:
    """The weights inference needs: training-only auxiliary heads removed, contiguous copies."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()
            if not k.startswith(TRAINING_ONLY_PREFIXES)}


def save_member(path: str | os.PathLike, net: nn.Module, meta: dict) -> Path:
    """Write `net`'s inference weights and `meta` atomically to a .safetensors file."""
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ValueError(f"member metadata lacks {missing}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = json.dumps({"format_version": FORMAT_VERSION, **meta}, sort_keys=True, default=str)
    tmp = path.with_name(path.name + ".tmp")
    save_file(inference_state_dict(net), str(tmp), metadata={META_KEY: doc})
    os.replace(tmp, path)
    return path


def read_metadata(path: str | os.PathLike) -> dict:
    """The JSON metadata of a weight file (raises WeightFileError naming the file)."""
    path = Path(path)
    if not path.is_file():
        raise WeightFileError(f"{path}: no such weight file")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightFileError(f"{path}: not a readable safetensors weight file ({e})") from None
    if raw is None:
        raise WeightFileError(f"{path}: safetensors file without '{META_KEY}' metadata "
                              "(not written by train_all.py)")
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as e:
        raise WeightFileError(f"{path}: corrupt metadata JSON ({e})") from None
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise WeightFileError(f"{path}: metadata lacks {missing}")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise WeightFileError(f"{path}: format_version {meta['format_version']} is newer than "
                              f"this code understands ({FORMAT_VERSION}); upgrade the package")
    return meta


def load_member(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a member from its weight file alone: (net in eval mode, metadata)."""
    path = Path(path)
    meta = read_metadata(path)
    try:
        net = create_member(meta["arch"], **meta["arch_args"])
    except (KeyError, TypeError, ValueError) as e:
        raise WeightFileError(f"{path}: cannot rebuild architecture: {e}") from None
    try:
        state = load_file(str(path), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightFileError(f"{path}: cannot read tensors ({e})") from None
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shape mismatch
        raise WeightFileError(f"{path}: weights do not fit architecture {meta['arch']}: {e}") from None
    missing = [k for k in missing if not k.startswith(TRAINING_ONLY_PREFIXES)]
    if missing or unexpected:
        raise WeightFileError(f"{path}: weights do not match architecture {meta['arch']}: "
                              f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    return net.to(map_location).eval(), meta
