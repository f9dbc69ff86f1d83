"""Model side of the engine: member architectures, training module, export, voting, reading.

Names are imported lazily (PEP 562), so `python -m ensemble.evaluate --help` and friends answer
without loading torch first.
"""
from importlib import import_module

_EXPORTS = {
    "create_member": "registry", "list_members": "registry", "register_member": "registry",
    "VoteResult": "voting", "majority_vote": "voting", "vote_details": "voting",
    "Ensemble": "inference",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        if _EXPORTS[name] == "registry":
            import_module(".members", __name__)          # registers the architectures
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
