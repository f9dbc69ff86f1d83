"""Let the ensemble vote on image and video files: one row per input, prediction + how sure it is.

    python vote.py photo.jpg scans/                      # files and folders (searched recursively)
    python vote.py examples/digits                       # labelled folder: + accuracy, confusion matrix
    python vote.py examples/digits --report out/         # + out/confusion.png, out/misclassified.png
    python vote.py scans/ --format csv --output votes.csv --min-agreement 4
    python vote.py scans/ --save-preprocessed seen/      # the 28x28 images the networks saw
    python vote.py clip.mp4 --timeline t.csv --report out/   # a video: + each frame's reading
    python vote.py --number forms/ meter.jpg             # each image holds a number: "2026"

Images: .png .jpg .jpeg .bmp .gif .tif .tiff .webp in any letter case; other files in
folders are ignored, as are hidden files and folders. A file named explicitly is always tried.
Each image is normalized the way MNIST was made and every member votes; the reading itself
lives in the package (ensemble/reading.py), shared with the HTTP API and the benchmarks.

Videos: .mp4 .webm .mov .mkv .avi .m4v and animated GIF/WebP (decoded with PyAV/Pillow; no
system FFmpeg needed) hold one digit being written. At most --max-frames frames (default 64)
are decoded per clip, sampled evenly over it and shrunk at decode time; the last frames in
which the drawing is finished and still (a hand passing over it at the end is not) are read,
and one vote is taken over members x frames with the same rule as for images. The `frames`
column says which time span was read (e.g. "frames 2.40–2.97 s"). --timeline FILE writes
every sampled frame's reading (time, prediction, agreement, confidence) as CSV (JSON for a
.json name); --report DIR also draws it as timeline.png.

Output columns: path, prediction, agreement (members voting for it: 4/5 in the table),
confidence (mean probability of the winner over all members, 0..1), status ("ok" or why the
image could not be used), review ("yes" when agreement < --min-agreement), label (true class
in a labelled folder, else empty), then one column per member with its own prediction. JSON
gives class indices as numbers with class_name/label_name beside them, and members_total.
Format: --format table|csv|json; by default taken from --output's suffix (.csv, .json,
anything else: table), else table on a terminal and csv when piped. --output FILE replaces
a regular file atomically and writes into a device or FIFO directly.

Labelled folders: a folder argument in which every image's parent folder is named after
one of the ensemble's classes (examples/digits/3/x.png) also gets accuracy, each member's
accuracy and a confusion matrix (on stdout for table output or with --output, else stderr).

--number: each image holds a number (one or more lines of digits; ensemble/numbers.py): the
digits are segmented left to right, each one normalized and voted on like a single digit.
Columns: path, text (lines and wide gaps become one space), digits (how many), agreement and
confidence (the weakest digit's: --min-agreement reviews the number by it), status, review,
label, digit_agreement and digit_confidence (per digit, space-separated), then each member's own
reading of the number. JSON adds per digit its box (x0, y0, x1, y1 in the image's pixels), line,
prediction, class_name, agreement, confidence and members. A folder is labelled by its
labels.csv (file,label) or, when every image's name starts with digits, by them (2026_scan.jpg):
sequence and digit accuracy are printed. --save-preprocessed writes every digit, NAME_0.png ...;
--report writes misread.png (the misread numbers with their digit boxes). With --number a clip
holds a number being written: its last still frames are read like images and the text most of
them read wins (JSON: `video`, each frame's text).

Bad input never stops the run: a missing path, a FIFO or device, a dangling symlink, an
empty, truncated, non-image or oversized file (decompression bombs; the pixel limit is
Pillow's, or $VOTE_MAX_IMAGE_PIXELS) gets a row with the reason in `status` and one line on
stderr; a sub-folder that cannot be listed is named on stderr. Exit status: 0 every image was
used, 2 some could not be, 1 usage error (no path exists at all, no images, bad weights or
options, an --output that would overwrite an input), 130/143 interrupted (SIGINT/SIGTERM).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

PRECISIONS = ("auto", "fp32", "bf16")    # ensemble.inference.PRECISIONS (kept here: --help imports no torch)

FORMATS = ("table", "csv", "json")


class UsageError(Exception):
    """Reported as one line, exit status 1."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that every temporary file is cleaned up on the way out."""


def _on_sigterm(_signum, _frame):
    raise Terminated()


# ---- command line -------------------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message):            # usage errors: one line, exit status 1 (2 means "some images failed")
        self.exit(1, f"vote.py: error: {message} (see vote.py --help)\n")


def parse_args(argv):
    ap = _Parser(prog="vote.py", description=__doc__.splitlines()[0],
                 formatter_class=argparse.RawDescriptionHelpFormatter,
                 epilog="\n".join(__doc__.splitlines()[2:9]))
    ap.add_argument("paths", nargs="+", metavar="PATH", help="image/video files and/or folders")
    ap.add_argument("--checkpoints", "--weights", dest="checkpoints", metavar="DIR",
                    help="folder of *.safetensors weight files (default: checkpoints/); "
                         "--weights is an alias")
    ap.add_argument("--format", choices=FORMATS,
                    help="default: from --output's suffix (.csv/.json), else table on a terminal, csv when piped")
    ap.add_argument("--output", metavar="FILE", help="write the rows here instead of stdout")
    ap.add_argument("--min-agreement", type=int, metavar="K",
                    help="mark rows with fewer than K agreeing members review=yes (K <= members)")
    ap.add_argument("--batch-size", type=int, default=256, metavar="N", help="images per forward pass (default 256)")
    ap.add_argument("--workers", type=int, metavar="N",
                    help="processes decoding + normalizing images (default: min(2, CPUs), none for "
                         "<= 16 images); at most the number of CPUs and of images")
    ap.add_argument("--report", metavar="DIR", help="labelled folders: save confusion.png, misclassified.png "
                    "(--number: misread.png); videos: timeline.png")
    ap.add_argument("--max-frames", type=int, default=64, metavar="N",
                    help="videos: decode at most N frames per clip, sampled evenly over it (default 64)")
    ap.add_argument("--timeline", metavar="FILE",
                    help="videos: write each sampled frame's reading (time_s, prediction, agreement, "
                         "confidence, status) as CSV, or JSON for a .json name")
    ap.add_argument("--save-preprocessed", metavar="DIR", help="save the 28x28 network inputs as PNGs")
    ap.add_argument("--device", default="auto", help="auto (default: the GPU if there is one), cpu, cuda, cuda:N")
    ap.add_argument("--precision", choices=PRECISIONS, default="auto",
                    help="the members' arithmetic: auto (default: bfloat16 where the CPU computes it natively: "
                         "the members run ~2x faster; else float32), fp32 (the numbers of "
                         "checkpoints/report.json), bf16")
    ap.add_argument("--number", action="store_true",
                    help="each image holds a number (several digits, lines): read it as text")
    args = ap.parse_args(argv)
    if args.batch_size < 1:
        ap.error("--batch-size must be at least 1")
    if args.workers is not None and args.workers < 0:
        ap.error("--workers must be 0 or more")
    if args.max_frames < 1:
        ap.error("--max-frames must be at least 1")
    if args.output and args.timeline and os.path.realpath(args.output) == os.path.realpath(args.timeline):
        ap.error("--output and --timeline name the same file")
    if args.timeline and not Path(args.timeline).resolve().parent.is_dir():
        ap.error(f"--timeline {args.timeline}: folder {Path(args.timeline).parent} does not exist")
    if args.min_agreement is not None and args.min_agreement < 0:
        ap.error("--min-agreement must be 0 or more")
    if args.format is None:
        suffix = Path(args.output).suffix.lower() if args.output else ""
        args.format = {".csv": "csv", ".json": "json"}.get(suffix) or \
            ("table" if args.output or sys.stdout.isatty() else "csv")
    if args.output and not Path(args.output).resolve().parent.is_dir():
        ap.error(f"--output {args.output}: folder {Path(args.output).parent} does not exist")
    return args


def load_ensemble(args):
    from ensemble.export import WeightFileError
    from ensemble.inference import Ensemble, resolve_device
    try:
        device = resolve_device(args.device)
    except ValueError as e:
        raise UsageError(f"--device: {e}") from None
    try:
        ens = Ensemble(args.checkpoints, device=device, precision=args.precision)
    except (WeightFileError, ValueError) as e:
        raise UsageError(str(e)) from None
    spec = ens.input_spec
    if (spec.get("size"), spec.get("channels"), spec.get("polarity")) != (28, 1, "light-on-dark"):
        raise UsageError(f"these weights expect input {spec}; vote.py prepares 28x28 grayscale "
                         "light-on-dark digits")
    if args.min_agreement is not None and args.min_agreement > len(ens):
        raise UsageError(f"--min-agreement {args.min_agreement} is more than the {len(ens)} members")
    return ens


def _inside(path: str, folder: str) -> bool:
    p, f = os.path.realpath(path), os.path.realpath(folder)
    return p == f or p.startswith(f.rstrip(os.sep) + os.sep)


def check_destinations(args, ens, items) -> None:
    """Refuse (exit 1) any write that would destroy an input, a weight file or another output."""
    from ensemble.outputs import preprocessed_names
    from ensemble.reading import Reading
    inputs = {os.path.realpath(it.path) for it in items if it.status is None}
    protected = inputs | {os.path.realpath(f) for f in ens.files}
    for flag, dest in (("--output", args.output), ("--timeline", args.timeline)):
        if dest and os.path.realpath(dest) in protected:
            raise UsageError(f"{flag} {dest} is one of the input images or weight files; "
                             "refusing to overwrite it")
    if args.output:
        out = os.path.realpath(args.output)
        for flag, folder in (("--save-preprocessed", args.save_preprocessed), ("--report", args.report)):
            if folder and _inside(out, folder):
                raise UsageError(f"--output {args.output} lies inside {flag} {folder}")
    if args.save_preprocessed:
        rows = [Reading(it.path, root=it.root, rel=it.rel) for it in items]
        digit_stems = _digit_stems(protected) if args.number else set()
        for rel in preprocessed_names(rows):
            target = os.path.realpath(os.path.join(args.save_preprocessed, rel))
            if target in protected:
                raise UsageError(f"--save-preprocessed {args.save_preprocessed} would overwrite the input "
                                 f"{target}; choose a folder outside the inputs")
            if target[:-len(".png")] in digit_stems:
                raise UsageError(f"--save-preprocessed {args.save_preprocessed} would overwrite the input "
                                 f"{target[:-len('.png')]}_<k>.png; choose a folder outside the inputs")
    if args.report:
        for name in ("confusion.png", "misclassified.png", "timeline.png", "misread.png"):
            if os.path.realpath(os.path.join(args.report, name)) in protected:
                raise UsageError(f"--report {args.report} would overwrite the input {name}")


def _digit_stems(paths: set) -> set:
    """--number --save-preprocessed writes NAME_0.png, NAME_1.png, ... for NAME.png: the NAMEs
    for which such a file is among `paths`."""
    import re
    return {m.group(1) for p in paths if (m := re.fullmatch(r"(.*)_\d+(~\d+)?\.png", p))}


def write_outputs(args, ens, readings, summary: dict | None) -> None:
    """Rows to stdout/--output, labelled summary, --report images, --save-preprocessed PNGs."""
    from ensemble.atomic import write_atomic
    from ensemble.outputs import (confusion_png, format_number_summary, format_summary, misclassified_png,
                                  misread_png, render, save_preprocessed)
    text = render(args.format, readings, ens.class_names, ens.member_names, args.min_agreement, summary,
                  numbers=args.number)
    if args.output:
        write_atomic(args.output, text, errors="surrogateescape")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    if summary:
        # keep piped csv/json machine-readable: the human summary then goes to stderr
        dest = sys.stdout if args.format == "table" or args.output else sys.stderr
        body = format_number_summary(summary, readings) if args.number else format_summary(summary)
        print(("\n" if dest is sys.stdout and not args.output else "") + body, file=dest, end="")
    from ensemble.timeline import render_timeline, timeline_png, with_timeline
    if args.timeline:
        fmt = "json" if Path(args.timeline).suffix.lower() == ".json" else "csv"
        write_atomic(args.timeline, render_timeline(fmt, readings, ens.class_names), errors="surrogateescape")
        if not with_timeline(readings):
            print("vote.py: --timeline: no readable video among the inputs; the timeline is empty",
                  file=sys.stderr)
    if args.report and args.number:
        if summary:
            report = Path(args.report)
            report.mkdir(parents=True, exist_ok=True)
            misread_png(summary, readings, ens.class_names, report / "misread.png")
            print(f"vote.py: report written to {report}/ (misread.png)", file=sys.stderr)
        else:
            print(f"vote.py: --report: no labelled number folder among the inputs, nothing to report; "
                  f"{args.report} not created", file=sys.stderr)
    elif args.report:
        clips = with_timeline(readings)
        if summary or clips:
            report = Path(args.report)
            report.mkdir(parents=True, exist_ok=True)
            names = []
            if summary:
                confusion_png(summary, report / "confusion.png")
                misclassified_png(summary, readings, report / "misclassified.png")
                names += ["confusion.png", "misclassified.png"]
            if clips:
                timeline_png(readings, ens.class_names, report / "timeline.png")
                names.append("timeline.png")
            print(f"vote.py: report written to {report}/ ({', '.join(names)})", file=sys.stderr)
        else:
            print(f"vote.py: --report: no labelled folder or video among the inputs, nothing to report; "
                  f"{args.report} not created", file=sys.stderr)
    if args.save_preprocessed:
        n = save_preprocessed(readings, Path(args.save_preprocessed), numbers=args.number)
        print(f"vote.py: saved {n} preprocessed 28x28 images under {args.save_preprocessed}/", file=sys.stderr)


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _main(args)
    except Terminated:
        print("vote.py: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("vote.py: interrupted", file=sys.stderr)
        return 130


def _main(args) -> int:
    from tqdm import tqdm

    from ensemble.reading import INPUT_EXTS, DigitMode, Reader, find_inputs, pixel_limit_from_env
    try:
        try:
            max_pixels = pixel_limit_from_env()
        except ValueError as e:
            raise UsageError(str(e)) from None
        ens = load_ensemble(args)
        found = find_inputs(args.paths, ens.class_names)
        if len(found.missing) == len(args.paths):
            raise UsageError(f"{' '.join(found.missing)}: no such file or folder")
        if not found.items:
            raise UsageError(f"no images found in {' '.join(args.paths)} "
                             f"(looked for {' '.join(sorted(INPUT_EXTS))})")
        if args.number:
            from ensemble.numbers import label_numbers
            try:
                label_numbers(found)          # labels.csv or leading digits of the file names
            except (ValueError, OSError) as e:
                raise UsageError(f"labels: {e}") from None
        check_destinations(args, ens, found.items)
        if args.number:
            from ensemble.numbers import NumberMode
            mode = NumberMode(class_names=ens.class_names, max_frames=args.max_frames)
            try:
                mode.load_verifier()              # a missing or broken file: say so before reading
                mode.load_pair_reader()
            except ValueError as e:               # WeightFileError
                raise UsageError(str(e)) from None
        else:
            mode = DigitMode(max_frames=args.max_frames, timeline=bool(args.timeline or args.report))
    except UsageError as e:
        print(f"vote.py: error: {e}", file=sys.stderr)
        return 1

    def problem(r):
        tqdm.write(f"vote.py: skipped {r.path}: {r.status}", file=sys.stderr)

    reader = Reader(ens, mode=mode, workers=args.workers, batch_size=args.batch_size, max_pixels=max_pixels,
                    keep_images=bool(args.report or args.save_preprocessed))
    readings = reader.read(found.items, progress=True, on_problem=problem)
    for d in found.unreadable_dirs:
        print(f"vote.py: could not list folder {d}", file=sys.stderr)

    from ensemble.outputs import labelled_summary, number_summary
    if args.number:
        summary = number_summary(readings, ens.member_names, ens.class_names) if found.labelled else None
    else:
        summary = labelled_summary(readings, ens.class_names, ens.member_names) if found.labelled else None
    try:
        write_outputs(args, ens, readings, summary)
    except BrokenPipeError:              # `vote.py ... | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except OSError as e:
        print(f"vote.py: error: cannot write output: {e}", file=sys.stderr)
        return 1
    failed = sum(not r.ok for r in readings)
    if failed:
        print(f"vote.py: {failed} of {len(readings)} inputs could not be used (see status column)",
              file=sys.stderr)
    return 2 if failed or found.unreadable_dirs else 0


if __name__ == "__main__":
    sys.exit(main())
