"""Video inputs: decode a bounded sample of frames, find where the drawing is finished and
still, and read those frames with the same normalization and vote as images.

    from ensemble.video import decode_clip, choose_still, final_frames
    clip = decode_clip("clip.mp4")                 # uint8 (N, H, W) gray frames, N <= 64, + times
    choice = choose_still(clip.frames, clip.times) # the last still run: which frames to read
    grays, times, clip, choice = final_frames("clip.mp4")   # just the frames to read

How a clip is read (DigitMode calls `prepare_clip` in the workers and `combine_clip` once the
members have voted):
1. decode: PyAV (FFmpeg inside its wheels) for .mp4 .webm .mov .mkv .avi .m4v; Pillow for
   animated GIF/WebP (a one-frame GIF/WebP stays on the image path). At most `max_frames`
   frames (default 64) are kept, sampled evenly in time over the clip and always including the
   last one; each is converted to gray (the luma plane) and shrunk by a whole factor to about
   384 px (frames not kept are never converted). A stream whose declared frame size exceeds the pixel limit is
   refused before a frame is decoded, as image bombs are. Clips longer than 16 x max_frames
   frames are sampled by seeking instead of decoding every frame.
2. choose: each kept frame is shrunk to ~96 px, divided by its median (the paper: lighting
   drift cancels) and blurred (camera shake and paper texture fade); consecutive frames that
   differ by less than STILL_CHANGE at every pixel form a still run. Runs lasting
   >= MIN_STILL_S are the candidates; the LAST one in which a digit is found is read.
   So a hand or pen passing over the paper at the end (moving: not still) does not decide the
   answer; the finished drawing before (or after) it does. If no frame is ever still, the last
   frames are read and the span says so.
3. read: the last frames of that run (at most READ_FRAMES, within READ_S seconds) go through
   `normalize_digit` and the members; one vote over members x frames (`vote_pooled`), the
   ensemble's rule: majority first, then summed confidence.

The still-frame thresholds were tuned on clips rendered from the MNIST validation split
(training images 55,000-59,999) by benchmarks/video.py --split val, never on test clips.
"""
from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np

from .reading import IMAGE_EXTS, VIDEO_EXTS   # .mp4 .webm .mov .mkv .avi .m4v

ANIMATED_EXTS = frozenset({".gif", ".webp"})          # video only when they hold several frames
MAX_FRAMES = 64              # frames kept per clip, sampled over its length
SEEK_AFTER = 16              # longer than SEEK_AFTER x max_frames frames: seek, don't decode all
STILL_SIDE = 96              # still-detection works on frames this big (longest side)
STILL_SIGMA = 1.0            # px at STILL_SIDE: shake and paper texture blur away
STILL_CHANGE = 0.10          # max change (relative to the paper's brightness) of a still frame:
                             # on val clips still frames stay <= 0.08 (camera shake), a hand >= 0.3
MIN_STILL_S = 0.2            # a still run lasts at least this long (unless the clip is shorter)
READ_FRAMES = 3              # frames read from the chosen run (its last ones) ...
READ_S = 0.3                 # ... all within its last READ_S seconds

# container signatures, for inputs that are not named by a video extension (uploads, no suffix)
_MAGIC = ((4, b"ftyp"), (4, b"moov"), (4, b"mdat"), (4, b"wide"),       # ISO-BMFF / QuickTime
          (0, b"\x1a\x45\xdf\xa3"), (0, b"YUV4MPEG2"))                     # Matroska/WebM, y4m


class VideoError(ValueError):
    """A clip could not be used; str(e) is a short reason fit for a status column."""


@dataclass
class Clip:
    """The kept frames of one clip."""

    frames: np.ndarray           # uint8 (N, H, W) gray, longest side <= max_side
    times: np.ndarray            # float64 (N,) seconds from the first frame
    duration: float | None       # declared duration (s), if the container says
    decoded: int                 # frames the decoder produced (the work done)
    size: tuple[int, int]        # declared frame size (W, H)


@dataclass
class Choice:
    """Which frames to read: `read` indexes the clip's frames; `still` False if none was."""

    read: list[int]
    still: bool
    change: np.ndarray           # float32 (N,) each frame's change from the previous one
    runs: list[tuple[int, int]]  # candidate still runs (first, last), in time order


# ---- is it a video? -----------------------------------------------------------------------
def _head(item) -> bytes:
    if isinstance(item.data, (bytes, bytearray, memoryview)):
        return bytes(item.data[:16])
    if item.data is not None:
        return b""
    try:
        with open(item.path, "rb") as f:
            return f.read(16)
    except OSError:
        return b""


def is_animated_image(source) -> bool:
    """An animated GIF/WebP (more than one frame); False for anything else or unreadable."""
    from PIL import Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as img:
                return img.format in ("GIF", "WEBP") and bool(getattr(img, "is_animated", False))
    except Exception:
        return False


def is_video(item) -> bool:
    """Should `item` be read as a clip? By extension, else by the container's signature;
    GIF/WebP only when animated. In-memory arrays never are."""
    if isinstance(item.data, np.ndarray):
        return False
    ext = os.path.splitext(item.path)[1].lower()
    if item.data is None:
        if ext in VIDEO_EXTS:
            return True
        if ext in IMAGE_EXTS - ANIMATED_EXTS:       # no need to open every photo twice
            return False
    head = _head(item)
    if head[:6] in (b"GIF87a", b"GIF89a") or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return is_animated_image(bytes(item.data) if item.data is not None else item.path)
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return True
    return any(head[o:o + len(m)] == m for o, m in _MAGIC)


# ---- decoding -----------------------------------------------------------------------------
def _pixel_limit(max_pixels: int | None) -> int | None:
    if max_pixels is not None:
        return max_pixels
    from PIL import Image
    return Image.MAX_IMAGE_PIXELS          # the image path's limit ($VOTE_MAX_IMAGE_PIXELS too)


def decode_clip(source, max_frames: int = MAX_FRAMES, max_side: int | None = None,
                max_pixels: int | None = None) -> Clip:
    """Decode at most `max_frames` frames of a clip (a path or encoded bytes), sampled evenly
    in time and always including the last frame, as gray uint8 shrunk to about max_side px.

    Raises VideoError with a short reason: not a video, no video stream (audio only), no
    frames, too large (declared frame size over the pixel limit), corrupt or truncated.
    """
    from .normalize import WORK_SIZE
    if max_frames < 1:
        raise ValueError("max_frames must be at least 1")
    max_side = max_side or WORK_SIZE
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise VideoError("empty file")
        data = bytes(source)
    else:
        if os.path.getsize(source) == 0:
            raise VideoError("empty file")
        data = None
    if data is None:
        with open(source, "rb") as f:
            head = f.read(16)
    else:
        head = data[:16]
    if head[:6] in (b"GIF87a", b"GIF89a") or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return _decode_pillow(io.BytesIO(data) if data is not None else source, max_frames, max_side)
    return _decode_av(io.BytesIO(data) if data is not None else source, max_frames, max_side,
                      _pixel_limit(max_pixels))


def _av_reason(e: Exception) -> str:
    text = " ".join(str(getattr(e, "strerror", None) or e).split()).rstrip(".")
    return text or type(e).__name__


def _decode_av(src, max_frames: int, max_side: int, max_pixels: int | None) -> Clip:
    import av
    try:
        container = av.open(src, mode="r", metadata_errors="ignore")
    except av.error.InvalidDataError:
        raise VideoError("not a video (unrecognised or truncated container)") from None
    except av.error.EOFError:                  # the headers end before any frame
        raise VideoError("no frames (empty or truncated video)") from None
    except (av.FFmpegError, OSError) as e:
        raise VideoError(f"corrupt or truncated video ({_av_reason(e)})") from None
    with container:
        if not container.streams.video:
            raise VideoError("no video stream (audio only)" if container.streams.audio else "no video stream")
        stream = container.streams.video[0]
        w, h = stream.codec_context.width, stream.codec_context.height
        if max_pixels and w * h > max_pixels:     # before a single frame is decoded
            raise VideoError(f"video too large, refused ({w}x{h} pixels per frame declared, "
                             f"limit {max_pixels})")
        stream.thread_type = "AUTO"
        tb = stream.time_base
        duration = (float(stream.duration * tb) if stream.duration and tb else
                    container.duration / 1e6 if container.duration else None)
        # the container's duration may be another stream's (a longer audio track): only the
        # video stream's own, or a lone stream's, can prove the file truncated
        sure = bool(stream.duration and tb) or len(container.streams) == 1
        rate = float(stream.average_rate or stream.guessed_rate or 0) or None
        expected = stream.frames or (round(duration * rate) if duration and rate else 0)
        try:
            if expected > SEEK_AFTER * max_frames and duration and rate:
                kept, decoded = _sample_by_seeking(container, stream, max_frames, max_side,
                                                   duration, rate, max_pixels)
            else:
                kept, decoded = _sample_in_order(container, stream, max_frames, max_side,
                                                 duration, rate, expected, max_pixels)
        except VideoError:
            raise
        except MemoryError:
            raise VideoError("out of memory while decoding") from None
        except (av.FFmpegError, OSError, ValueError) as e:
            raise VideoError(f"corrupt or truncated video ({_av_reason(e)})") from None
    if not kept:
        raise VideoError("no frames (empty video)")
    times = np.array([t for t, _ in kept], np.float64)
    times -= times[0]
    last = times[-1] + (1 / rate if rate else 0)
    if sure and duration and last < 0.9 * duration - 0.2:
        raise VideoError(f"truncated video (frames end at {last:.2f} s of {duration:.2f} s declared)")
    return Clip(np.stack([a for _, a in kept]), times, duration, decoded, (w, h))


_LUMA_FIRST = ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12",
               "nv21", "gray", "yuv410p", "yuv411p", "yuv440p", "yuvj440p")   # 8-bit, Y plane first


_TV_TO_FULL = np.clip(np.rint((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)


def _gray(frame, max_side: int, max_pixels: int | None) -> np.ndarray:
    """One decoded frame -> uint8 (H, W) gray, shrunk by a whole factor to about max_side.

    The luma plane of 8-bit YUV frames (nearly all video) is taken as it is and box-reduced
    (Pillow's reduce: ~0.3 ms for 480p); other formats go through FFmpeg's scaler. Converting
    every sampled frame to RGB and resizing it with a sharp filter costs ~10x more.
    """
    from PIL import Image
    w, h = frame.width, frame.height
    if max_pixels and w * h > max_pixels:                     # a stream may change size
        raise VideoError(f"video too large, refused ({w}x{h} frame)")
    f = max(1, round(max(w, h) / max_side))
    if frame.format.name in _LUMA_FIRST:
        plane = frame.planes[0]
        y = np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:h, :w]   # (H, W) luma
        g = np.asarray(Image.fromarray(y).reduce(f)) if f > 1 else y.copy()
        if frame.format.name != "gray" and not frame.format.name.startswith("yuvj") and frame.color_range != 2:
            g = _TV_TO_FULL[g]                     # limited ("TV") range 16..235 -> 0..255
    else:
        g = frame.reformat(width=max(1, w // f), height=max(1, h // f), format="gray",
                           interpolation="AREA").to_ndarray()
    rot = round((getattr(frame, "rotation", 0) or 0) / 90) % 4     # phones: display matrix, ccw
    return np.ascontiguousarray(np.rot90(g, rot)) if rot else g


def _frames(container, stream):
    """The stream's decoded frames; an end-of-file error at the end is just the end."""
    import av
    it = container.decode(stream)
    while True:
        try:
            yield next(it)
        except (StopIteration, av.error.EOFError):
            return


def _frame_time(frame, n: int, rate: float | None) -> float:
    t = frame.time
    return float(t) if t is not None else n / (rate or 30.0)


def _sample_in_order(container, stream, max_frames, max_side, duration, rate, expected, max_pixels):
    """Decode every frame, keep <= max_frames: evenly by time when the length is known, else
    by halving the kept set whenever it doubles (length unknown: live recordings). Past
    SEEK_AFTER x max_frames decoded frames of an unknown-length stream, only key frames are
    decoded (bounded work); the final frame is always kept."""
    keep_all = 0 < expected <= max_frames
    know_length = bool(duration and rate) and not keep_all
    if know_length:                          # K-1 targets over the clip + the final frame
        span = max(0.0, duration - 1 / rate)
        targets = span * np.arange(max_frames - 1) / max(1, max_frames - 1)
        tol = 0.5 / rate
    kept, stride, t0, k, decoded, last = [], 1, None, 0, 0, None
    for frame in _frames(container, stream):
        t = _frame_time(frame, decoded, rate)
        t0 = t if t0 is None else t0
        decoded += 1
        last, last_t, last_kept = frame, t, False
        if keep_all:
            take = True
        elif know_length:
            take = k < len(targets) and t - t0 >= targets[k] - tol
            while k < len(targets) and t - t0 >= targets[k] - tol:
                k += 1
        else:
            take = (decoded - 1) % stride == 0
        if take:
            kept.append((t, _gray(frame, max_side, max_pixels)))
            last_kept = True
            if not keep_all and not know_length and len(kept) >= 2 * max_frames:
                kept, stride = kept[::2], stride * 2
        if not know_length and decoded == SEEK_AFTER * max_frames:
            stream.codec_context.skip_frame = "NONKEY"
    if last is not None and not last_kept:
        kept.append((last_t, _gray(last, max_side, max_pixels)))
    if len(kept) > max_frames:               # unknown length: thin evenly, keep the final frame
        idx = np.unique(np.round(np.linspace(0, len(kept) - 1, max_frames)).astype(int))
        kept = [kept[i] for i in idx]
    return kept, decoded


def _sample_by_seeking(container, stream, max_frames, max_side, duration, rate, max_pixels):
    """Long clips: for each of max_frames times, seek (to the key frame before it) when it lies
    more than a second ahead, and decode forward to it; the work then grows with the number of
    samples times the key-frame spacing, not with the clip's length. A stream whose key frames
    are too sparse for this (a seek lands behind where we were) is decoded on without seeking."""
    tb = stream.time_base
    start = stream.start_time or 0
    targets = (duration - 1 / rate) * np.arange(max_frames) / max(1, max_frames - 1)
    kept, decoded, pos, seeking, frames = [], 0, -math.inf, True, None
    for target in targets:
        jumped = frames is None or (seeking and target - pos > 1.0)
        if jumped:
            container.seek(start + int(target / tb), stream=stream, backward=True)
            frames = _frames(container, stream)
        got = None
        for frame in frames:
            decoded += 1
            t = _frame_time(frame, decoded, rate) - float(start * tb)
            if jumped and t <= pos:            # the key frame lies behind us: seeking does not pay
                seeking = False
            jumped = False
            pos, got = t, frame
            if t >= target - 0.5 / rate:
                break
        if got is None:                        # the stream ended early
            break
        if not kept or pos > kept[-1][0]:
            kept.append((pos, _gray(got, max_side, max_pixels)))
    return kept, decoded


def _decode_pillow(src, max_frames: int, max_side: int) -> Clip:
    """Animated GIF/WebP through Pillow (its decoders handle both; FFmpeg's lack animated
    WebP), sampled like a video; frame times from each frame's duration."""
    from PIL import Image, ImageSequence
    from .normalize import _to_gray          # the image path's conversion (transparency, palettes)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(src) as img:
                n = getattr(img, "n_frames", 1)
                pick = set(np.round(np.linspace(0, n - 1, min(n, max_frames))).astype(int).tolist())
                kept, t = [], 0.0
                for i, frame in enumerate(ImageSequence.Iterator(img)):
                    frame.load()                  # WebP sets this frame's duration on load
                    shown = max(frame.info.get("duration", 100) or 100, 10) / 1000   # browsers: >= 10 ms
                    if i in pick:
                        g = np.rint(_to_gray(frame.copy(), max_side) * 255).astype(np.uint8)   # (H, W)
                        kept.append((t, g))
                        if shown >= MIN_STILL_S:  # one frame shown long (encoders merge repeats):
                            kept.append((t + shown - 0.01, g))    # still from its start to its end
                    t += shown
                size = img.size
                if len(kept) > max_frames:
                    idx = np.unique(np.round(np.linspace(0, len(kept) - 1, max_frames)).astype(int))
                    kept = [kept[i] for i in idx]
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise VideoError(f"animation too large, refused as a decompression bomb ({str(e).split('. ')[0]})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise VideoError(f"corrupt or truncated animation ({str(e).split('. ')[0] or type(e).__name__})") from None
    if not kept:
        raise VideoError("no frames (empty animation)")
    if len({a.shape for _, a in kept}) > 1:
        raise VideoError("corrupt animation (frames of different sizes)")
    return Clip(np.stack([a for _, a in kept]), np.array([tt for tt, _ in kept], np.float64), t, n, size)


# ---- where is the drawing finished and still? ---------------------------------------------
def frame_changes(frames: np.ndarray) -> np.ndarray:
    """float32 (N,): the largest change of each frame from the previous one (0 for the first),
    relative to the paper's brightness, after shrinking to ~STILL_SIDE px and a light blur."""
    from scipy import ndimage as ndi
    n, h, w = frames.shape
    f = max(1, math.ceil(max(h, w) / STILL_SIDE))
    hh, ww = h // f * f, w // f * f
    small = frames[:, :hh, :ww].reshape(n, hh // f, f, ww // f, f).mean((2, 4), dtype=np.float32)
    # (N,) the paper's brightness: changes are relative to it, so a dimming light cancels; the
    # floor keeps a dark background (light ink on black) from amplifying the codec's noise
    paper = np.maximum(np.median(small.reshape(n, -1), axis=1), 64.0)
    small = ndi.gaussian_filter(small / paper[:, None, None], (0, STILL_SIGMA, STILL_SIGMA))
    change = np.zeros(n, np.float32)
    if n > 1:
        change[1:] = np.abs(np.diff(small, axis=0)).reshape(n - 1, -1).max(1)
    return change


def choose_still(frames: np.ndarray, times: np.ndarray) -> Choice:
    """The candidate still runs and the frames to read from the last one (see the module doc)."""
    n = len(frames)
    change = frame_changes(frames)
    like = change[1:] < STILL_CHANGE                  # (N-1,) frame i is like frame i + 1
    runs, i = ([(0, 0)] if n == 1 else []), 0
    while i < n - 1:                                  # chains of like frames: frames i .. j
        if like[i]:
            j = i + 1
            while j < n - 1 and like[j]:
                j += 1
            if times[j] - times[i] >= min(MIN_STILL_S, 0.5 * (times[-1] - times[0])):
                runs.append((i, j))
            i = j
        else:
            i += 1
    if runs:
        return Choice(read_frames(runs[-1], times), True, change, runs)
    return Choice(read_frames((0, n - 1), times), False, change, runs)


def read_frames(run: tuple[int, int], times: np.ndarray) -> list[int]:
    """The last frames of a run: at most READ_FRAMES, within its last READ_S seconds."""
    a, b = run
    idx = [i for i in range(a, b + 1) if times[i] >= times[b] - READ_S]
    return idx[-READ_FRAMES:]


def final_frames(source, max_frames: int = MAX_FRAMES, max_pixels: int | None = None):
    """(grays, times, clip, choice): the gray (H, W) uint8 frames to read and their times.

    For modes other than a single digit (a number being written): run your own reading on
    each of `grays`. Raises VideoError like `decode_clip`.
    """
    clip = decode_clip(source, max_frames, max_pixels=max_pixels)
    choice = choose_still(clip.frames, clip.times)
    return clip.frames[choice.read], clip.times[choice.read], clip, choice


# ---- the reading path's hooks (called by reading.DigitMode) ---------------------------------
def _span_text(t0: float, t1: float, still: bool) -> str:
    return f"frames {t0:.2f}–{t1:.2f} s" + ("" if still else " (never still)")


def prepare_clip(item, max_frames: int = MAX_FRAMES, timeline: bool = False,
                 max_pixels: int | None = None):
    """Worker side: decode, choose the still frames, normalize them -> Prepared.

    Prepared.images holds the 28x28 inputs of the frames read (and, with `timeline`, of every
    sampled frame in which a digit is found); info says which columns are which. Raises
    VideoError/ImageError (the caller turns them into a status).
    """
    from .normalize import normalize_digit
    from .reading import Prepared, failure_reason
    clip = decode_clip(item.data if item.data is not None else item.path, max_frames,
                       max_pixels=max_pixels)
    choice = choose_still(clip.frames, clip.times)
    cache: dict[int, np.ndarray | str] = {}

    def norm(i: int):
        if i not in cache:
            try:
                cache[i] = normalize_digit(clip.frames[i])                  # uint8 (28, 28)
            except Exception as e:                 # one frame without a digit is an answer too
                cache[i] = failure_reason(e)
        return cache[i]

    # the last still run with a digit in it; else the clip's last frames
    candidates = [(read_frames(r, clip.times), True) for r in reversed(choice.runs)]
    candidates.append((read_frames((0, len(clip.frames) - 1), clip.times), False))
    read, still, reason = [], False, "no digit found"
    for idx, is_still in candidates:
        ok = [i for i in idx if not isinstance(norm(i), str)]
        if ok:
            read, still = ok, is_still
            break
        reason = norm(idx[-1])
    if not read:
        raise VideoError(reason if reason.startswith("no digit") else f"no digit found ({reason})")
    shown = list(range(len(clip.frames))) if timeline else read
    if timeline:
        for i in shown:
            norm(i)
    cols = {i: c for c, i in enumerate(i for i in shown if not isinstance(norm(i), str))}
    images = np.stack([norm(i) for i in cols])                               # (K, 28, 28)
    info = {"video": True, "times": clip.times.round(4).tolist(), "read": read,
            "read_cols": [cols[i] for i in read], "still": still,
            "span": (float(clip.times[read[0]]), float(clip.times[read[-1]])),
            "decoded": clip.decoded, "sampled": len(clip.frames), "duration": clip.duration,
            "change": choice.change.astype(np.float64).round(4).tolist()}
    if timeline:
        info["frame_cols"] = [cols.get(i, -1) for i in range(len(clip.frames))]
        info["frame_status"] = ["ok" if i in cols else norm(i) for i in range(len(clip.frames))]
    return Prepared("ok", images, info)


def combine_clip(r, p, probs: np.ndarray) -> None:
    """Main-process side: one vote over members x read frames; the span; the timeline.

    probs: float32 (M, K, C) for p.images."""
    from .reading import Reading, vote_into, vote_pooled
    info = p.info
    vote_pooled(r, probs[:, info["read_cols"]])
    t0, t1 = info["span"]
    span = _span_text(t0, t1, info["still"])
    r.extra["columns"] = {"frames": span}                                  # table/CSV column
    r.extra["voted_cols"] = info["read_cols"]
    r.extra["video"] = {"start_s": round(t0, 3), "end_s": round(t1, 3), "still": info["still"],
                        "frames_read": len(info["read"]), "frames_sampled": info["sampled"],
                        "frames_decoded": info["decoded"],
                        "duration_s": None if info["duration"] is None else round(info["duration"], 3),
                        "votes": r.extra["votes"], "votes_total": r.extra["votes_total"]}
    r.extra["record"] = {"frames": span, "video": r.extra["video"]}           # JSON fields
    if "frame_cols" not in info:
        return
    cols = [c for c in info["frame_cols"] if c >= 0]
    per = [Reading(r.path) for _ in cols]
    if cols:
        vote_into(per, probs[:, cols])                                      # (M, F, C): one vote each
    it = iter(per)
    read = set(info["read"])
    timeline = []
    for i, (t, c, status) in enumerate(zip(info["times"], info["frame_cols"], info["frame_status"])):
        f = next(it) if c >= 0 else None
        timeline.append({"time_s": round(t, 3), "prediction": f.prediction if f else None,
                         "agreement": f.agreement if f else None,
                         "confidence": round(f.confidence, 4) if f else None,
                         "status": status, "change": info["change"][i], "read": i in read})
    r.extra["timeline"] = timeline
