"""The one place where warnings from third-party code are silenced (training and the test suite).

`train_all.py` installs these filters at start-up (`install()`); `tests/conftest.py` hands the
same list to pytest (`pytest_filters()`), so a test run and a training run hide exactly the same
things. An entry belongs here only when (a) a dependency warns about *itself* (its own use of a
deprecated API) and nothing in our code can avoid it, or (b) a library's generic advice was
checked and does not apply to us, the reason written next to it. Each entry names the module
that issues the warning, so the same message raised from our own code still shows. A warning
about how our code misuses a library is fixed in our code, never listed here.
"""
from __future__ import annotations

import logging
import warnings

# (message regex, category, regex of the module that issues the warning); no ':' in the regexes
# (pytest's filter syntax is colon-separated).
FILTERS: list[tuple[str, type[Warning], str]] = [
    # Lightning 2.6's own pytree helper uses torch's LeafSpec, deprecated in torch 2.10+.
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning, r"pytorch_lightning\."),
    # Lightning suggests DataLoader worker processes on machines with > 2 cores. Our loaders only
    # slice uint8 tensors already in memory (the distortions run on the device): workers would add
    # inter-process copies and nothing else. `--workers N` is there for whoever wants them anyway.
    # (The category is Lightning's PossibleUserWarning, a UserWarning subclass.)
    (r"The '(train|val)_dataloader' does not have many workers", UserWarning,
     r"pytorch_lightning\.trainer\.connectors\.data_connector"),
    # FastAPI's TestClient (the API tests) re-exports Starlette's, which announces its own move
    # away from httpx (a StarletteDeprecationWarning, a UserWarning subclass) when imported.
    (r"Using `httpx` with `starlette.testclient` is deprecated", UserWarning, r"fastapi\.testclient"),
]


# Log lines (not warnings) from a dependency that say nothing about the run: (logger, substring).
QUIET_LOG_LINES = [
    # Lightning 2.6 advertises its cloud logger at every fit; we log to TensorBoard on purpose.
    ("pytorch_lightning.utilities.rank_zero", "try installing [litlogger]"),
]


class _DropLines(logging.Filter):
    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def install() -> None:
    """Apply FILTERS and QUIET_LOG_LINES to the running process (train_all.py calls this first)."""
    for message, category, module in FILTERS:
        warnings.filterwarnings("ignore", message=message, category=category, module=module)
    for name, text in QUIET_LOG_LINES:
        log = logging.getLogger(name)
        if not any(isinstance(f, _DropLines) and f.text == text for f in log.filters):
            log.addFilter(_DropLines(text))


def pytest_filters() -> list[str]:
    """FILTERS in pytest's `filterwarnings` syntax: action:message:category:module."""
    out = []
    for message, category, module in FILTERS:
        cat = category.__name__ if category.__module__ == "builtins" else f"{category.__module__}.{category.__qualname__}"
        out.append(f"ignore:{message}:{cat}:{module}")
    return out
