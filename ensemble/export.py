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
import math
import os
import re
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


MAX_META_BYTES = 1 << 20        # the metadata JSON of a real member is ~2 KB
MAX_META_DEPTH = 8              # nesting of dicts/lists in the metadata
MAX_FILE_BYTES = 1 << 30        # a member's weights are a few MB
MAX_INT_ARG = 1 << 20           # any integer architecture argument (channels, hidden, kernel)
MAX_LIST_ARG = 64               # list-valued architecture arguments (channels per stage)
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")


def _depth(x, limit: int) -> int:
    """Nesting depth of dicts/lists, iteratively (never recurses deeper than Python allows)."""
    stack, deepest = [(x, 1)], 0
    while stack:
        node, d = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, d)
            if deepest > limit:
                return deepest
            stack.extend((v, d + 1) for v in (node.values() if isinstance(node, dict) else node))
    return deepest


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_arg(key: str, v) -> str | None:
    """Why architecture argument `key` = v is unacceptable, or None."""
    if v is None or isinstance(v, bool):
        return None
    if _is_int(v):
        return None if 0 <= v <= MAX_INT_ARG else f"{key}={v} is out of range [0, {MAX_INT_ARG}]"
    if isinstance(v, float):
        return None if math.isfinite(v) and abs(v) <= MAX_INT_ARG else f"{key}={v} is not a finite number"
    if isinstance(v, str):
        return None if len(v) <= 64 else f"{key} is a string of {len(v)} characters"
    if isinstance(v, list):
        if len(v) > MAX_LIST_ARG:
            return f"{key} has {len(v)} entries (at most {MAX_LIST_ARG})"
        for x in v:
            if not (_is_int(x) or isinstance(x, float)):
                return f"{key} must be a list of numbers, got an entry {x!r:.40}"
            problem = _check_arg(key, x)
            if problem:
                return problem
        return None
    return f"{key} has an unsupported type {type(v).__name__}"


def validate_metadata(meta, path) -> dict:
    """Check types, ranges and sizes of a weight file's metadata before anything is built."""
    def bad(msg):
        return WeightFileError(f"{path}: bad metadata: {msg}")

    if not isinstance(meta, dict):
        raise bad(f"expected a JSON object, got {type(meta).__name__}")
    if _depth(meta, MAX_META_DEPTH) > MAX_META_DEPTH:
        raise bad(f"nested deeper than {MAX_META_DEPTH} levels")
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise WeightFileError(f"{path}: metadata lacks {missing}")
    fv = meta.get("format_version", 1)
    if not _is_int(fv) or fv < 1:
        raise bad(f"format_version must be a positive integer, got {fv!r:.40}")
    if fv > FORMAT_VERSION:
        raise WeightFileError(f"{path}: format_version {fv} is newer than this code understands "
                              f"({FORMAT_VERSION}); upgrade the package")
    if not isinstance(meta["member"], str) or not _NAME_RE.fullmatch(meta["member"]):
        raise bad(f"member must be a short name of letters, digits and _.+-, got {meta['member']!r:.40}")
    from .registry import list_members
    if meta["arch"] not in list_members():
        raise bad(f"unknown architecture {meta['arch']!r:.40}; known: {', '.join(list_members())}")
    args = meta["arch_args"]
    if not isinstance(args, dict) or len(args) > 32 or not all(isinstance(k, str) for k in args):
        raise bad("arch_args must be an object of at most 32 named arguments")
    for k, v in args.items():
        problem = _check_arg(k, v)
        if problem:
            raise bad(f"arch_args: {problem}")
    n = meta["num_classes"]
    if not _is_int(n) or not 1 <= n <= 100_000:
        raise bad(f"num_classes must be an integer in [1, 100000], got {n!r:.40}")
    names = meta["class_names"]
    if not isinstance(names, list) or not all(isinstance(c, str) and 0 < len(c) <= 100 for c in names):
        raise bad("class_names must be a list of non-empty strings")
    if len(names) != n:
        raise bad(f"{len(names)} class_names but num_classes={n}")
    if len(set(names)) != len(names):
        dup = sorted({c for c in names if names.count(c) > 1})
        raise bad(f"duplicate class_names {dup[:5]}")
    inp = meta["input"]
    if not isinstance(inp, dict):
        raise bad(f"input must be an object, got {type(inp).__name__}")
    for key, hi in (("size", 4096), ("channels", 16)):
        v = inp.get(key)
        if not _is_int(v) or not 1 <= v <= hi:
            raise bad(f"input.{key} must be an integer in [1, {hi}], got {v!r:.40}")
    if not isinstance(inp.get("polarity", ""), str):
        raise bad("input.polarity must be a string")
    return meta


def read_metadata(path: str | os.PathLike) -> dict:
    """The validated JSON metadata of a weight file (raises WeightFileError naming the file)."""
    path = Path(path)
    if not path.is_file():
        raise WeightFileError(f"{path}: no such weight file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise WeightFileError(f"{path}: {path.stat().st_size:,} bytes is too large for a member's weights")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightFileError(f"{path}: not a readable safetensors weight file ({e})") from None
    if raw is None:
        raise WeightFileError(f"{path}: safetensors file without '{META_KEY}' metadata "
                              "(not written by train_all.py)")
    if len(raw) > MAX_META_BYTES:
        raise WeightFileError(f"{path}: metadata of {len(raw):,} bytes is too large")
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as e:
        raise WeightFileError(f"{path}: corrupt metadata JSON ({type(e).__name__})") from None
    return validate_metadata(meta, path)


def _tensor_shapes(path: Path) -> dict[str, tuple]:
    """Names and shapes of the tensors in a safetensors file, read from its header only."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightFileError(f"{path}: cannot read tensors ({e})") from None


def load_member(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a member from its weight file alone: (net in eval mode, metadata).

    Order matters for hostile files: the metadata is validated first; the architecture is then
    built on the `meta` device (no memory) and its parameter shapes compared with the tensors
    in the file; only when they match is it built for real, so its size is bounded by the
    file's own size.
    """
    path = Path(path)
    meta = read_metadata(path)
    try:
        with torch.device("meta"):
            ghost = create_member(meta["arch"], **meta["arch_args"])
    except (KeyError, TypeError, ValueError, RuntimeError, OverflowError, ZeroDivisionError) as e:
        raise WeightFileError(f"{path}: cannot rebuild architecture {meta['arch']}: {e}") from None
    expected = {k: tuple(v.shape) for k, v in ghost.state_dict().items()
                if not k.startswith(TRAINING_ONLY_PREFIXES)}
    found = {k: v for k, v in _tensor_shapes(path).items() if not k.startswith(TRAINING_ONLY_PREFIXES)}
    missing, unexpected = sorted(set(expected) - set(found)), sorted(set(found) - set(expected))
    wrong = [f"{k}: file {found[k]} vs architecture {expected[k]}" for k in sorted(set(expected) & set(found))
             if found[k] != expected[k]]
    if missing or unexpected or wrong:
        raise WeightFileError(f"{path}: weights do not fit architecture {meta['arch']} with arch_args "
                              f"{meta['arch_args']}: missing {missing[:3]}, unexpected {unexpected[:3]}, "
                              f"wrong shapes {wrong[:3]}")
    net = create_member(meta["arch"], **meta["arch_args"])
    try:
        state = load_file(str(path), device=str(map_location))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightFileError(f"{path}: cannot read tensors ({e})") from None
    try:
        net.load_state_dict(state, strict=False)
    except RuntimeError as e:  # dtype or other mismatch the shape check did not see
        raise WeightFileError(f"{path}: weights do not fit architecture {meta['arch']}: {e}") from None
    return net.to(map_location).eval(), meta
