"""What a reading run produces: rows as table/CSV/JSON, the labelled summary, report pictures,
and the 28x28 inputs saved as PNGs. vote.py is a thin command line over these.

    from ensemble.outputs import render, labelled_summary, format_summary
    text = render("csv", readings, ens.class_names, ens.member_names, min_agreement=4)

Text conventions (documented in README):
- table: agreement as "4/5"; control characters in names (newline, tab, ...) written as
  backslash escapes so that every row stays one line.
- CSV: class names; a cell that starts with =, +, -, @, tab or carriage return gets a leading
  apostrophe (OWASP's advice against formula injection in spreadsheets); CSV only.
- JSON: class indices as numbers with their names alongside (see reading.row_record).
- File names that are not valid UTF-8 are written back as their original bytes (Python's
  surrogateescape, as the terminal output does); JSON escapes them as \\udcXX.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .reading import ROW_COLUMNS, Reading, review_flag, row_record

FORMATS = ("table", "csv", "json")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def row_cells(r: Reading, class_names: Sequence[str], min_agreement: int | None,
              extra: Sequence[str] = ()) -> list:
    """One table/CSV row: path, prediction, agreement, confidence, status, review, label,
    the `extra` columns (mode-specific, e.g. a clip's `frames` span), members."""
    ok = r.ok
    mine = r.extra.get("columns", {})
    return ([r.path,
             class_names[r.prediction] if ok else "",
             r.agreement if ok else "",
             round(r.confidence, 4) if ok else "",
             r.status, review_flag(r, min_agreement),
             class_names[r.label] if r.label is not None else ""]
            + [mine.get(k, "") for k in extra]
            + ([class_names[p] for p in r.member_predictions] if ok else [""] * _members(r)))


def extra_columns(readings: Sequence[Reading]) -> list[str]:
    """Columns that some readings add after `label` (Reading.extra["columns"]: a clip's
    `frames` span), in first-seen order; none when every input is a plain image."""
    cols: list[str] = []
    for r in readings:
        cols += [k for k in r.extra.get("columns", {}) if k not in cols]
    return cols


def _members(r: Reading) -> int:
    return 0 if r.member_predictions is None else len(r.member_predictions)


def _csv_safe(cell):
    if isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


def _escape(text: str) -> str:
    """Control characters as backslash escapes (a name with a newline stays on its row)."""
    if text.isprintable() or not any(ord(c) < 32 or ord(c) == 127 for c in text):
        return text
    return "".join(c.encode("unicode_escape").decode("ascii") if ord(c) < 32 or ord(c) == 127 else c
                   for c in text)


def render(fmt: str, readings: Sequence[Reading], class_names: Sequence[str], member_names: Sequence[str],
           min_agreement: int | None = None, summary: dict | None = None, numbers: bool = False) -> str:
    """All rows in one of FORMATS (plus the labelled summary in JSON).

    numbers=True: readings of NumberMode, with the number columns (ensemble.numbers.NUMBER_COLUMNS,
    then each member's reading of the number); the single-digit columns are untouched otherwise.
    """
    if numbers:
        return _render_numbers(fmt, readings, class_names, member_names, min_agreement, summary)
    extra = extra_columns(readings)
    header = list(ROW_COLUMNS) + extra + list(member_names)
    if fmt == "json":
        doc = {"members": list(member_names), "class_names": list(class_names),
               "images": [row_record(r, class_names, member_names, min_agreement) for r in readings]}
        if summary:
            doc["labelled"] = {k: v for k, v in summary.items() if k != "misclassified"}
            doc["labelled"]["misclassified"] = [readings[i].path for i in summary["misclassified"]]
        return json.dumps(doc, indent=1) + "\n"
    rows = [row_cells(r, class_names, min_agreement, extra) for r in readings]
    return _text_table(fmt, header, rows, len(member_names))


def _render_numbers(fmt, readings, class_names, member_names, min_agreement, summary) -> str:
    from .numbers import NUMBER_COLUMNS, number_cells, number_record
    if fmt == "json":
        doc = {"members": list(member_names), "class_names": list(class_names),
               "images": [number_record(r, class_names, member_names, min_agreement) for r in readings]}
        if summary:
            doc["labelled"] = summary
        return json.dumps(doc, indent=1) + "\n"
    header = list(NUMBER_COLUMNS) + list(member_names)
    rows = [number_cells(r, class_names, min_agreement, len(member_names)) for r in readings]
    return _text_table(fmt, header, rows, len(member_names), agreement_col=3)


def _text_table(fmt, header, rows, m, agreement_col=2) -> str:
    for row in rows:                                   # pad rows of unreadable inputs
        row += [""] * (len(header) - len(row))
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows([[_csv_safe(c) for c in row] for row in rows])
        return buf.getvalue()
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; choose from {FORMATS}")
    cells = [header] + [[f"{c}/{m}" if k == agreement_col and c != "" else f"{c:.3f}" if isinstance(c, float)
                         else _escape(str(c)) for k, c in enumerate(row)] for row in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(header))]
    lines = ["  ".join(c.ljust(wd) for c, wd in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * wd for wd in widths))
    return "\n".join(lines) + "\n"


# ---- labelled folders: accuracy, confusion matrix, report images --------------------------
def labelled_summary(readings: Sequence[Reading], class_names: Sequence[str],
                     member_names: Sequence[str]) -> dict | None:
    """Accuracy, per-member accuracy and confusion matrix over the readable labelled readings."""
    from .plots import confusion_matrix
    idx = [i for i, r in enumerate(readings) if r.label is not None and r.ok]
    unreadable = sum(1 for r in readings if r.label is not None and not r.ok)
    if not idx:
        return None
    y = np.array([readings[i].label for i in idx])                              # (n,)
    p = np.array([readings[i].prediction for i in idx])                         # (n,)
    mp = np.array([readings[i].member_predictions for i in idx]).T               # (M, n)
    conf = confusion_matrix(p, y, len(class_names))                            # (C, C) rows = true
    return {"n": len(idx), "unreadable": unreadable,
            "correct": int((p == y).sum()), "accuracy": float((p == y).mean()),
            "member_accuracy": {name: float((mp[m] == y).mean()) for m, name in enumerate(member_names)},
            "class_names": list(class_names), "confusion": conf.tolist(),
            "misclassified": [i for i in idx if readings[i].prediction != readings[i].label]}


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


# ---- labelled number folders: sequence and digit accuracy ----------------------------------
def number_summary(readings: Sequence[Reading], member_names: Sequence[str],
                   class_names: Sequence[str] | None = None) -> dict | None:
    """String (sequence) and digit accuracy over the labelled number readings.

    Every labelled input counts; one that could not be read (or where no digit was found)
    counts as read wrong, as "". Spaces (line breaks, wide gaps) are not compared: the
    digits are. Digit accuracy = 1 - (summed edit distance) / (summed label digits), >= 0.
    """
    from .numbers import edit_distance, member_texts, number_text
    names = list(class_names) if class_names is not None else [str(k) for k in range(10)]
    idx = [i for i, r in enumerate(readings) if isinstance(r.label, str)]
    if not idx:
        return None
    truth = [readings[i].label.replace(" ", "") for i in idx]
    read = [number_text(readings[i], names).replace(" ", "") for i in idx]
    edits = sum(edit_distance(p, t) for p, t in zip(read, truth))
    digits = sum(len(t) for t in truth)
    member = {}
    for m, name in enumerate(member_names):
        texts = [(member_texts(readings[i], names) or [""] * len(member_names))[m].replace(" ", "") for i in idx]
        member[name] = float(np.mean([p == t for p, t in zip(texts, truth)]))
    correct = sum(p == t for p, t in zip(read, truth))
    return {"n": len(idx), "unreadable": sum(not readings[i].ok for i in idx),
            "correct": int(correct), "sequence_accuracy": correct / len(idx),
            "digits": digits, "edits": edits, "digit_accuracy": max(0.0, 1 - edits / max(1, digits)),
            "wrong_length": sum(len(p) != len(t) for p, t in zip(read, truth)),
            "member_sequence_accuracy": member,
            "misread": [readings[i].path for i, p, t in zip(idx, read, truth) if p != t]}


def format_number_summary(s: dict, readings: Sequence[Reading] | None = None, limit: int = 20) -> str:
    lines = [f"labelled numbers: {s['n']}" + (f" ({s['unreadable']} unreadable, counted as misread)"
                                             if s["unreadable"] else ""),
             f"sequence accuracy: {100 * s['sequence_accuracy']:.2f}% ({s['correct']}/{s['n']})",
             f"digit accuracy:    {100 * s['digit_accuracy']:.2f}% ({s['edits']} edits over {s['digits']} digits;"
             f" {s['wrong_length']} numbers of the wrong length)",
             "member sequence accuracy: " + ", ".join(f"{k} {100 * v:.2f}%"
                                                      for k, v in s["member_sequence_accuracy"].items())]
    if s["misread"]:
        by_path = {r.path: r for r in readings} if readings is not None else {}
        lines.append(f"misread ({len(s['misread'])}):")
        for path in s["misread"][:limit]:
            r = by_path.get(path)
            got = "" if r is None else (r.extra.get("text") if r.ok else f"({r.status})")
            lines.append(f"  {_escape(path)}: read {got!r}, label {r.label if r is not None else '?'}")
        if len(s["misread"]) > limit:
            lines.append(f"  ... and {len(s['misread']) - limit} more (JSON output lists them all)")
    return "\n".join(lines) + "\n"


def _font(size: int):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:                      # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def confusion_png(s: dict, path: Path) -> None:
    from .plots import confusion_matrix_image
    title = f"ensemble accuracy {100 * s['accuracy']:.2f}% ({s['correct']}/{s['n']})"
    confusion_matrix_image(np.asarray(s["confusion"]), s["class_names"], title).save(path)


def misclassified_png(s: dict, readings: Sequence[Reading], path: Path, limit: int = 200) -> None:
    """Grid of the misclassified 28x28 inputs (3x), captioned 'true -> predicted'."""
    import torch
    from PIL import Image, ImageDraw
    names, wrong = s["class_names"], s["misclassified"][:limit]
    font, tiles = _font(12), []
    for i in wrong:
        r = readings[i]
        tile = Image.new("L", (84, 100), 0)
        img = r.image if r.image.ndim == 2 else r.image[r.extra.get("voted_cols", [-1])[-1]]   # a clip: a frame read
        tile.paste(Image.fromarray(img).resize((84, 84), Image.Resampling.NEAREST), (0, 0))
        ImageDraw.Draw(tile).text((42, 92), f"{names[r.label]} -> {names[r.prediction]}",
                                  fill=255, font=font, anchor="mm")
        tiles.append(torch.from_numpy(np.array(tile)).expand(3, -1, -1))    # (3, 100, 84)
    _save_grid(tiles, 10, "no misclassified images", font, path)


def _save_grid(tiles: list, nrow: int, empty: str, font, path: Path) -> None:
    """Tiles ((3, h, w) uint8 tensors) as one PNG grid, or a line saying `empty` when there are none."""
    from PIL import Image, ImageDraw
    from torchvision.utils import make_grid
    if not tiles:
        img = Image.new("RGB", (240, 40), "white")
        ImageDraw.Draw(img).text((10, 12), empty, fill="black", font=font)
    else:
        grid = make_grid(tiles, nrow=nrow, padding=4, pad_value=128)           # (3, H, W)
        img = Image.fromarray(grid.permute(1, 2, 0).numpy())
    img.save(path)


def misread_png(s: dict, readings: Sequence[Reading], class_names: Sequence[str], path: Path,
                limit: int = 40) -> None:
    """The misread numbers (up to `limit`), each with its digits' boxes and 'label -> read'."""
    import torch
    from PIL import Image, ImageDraw

    from .normalize import ImageError, load_gray
    from .numbers import number_text
    by_path = {r.path: r for r in readings}
    font, tiles = _font(14), []
    for p in s["misread"][:limit]:
        r = by_path[p]
        tile = Image.new("RGB", (320, 200), "white")
        try:
            gray, (_, src_w) = load_gray(p, max_side=1024, with_size=True)
            page = Image.fromarray((gray * 255).astype(np.uint8)).convert("RGB")
            sx = page.width / src_w                                     # boxes are in the file's pixels
            draw = ImageDraw.Draw(page)
            boxes = np.array([[v * sx for v in d["box"]] for d in r.extra.get("digits", [])]).reshape(-1, 4)
            for box in boxes:
                draw.rectangle(box.tolist(), outline=(220, 0, 0), width=2)
            if len(boxes):                              # the number, with a digit's height around it
                m = float(np.max(boxes[:, 3] - boxes[:, 1]))
                page = page.crop((max(0, boxes[:, 0].min() - m), max(0, boxes[:, 1].min() - m),
                                  min(page.width, boxes[:, 2].max() + m), min(page.height, boxes[:, 3].max() + m)))
            page.thumbnail((320, 170))
            tile.paste(page, ((320 - page.width) // 2, 0))
        except (ImageError, OSError):
            pass
        got = number_text(r, class_names) if r.ok else f"({r.status})"
        ImageDraw.Draw(tile).text((160, 186), f"{r.label} -> {got}", fill="black", font=font, anchor="mm")
        tiles.append(torch.from_numpy(np.array(tile)).permute(2, 0, 1))       # (3, 200, 320)
    _save_grid(tiles, 4, "no misread numbers", font, path)


# ---- --save-preprocessed ------------------------------------------------------------------
def _strip(image: np.ndarray) -> np.ndarray:
    """(28, 28) as it is; (K, 28, 28) (a clip's frames) side by side, in order: (28, 28 K)."""
    return image if image.ndim == 2 else np.concatenate(list(image), axis=1)


def _safe_part(name: str) -> str:
    """A path component that cannot climb out of the target folder."""
    name = name.replace(os.sep, "_")
    return "_" if name in ("", ".", "..") else name


def preprocessed_names(readings: Sequence[Reading]) -> list[Path]:
    """Relative PNG path for every reading, unique, inside the target folder, one suffix.

    A file from a folder argument keeps its place under the folder's name
    (scans/7/a.jpg -> scans/7/a.png); a file named directly keeps its name (a.jpg -> a.png).
    Names that would collide (x/a/1.png and y/a/1.png, a.png and a.jpg) get ~2, ~3, ...
    """
    used: set[str] = set()
    out = []
    for r in readings:
        if r.rel:
            top = os.path.basename(os.path.normpath(r.root))
            if top in ("", ".", ".."):
                top = os.path.basename(os.path.realpath(r.root)) or "root"
            parts = [top] + r.rel.split(os.sep)
        else:
            parts = [os.path.basename(os.path.normpath(r.path))]
        parts = [_safe_part(p) for p in parts]
        parts[-1] = os.path.splitext(parts[-1])[0] or "_"
        stem, k = os.path.join(*parts), 1
        name = stem + ".png"
        while name in used:
            k += 1
            name = f"{stem}~{k}.png"
        used.add(name)
        out.append(Path(name))
    return out


def save_preprocessed(readings: Sequence[Reading], out_dir: Path, numbers: bool = False) -> int:
    """Write every readable input's 28x28 network input under out_dir (a clip's read frames
    side by side in one PNG); returns how many files.

    numbers=True: every digit of a number, left to right and line by line, as <name>_<k>.png
    (k from 0), e.g. scans/2026_scan_0.png ... scans/2026_scan_3.png.
    """
    from PIL import Image
    out_dir = Path(out_dir)
    n = 0
    used: set[Path] = set()
    for r, rel in zip(readings, preprocessed_names(readings)):
        if r.image is None or (numbers and not r.ok):
            continue
        if numbers:
            stack = r.image[None] if r.image.ndim == 2 else r.image                 # (K, 28, 28)
            targets = []
            for k in range(len(stack)):
                t, j = rel.with_name(f"{rel.stem}_{k}.png"), 1
                while t in used:
                    j += 1
                    t = rel.with_name(f"{rel.stem}_{k}~{j}.png")
                used.add(t)
                targets.append(t)
            pairs = zip(stack, targets)
        else:
            pairs = [(_strip(r.image), rel)]
        for img, t in pairs:
            target = out_dir / t
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(target, format="PNG")
            n += 1
    return n
