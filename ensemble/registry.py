"""One registry of member architectures: `@register_member("name")`, `create_member(name, **cfg)`."""
from __future__ import annotations

from typing import Callable

import torch.nn as nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_member(name: str):
    """Class decorator: make an architecture buildable by name from a config."""
    def deco(cls):
        if name in _REGISTRY:
            raise ValueError(f"member architecture {name!r} is already registered")
        _REGISTRY[name] = cls
        cls.arch_name = name
        return cls
    return deco


def _builtin():
    """The built-in architectures register themselves when ensemble.members is imported."""
    from . import members  # noqa: F401


def list_members() -> list[str]:
    _builtin()
    return sorted(_REGISTRY)


def create_member(name: str, **cfg) -> nn.Module:
    """Build architecture `name` with keyword arguments `cfg` (e.g. a config's `arch_args`)."""
    _builtin()
    if name not in _REGISTRY:
        raise KeyError(f"unknown member architecture {name!r}; known: {', '.join(list_members())}")
    try:
        return _REGISTRY[name](**cfg)
    except TypeError as e:  # wrong/missing argument names in a config: say which architecture
        raise TypeError(f"cannot build member architecture {name!r} from {cfg}: {e}") from None
