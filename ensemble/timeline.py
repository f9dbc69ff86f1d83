"""A clip's timeline: the ensemble's reading of every sampled frame, so a user sees when the
answer settled. vote.py --timeline FILE writes it (CSV, or JSON for a .json name); --report
DIR draws it (timeline.png).

    from ensemble.timeline import timeline_records, render_timeline, timeline_png
    rows = timeline_records(readings, class_names)     # one dict per sampled frame of each clip
    text = render_timeline("csv", readings, class_names)
    timeline_png(readings, class_names, "out/timeline.png")

Readings carry a timeline when the reading mode was made with timeline=True
(`DigitMode(timeline=True)`): Reading.extra["timeline"] is a list of per-frame dicts.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Sequence

from .reading import Reading

COLUMNS = ("path", "time_s", "prediction", "agreement", "confidence", "status", "read", "change")
# one colour per class (Tableau 10): the answer's colour is visible at a glance
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


def with_timeline(readings: Sequence[Reading]) -> list[Reading]:
    return [r for r in readings if r.extra.get("timeline")]


def timeline_records(readings: Sequence[Reading], class_names: Sequence[str]) -> list[dict]:
    """One record per sampled frame of every clip: path, time_s, prediction (class name, or
    None where no digit was found), agreement (members), confidence, status, read (this frame
    was among those voted on for the clip's answer), change (from the previous frame)."""
    out = []
    for r in with_timeline(readings):
        for f in r.extra["timeline"]:
            out.append({"path": r.path, "time_s": f["time_s"],
                        "prediction": None if f["prediction"] is None else class_names[f["prediction"]],
                        "agreement": f["agreement"], "confidence": f["confidence"],
                        "status": f["status"], "read": f["read"], "change": f["change"]})
    return out


def render_timeline(fmt: str, readings: Sequence[Reading], class_names: Sequence[str]) -> str:
    """The timeline as "csv" or "json" text."""
    rows = timeline_records(readings, class_names)
    if fmt == "json":
        return json.dumps({"class_names": list(class_names), "frames": rows}, indent=1) + "\n"
    if fmt != "csv":
        raise ValueError(f"unknown timeline format {fmt!r}; choose csv or json")
    buf = io.StringIO()
    w = csv.DictWriter(buf, COLUMNS, lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buf.getvalue()


def timeline_png(readings: Sequence[Reading], class_names: Sequence[str], path, limit: int = 40) -> int:
    """One strip per clip (at most `limit`): a bar per sampled frame, its height the vote's
    confidence and its colour the predicted class; the frames read are shaded. Returns the
    number of clips drawn."""
    from PIL import Image, ImageDraw

    from .outputs import _font
    clips = with_timeline(readings)[:limit]
    W, left, strip, top = 760, 200, 64, 34
    img = Image.new("RGB", (W, top + strip * max(1, len(clips)) + 8), "white")
    d = ImageDraw.Draw(img)
    font, small = _font(12), _font(10)
    for k, name in enumerate(class_names):                                 # legend
        x = left + 8 + k * 52
        d.rectangle([x, 8, x + 12, 20], fill=PALETTE[k % len(PALETTE)])
        d.text((x + 16, 8), str(name), fill="black", font=font)
    d.text((8, 8), "bar: confidence", fill="black", font=font)
    for row, r in enumerate(clips):
        y0 = top + row * strip
        frames = r.extra["timeline"]
        end = max(f["time_s"] for f in frames) or 1.0
        x_of = (lambda t: left + 8 + (W - left - 64) * t / end)           # room for the end time
        bw = max(2, (W - left - 64) / max(1, len(frames)) - 1)
        v = r.extra.get("video", {})
        base = y0 + strip - 16
        if "start_s" in v:                     # the frames read: shaded behind, a bar beneath
            x0, x1 = x_of(v["start_s"]) - bw / 2 - 1, x_of(v["end_s"]) + bw / 2 + 1
            d.rectangle([x0, y0 + 2, x1, base], fill="#e4e4e4")
            d.rectangle([x0, base + 2, x1, base + 5], fill="black")
            d.text(((x0 + x1) / 2, base + 6), "read", fill="black", font=small, anchor="ma")
        for f in frames:
            x = x_of(f["time_s"])
            if f["prediction"] is None:
                d.line([x, base - 3, x, base], fill="#999999")
                continue
            h = (strip - 22) * (f["confidence"] or 0)
            d.rectangle([x - bw / 2, base - h, x + bw / 2, base], fill=PALETTE[f["prediction"] % len(PALETTE)])
        d.line([left + 4, base + 1, x_of(end) + bw, base + 1], fill="#666666")
        d.text((left + 4, base + 3), "0 s", fill="#444444", font=small, anchor="ra")
        d.text((x_of(end) + bw + 4, base + 1), f"{end:.1f} s", fill="#444444", font=small, anchor="lm")
        name = r.path if len(r.path) <= 28 else "…" + r.path[-27:]
        answer = class_names[r.prediction] if r.ok else r.status[:24]
        d.text((8, y0 + 10), name, fill="black", font=font)
        d.text((8, y0 + 28), f"answer: {answer}", fill="black", font=font)
        if r.ok:
            d.text((8, y0 + 44), f"{r.agreement}/{len(r.member_predictions)} agree", fill="#444444", font=small)
    if not clips:
        d.text((8, top + 10), "no clip with a timeline", fill="black", font=font)
    img.save(Path(path))
    return len(clips)
