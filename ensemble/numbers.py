"""Read whole numbers: segment the digits, normalize and vote on each one like a single digit.

    from ensemble import Ensemble
    from ensemble.numbers import NumberMode, read_number
    ens = Ensemble()
    r = read_number(ens, "meter.jpg")          # a path, encoded bytes or an (H, W) array
    r.extra["text"], r.agreement               # "2026", the weakest digit's agreement
    r.extra["digits"]                          # per digit: prediction, agreement, confidence, box...
    readings = Reader(ens, mode=NumberMode()).read(find_inputs(["forms/"], ens.class_names).items)

An image becomes candidate digits (lines, pieces, cuts; each candidate normalized like a single
digit) in ensemble/segment.py's `segment`, in the worker processes. Then
(`NumberMode.combine`, once per chunk): per line, the best path through the pieces wins
(dynamic programming): a candidate digit scores bias + weights . features, from the members'
vote on it (log confidence, agreement, margin between the top two classes, the least sure
member's probability, the class voted), how its aspect ratio fits the class they read,
whether it is too low or too wide, how many pieces, components and cuts it took, how much
ink those cuts cross, and whether the one-digit verifier (ensemble/verifier.py, a small CNN
trained on candidates of numbers rendered from MNIST training digits) sees one whole digit
rather than two run together or a piece of one (`Scoring`, `span_features`); a piece left
out costs `skip_piece` (small) or `skip_digit` (digit-sized). A candidate at least half a text
height wide whose likeliest pair the pair reader (ensemble/pairs.py: two touching digits that no
cut separates) gives at least 0.5 is also an option read as those two digits, scored by `PairScoring`. So a broken 0 stays one digit when the members read it whole
more surely than its halves, and two touching digits are split at the
cut whose halves both read well. Thresholds were chosen and the weights fitted (structured
perceptron, benchmarks/tune_numbers.py) on numbers rendered from the MNIST validation split,
never on test.

`text`: each line's digits; a gap wider than 1.2 H inside a line, a dash or a point between digits
(ensemble/segment.py's `_dash`, `_point`: no candidate) and every line break become one space ("12 345",
2026-11-24 -> "2026 11 24", 12.50 -> "12 50"). JSON also gives the lines as a list.
"""
from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass

import numpy as np

from .reading import Found, Item, Prepared, Reading, decode_gray, failure_reason, vote_into
from .segment import Segmentation, SegmentParams, segment  # noqa: F401  (segment: part of this API)

FEATURES = ("log_confidence", "agreement", "margin", "aspect_z2", "short", "wide", "pieces",
            "cut_left", "cut_right", "cut_inside", "loose", "cut_strokes", "cut_ink", "components",
            "least_member", "components_doubt", "pieces_doubt", *(f"class_{c}" for c in range(10)), "verify")


@dataclass(frozen=True)
class Scoring:
    """How the members' votes on candidate digits choose the segmentation.

    Each candidate digit scores bias + weights . features (FEATURES, `span_features`): how sure
    the members are of it (the least sure one too; joining components or pieces on a small margin
    costs more), which class they voted (a bias per class), how its aspect ratio fits the class
    they read, whether it is too low or too wide for a digit, how many pieces, components and
    cuts it is made of, and the one-digit verifier's logit. A line's segmentation is the path
    through its pieces with the largest summed score (`best_path`). The weights were fitted by a
    structured perceptron on numbers rendered from the validation split
    (benchmarks/tune_numbers.py): whenever the best path misread a number, the weights moved
    towards the best path that read it right.
    """

    # fitted by `python benchmarks/tune_numbers.py --n 200 --seed 0,5,6,7,8,9,10,11,12,13 --check-seed 18,19`
    # (validation split only: 10 render seeds to fit, 2 fresh ones to check, on the candidates of the
    # segmentation with bridge cuts, with the one-digit verifier's feature; adopted by the rule in
    # benchmarks/RESULTS.md, "A one-digit verifier")
    weights: tuple = (-0.394, -2.972, 2.465, -0.222, -6.507, -2.096, -0.726, -2.042, -1.35, -3.215, -0.314,
                      -0.083, -0.284, 0.136, 2.393, -1.731, -1.066,
                      0.387, -1.046, -0.897, 0.056, 1.058, 0.356, -0.172, -0.928, 0.412, 1.55, 1.134)
    bias: float = -0.015
    aspect: tuple = ((0.929, 0.185), (0.456, 0.198), (0.946, 0.196), (0.802, 0.165), (0.821, 0.175),
                     (0.956, 0.235), (0.741, 0.146), (0.78, 0.169), (0.773, 0.17), (0.687, 0.131))
    #                per class: a true candidate digit's width / height, mean and std
    skip_piece: float = 5.448     # cost of dropping a small piece as noise
    skip_digit: float = 5.111     # cost of dropping a digit-sized piece

    def __post_init__(self):
        if len(self.weights) != len(FEATURES):
            raise ValueError(f"weights must have {len(FEATURES)} values ({', '.join(FEATURES)})")


@functools.lru_cache(maxsize=1)
def _shipped_pair_reader():
    """The shipped pair reader, loaded once per process."""
    from .pairs import PairReader
    return PairReader.load()


@functools.lru_cache(maxsize=1)
def _shipped_verifier():
    """The shipped verifier, loaded once per process (read_number makes a NumberMode per call)."""
    from .verifier import Verifier
    return Verifier.load()


# ---- choosing the segmentation: the members' votes on the candidates ----------------------
def best_path(line: dict, score: np.ndarray, scoring: Scoring) -> list[int]:
    """Candidate indices (into the line's spans) of the best segmentation of one line.

    Dynamic programming over piece boundaries 0..n: a span [i, j) moves from i to j and earns
    its score; a piece may be dropped (i -> i + 1) at a cost (noise, or a piece no candidate
    covers). score: (len(spans),) each candidate's score.
    """
    n = line["n"]
    best = np.full(n + 1, -np.inf)
    best[0] = 0.0
    how: list[tuple[int, int] | None] = [None] * (n + 1)          # (from, span index or -1)
    by_start: dict[int, list[int]] = {}
    for s, (i, _j, _k) in enumerate(line["spans"]):
        by_start.setdefault(i, []).append(s)
    for i in range(n):
        if best[i] == -np.inf:
            continue
        skip = best[i] - (scoring.skip_digit if line["main"][i] else scoring.skip_piece)
        if skip > best[i + 1]:
            best[i + 1], how[i + 1] = skip, (i, -1)
        for s in by_start.get(i, []):
            j = line["spans"][s][1]
            v = best[i] + score[s]
            if v > best[j]:
                best[j], how[j] = v, (i, s)
    path, j = [], n
    while j > 0:
        i, s = how[j]
        if s >= 0:
            path.append(s)
        j = i
    return path[::-1]


def _joined(line: dict, rows=None) -> np.ndarray:
    """(len(spans),) digit-sized components each candidate joins (a broken digit: 2), less one; only
    for the spans `rows` when given."""
    main = [(b, q if q >= 0 else -2 - b) for b, (q, m) in enumerate(zip(line["parents"], line["main"])) if m]
    spans = line["spans"] if rows is None else [line["spans"][r] for r in rows]
    comps = np.array([len({c for b, c in main if i <= b < j}) for i, j, _k in spans], np.float64)
    return np.maximum(comps - 1, 0)


def span_features(line: dict, vote: dict, scoring: Scoring) -> np.ndarray:
    """(len(spans), len(FEATURES)) features of a line's candidate digits; vote holds per
    candidate image "pred", "agree" (/ members), "conf" and "margin" arrays (K,)."""
    k = np.array([s[2] for s in line["spans"]], np.int64)
    i = np.array([s[0] for s in line["spans"]], np.int64)
    j = np.array([s[1] for s in line["spans"]], np.int64)
    w = np.asarray(line["widths"], np.float64)
    h = np.asarray(line["heights"], np.float64)
    mean, std = np.asarray(scoring.aspect, np.float64)[vote["pred"][k]].T
    cuts = np.zeros(line["n"] + 1, bool)
    cuts[line["cuts"]] = True
    inside = np.concatenate([[0], np.cumsum(cuts[1:])])                 # cuts strictly before piece b
    main = np.concatenate([[0], np.cumsum(line["main"])])
    runs = np.where(cuts[:-1], np.asarray(line["cut_runs"], np.float64), 0.0)      # (n,) at each left edge
    ink = np.where(cuts[:-1], np.asarray(line["cut_ink"], np.float64), 0.0)
    runs, ink = np.append(runs, 0.0), np.append(ink, 0.0)               # (n + 1,) the line's end: no cut
    joined, pieces = _joined(line), j - i - 1.0                          # (S,) each
    doubt = 1.0 - vote["margin"][k]                                      # joining on a small margin
    onehot = np.eye(10)[np.clip(vote["pred"][k], 0, 9)]                    # (S, 10) the class voted
    return np.concatenate([np.stack([
        np.log(np.maximum(vote["conf"][k], 1e-4)), vote["agree"][k], vote["margin"][k],
        np.minimum(((w / np.maximum(h, 1e-3) - mean) / std) ** 2, 9.0),
        np.maximum(0.0, 0.75 - h), np.maximum(0.0, w - 1.0), pieces,
        cuts[i], cuts[j], inside[j - 1] - inside[i], (main[j] - main[i]) == 0,
        runs[i] + runs[j], ink[i] + ink[j], joined,
        vote["least"][k], joined * doubt, pieces * doubt], 1), onehot,
        vote["verify"][k][:, None] / 4.0], 1).astype(np.float64)          # the verifier's logit, in +-2


def span_scores(line: dict, vote: dict, scoring: Scoring) -> np.ndarray:
    """Each candidate digit's score, bias + weights . features (len(spans),)."""
    if not line["spans"]:
        return np.zeros(0)
    return scoring.bias + span_features(line, vote, scoring) @ np.asarray(scoring.weights, np.float64)


PAIR_FEATURES = ("pair", "log_pair", "log_not_pair", "verify", "width", "short", "components")


@dataclass(frozen=True)
class PairScoring:
    """How a candidate read as two touching digits (the pair reader, ensemble/pairs.py) scores.

    A candidate at least `min_width` H wide, whose likeliest pair the pair reader gives at least
    `min_prob`, is also offered as a two-digit option in the best-path search; it scores
    weights . PAIR_FEATURES (`pair_features`) in place of two digits.
    Fitted like `Scoring` (benchmarks/tune_numbers.py, validation renders only), with `Scoring` held.
    """

    # fitted by `python benchmarks/tune_numbers.py --pairs-only --n 200 --seed 0,5,6,7,8,9 --check-seed 18,19`
    # (validation split only; Scoring held as shipped; adopted by the rule in benchmarks/RESULTS.md,
    # "A pair reader for touching digits")
    weights: tuple = (-0.476, 5.44, -0.954, 0.816, -3.579, -6.111, -2.087)
    min_width: float = 0.5        # H: narrower candidates are never two digits
    min_prob: float = 0.5         # ... nor those whose likeliest pair the pair reader gives less than this
                                  # (where every reading of a hard digit scores badly, a doubtful pair
                                  # must not win for lack of better)

    def __post_init__(self):
        if len(self.weights) != len(PAIR_FEATURES):
            raise ValueError(f"weights must have {len(PAIR_FEATURES)} values ({', '.join(PAIR_FEATURES)})")
        if not self.min_width >= 0 or not 0 <= self.min_prob <= 1:
            raise ValueError(f"min_width must be >= 0 and min_prob in [0, 1], got {self.min_width}, {self.min_prob}")


def pair_features(line: dict, vote: dict, rows) -> np.ndarray:
    """(len(rows), len(PAIR_FEATURES)) features of the line's spans `rows` read as pairs; vote["pair"]:
    (K, 101) the pair reader's probabilities (pairs 00..99, not a pair)."""
    rows = np.asarray(rows, np.int64)
    k = np.array([line["spans"][r][2] for r in rows], np.int64)
    p = np.asarray(vote["pair"], np.float64)[k]                          # (R, 101)
    w = np.asarray(line["widths"], np.float64)[rows]
    h = np.asarray(line["heights"], np.float64)[rows]
    return np.stack([np.ones(len(k)), np.log(np.maximum(p[:, :100].max(1), 1e-4)),
                     np.log(np.maximum(p[:, 100], 1e-4)), vote["verify"][k] / 4.0, w,
                     np.maximum(0.0, 0.75 - h), _joined(line, rows)], 1)   # joined: two digits apart are no pair


def line_options(line: dict, vote: dict, scoring: Scoring, pairs: PairScoring | None = None) -> tuple:
    """A line's reading options: (line with the options as spans, their scores, their texts).

    Every candidate is an option read as one digit; with the pair reader's probabilities in
    vote["pair"] and `pairs`, every candidate at least pairs.min_width H wide whose likeliest pair
    has at least pairs.min_prob is one more option read as two digits (after the candidates: a
    path's index >= len(spans) is one; "pair_of" holds the spans they read). best_path runs on the
    result."""
    spans = line["spans"]
    score = span_scores(line, vote, scoring)
    texts = [str(int(vote["pred"][k])) for _i, _j, k in spans]
    if pairs is None or "pair" not in vote or not spans:
        return line, score, texts
    p = np.asarray(vote["pair"], np.float64)[[k for _i, _j, k in spans], :100]            # (S, 100)
    ok = np.flatnonzero((np.asarray(line["widths"], np.float64) >= pairs.min_width) & (p.max(1) >= pairs.min_prob))
    if not len(ok):
        return line, score, texts
    f = pair_features(line, vote, ok)
    extra = {**line, "spans": list(spans) + [spans[s] for s in ok], "pair_of": ok}     # the pair options last
    return (extra, np.concatenate([score, f @ np.asarray(pairs.weights, np.float64)]),
            texts + [f"{t // 10}{t % 10}" for t in p[ok].argmax(1)])


def candidate_votes(probs: np.ndarray, cands: list[Reading], verify: np.ndarray, pair=None) -> dict:
    """The vote summary `span_features` needs, from (M, K, C) probabilities, voted readings and
    the one-digit verifier's logits (K,) (ensemble/verifier.py); pair: the pair reader's (K, 101)
    probabilities (ensemble/pairs.py), or None."""
    mean = probs.mean(0)                                                  # (K, C)
    top2 = np.sort(mean, axis=1)[:, -2:] if mean.shape[1] > 1 else np.zeros((len(mean), 2))
    pred = np.array([c.prediction for c in cands], np.int64)             # (K,)
    return {"pred": pred,
            "agree": np.array([c.agreement for c in cands], np.float64) / probs.shape[0],
            "conf": np.array([c.confidence for c in cands], np.float64),
            "margin": top2[:, 1] - top2[:, 0],
            "least": probs[:, np.arange(len(pred)), pred].min(0),       # the least sure member's p(voted class)
            "verify": np.asarray(verify, np.float64),
            **({} if pair is None else {"pair": np.asarray(pair, np.float64)})}


def pair_digits(c: Reading, pair: np.ndarray, box, line: int) -> list[dict]:
    """The two digits of a candidate read as a pair: pair (101,) the pair reader's probabilities.
    Each digit's confidence is the pair's probability; its agreement is how many members voted
    its class on the pair's crop (they read one digit there: usually one side of the pair, so the
    weaker digit flags the number for review); the box is split at its middle."""
    ab = int(np.argmax(pair[:100]))
    x0, y0, x1, y1 = box
    mid = (x0 + x1) // 2
    votes = list(c.member_predictions)
    return [{"line": line, "prediction": d, "agreement": sum(v == d for v in votes),
             "confidence": float(pair[ab]), "tie_break": False, "member_predictions": votes,
             "box": b, "pair": True}
            for d, b in ((ab // 10, [x0, y0, mid, y1]), (ab % 10, [mid, y0, x1, y1]))]


class NumberMode:
    """Each image holds a number (one or more lines of digits): segment, vote per digit.

    A video (or animated GIF/WebP) is a number being written: the still frames at its end are
    read (ensemble/video.py picks them as for one digit: the last still run in which a number
    is found, at most READ_FRAMES of its last frames; else the clip's last frames), each frame
    on its own like an image. The answer is the text most of those frames read; a tie goes to
    the frame whose weakest digit has the most agreeing members, then the highest confidence,
    then the latest. That frame's digits, boxes (in the decoded frame's pixels, <= 384 px) and
    agreement are the reading's; extra["video"] lists every frame's text.
    """

    name = "number"

    def __init__(self, params: SegmentParams | None = None, scoring: Scoring | None = None,
                 class_names=None, max_frames: int | None = None, verifier=None,
                 pairs: "PairScoring | None" = PairScoring(), pair_reader=None):
        from .video import MAX_FRAMES
        if max_frames is not None and max_frames < 1:
            raise ValueError("max_frames must be at least 1")
        self.params = params or SegmentParams()
        self.scoring = scoring or Scoring()
        # the one-digit verifier (ensemble/verifier.py): a Verifier, or its weight file's path;
        # None: the shipped one. A path is loaded in the main process on first use
        # (`load_verifier`), never in the workers, which only segment.
        self.verifier = verifier
        self._verifier = verifier if not isinstance(verifier, (str, os.PathLike, type(None))) else None
        # the pair reader (ensemble/pairs.py): a PairReader or its file's path (None: the shipped one),
        # used as the verifier is; pairs=None reads no candidate as two digits
        self.pairs, self.pair_reader = pairs, pair_reader
        self._pair_reader = pair_reader if not isinstance(pair_reader, (str, os.PathLike, type(None))) else None
        self.class_names = list(class_names) if class_names is not None else None   # text: str(index) without
        self.max_frames = max_frames or MAX_FRAMES

    def prepare(self, item: Item) -> Prepared:
        """Runs in the worker processes; never raises."""
        from .reading import check_path
        from .video import is_video
        if item.status is not None:
            return Prepared(item.status, np.zeros((0, 28, 28), np.uint8))
        try:
            check_path(item)                      # before anything opens it (FIFOs block)
            if is_video(item):
                return self._prepare_clip(item)
            gray, shape = decode_gray(item, with_size=True)     # the source's size: no second look at its header
            seg = segment(gray, self.params, item, source_shape=shape)
        except Exception as e:                    # nothing about one image may stop the run
            return Prepared(failure_reason(e), np.zeros((0, 28, 28), np.uint8))
        return Prepared("ok", seg.images, {"lines": seg.lines, "boxes": seg.boxes.tolist(),
                                           "height": seg.height})

    def _prepare_clip(self, item: Item) -> Prepared:
        """The read frames' candidates, one after another: info["frames"] says whose are which."""
        from .normalize import ImageError
        from .video import choose_still, decode_clip, read_frames
        clip = decode_clip(item.data if item.data is not None else item.path, self.max_frames)
        choice = choose_still(clip.frames, clip.times)
        tries = [(read_frames(r, clip.times), True) for r in reversed(choice.runs)]
        tries.append((read_frames((0, len(clip.frames) - 1), clip.times), False))
        for idx, still in tries:                  # the last still run in which a number is found
            frames, images, start = [], [], 0
            for i in idx:
                try:
                    seg = segment(clip.frames[i], self.params)
                except ImageError:
                    continue
                frames.append({"index": i, "time": float(clip.times[i]), "start": start, "lines": seg.lines,
                               "boxes": seg.boxes.tolist()})
                images.append(seg.images)
                start += len(seg.images)
            if frames:
                return Prepared("ok", np.concatenate(images), {
                    "video": True, "frames": frames, "still": still, "sampled": len(clip.frames),
                    "span": (float(clip.times[idx[0]]), float(clip.times[idx[-1]]))})
        raise ImageError("no digit found in any still frame of the clip")

    def load_verifier(self):
        """The Verifier (loading it on first call: raises WeightFileError if its file is missing or bad)."""
        from .verifier import Verifier
        if self._verifier is None:
            self._verifier = _shipped_verifier() if self.verifier is None else Verifier.load(self.verifier)
        return self._verifier

    def load_pair_reader(self):
        """The PairReader (loaded on first call: raises WeightFileError if its file is missing or bad)."""
        from .pairs import PairReader
        if self._pair_reader is None:
            self._pair_reader = _shipped_pair_reader() if self.pair_reader is None else PairReader.load(self.pair_reader)
        return self._pair_reader

    def __getstate__(self):
        # to the workers (they only segment) and copies: a net loaded from a file stays here; the
        # copy loads it again from the same file if it needs it (a Verifier given as such travels)
        return {**self.__dict__, "_verifier": self._verifier if self._verifier is self.verifier else None,
                "_pair_reader": self._pair_reader if self._pair_reader is self.pair_reader else None}

    def combine(self, readings: list[Reading], prepared: list[Prepared], probs: list[np.ndarray]) -> None:
        """Vote on every candidate of the chunk at once (M, sum K, C), verify each one (sum K,),
        then pick each number's digits."""
        if not readings:
            return
        cands = [Reading("") for _ in range(sum(pr.shape[1] for pr in probs))]
        vote_into(cands, np.concatenate(probs, axis=1))
        images = np.concatenate([p.images for p in prepared])                            # (sum K, 28, 28)
        verify = self.load_verifier()(images)                                             # (sum K,)
        pair = self._pair_probs(prepared, images)                                        # (sum K, 101)
        start = 0
        for r, p, pr in zip(readings, prepared, probs):
            part = slice(start, start + pr.shape[1])
            start += pr.shape[1]
            if p.info.get("video"):
                self._fill_clip(r, p, cands[part], pr, verify[part], pair[part])
            else:
                self._fill(r, p, cands[part], candidate_votes(pr, cands[part], verify[part], pair[part]))

    def _pair_probs(self, prepared: list[Prepared], images: np.ndarray) -> np.ndarray:
        """The pair reader's (sum K, 101) probabilities, read only for the candidates wide enough to
        be a pair (`PairScoring.min_width`); the others, and all with pairs=None, are "not a pair"."""
        from .pairs import NOT_PAIR
        wide = np.zeros(len(images), bool)
        start = 0
        for p in prepared if self.pairs is not None else []:
            for f in p.info.get("frames") or [{"start": 0, "lines": p.info.get("lines") or []}]:
                for line in f["lines"]:
                    for (_i, _j, k), w in zip(line["spans"], line["widths"]):
                        wide[start + f["start"] + k] |= w >= self.pairs.min_width
            start += len(p.images)
        out = np.zeros((len(images), NOT_PAIR + 1))
        out[:, NOT_PAIR] = 1.0
        if wide.any():
            out[wide] = self.load_pair_reader()(images[wide])
        return out

    def _fill_clip(self, r: Reading, p: Prepared, cands: list[Reading], probs: np.ndarray,
                   verify: np.ndarray, pair: np.ndarray) -> None:
        """Read every frame like an image; the text most frames read wins (see the class)."""
        from collections import Counter
        frames = p.info["frames"]
        ends = [f["start"] for f in frames[1:]] + [len(cands)]
        read = []                                  # (Reading, Prepared) per frame
        for f, end in zip(frames, ends):
            fr, fp = Reading(r.path), Prepared("ok", np.zeros((0, 28, 28), np.uint8),
                                               {"lines": f["lines"], "boxes": f["boxes"]})
            part = slice(f["start"], end)
            self._fill(fr, fp, cands[part], candidate_votes(probs[:, part], cands[part], verify[part], pair[part]))
            read.append((fr, fp, f))
        ok = [(k, x) for k, x in enumerate(read) if x[0].ok]
        t0, t1 = p.info["span"]
        r.extra["video"] = {"start_s": round(t0, 3), "end_s": round(t1, 3), "still": p.info["still"],
                            "frames_sampled": p.info["sampled"],
                            "frames": [{"time_s": round(f["time"], 3), "text": fr.extra.get("text"),
                                        "agreement": fr.agreement if fr.ok else None} for fr, _, f in read]}
        r.extra["record"] = {"video": r.extra["video"]}                   # JSON field
        if not ok:
            r.status = "no digit found"
            return
        votes = Counter(fr.extra["text"] for _, (fr, _, _) in ok)
        _, (best, bp, f) = max(ok, key=lambda kx: (votes[kx[1][0].extra["text"]], kx[1][0].agreement,
                                                    kx[1][0].confidence, kx[0]))
        r.agreement, r.confidence, r.tie_break = best.agreement, best.confidence, best.tie_break
        r.extra.update({k: best.extra[k] for k in ("text", "words", "digits", "candidates")})
        r.extra["video"]["frames_agreeing"] = votes[best.extra["text"]]
        p.info["selected"] = [f["start"] + k for k in bp.info["selected"]]

    def _fill(self, r: Reading, p: Prepared, cands: list[Reading], vote: dict) -> None:
        name = (lambda k: self.class_names[k]) if self.class_names is not None else str
        digits, words, selected = [], [], []
        for li, line in enumerate(p.info["lines"]):
            opts, score, _texts = line_options(line, vote, self.scoring, self.pairs)
            path = best_path(opts, score, self.scoring)
            breaks = set(line["breaks"])
            word = ""
            for s in path:
                i, _j, k = opts["spans"][s]
                if word and any(b <= i for b in breaks):
                    words.append(word)
                    word = ""
                breaks = {b for b in breaks if b > i}
                c = cands[k]
                if s < len(line["spans"]):
                    digits.append({"line": li, "prediction": c.prediction, "agreement": c.agreement,
                                   "confidence": c.confidence, "tie_break": c.tie_break,
                                   "member_predictions": c.member_predictions, "box": p.info["boxes"][k],
                                   "pair": False})
                    word += name(c.prediction)
                    selected.append(k)
                else:                             # read as two touching digits by the pair reader
                    for d in pair_digits(c, vote["pair"][k], p.info["boxes"][k], li):
                        digits.append(d)
                        word += name(d["prediction"])
                        selected.append(k)        # one kept image per digit: both show the pair's crop
            if word:
                words.append(word)
        p.info["selected"] = selected
        if not digits:
            r.status = "no digit found"
            return
        weakest = min(digits, key=lambda d: (d["agreement"], d["confidence"]))
        r.agreement, r.confidence = weakest["agreement"], weakest["confidence"]
        r.tie_break = any(d["tie_break"] for d in digits)
        r.extra.update({"text": " ".join(words), "words": [len(w) for w in words], "digits": digits,
                        "candidates": len(cands)})


def number_text(r: Reading, class_names) -> str:
    """The number as text: digits by class name, words (lines, wide gaps) joined by one space."""
    if not r.ok or "digits" not in r.extra:
        return ""
    return " ".join(_words(r, [class_names[d["prediction"]] for d in r.extra["digits"]]))


def _words(r: Reading, names: list[str]) -> list[str]:
    out, k = [], 0
    for n in r.extra["words"]:                    # digits per word
        out.append("".join(names[k:k + n]))
        k += n
    return out


def member_texts(r: Reading, class_names) -> list[str]:
    """Each member's own reading of the number (its own class for every chosen digit)."""
    if not r.ok or "digits" not in r.extra:
        return []
    M = len(r.extra["digits"][0]["member_predictions"])
    return [" ".join(_words(r, [class_names[d["member_predictions"][m]] for d in r.extra["digits"]]))
            for m in range(M)]


def read_number(ensemble, image, name: str | None = None, **reader_args) -> Reading:
    """Read one number: `image` is a path, encoded bytes or an (H, W) grayscale array."""
    from .reading import Reader
    reader = Reader(ensemble, mode=NumberMode(class_names=ensemble.class_names), **reader_args)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return reader.read_bytes(bytes(image), name=name or "upload")
    if isinstance(image, np.ndarray):
        return reader.read_gray(image, name=name or "array")
    return reader.read([Item(str(image), root=str(image))], workers=0)[0]


# ---- labelled number folders ---------------------------------------------------------------
_LEADING = re.compile(r"(\d+)(?:[ _\-.,+]|$)")
_LABEL = re.compile(r"[0-9]+( [0-9]+)*")


def label_numbers(found: Found) -> Found:
    """Give the items of each folder argument their number label, in place; returns `found`.

    A folder with a `labels.csv` (rows `file,label`; file relative to that folder, or just its
    name; a header row `file,label` is allowed) is labelled by it: files it does not list stay unlabelled.
    Otherwise a folder is labelled when every image's name starts with digits followed by a
    separator (_ - . , + space) or nothing: `2026_scan.jpg` -> "2026". Labels are digit strings;
    a space may separate lines ("12 345"). Class-folder labels (single digits) are dropped.
    Raises ValueError for a malformed labels.csv.
    """
    by_root: dict[str, list[Item]] = {}
    for it in found.items:
        it.label = None
        if it.rel:
            by_root.setdefault(it.root, []).append(it)
    found.labelled = []
    for root, items in by_root.items():
        table = os.path.join(root, "labels.csv")
        if os.path.isfile(table):
            labels = read_labels_csv(table)
            names = {}
            for key, value in labels.items():
                names.setdefault(os.path.basename(key), []).append(value)
            for it in items:
                rel = it.rel.replace(os.sep, "/")
                hit = labels.get(rel)
                if hit is None and len(names.get(os.path.basename(rel), [])) == 1:
                    hit = names[os.path.basename(rel)][0]
                it.label = hit
            if any(it.label is not None for it in items):
                found.labelled.append(root)
            continue
        stems = [_LEADING.match(os.path.basename(it.rel)) for it in items]
        if all(stems):
            for it, m in zip(items, stems):
                it.label = m.group(1)
            found.labelled.append(root)
    return found


def read_labels_csv(path: str) -> dict[str, str]:
    """labels.csv -> {relative path (with /): digit string}. Raises ValueError with the line."""
    import csv
    out: dict[str, str] = {}
    first = True
    with open(path, newline="", encoding="utf-8-sig") as f:
        for n, row in enumerate(csv.reader(f), 1):
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            if len(row) < 2:
                raise ValueError(f"{path}:{n}: expected two columns file,label; got {row!r}")
            name, label = row[0].strip().replace("\\", "/"), " ".join(row[1].split())
            name = name[2:] if name.startswith("./") else name
            if not _LABEL.fullmatch(label):
                if first and label.lower() in ("label", "labels", "number", "text", "digits", "value"):
                    first = False                          # a header row
                    continue
                raise ValueError(f"{path}:{n}: label {row[1]!r} is not a number (digits, spaces between lines)")
            first = False
            out[name] = label
    return out


# ---- rows: one record per number -----------------------------------------------------------
NUMBER_COLUMNS = ("path", "text", "digits", "agreement", "confidence", "status", "review", "label",
                  "digit_agreement", "digit_confidence")


def number_record(r: Reading, class_names, member_names, min_agreement: int | None = None) -> dict:
    """The JSON record of one number reading (vote.py --number --format json, the HTTP API).

    `agreement`/`confidence` are the weakest digit's (the one with the fewest agreeing members,
    then the lowest confidence); `review` compares that agreement with min_agreement. Boxes are
    x0, y0, x1, y1 in the source image's pixels; `line` counts from 0, top to bottom; `pair`: one
    of two touching digits read together by the pair reader (`pair_digits`).
    """
    from .reading import review_flag
    ok = r.ok and "digits" in r.extra
    digits = r.extra.get("digits", []) if ok else []
    rec = {"path": r.path, "status": r.status,
           "text": number_text(r, class_names) if ok else None,
           "lines": _lines(r, class_names) if ok else None,
           "digits": [{"index": k, "line": d["line"], "prediction": d["prediction"],
                       "class_name": class_names[d["prediction"]], "agreement": d["agreement"],
                       "confidence": round(d["confidence"], 4), "tie_break": d["tie_break"],
                       "box": list(d["box"]), "members": dict(zip(member_names, d["member_predictions"])),
                       "pair": bool(d.get("pair", False))}
                      for k, d in enumerate(digits)] if ok else None,
           "agreement": r.agreement if ok else None, "members_total": len(member_names),
           "confidence": round(r.confidence, 4) if ok else None,
           "review": review_flag(r, min_agreement) if ok else "",
           "label": r.label,
           "members": dict(zip(member_names, member_texts(r, class_names))) if ok else None}
    rec.update(r.extra.get("record", {}))           # mode-specific fields (a clip's frames)
    return rec


def _lines(r: Reading, class_names) -> list[str]:
    words = _words(r, [class_names[d["prediction"]] for d in r.extra["digits"]])
    lines: dict[int, list[str]] = {}
    k = 0
    for w, n in zip(words, r.extra["words"]):
        lines.setdefault(r.extra["digits"][k]["line"], []).append(w)
        k += n
    return [" ".join(ws) for _, ws in sorted(lines.items())]


def number_cells(r: Reading, class_names, min_agreement: int | None, members: int) -> list:
    """One table/CSV row: NUMBER_COLUMNS, then each member's own reading of the number."""
    from .reading import review_flag
    ok = r.ok and "digits" in r.extra
    digits = r.extra.get("digits", []) if ok else []
    return ([r.path, number_text(r, class_names) if ok else "", len(digits) if ok else "",
             r.agreement if ok else "", round(r.confidence, 4) if ok else "", r.status,
             review_flag(r, min_agreement) if ok else "", "" if r.label is None else str(r.label),
             " ".join(str(d["agreement"]) for d in digits),
             " ".join(f"{d['confidence']:.3f}" for d in digits)]
            + (member_texts(r, class_names) if ok else [""] * members))


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions) between two strings."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
