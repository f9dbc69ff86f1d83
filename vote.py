"""Let the ensemble vote on image files: one row per image, prediction + how sure it is.

    python vote.py photo.jpg scans/                      # files and folders (searched recursively)
    python vote.py examples/digits                       # labelled folder: + accuracy, confusion matrix
    python vote.py examples/digits --report out/         # + out/confusion.png, out/misclassified.png
    python vote.py scans/ --format csv --output votes.csv --min-agreement 4
    python vote.py scans/ --save-preprocessed seen/      # the 28x28 images the networks saw

Images: .png .jpg .jpeg .bmp .gif .tif .tiff .webp in any letter case; other files in
folders are ignored, as are hidden files and folders. A file named explicitly is always tried.
Each image is normalized the way MNIST was made (see ensemble/normalize.py) and every
member votes (ensemble/voting.py).

Output columns: path, prediction, agreement (members voting for it), confidence (mean
probability of the winner over all members, 0..1), status ("ok" or why the image could not
be used), review ("yes" when agreement < --min-agreement), label (true class in a labelled
folder, else empty), then one column per member with its own prediction.
Format: --format table|csv|json; by default taken from --output's suffix (.csv, .json,
anything else: table), else table on a terminal and csv when stdout is piped.
--output FILE is written atomically (temporary file + rename).

Labelled folders: a folder argument in which every image's parent folder is named after
one of the ensemble's classes (examples/digits/3/x.png) also gets accuracy, each member's
accuracy and a confusion matrix (on stdout for table output or with --output, else stderr).

Bad input never stops the run: empty, truncated, non-image or oversized files (decompression
bombs; the pixel limit is Pillow's, or $VOTE_MAX_IMAGE_PIXELS) get a row with the reason in
`status` and a one-line message on stderr. Exit status: 0 every image was used, 2 some could
not be, 1 usage error (no such path, no images, bad or missing weights).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
FORMATS = ("table", "csv", "json")


class UsageError(Exception):
    """Reported as one line, exit status 1."""


# ---- finding the images -------------------------------------------------------------------
@dataclass
class Item:
    path: str                    # as shown to the user (PATH argument joined with the relative part)
    root: str                    # the PATH argument it came from
    rel: str                     # path relative to root ("" for a file given directly)
    label: int | None = None     # true class index in a labelled folder


def _walk_images(root: str) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=None, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [os.path.join(dirpath, f) for f in sorted(filenames)
                  if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTS]
    return found


def find_images(paths: list[str], class_names: list[str]) -> tuple[list[Item], list[str]]:
    """All images under `paths`, de-duplicated, with labels where a folder is labelled."""
    items, labelled, seen = [], [], set()
    for root in paths:
        if os.path.isfile(root):
            found, is_dir = [root], False
        elif os.path.isdir(root):
            found, is_dir = _walk_images(root), True
        else:
            raise UsageError(f"{root}: no such file or folder")
        parents = [os.path.basename(os.path.dirname(os.path.relpath(f, root))) for f in found]
        is_labelled = is_dir and bool(found) and all(p in class_names for p in parents)
        if is_labelled:
            labelled.append(root)
        for f, parent in zip(found, parents):
            key = os.path.realpath(f)
            if key in seen:
                continue
            seen.add(key)
            items.append(Item(f, root, os.path.relpath(f, root) if is_dir else "",
                              class_names.index(parent) if is_labelled else None))
    return items, labelled


# ---- decoding + normalizing (+ voting, on CPU) in DataLoader workers ---------------------
def load_one(path: str):
    """-> (uint8 (28, 28) array, "ok") or (zeros, short reason); never raises."""
    from ensemble.normalize import load_and_normalize
    try:
        return load_and_normalize(path), "ok"
    except ValueError as e:              # ImageError: a reason fit for the status column
        status = str(e)
    except Exception as e:               # anything else must not stop the run either
        status = f"unexpected error: {type(e).__name__}: {e}"
    return np.zeros((28, 28), np.uint8), status.replace("\n", " ")


class ImageChunks:
    """Map-style dataset of chunks: k -> {"images" uint8 (B, 28, 28), "status" [B], "index" (B,),
    "vote": VoteResult for the readable images, or None}.

    On CPU the workers also run the members (one thread each, DataLoader's default): two
    single-threaded processes keep two cores busier than one process with two threads, and do
    not stall when another program takes a core. On a GPU the main process votes instead.
    """

    def __init__(self, paths: list[str], chunk: int, max_pixels: int | None, ensemble=None):
        self.paths, self.chunk, self.max_pixels, self.ensemble = paths, chunk, max_pixels, ensemble

    def __len__(self):
        return math.ceil(len(self.paths) / self.chunk)

    def __getitem__(self, k):
        import torch
        index = range(k * self.chunk, min(len(self.paths), (k + 1) * self.chunk))
        images = np.zeros((len(index), 28, 28), np.uint8)                    # (B, 28, 28)
        status = []
        for j, i in enumerate(index):
            images[j], s = load_one(self.paths[i])
            status.append(s)
        ok = np.array([s == "ok" for s in status])
        vote = self.ensemble.predict(images[ok]) if self.ensemble is not None and ok.any() else None
        return {"images": torch.from_numpy(images), "status": status,
                "index": torch.tensor(list(index)), "vote": vote}

    def worker_init(self, _worker_id):
        _set_pixel_limit(self.max_pixels)


def _set_pixel_limit(limit: int | None) -> None:
    from PIL import Image
    if limit is not None:
        Image.MAX_IMAGE_PIXELS = limit


def _pixel_limit_from_env() -> int | None:
    raw = os.environ.get("VOTE_MAX_IMAGE_PIXELS")
    if not raw:
        return None
    try:
        value = int(raw)
        if value <= 0:
            raise ValueError
    except ValueError:
        raise UsageError(f"VOTE_MAX_IMAGE_PIXELS must be a positive integer, got {raw!r}") from None
    return value


# ---- running ------------------------------------------------------------------------------
@dataclass
class Results:
    items: list[Item]
    member_names: list[str]
    class_names: list[str]
    status: list[str] = field(default_factory=list)
    prediction: list[int | None] = field(default_factory=list)
    agreement: list[int | None] = field(default_factory=list)
    confidence: list[float | None] = field(default_factory=list)
    members: list[list[int] | None] = field(default_factory=list)   # (n, M)
    images: dict[int, "object"] = field(default_factory=dict)       # index -> uint8 (28, 28), if kept


def run(ens, items: list[Item], args, keep_images: bool) -> Results:
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    n = len(items)
    res = Results(items, ens.member_names, ens.class_names, ["?"] * n, [None] * n, [None] * n,
                  [None] * n, [None] * n)
    workers = args.workers
    if workers is None:                                  # auto: a process start costs more than a few images
        workers = 0 if n <= 16 else min(2, os.cpu_count() or 1)
    # chunks small enough that every worker gets several, big enough to batch the members well
    chunk = max(1, min(args.batch_size, math.ceil(n / (4 * max(1, workers)))))
    vote_in_workers = workers > 0 and ens.device.type == "cpu"
    data = ImageChunks([it.path for it in items], chunk, _pixel_limit_from_env(),
                       ens if vote_in_workers else None)
    loader = DataLoader(data, batch_size=None, num_workers=workers,
                        worker_init_fn=data.worker_init if workers else None,
                        pin_memory=ens.device.type == "cuda")
    bar = tqdm(total=n, unit="img", file=sys.stderr, disable=None, delay=1.0, dynamic_ncols=True)
    try:
        for part in loader:
            images, status, index, vote = part["images"], part["status"], part["index"], part["vote"]
            ok = [k for k, s in enumerate(status) if s == "ok"]
            if ok and vote is None:
                vote = ens.predict(images[ok])                              # (B_ok,) results
            for j, k in enumerate(ok):
                i = int(index[k])
                res.prediction[i] = int(vote.prediction[j])
                res.agreement[i] = int(vote.agreement[j])
                res.confidence[i] = float(vote.confidence[j])
                res.members[i] = vote.member_predictions[:, j].tolist()
                if keep_images:
                    res.images[i] = images[k].numpy()
            for s, i in zip(status, index.tolist()):
                res.status[i] = s
                if s != "ok":
                    bar.write(f"vote.py: skipped {items[i].path}: {s}", file=sys.stderr)
            bar.update(len(status))
    finally:
        bar.close()
    return res


# ---- output -------------------------------------------------------------------------------
def rows(res: Results, min_agreement: int | None) -> tuple[list[str], list[list]]:
    names = res.class_names
    header = ["path", "prediction", "agreement", "confidence", "status", "review", "label"] + res.member_names
    out = []
    for i, it in enumerate(res.items):
        ok = res.prediction[i] is not None
        review = "" if not ok else ("yes" if min_agreement and res.agreement[i] < min_agreement else "no")
        out.append([it.path,
                    names[res.prediction[i]] if ok else "",
                    res.agreement[i] if ok else "",
                    round(res.confidence[i], 4) if ok else "",
                    res.status[i], review,
                    names[it.label] if it.label is not None else ""]
                   + ([names[p] for p in res.members[i]] if ok else [""] * len(res.member_names)))
    return header, out


def render(fmt: str, header: list[str], table: list[list], summary: dict | None) -> str:
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(table)
        return buf.getvalue()
    if fmt == "json":
        doc = {"images": [dict(zip(header, r)) for r in table]}
        if summary:
            doc["labelled"] = {k: v for k, v in summary.items() if k != "misclassified"}
            doc["labelled"]["misclassified"] = [table[i][0] for i in summary["misclassified"]]
        return json.dumps(doc, indent=1) + "\n"
    cells = [header] + [[f"{c:.3f}" if isinstance(c, float) else str(c) for c in r] for r in table]
    widths = [max(len(r[k]) for r in cells) for k in range(len(header))]
    lines = ["  ".join(c.ljust(wd) for c, wd in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * wd for wd in widths))
    return "\n".join(lines) + "\n"




# ---- labelled folders: accuracy, confusion matrix, report images --------------------------
def labelled_summary(res: Results) -> dict | None:
    import torch
    idx = [i for i, it in enumerate(res.items) if it.label is not None and res.prediction[i] is not None]
    skipped = sum(1 for i, it in enumerate(res.items) if it.label is not None and res.prediction[i] is None)
    if not idx:
        return None
    from ensemble.plots import confusion_matrix
    y = torch.tensor([res.items[i].label for i in idx])                      # (n,)
    p = torch.tensor([res.prediction[i] for i in idx])                       # (n,)
    mp = torch.tensor([res.members[i] for i in idx]).t()                     # (M, n)
    conf = confusion_matrix(p.numpy(), y.numpy(), len(res.class_names))     # (C, C) rows = true
    return {"n": len(idx), "unreadable": skipped,
            "correct": int((p == y).sum()), "accuracy": float((p == y).float().mean()),
            "member_accuracy": {name: float((mp[m] == y).float().mean())
                                for m, name in enumerate(res.member_names)},
            "class_names": res.class_names, "confusion": conf.tolist(),
            "misclassified": [i for i in idx if res.prediction[i] != res.items[i].label]}


def format_summary(s: dict) -> str:
    names = s["class_names"]
    lines = [f"labelled images: {s['n']}" + (f" (+{s['unreadable']} unreadable, not counted)"
                                            if s["unreadable"] else ""),
             f"ensemble accuracy: {100 * s['accuracy']:.2f}% ({s['correct']}/{s['n']})",
             "member accuracy:   " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in s["member_accuracy"].items()),
             "confusion matrix (rows: true class, columns: predicted):"]
    w = max(3, max(len(n) for n in names), len(str(max(max(r) for r in s["confusion"]))))
    lines.append(" " * (w + 2) + " ".join(n.rjust(w) for n in names))
    for name, row in zip(names, s["confusion"]):
        lines.append(f"{name.rjust(w)}  " + " ".join((str(v) if v else ".").rjust(w) for v in row))
    return "\n".join(lines) + "\n"


def _font(size: int):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:                      # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def confusion_png(s: dict, path: Path) -> None:
    from ensemble.plots import confusion_matrix_image
    title = f"ensemble accuracy {100 * s['accuracy']:.2f}% ({s['correct']}/{s['n']})"
    confusion_matrix_image(np.asarray(s["confusion"]), s["class_names"], title).save(path)


def misclassified_png(s: dict, res: Results, path: Path, limit: int = 200) -> None:
    """Grid of the misclassified 28x28 inputs (3x), captioned 'true -> predicted'."""
    import torch
    from PIL import Image, ImageDraw
    from torchvision.utils import make_grid
    names, wrong = res.class_names, s["misclassified"][:limit]
    font, tiles = _font(12), []
    for i in wrong:
        tile = Image.new("L", (84, 100), 0)
        tile.paste(Image.fromarray(res.images[i]).resize((84, 84), Image.Resampling.NEAREST), (0, 0))
        ImageDraw.Draw(tile).text((42, 92), f"{names[res.items[i].label]} -> {names[res.prediction[i]]}",
                                  fill=255, font=font, anchor="mm")
        tiles.append(torch.from_numpy(np.array(tile)).expand(3, -1, -1))    # (3, 100, 84)
    if not tiles:
        img = Image.new("RGB", (240, 40), "white")
        ImageDraw.Draw(img).text((10, 12), "no misclassified images", fill="black", font=font)
    else:
        grid = make_grid(tiles, nrow=10, padding=4, pad_value=128)             # (3, H, W)
        img = Image.fromarray(grid.permute(1, 2, 0).numpy())
    img.save(path)


def save_preprocessed(res: Results, out_dir: Path) -> None:
    """Mirror the inputs under out_dir as the 28x28 PNGs the networks saw."""
    from PIL import Image
    for i, img in res.images.items():
        it = res.items[i]
        rel = Path(os.path.basename(os.path.normpath(it.root)) or "root") / it.rel if it.rel \
            else Path(os.path.basename(it.path))
        target = out_dir / (str(rel) + ".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(target)


# ---- command line -------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message):            # usage errors: one line, exit status 1 (2 means "some images failed")
        self.exit(1, f"vote.py: error: {message} (see vote.py --help)\n")


def parse_args(argv):
    ap = _Parser(prog="vote.py", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:8]))
    ap.add_argument("paths", nargs="+", metavar="PATH", help="image files and/or folders")
    ap.add_argument("--weights", metavar="DIR", help="folder of *.safetensors (default: checkpoints/)")
    ap.add_argument("--format", choices=FORMATS, help="default: from --output's suffix (.csv/.json), else table on a terminal, csv when piped")
    ap.add_argument("--output", metavar="FILE", help="write the rows here instead of stdout")
    ap.add_argument("--min-agreement", type=int, metavar="K",
                    help="mark rows with fewer than K agreeing members review=yes")
    ap.add_argument("--batch-size", type=int, default=256, metavar="N", help="images per forward pass (default 256)")
    ap.add_argument("--workers", type=int, metavar="N",
                    help="processes decoding + normalizing images (default: min(2, CPUs); none for <= 16 images)")
    ap.add_argument("--report", metavar="DIR", help="labelled folders: save confusion.png, misclassified.png")
    ap.add_argument("--save-preprocessed", metavar="DIR", help="save the 28x28 network inputs as PNGs")
    ap.add_argument("--device", default="auto", help="auto (GPU if present), cpu, cuda, cuda:N")
    args = ap.parse_args(argv)
    if args.batch_size < 1:
        ap.error("--batch-size must be at least 1")
    if args.workers is not None and args.workers < 0:
        ap.error("--workers must be 0 or more")
    if args.min_agreement is not None and args.min_agreement < 0:
        ap.error("--min-agreement must be 0 or more")
    if args.format is None:
        suffix = Path(args.output).suffix.lower() if args.output else ""
        args.format = {".csv": "csv", ".json": "json"}.get(suffix) or \
            ("table" if args.output or sys.stdout.isatty() else "csv")
    if args.output and not Path(args.output).resolve().parent.is_dir():
        ap.error(f"--output {args.output}: folder {Path(args.output).parent} does not exist")
    return args


def write_outputs(args, res: Results, summary: dict | None) -> None:
    """Rows to stdout/--output, labelled summary, --report images, --save-preprocessed PNGs."""
    header, table = rows(res, args.min_agreement)
    text = render(args.format, header, table, summary)
    if args.output:
        from ensemble.atomic import write_atomic
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    if summary:
        # keep piped csv/json machine-readable: the human summary then goes to stderr
        dest = sys.stdout if args.format == "table" or args.output else sys.stderr
        print(("\n" if dest is sys.stdout and not args.output else "") + format_summary(summary),
              file=dest, end="")
    if args.report:
        report = Path(args.report)
        report.mkdir(parents=True, exist_ok=True)
        if summary:
            confusion_png(summary, report / "confusion.png")
            misclassified_png(summary, res, report / "misclassified.png")
            print(f"vote.py: report written to {report}/ (confusion.png, misclassified.png)", file=sys.stderr)
        else:
            print("vote.py: --report: no labelled folder among the inputs, nothing to report", file=sys.stderr)
    if args.save_preprocessed:
        save_preprocessed(res, Path(args.save_preprocessed))


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        _set_pixel_limit(_pixel_limit_from_env())
        from ensemble.export import WeightFileError
        from ensemble.inference import Ensemble
        try:
            ens = Ensemble(args.weights, device=args.device)
        except (WeightFileError, ValueError) as e:
            raise UsageError(str(e)) from None
        spec = ens.input_spec
        if (spec.get("size"), spec.get("channels"), spec.get("polarity")) != (28, 1, "light-on-dark"):
            raise UsageError(f"these weights expect input {spec}; vote.py prepares 28x28 grayscale "
                             "light-on-dark digits")
        items, labelled = find_images(args.paths, ens.class_names)
        if not items:
            raise UsageError(f"no images found in {' '.join(args.paths)} "
                             f"(looked for {' '.join(sorted(IMAGE_EXTS))})")
        res = run(ens, items, args, keep_images=bool(args.report or args.save_preprocessed))
    except UsageError as e:
        print(f"vote.py: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("vote.py: interrupted", file=sys.stderr)
        return 130

    try:
        write_outputs(args, res, labelled_summary(res) if labelled else None)
    except BrokenPipeError:              # `vote.py ... | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as e:
        print(f"vote.py: error: cannot write output: {e}", file=sys.stderr)
        return 1
    failed = sum(s != "ok" for s in res.status)
    if failed:
        print(f"vote.py: {failed} of {len(items)} images could not be used (see status column)",
              file=sys.stderr)
    return 2 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
