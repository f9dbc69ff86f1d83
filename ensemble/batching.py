"""Many callers, one forward pass: a dynamic batcher over `Reader`, for servers.

    from ensemble.batching import Batcher
    batcher = Batcher(Reader(ens, keep_images=True, keep_probs=True))
    readings = batcher.read([Item("a.png", data=png_bytes)])    # from any thread; blocks
    fut = batcher.submit(items, batcher.prepare(items))         # a concurrent.futures.Future
    batcher.close()

Each caller decodes and normalizes its own inputs in its own thread (`Reader.prepare`: Pillow,
NumPy and SciPy release the GIL for most of it), at most `max_decoding` callers at a time, so a
burst of large photos never holds more than a few decoded images in memory. One voting thread
takes every input queued since its last pass (up to `max_batch` inputs) and runs the members
once on all of them (`Reader.vote_prepared`). Under load, the requests that arrive while the
members are busy ride together in the next pass; an idle server adds no waiting at all.
The readings are exactly those `Reader.read` gives: same decoding, normalization and vote.
"""
from __future__ import annotations

import os
import queue
import threading
from concurrent.futures import Future
from typing import Sequence

from .reading import Item, Prepared, Reader, Reading

_STOP = object()


class Batcher:
    """Groups concurrent callers' inputs into shared forward passes of `reader`'s ensemble."""

    def __init__(self, reader: Reader, max_batch: int = 256, max_decoding: int | None = None):
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.reader, self.max_batch = reader, max_batch
        self._decoding = threading.BoundedSemaphore(max_decoding or os.cpu_count() or 1)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self.passes = 0          # forward passes run so far
        self.inputs = 0          # inputs voted on so far (inputs / passes = mean batch)
        self._thread = threading.Thread(target=self._run, name="ensemble-batcher", daemon=True)
        self._thread.start()

    # ---- callers ----------------------------------------------------------------------------
    def prepare(self, items: Sequence[Item]) -> list[Prepared]:
        """Decode + normalize in the calling thread (bounded concurrency); never raises."""
        with self._decoding:
            return self.reader.prepare(items)

    def submit(self, items: Sequence[Item], prepared: Sequence[Prepared] | None = None) -> Future:
        """Queue `items` for the next forward pass; the Future resolves to their Readings."""
        items = list(items)
        prepared = self.prepare(items) if prepared is None else list(prepared)
        if len(prepared) != len(items):
            raise ValueError(f"{len(items)} items but {len(prepared)} prepared inputs")
        fut: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self._queue.put((items, prepared, fut))
        return fut

    def read(self, items: Sequence[Item]) -> list[Reading]:
        """Prepare and vote, blocking until this caller's readings are ready."""
        return self.submit(items).result()

    def close(self) -> None:
        """Finish what is queued, then stop the voting thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- the voting thread --------------------------------------------------------------------
    def _run(self) -> None:
        held = None                                   # a job that did not fit in the last pass
        while True:
            job = held if held is not None else self._queue.get()
            held = None
            if job is _STOP:
                return
            jobs, n = [job], len(job[0])
            while n < self.max_batch:                 # everything that queued up meanwhile
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP or n + len(nxt[0]) > self.max_batch:
                    held = nxt
                    break
                jobs.append(nxt)
                n += len(nxt[0])
            self._vote(jobs)

    def _vote(self, jobs: list) -> None:
        jobs = [j for j in jobs if j[2].set_running_or_notify_cancel()]     # drop cancelled callers
        if not jobs:
            return
        items = [it for j in jobs for it in j[0]]
        prepared = [p for j in jobs for p in j[1]]
        try:
            readings = self.reader.vote_prepared(items, prepared)
        except BaseException as e:                    # a failed pass fails its callers, not the thread
            for j in jobs:
                j[2].set_exception(e)
            return
        self.passes += 1
        self.inputs += len(items)
        start = 0
        for its, _, fut in jobs:
            fut.set_result(readings[start:start + len(its)])
            start += len(its)
