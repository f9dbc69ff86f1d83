"""Video input benchmark: clips of MNIST digits being written, read like vote.py reads them.

    python benchmarks/video.py --split val --n 30 --speed-n 10 --resolutions 480p   # tuning, on
    python benchmarks/video.py --split val --n 30 --speed-n 10 --resolutions 480p --still-stats
    python benchmarks/video.py --split test --n 50 --speed-n 40    # the tables in benchmarks/RESULTS.md
    python benchmarks/video.py --split test --first 50 --n 250 --speed-n 0 --conditions clean,hand,all --resolutions 480p

Each clip shows one MNIST digit being written on paper: the ink appears progressively along the
stroke (pixels in order of their distance from the stroke's start, measured inside the ink) while
a pen tip follows it; then the pen lifts and the clip stays still until its end. Conditions:
  clean    plain paper, pen tip only
  texture  paper grain and blotches
  drift    the light dims by up to 45 % over the clip, more on one side
  shake    the camera wobbles by a few pixels (a smoothed random walk)
  hand     a hand blob follows the pen, then leaves the frame across the digit
  all      all of the above together
Each is encoded as H.264 .mp4 and VP9 .webm at 480p (854x480) and 720p (1280x720), 2-4 s at
30 fps; the final frame (as rendered) is also saved as a PNG. The reading is the package's
(ensemble.reading.Reader, DigitMode: the same path as vote.py), with 2 worker processes.

Prints one row per condition x resolution x codec: clips, clip accuracy, accuracy on the same
digits' final-frame PNGs, how often the frames read were finished and clear (span ok: all read
frames after the pen lifted and the hand left), clips/s and decoded frames/s on the reading
alone (weights loaded once beforehand). Then the speed workload: 3 s 480p clean clips.
Targets: clip accuracy within 0.5 points of the final-frame accuracy; >= 99 % on clean clips;
>= 10 clips/s for 3 s 480p clips on 2 cores. Clips are cached under --cache.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import deque
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FPS = 30
CONDITIONS = ("clean", "texture", "drift", "shake", "hand", "all")
RESOLUTIONS = {"480p": (854, 480), "720p": (1280, 720)}
CODECS = {"mp4": ("libx264", {"preset": "superfast", "crf": "23"}),
          "webm": ("libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "crf": "32", "b": "0"})}


# ---- the stroke order of a digit ------------------------------------------------------------
def arrival_map(digit: np.ndarray) -> np.ndarray:
    """float32 (28, 28) in [0, 1]: when each ink pixel is drawn (inf where there is no ink).

    Breadth-first distance inside the ink from the top-most pixel of each connected piece; the
    pieces are drawn one after another, top first (a pen lift between them)."""
    ink = digit > 0
    dist = np.full(digit.shape, np.inf, np.float32)
    offset = 0.0
    while True:
        left = np.argwhere(ink & np.isinf(dist))
        if not len(left):
            break
        start = tuple(left[0])                       # argwhere is row-major: top-most, then left-most
        dist[start] = offset
        q = deque([start])
        while q:
            y, x = q.popleft()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    v, u = y + dy, x + dx
                    if 0 <= v < 28 and 0 <= u < 28 and ink[v, u] and np.isinf(dist[v, u]):
                        dist[v, u] = dist[y, x] + (1.4142 if dx and dy else 1.0)
                        q.append((v, u))
        offset = float(dist[np.isfinite(dist)].max()) + 1
    return dist / max(1.0, float(dist[np.isfinite(dist)].max()))


# ---- one clip ---------------------------------------------------------------------------------
def plan(seed: int) -> dict:
    """The clip's timing and placement; shared by all conditions and resolutions of a digit."""
    rng = np.random.default_rng(seed)
    dur = float(rng.uniform(2.0, 4.0))
    start = float(rng.uniform(0.15, 0.35))
    draw = dur * float(rng.uniform(0.40, 0.55))
    return {"duration": dur, "start": start, "draw_end": start + draw, "exit": 0.35,
            "cx": float(rng.uniform(0.42, 0.58)), "cy": float(rng.uniform(0.45, 0.55)),
            "size": float(rng.uniform(0.45, 0.6)), "seed": seed}


def render(digit: np.ndarray, p: dict, cond: str, wh: tuple[int, int]):
    """Yield uint8 (H, W) gray frames of the digit being written under `cond`."""
    W, H = wh
    rng = np.random.default_rng(p["seed"] + 1)
    n = round(p["duration"] * FPS)
    texture, drift, shake, hand = (cond in ("texture", "all"), cond in ("drift", "all"),
                                   cond in ("shake", "all"), cond in ("hand", "all"))
    pad = round(0.02 * H) if shake else 0
    Hp, Wp = H + 2 * pad, W + 2 * pad
    paper = np.full((Hp, Wp), 0.88, np.float32)
    if texture:
        from scipy import ndimage as ndi
        grain = ndi.gaussian_filter(rng.normal(0, 1, (Hp, Wp)).astype(np.float32), 1.0)
        blotch = ndi.gaussian_filter(rng.normal(0, 1, (Hp // 8, Wp // 8)).astype(np.float32), 3)
        blotch = np.asarray(Image.fromarray(blotch / (blotch.std() + 1e-6)).resize((Wp, Hp), Image.BILINEAR))
        paper *= 1 + 0.10 * grain / (grain.std() + 1e-6) * 0.5 + 0.04 * blotch
    S = round(p["size"] * H)                                             # digit box side (px)
    x0, y0 = round(p["cx"] * W - S / 2) + pad, round(p["cy"] * H - S / 2) + pad
    alpha = np.asarray(Image.fromarray(digit).resize((S, S), Image.BICUBIC), np.float32).clip(0, 255) / 255
    arr = arrival_map(digit)
    arr_big = np.asarray(Image.fromarray(np.where(np.isfinite(arr), arr, 2.0)).resize((S, S), Image.NEAREST))
    ys, xs = np.nonzero(np.isfinite(arr))
    order = np.argsort(arr[ys, xs])
    path = np.stack([xs[order], ys[order]], 1).astype(np.float32) * S / 28 + [x0, y0]   # pen path (px)
    path_t = arr[ys, xs][order]
    if shake:
        walk = np.cumsum(rng.normal(0, 1, (n + 8, 2)), 0)
        walk = np.convolve(walk[:, 0], np.ones(8) / 8, "valid"), np.convolve(walk[:, 1], np.ones(8) / 8, "valid")
        walk = np.stack(walk, 1)[:n]
        walk = np.clip(walk - walk.mean(0), -pad, pad).round().astype(int)
    r_pen = max(2, round(0.012 * H))
    for i in range(n):
        t = i / FPS
        prog = (t - p["start"]) / (p["draw_end"] - p["start"])
        frame = paper.copy()
        if drift:
            gain = 1 - 0.3 * (t / p["duration"]) * (0.5 + np.linspace(0, 1, Wp, dtype=np.float32))
            frame *= gain[None, :]
        if prog > 0:
            vis = alpha * (arr_big <= prog)
            frame[y0:y0 + S, x0:x0 + S] *= 1 - 0.8 * vis
        drawing = 0 < prog < 1
        tip = None
        if drawing:
            k = min(len(path) - 1, int(np.searchsorted(path_t, prog)))
            tip = path[max(0, k - 2):k + 1].mean(0)
        elif hand and prog >= 1 and t < p["draw_end"] + p["exit"]:
            # the hand leaves across the digit, to the left and down
            f = (t - p["draw_end"]) / p["exit"]
            tip = path[-1] + f * np.array([-(path[-1][0] + 0.9 * H), 0.25 * H])
        if tip is not None:
            im = Image.fromarray(frame, "F")
            d = ImageDraw.Draw(im)
            tx, ty = float(tip[0]), float(tip[1])
            if hand:                               # pen shaft to a hand at its lower right, arm beyond
                hx, hy = tx + 0.20 * H, ty + 0.28 * H
                d.line([tx, ty, hx, hy], fill=0.12, width=max(2, round(0.012 * H)))
                d.ellipse([hx - 0.14 * H, hy - 0.2 * H, hx + 0.14 * H, hy + 0.2 * H], fill=0.5)
                d.line([hx, hy, hx + 0.6 * H, hy + 0.9 * H], fill=0.47, width=round(0.22 * H))
            if drawing:
                d.ellipse([tx - r_pen, ty - r_pen, tx + r_pen, ty + r_pen], fill=0.1)
            frame = np.asarray(im)
        if shake:
            dx, dy = walk[i]
            frame = frame[pad + dy:pad + dy + H, pad + dx:pad + dx + W]
        yield np.clip(frame * 255, 0, 255).astype(np.uint8)


def encode(frames: list[np.ndarray], path: Path, codec: str, options: dict) -> None:
    import av
    H, W = frames[0].shape
    tmp = path.with_suffix(".part" + path.suffix)
    with av.open(str(tmp), "w") as c:
        s = c.add_stream(codec, rate=FPS, options=options)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="gray")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    os.replace(tmp, path)


def make_one(job) -> None:
    """The chosen conditions x resolutions x codecs of one digit (one worker task)."""
    root, i, digit, label, seed, conds, resolutions, codecs = job
    p = plan(seed)
    for cond in conds:
        for res in resolutions:
            wh = RESOLUTIONS[res]
            png = root / cond / res / "png" / str(label) / f"{i:05d}.png"
            if png.exists() and all((root / cond / res / ext / str(label) / f"{i:05d}.{ext}").exists()
                                    for ext in codecs):
                continue
            frames = list(render(digit, p, cond, wh))
            for ext in codecs:
                codec, opts = CODECS[ext]
                out = root / cond / res / ext / str(label) / f"{i:05d}.{ext}"
                out.parent.mkdir(parents=True, exist_ok=True)
                encode(frames, out, codec, opts)
            png.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(frames[-1]).save(png)
    meta = root / "plans" / f"{i:05d}.json"
    meta.parent.mkdir(parents=True, exist_ok=True)
    meta.write_text(json.dumps(p))


def make_speed(job) -> None:
    root, i, digit, label, seed = job[:5]
    p = plan(seed)
    p["duration"], p["draw_end"] = 3.0, p["start"] + 1.5
    frames = list(render(digit, p, "clean", RESOLUTIONS["480p"]))
    for ext, (codec, opts) in CODECS.items():
        out = root / ext / str(label) / f"{i:05d}.{ext}"
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            encode(frames, out, codec, opts)


# ---- tuning the still-frame threshold (validation clips only) ---------------------------------
def still_stats(root: Path, conds, resolutions, codecs, index) -> None:
    """Per condition: the largest frame-to-frame change once the page is finished and clear
    (must stay under ensemble.video.STILL_CHANGE) and the changes while the pen or hand moves."""
    from ensemble.video import STILL_CHANGE, decode_clip, frame_changes
    print(f"still-frame changes (threshold STILL_CHANGE = {STILL_CHANGE})")
    for cond in conds:
        for res in resolutions:
            still_max, moving = [], []
            for ext in codecs:
                for path in sorted((root / cond / res / ext).glob(f"*/*.{ext}")):
                    i = int(path.stem)
                    if i not in index:
                        continue
                    p = json.loads((root / "plans" / f"{i:05d}.json").read_text())
                    clip = decode_clip(str(path))
                    ch, t = frame_changes(clip.frames), clip.times
                    clear = p["draw_end"] + (p["exit"] if cond in ("hand", "all") else 0)
                    after = ch[t > clear + 0.12]            # one sample after the last motion
                    if len(after):
                        still_max.append(after.max())
                    moving += ch[(t > p["start"] + 0.1) & (t < clear - 0.05)].tolist()
            print(f"  {cond} {res}: finished+still max change p50 {np.median(still_max):.3f} "
                  f"max {np.max(still_max):.3f} | while moving: p10 {np.percentile(moving, 10):.3f} "
                  f"p50 {np.median(moving):.3f} ({len(still_max)} clips)")


# ---- reading ----------------------------------------------------------------------------------
def _cpu() -> float:
    """CPU seconds of this process and its finished children (the DataLoader workers)."""
    import resource
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def read_folder(reader, folder: Path, class_names, wanted=None):
    """Readings, wall seconds, CPU seconds (wall is inflated when other work shares the cores;
    2 / (CPU s per clip) is what 2 otherwise idle cores would do, less the start-up)."""
    from ensemble.reading import find_inputs
    items = find_inputs([str(folder)], class_names).items
    if wanted is not None:                   # the digits asked for (the cache may hold more)
        items = [it for it in items if Path(it.path).stem in wanted]
    t, c = time.perf_counter(), _cpu()
    readings = reader.read(items)
    return readings, time.perf_counter() - t, _cpu() - c


def accuracy(readings) -> float:
    return 100 * float(np.mean([r.ok and r.prediction == r.label for r in readings]))


def main(argv=None) -> int:
    from vote import PRECISIONS             # vote.py's choices (ROOT is on sys.path)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("val", "test"), required=True,
                    help="val: MNIST training images 55,000-59,999 (tuning); test: the MNIST test set (reports)")
    ap.add_argument("--n", type=int, default=100, help="digits per condition (default 100)")
    ap.add_argument("--speed-n", type=int, default=40, help="3 s 480p clips for the speed workload")
    ap.add_argument("--conditions", default=",".join(CONDITIONS))
    ap.add_argument("--resolutions", default=",".join(RESOLUTIONS))
    ap.add_argument("--codecs", default=",".join(CODECS))
    ap.add_argument("--first", type=int, default=0, help="first digit index of the split (default 0)")
    ap.add_argument("--weights", help="weights folder (default checkpoints/)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--precision", choices=PRECISIONS, default="auto",
                    help="the members' arithmetic (default auto, as vote.py: bfloat16 where the CPU computes it natively)")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/digit-ensemble/bench/video"))
    ap.add_argument("--still-stats", action="store_true",
                    help="print the frame-change statistics used to tune the still threshold (val only)")
    args = ap.parse_args(argv)
    if args.still_stats and args.split != "val":
        ap.error("--still-stats is for tuning: validation clips only (--split val)")

    import torch

    from ensemble.inference import Ensemble
    from ensemble.reading import DigitMode, Reader
    from generators import load_mnist
    if args.split == "val":
        x, y = load_mnist("train", verbose=False)
        x, y = x[55000:], y[55000:]
    else:
        x, y = load_mnist("test", verbose=False)
    x, y = np.asarray(x), np.asarray(y)
    root = Path(args.cache) / args.split
    conds, resolutions, codecs = (args.conditions.split(","), args.resolutions.split(","),
                                  args.codecs.split(","))
    for name, chosen, known in (("condition", conds, CONDITIONS), ("resolution", resolutions, RESOLUTIONS),
                                ("codec", codecs, CODECS)):
        if not set(chosen) <= set(known):
            ap.error(f"unknown {name} in {chosen}; choose from {list(known)}")
    index = range(args.first, args.first + args.n)
    jobs = [(root, i, x[i], int(y[i]), 1000 * (args.split == "test") + i, conds, resolutions, codecs)
            for i in index]
    t = time.perf_counter()
    with Pool(args.workers) as pool:
        pool.map(make_one, jobs, chunksize=1)
        pool.map(make_speed, [(root / "speed3s",) + j[1:] for j in jobs[:args.speed_n]], chunksize=1)
    print(f"clips ready in {time.perf_counter() - t:.0f} s under {root}", file=sys.stderr)

    if args.still_stats:
        still_stats(root, conds, resolutions, codecs, set(index))
        return 0
    torch.set_num_threads(1)
    ens = Ensemble(args.weights, device="cpu", precision=args.precision)
    print(f"members in {ens.precision}", file=sys.stderr)
    reader = Reader(ens, mode=DigitMode(), workers=args.workers)
    plans = {i: json.loads((root / "plans" / f"{i:05d}.json").read_text()) for i in index}
    print(f"| condition | res | codec | clips | clip acc | final-frame PNG acc | diff | span ok | "
          f"clips/s (wall) | decoded frames/s (wall) | CPU ms/clip |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    wanted = {f"{i:05d}" for i in index}
    for cond in conds:
        for res in resolutions:
            pngs, _, _ = read_folder(reader, root / cond / res / "png", ens.class_names, wanted)
            png_acc = accuracy(pngs)
            for ext in codecs:
                rs, secs, cpu = read_folder(reader, root / cond / res / ext, ens.class_names, wanted)
                acc = accuracy(rs)
                decoded = sum(r.extra.get("video", {}).get("frames_decoded", 0) for r in rs)
                ok_span = 0
                for r in rs:
                    p = plans[int(Path(r.path).stem)]
                    clear = p["draw_end"] + (p["exit"] if cond in ("hand", "all") else 0)
                    ok_span += r.ok and r.extra["video"]["start_s"] >= clear - 1e-6
                print(f"| {cond} | {res} | {ext} | {len(rs)} | {acc:.2f} % | {png_acc:.2f} % | "
                      f"{acc - png_acc:+.2f} | {100 * ok_span / len(rs):.0f} % | {len(rs) / secs:.1f} | "
                      f"{decoded / secs:.0f} | {1000 * cpu / len(rs):.0f} |", flush=True)
                for r in rs:
                    if not (r.ok and r.prediction == r.label):
                        print(f"  miss {r.path}: {r.status} pred={r.prediction} label={r.label} "
                              f"{r.extra.get('columns', {}).get('frames', '')}", file=sys.stderr)
    for ext in codecs:
        if not args.speed_n:
            break
        rs, secs, cpu = read_folder(reader, root / "speed3s" / ext, ens.class_names,
                                    {f"{i:05d}" for i in index[:args.speed_n]})
        decoded = sum(r.extra.get("video", {}).get("frames_decoded", 0) for r in rs)
        print(f"speed, 3 s 480p clean {ext}: {len(rs)} clips in {secs:.2f} s wall = {len(rs) / secs:.1f} clips/s, "
              f"{decoded / secs:.0f} decoded frames/s; CPU {1000 * cpu / len(rs):.0f} ms/clip -> "
              f"{2 * len(rs) / cpu:.1f} clips/s, {2 * decoded / cpu:.0f} decoded frames/s on 2 idle cores; "
              f"accuracy {accuracy(rs):.2f} % ({args.workers} workers; load average {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
