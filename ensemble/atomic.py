"""Write a text file so that readers never see it half-written (vote.py --output, the report).

Atomic replacement (temporary sibling + rename) is right for regular files only:
- a device, FIFO or socket (or a symlink to one: /dev/stdout, /dev/null) is written straight
  into, never replaced: renaming over /dev/null would destroy it for the whole system;
- a symlink to a regular file (or a dangling one) is followed: the file it points to is
  replaced and the link stays a link;
- an existing file keeps its permission bits; a new one gets 0666 less the umask, as `>` would.
The temporary file is removed on any exception, KeyboardInterrupt included.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, text: str, errors: str = "strict") -> None:
    """Write `text` (UTF-8) to `path`; see the module docstring for non-regular targets.

    errors: the codec's error handler; "surrogateescape" writes undecodable file names back as
    their original bytes.
    """
    target = Path(path)
    try:
        st = os.stat(target)                           # follows symlinks
    except FileNotFoundError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"{target} is a folder")
    if st is not None and not stat.S_ISREG(st.st_mode):
        with open(target, "w", encoding="utf-8", errors=errors, newline="") as f:
            f.write(text)
        return
    real = Path(os.path.realpath(target))              # replace what a symlink points to, not the link
    mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name}.", suffix=".tmp")
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", errors=errors, newline="") as f:
            f.write(text)
        os.replace(tmp, real)
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
