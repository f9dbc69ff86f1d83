"""One reading path for every entry point: find the inputs, decode, normalize, vote.

`vote.py`, the HTTP API and the benchmarks call these functions; none of them decodes,
normalizes or votes on its own.

    from ensemble import Ensemble
    from ensemble.reading import Reader, find_inputs
    ens = Ensemble()                                     # checkpoints/, GPU if present
    reader = Reader(ens)
    found = find_inputs(["photo.jpg", "scans/"], ens.class_names)   # files, folders, labels
    readings = reader.read(found.items)                  # list[Reading], in input order
    r = reader.read_bytes(png_bytes, name="upload.png")  # an upload: never written to disk
    r = reader.read_gray(gray)                           # an (H, W) array already in memory
    r.prediction, r.agreement, r.confidence, r.status, r.member_predictions, r.tie_break

A `Reading` never raises for a bad image: `status` is "ok" or a short reason ("empty file",
"not an image (unrecognised format)", "no digit found", "not a regular file", ...).

Modes say what one input holds: `DigitMode` (the default) reads one digit per image. A mode
is any object with `prepare(item) -> Prepared` (runs in the workers: decode, find and normalize
the K 28x28 images of one input; never raises) and `combine(readings, prepared, probs)` (runs
in the main process once per chunk: fills each ok Reading from its (M, K, C) probabilities).
`vote_into` and `vote_pooled` apply the ensemble's voting rule for them.

How the work is split: decoding and normalizing (and, on a CPU, the members themselves) run in
DataLoader worker processes, a chunk of images at a time; each worker returns the chunk's 28x28
images and the members' probabilities (M, K, C); the main process turns them into readings.
Two single-threaded workers keep two cores busier than one process with two threads.
"""
from __future__ import annotations

import math
import os
import stat
import sys
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np

IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
VIDEO_EXTS = frozenset({".mp4", ".webm", ".mov", ".mkv", ".avi", ".m4v"})   # + animated GIF/WebP
INPUT_EXTS = IMAGE_EXTS | VIDEO_EXTS
AUTO_WORKERS_MIN_ITEMS = 16     # below this a worker process costs more than it saves


# ---- what a reading is --------------------------------------------------------------------
@dataclass
class Item:
    """One input: a path found on disk (or named on the command line), or an in-memory image."""

    path: str                    # as shown to the user (the argument joined with the relative part)
    root: str = ""               # the argument it came from ("" for in-memory images)
    rel: str = ""                # path relative to root ("" for a file named directly)
    label: int | str | None = None   # true class index in a labelled folder (a digit string for numbers)
    status: str | None = None    # set when the input is already known to be unusable
    data: object = None          # bytes or an (H, W) array instead of a file (uploads, arrays)


@dataclass
class Reading:
    """The ensemble's answer for one input."""

    path: str
    status: str = "ok"                       # "ok" or why the input could not be read
    label: int | str | None = None           # true class (labelled folders); a digit string for numbers
    prediction: int | None = None            # winning class index
    agreement: int | None = None             # members that voted for the winner
    confidence: float | None = None          # mean probability of the winner over all members
    member_predictions: list[int] | None = None     # (M,) each member's own class
    tie_break: bool = False                  # the top classes tied on votes; summed confidence decided
    probs: np.ndarray | None = None          # float32 (M, C) each member's softmax, if kept ((M, K, C) for K images)
    image: np.ndarray | None = None          # uint8 (28, 28) what the networks saw, if kept ((K, 28, 28))
    root: str = ""
    rel: str = ""
    extra: dict = field(default_factory=dict)    # mode-specific results (a number's text, digits...)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class Found:
    """What `find_inputs` found: the items in order, labelled roots, folder problems."""

    items: list[Item]
    labelled: list[str] = field(default_factory=list)     # folder arguments that are labelled
    missing: list[str] = field(default_factory=list)      # arguments that do not exist
    unreadable_dirs: list[str] = field(default_factory=list)   # sub-folders that could not be listed


# ---- finding the inputs -------------------------------------------------------------------
def path_problem(path: str) -> str | None:
    """Why `path` cannot be opened as an image file, or None if it is a regular file.

    Checked with stat before anything opens it: opening a FIFO would block, a device would
    stream forever, and a dangling link or loop deserves its true name.
    """
    try:
        st = os.stat(path)                          # follows symlinks
    except FileNotFoundError:
        return "dangling symlink" if os.path.islink(path) else "no such file"
    except OSError as e:
        if e.errno == 40:                           # ELOOP
            return "symlink loop"
        if isinstance(e, PermissionError):
            return "permission denied"
        return f"cannot stat ({e.strerror or e})"
    if stat.S_ISDIR(st.st_mode):
        return "is a directory"
    if not stat.S_ISREG(st.st_mode):
        kind = ("FIFO" if stat.S_ISFIFO(st.st_mode) else "device" if stat.S_ISCHR(st.st_mode) or
                stat.S_ISBLK(st.st_mode) else "socket" if stat.S_ISSOCK(st.st_mode) else "special file")
        return f"not a regular file ({kind})"
    return None


def _walk(root: str, exts: frozenset, unreadable: list[str]) -> list[str]:
    """Image files under `root`, sorted; hidden files and folders skipped; symlinked dirs not followed."""
    found = []

    def onerror(e: OSError):
        unreadable.append(f"{e.filename}: {e.strerror or e}")

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [os.path.join(dirpath, f) for f in sorted(filenames)
                  if not f.startswith(".") and os.path.splitext(f)[1].lower() in exts]
    return found


def find_inputs(paths: Sequence[str], class_names: Sequence[str],
                exts: Iterable[str] = INPUT_EXTS) -> Found:
    """Every image or video under `paths` (files and folders, recursively), de-duplicated, labelled.

    A folder is labelled when every image in it sits in a sub-folder named after one of
    `class_names` (examples/digits/3/x.png). A path that does not exist, or is a FIFO, device,
    dangling symlink or symlink loop, becomes an item with that reason as its status, so it gets
    a row and the run goes on. Sub-folders that cannot be listed are collected in
    `unreadable_dirs`.
    """
    exts = frozenset(e.lower() for e in exts)
    out = Found(items=[])
    seen: set[str] = set()
    for root in paths:
        root = os.fsdecode(root)
        if os.path.isdir(root):                     # follows a symlink to a folder named directly
            found = _walk(root, exts, out.unreadable_dirs)
            parents = [os.path.basename(os.path.dirname(os.path.relpath(f, root))) for f in found]
            labelled = bool(found) and all(p in class_names for p in parents)
            if labelled:
                out.labelled.append(root)
            for f, parent in zip(found, parents):
                key = os.path.realpath(f)
                if key not in seen:
                    seen.add(key)
                    out.items.append(Item(f, root, os.path.relpath(f, root),
                                          list(class_names).index(parent) if labelled else None))
            continue
        problem = path_problem(root)
        if problem == "no such file":
            out.missing.append(root)
        key = os.path.realpath(root)
        if problem is None and key in seen:
            continue
        seen.add(key)
        out.items.append(Item(root, root, "", None, problem))
    return out


# ---- modes: how an input becomes 28x28 images, and how their votes become one reading ------
@dataclass
class Prepared:
    """What a worker made of one input: its network inputs and what the mode needs later."""

    status: str                                   # "ok" or why the input could not be used
    images: np.ndarray                            # uint8 (K, 28, 28); K = 0 when not ok
    info: dict = field(default_factory=dict)      # mode-specific, picklable (boxes, frame times...);
                                                  # "selected": indices of the images to keep (set by combine)


def decode_gray(item: Item, max_side: int | None = None,
                with_size: bool = False) -> np.ndarray | tuple[np.ndarray, tuple[int, int] | None]:
    """The item's pixels as (H, W) grayscale: a file (checked with stat first), bytes or an array.

    max_side: decode files and bytes at most this big (default: load_gray's); arrays come back
    as they are. with_size: `(gray, (H, W))`, the source's size as oriented (None for an array).
    Raises ImageError (a ValueError) with a short reason.
    """
    from .normalize import load_gray
    if isinstance(item.data, np.ndarray):
        return (item.data, None) if with_size else item.data
    kw = {"with_size": with_size} if max_side is None else {"max_side": max_side, "with_size": with_size}
    if item.data is not None:
        return load_gray(item.data, **kw)             # bytes / file-like: decoded in memory
    check_path(item)
    return load_gray(item.path, **kw)


def check_path(item: Item) -> None:
    """Raise ImageError if the item's file cannot be opened as a regular file (FIFO, device...)."""
    from .normalize import ImageError
    problem = None if item.data is not None else path_problem(item.path)
    if problem is not None:
        raise ImageError("file not found (vanished?)" if problem == "no such file" else problem)


def failure_reason(e: BaseException) -> str:
    """A one-line status for an input that could not be read (what the status column shows)."""
    if isinstance(e, MemoryError):
        return "out of memory while decoding"
    if isinstance(e, ValueError):                     # ImageError: a reason fit for a status column
        return " ".join(str(e).split())
    return " ".join(f"unexpected error: {type(e).__name__}: {e}".split())


class DigitMode:
    """One digit per image (the default): normalize the whole image, one vote.

    A video (or animated GIF/WebP) is one digit being written: the finished, still frames are
    read (at most `max_frames` decoded per clip) and voted on together (ensemble/video.py);
    `timeline` also reads every sampled frame, for Reading.extra["timeline"].
    """

    name = "digit"

    def __init__(self, max_frames: int | None = None, timeline: bool = False):
        from .video import MAX_FRAMES
        if max_frames is not None and max_frames < 1:
            raise ValueError("max_frames must be at least 1")
        self.max_frames, self.timeline = max_frames or MAX_FRAMES, timeline

    def prepare(self, item: Item) -> Prepared:
        """Runs in the worker processes; never raises."""
        from .normalize import normalize_digit
        from .video import is_video, prepare_clip
        if item.status is not None:
            return Prepared(item.status, np.zeros((0, 28, 28), np.uint8))
        try:
            check_path(item)                          # before anything opens it (FIFOs block)
            if is_video(item):                        # K frames, info["video"]
                return prepare_clip(item, self.max_frames, self.timeline)
            return Prepared("ok", normalize_digit(decode_gray(item))[None])       # (1, 28, 28)
        except Exception as e:                        # nothing about one image may stop the run
            return Prepared(failure_reason(e), np.zeros((0, 28, 28), np.uint8))

    def combine(self, readings: list["Reading"], prepared: list[Prepared], probs: list[np.ndarray]) -> None:
        """Fill each reading from its members' probabilities (M, K, C), a chunk at a time.

        Images (K = 1) are one vectorised vote on (M, B, C); clips vote over members x frames.
        """
        from .video import combine_clip
        images = [k for k, p in enumerate(prepared) if not p.info.get("video")]
        if images:
            vote_into([readings[k] for k in images], np.concatenate([probs[k] for k in images], axis=1))
        for r, p, pr in zip(readings, prepared, probs):
            if p.info.get("video"):
                combine_clip(r, p, pr)


def vote_into(readings: list["Reading"], probs: np.ndarray) -> None:
    """One vote per reading on (M, B, C) probabilities: fills prediction, agreement,
    confidence, member_predictions and tie_break of readings[b] from probs[:, b]."""
    import torch
    from .voting import vote_details
    v = vote_details(torch.from_numpy(np.ascontiguousarray(probs)))
    member = v.member_predictions.numpy()                                    # (M, B)
    counts = np.zeros((probs.shape[2], member.shape[1]), np.int64)           # (C, B) votes per class
    np.add.at(counts, (member, np.arange(member.shape[1])), 1)
    tied = (counts == counts.max(0)).sum(0) > 1                             # (B,) top classes tied
    pred, agree, conf = v.prediction.tolist(), v.agreement.tolist(), v.confidence.tolist()
    for b, r in enumerate(readings):
        r.prediction, r.agreement, r.confidence = pred[b], agree[b], conf[b]
        r.member_predictions = member[:, b].tolist()
        r.tie_break = bool(tied[b])


def vote_pooled(r: "Reading", probs: np.ndarray) -> None:
    """One vote over all M*K votes of one input (members x images, e.g. video frames), same
    rule as for one image; each member's own column is that member's vote over its K images.

    `agreement` counts members (as for one image, out of M): those whose own vote over their
    K images is the winner; `confidence` is the winner's mean probability over all M*K."""
    M, K, C = probs.shape
    vote_into([r], probs.reshape(M * K, 1, C))
    per_member = [Reading(r.path) for _ in range(M)]
    for m, pm in enumerate(per_member):
        vote_into([pm], probs[m][:, None, :])                                # (K, 1, C)
    r.member_predictions = [pm.prediction for pm in per_member]
    r.extra["votes"], r.extra["votes_total"] = r.agreement, M * K       # the pooled count
    r.agreement = sum(p == r.prediction for p in r.member_predictions)


def prepare(item: Item) -> tuple[np.ndarray, str]:
    """Single-digit preparation of one input: (uint8 (28, 28), "ok") or (zeros, reason)."""
    p = DigitMode().prepare(item)
    return (p.images[0] if p.status == "ok" else np.zeros((28, 28), np.uint8)), p.status


class _Chunks:
    """Map-style dataset of chunks: k -> {"prepared": [Prepared] (B,), "start": int, "probs":
    float32 (M, sum K, C) over the chunk's readable images when the workers vote, else None}."""

    def __init__(self, items: list[Item], mode, chunk: int, max_pixels: int | None, ensemble=None):
        self.items, self.mode, self.chunk = items, mode, chunk
        self.max_pixels, self.ensemble = max_pixels, ensemble

    def __len__(self):
        return math.ceil(len(self.items) / self.chunk)

    def __getitem__(self, k):
        start = k * self.chunk
        prepared = [self.mode.prepare(item) for item in self.items[start:start + self.chunk]]
        probs = None
        if self.ensemble is not None:
            probs = _predict(self.ensemble, prepared)
        return {"prepared": prepared, "start": start, "probs": probs}

    def worker_init(self, _worker_id):
        set_pixel_limit(self.max_pixels)


def _predict(ensemble, prepared: list[Prepared]) -> np.ndarray | None:
    """The members' probabilities (M, sum K, C) for every readable input's images, in order."""
    images = [p.images for p in prepared if p.status == "ok" and len(p.images)]
    if not images:
        return None
    return ensemble.predict_proba(np.concatenate(images)).numpy()


def set_pixel_limit(limit: int | None) -> None:
    """Pillow's decompression-bomb limit (pixels); None keeps Pillow's default.

    The limit is process-wide (Pillow's design): worker processes set it at start; reading in
    the calling process (workers=0, a server's threads) sets it for that whole process.
    """
    from PIL import Image
    if limit is not None:
        Image.MAX_IMAGE_PIXELS = limit


def pixel_limit_from_env() -> int | None:
    """$VOTE_MAX_IMAGE_PIXELS, validated (ValueError with a clear message)."""
    raw = os.environ.get("VOTE_MAX_IMAGE_PIXELS")
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"VOTE_MAX_IMAGE_PIXELS must be a positive integer, got {raw!r}")
    return value


def max_workers(n_items: int) -> int:
    """More worker processes than CPUs or images only costs memory and start-up time."""
    return max(0, min(os.cpu_count() or 1, n_items))


def _collate(x):          # chunks are already batches: keep numpy arrays as they are
    return x


class Reader:
    """Reads images with an `Ensemble`: decode, MNIST-style normalization, the members' vote.

    mode: how an input becomes 28x28 images and how their votes become one Reading (default
    DigitMode: one digit per image). workers: decoding processes (None: auto, none for <= 16
    images, else min(2, CPUs)); always capped at the number of CPUs and of images.
    keep_images / keep_probs: keep each reading's 28x28 inputs (K, 28, 28) / the members'
    probabilities (M, K, C) on the Reading (K = 1 for a single digit: .image is (28, 28)).
    """

    def __init__(self, ensemble, *, mode=None, workers: int | None = None, batch_size: int = 256,
                 max_pixels: int | None = None, keep_images: bool = False, keep_probs: bool = False):
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if workers is not None and workers < 0:
            raise ValueError("workers must be 0 or more")
        self.ensemble, self.workers, self.batch_size = ensemble, workers, batch_size
        self.mode = mode if mode is not None else DigitMode()
        self.max_pixels, self.keep_images, self.keep_probs = max_pixels, keep_images, keep_probs

    def effective_workers(self, n_items: int, workers: int | None = None) -> int:
        """Worker processes for `n_items` inputs: auto or as asked, capped by CPUs and items."""
        workers = self.workers if workers is None else workers
        if workers is None:
            workers = 0 if n_items <= AUTO_WORKERS_MIN_ITEMS else min(2, os.cpu_count() or 1)
        return min(workers, max_workers(n_items))

    # ---- in-memory inputs (the HTTP API, notebooks) ---------------------------------------
    def read_bytes(self, data: bytes, name: str = "upload") -> Reading:
        """One encoded image held in memory (PNG/JPEG/... bytes); never touches the disk."""
        return self.read([Item(name, data=bytes(data))], workers=0)[0]

    def read_gray(self, gray, name: str = "array") -> Reading:
        """One (H, W) grayscale array: uint8, or float in [0, 1]."""
        return self.read([Item(name, data=np.asarray(gray))], workers=0)[0]

    # ---- in two steps: prepare (any thread), then vote (one forward pass for all) ----------
    def prepare(self, items: Sequence[Item]) -> list[Prepared]:
        """Decode and normalize `items` in the calling thread (the mode's `prepare`); never raises.

        With `vote_prepared` this splits `read` in two, so that a server can prepare each
        request in its own thread and vote on many requests' inputs in one forward pass
        (`ensemble.batching.Batcher`).
        """
        set_pixel_limit(self.max_pixels)
        return [self.mode.prepare(item) for item in items]

    def vote_prepared(self, items: Sequence[Item], prepared: Sequence[Prepared]) -> list[Reading]:
        """One forward pass over every readable input of `prepared` (from `prepare`), then the
        mode's vote: one Reading per item, in order, exactly as `read` would give."""
        items, prepared = list(items), list(prepared)
        if len(items) != len(prepared):
            raise ValueError(f"{len(items)} items but {len(prepared)} prepared inputs")
        out: list[Reading | None] = [None] * len(items)
        if items:
            self._finish({"prepared": prepared, "start": 0, "probs": None}, items, out, None)
        return out                                                       # type: ignore[return-value]

    # ---- any items ---------------------------------------------------------------------------
    def read(self, items: Sequence[Item], *, workers: int | None = None, progress: bool = False,
             on_problem: Callable[[Reading], None] | None = None) -> list[Reading]:
        """Read `items` (from `find_inputs`, or made by hand): one Reading each, in order.

        progress: a tqdm bar on stderr (only on a terminal). on_problem: called with each
        unreadable Reading as soon as it is known (vote.py prints a line).
        """
        from torch.utils.data import DataLoader
        from tqdm import tqdm

        items = list(items)
        n = len(items)
        out: list[Reading | None] = [None] * n
        if n == 0:
            return []
        workers = self.effective_workers(n, workers)
        ens = self.ensemble
        # chunks small enough that every worker gets several, big enough to batch the members well
        chunk = max(1, min(self.batch_size, math.ceil(n / (4 * max(1, workers)))))
        vote_in_workers = workers > 0 and ens.device.type == "cpu"
        if workers == 0:
            set_pixel_limit(self.max_pixels)
        else:                            # a worker that reconfigures a pool the parent ran hangs
            from .morph import one_thread
            one_thread()
        data = _Chunks(items, self.mode, chunk, self.max_pixels, ens if vote_in_workers else None)
        loader = DataLoader(data, batch_size=None, num_workers=workers, collate_fn=_collate,
                            worker_init_fn=data.worker_init if workers else None)
        bar = tqdm(total=n, unit="img", file=sys.stderr, disable=None if progress else True,
                   delay=1.0, dynamic_ncols=True)
        try:
            for part in loader:
                self._finish(part, items, out, on_problem)
                bar.update(len(part["prepared"]))
        finally:
            bar.close()
        return out                                                       # type: ignore[return-value]

    def _finish(self, part: dict, items: list[Item], out: list, on_problem) -> None:
        """Turn one chunk's prepared inputs + probabilities into Readings at their positions."""
        prepared, start, probs = part["prepared"], part["start"], part["probs"]
        if probs is None:
            probs = _predict(self.ensemble, prepared)                     # (M, sum K, C) or None
        M, C = len(self.ensemble), len(self.ensemble.class_names)
        offset, done = 0, []                              # done: (reading, prepared, (M, K, C)) of ok inputs
        for k, p in enumerate(prepared):
            it = items[start + k]
            r = out[start + k] = Reading(it.path, p.status, it.label, root=it.root, rel=it.rel)
            if p.status == "ok":
                K = len(p.images)                         # a mode may find nothing (K = 0): it says how
                done.append((r, p, probs[:, offset:offset + K] if K else np.zeros((M, 0, C), np.float32)))
                offset += K
        if done:
            self.mode.combine(*map(list, zip(*done)))
        for r, p, mine in done:
            sel = p.info.get("selected")              # a mode may keep only the images of its answer
            if sel is not None:
                mine, images = mine[:, sel], p.images[sel]
            else:
                images = p.images
            if self.keep_probs:
                r.probs = mine[:, 0].copy() if mine.shape[1] == 1 else mine.copy()
            if self.keep_images:
                r.image = images[0].copy() if len(images) == 1 else images.copy()
        if on_problem is not None:
            for r in out[start:start + len(prepared)]:
                if not r.ok:
                    on_problem(r)


# ---- rows: one record per reading, shared by vote.py's outputs and the HTTP API ------------
ROW_COLUMNS = ("path", "prediction", "agreement", "confidence", "status", "review", "label")


def review_flag(r: Reading, min_agreement: int | None) -> str:
    """"yes" when fewer than `min_agreement` members agree, "no" otherwise, "" when unread."""
    if not r.ok:
        return ""
    return "yes" if min_agreement and r.agreement < min_agreement else "no"


def row_record(r: Reading, class_names: Sequence[str], member_names: Sequence[str],
               min_agreement: int | None = None, include_probs: bool = False) -> dict:
    """The JSON record of one reading (vote.py --format json, POST /api/vote).

    Class indices are numbers (`prediction`, `label`, `members`), with their names alongside
    (`class_name`, `label_name`); `agreement` counts the members out of `members_total`.
    """
    name = (lambda k: None if k is None else class_names[k])
    rec = {"path": r.path, "status": r.status,
           "prediction": r.prediction, "class_name": name(r.prediction),
           "agreement": r.agreement, "members_total": len(member_names),
           "confidence": None if r.confidence is None else round(r.confidence, 4),
           "tie_break": r.tie_break if r.ok else None,
           "review": review_flag(r, min_agreement),
           "label": r.label, "label_name": name(r.label),
           "members": (dict(zip(member_names, r.member_predictions)) if r.ok else None)}
    rec.update(r.extra.get("record", {}))           # mode-specific fields (a clip's frames span)
    if include_probs:
        probs = r.probs
        if probs is not None and probs.ndim == 3:      # (M, K, C): the mean over the images voted on
            probs = probs[:, r.extra.get("voted_cols", slice(None))].mean(1)
        rec["member_probs"] = None if probs is None else member_probs_record(probs, member_names)
    return rec


def member_probs_record(probs, member_names: Sequence[str]) -> dict[str, list[float]]:
    """Each member's probabilities (M, C) as JSON: {member: [p per class, 5 decimals]}."""
    return {m: [round(float(p), 5) for p in row] for m, row in zip(member_names, probs)}
