"""Segment a page into candidate digits: the first half of reading a number (ensemble/numbers.py
chooses among the candidates with the members' votes).

    from ensemble.segment import segment, SegmentParams
    seg = segment(gray)                # (H, W) grayscale -> Segmentation
    seg.images                         # uint8 (K, 28, 28) candidate digits, normalized like one digit
    seg.lines                          # per line: pieces, candidate spans (i, j, k), widths, cuts...
    seg.boxes                          # (K, 4) x0, y0, x1, y1 of each candidate in the source image

How an image becomes candidate digits (`segment`, in the worker processes):

1. a first look at <= 256 px: the page's ink (`ensemble.normalize`'s polarity and paper model),
   Otsu threshold, connected components, without page edges, boxes drawn around the writing
   (`form_frames`) and ruled lines under it (`form_rules`), here and at the working scale; the
   text height H is the median height of the big ones (among a few, the heaviest when far taller
   and the rest far under it flat: a broken digit's bar);
2. the region holding ink is decoded again, or resampled, so that H is ~32 px: small writing on
   a large photo gets the pixels it needs, a huge digit costs no more than a small one;
3. components shorter and narrower than 0.2 H are specks and no pieces (their ink stays in the
   crop of a candidate whose box holds them: mostly a light stroke's own fragments); components at least
   0.55 H tall may be digits by themselves; they are grouped into lines by vertical overlap,
   lines read top to bottom; smaller pieces join the line, and the digit whose columns they
   share (a 5's detached bar), or stay pieces of their own that the vote may join or drop; a
   flat bar across the line's middle, alone in its columns, is a dash between numbers, and a filled
   dot low between two neighbours (a speck or a piece) a point (12.50): no piece, and a word break
   (`_dash`, `_point`);
4. a component wider than 0.7 H may hold touching digits: the cheapest top-to-bottom paths
   through its ink (seams, by dynamic programming, one column per row at most, sideways steps
   cheap so that a cut can follow slanted writing) are candidate cuts, four per likely boundary
   (the cheapest often cuts through a digit, not between two); up to 1.1 H wide only one
   cut is tried, and up to 1.3 H only cuts that cross a single stroke (where two digits touch,
   never through both sides of a wide 0), straight cuts along the writing's slant among them
   (`line_cuts`: two slanted digits merged over several rows leave no cheap seam), and the
   borders between the parts its ink falls into above 0.6 and 0.8 x its core ink
   (`bridge_cuts`: where only blur joined two digits, a slanted 1 against its neighbour);
5. every piece, every run of up to 4 neighbouring pieces that could be one digit (at most
   1.3 H wide, 1.0 H when it joins digit-sized components: a broken 0; gaps under 0.25 H),
   and every cut component made whole again is a candidate digit: cropped from the ink map
   (with the faint ink between its pieces, without its neighbours' pieces) onto blank paper,
   normalized like any single digit (`normalize_ink`: the ink map is measured once, for the whole
   region), voted on by the members.

The page is read with ensemble/normalize.py's public steps (`crop_to_sheet`, `ink_map`,
`otsu`, `sample`, `MIN_CONTRAST`) and every candidate with its `normalize_ink`.
"""
from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage as ndi

from .morph import binary_dilation, distance_transform_edt, maximum_filter
from .reading import Item, decode_gray

FIRST_LOOK = 256            # px: the first look at the page (only finds the text height and where it is)
MAX_DECODE = 2048           # px: never decode larger than this for a second look
NEAR = 2 + 4 + 4            # px of paper built around a candidate digit (_candidate): its ink's rim, two blurs' reach
MAX_WORK_PIXELS = 1_500_000  # the region segmented at working scale is at most this big
TALL = 2.0                  # a stack this many times the median height sets the text height instead,
TALL_FEW = 8                # ... the heaviest, among at most this many big stacks (`text_height`)
INK_CLEAR = 20.0            # ink on much of the page is writing if it stands this many x the paper's noise clear of it
RULE_LENGTH = 2.0           # a straight level run of ink this many x H long is a ruled line (a form's, a notebook's)
RULE_THICK = 0.3            # ... where its ink is at most this many x H tall (a stroke that crosses it stays)
FRAME_SIDE = 0.9            # a box drawn around writing: each side straight along this share of it (`form_frames`)
TIGHT = 0.5                 # a crop holding less than this share of the region its writing needs gets paper around
EDGE_RIM = 3                # px around a page edge erased with it (its blurred rim)
EDGE_OVER_TEXT = 2.0        # a component spanning the page is an edge if this many times the other writing's size
EDGE_SPECK = 0.25           # ... among the others at least this share of its size (not specks)
CLEAR = (0.08, 0.15)        # a point stands this many x H clear of other ink, and of both its neighbours
                            # unless it lies about halfway between them (`_point`)


@dataclass(frozen=True)
class SegmentParams:
    """Segmentation thresholds; lengths are in units of the text height H."""

    target_height: float = 32.0   # px: H at the working scale
    sigma: float = 0.0            # working scale: blur before thresholding (the ink map is smooth)
    level: float = 0.45           # working scale: threshold >= this x the strong ink (thin masks)
    min_height: float = 0.02      # first look: H below this fraction of the long side is no text
    speck: float = 0.2            # components this small (both sides) are specks
    main: float = 0.55            # at least this tall: may be a digit by itself
    attach: float = 0.5           # a piece sharing this fraction of its columns with a digit joins it
    merge_gap: float = 0.25       # pieces further apart than this are never one digit
    max_width: float = 1.3        # a candidate digit of several pieces is at most this wide
    merge_width: float = 1.0      # ... and at most this wide when it joins digit-sized components
    split_width: float = 0.7      # components wider than this get a candidate cut
    split_more: float = 1.1       # ... wider than this: several cuts, else cuts_narrow
    cuts_narrow: int = 1          # candidate cuts in a component up to split_more wide
    cuts_per_boundary: int = 4    # ... and per likely boundary between digits in a wider one, at
                                  # least 2 (the cheapest seam often cuts a digit, not the pair: the
                                  # vote chooses)
    single_stroke: float = 1.3    # cuts in components up to this wide cross one stroke only (a wide 0)
    cut_spacing: float = 0.12     # candidate cuts at least this far apart
    min_side: float = 0.15        # a cut leaves at least this share of the ink on either side
    max_pieces: int = 4           # a candidate digit joins at most this many pieces
    word_gap: float = 1.2         # a wider gap inside a line separates two numbers
    line_overlap: float = 0.4     # vertical overlap (of the shorter) that puts two digits on one line
    seam_diag: float = 0.3        # what a cut pays for each column it moves sideways
    bridge_levels: tuple = (0.6, 0.8)   # a wide piece's ink above these x its core ink: where two
                                  # digits were only bridged by blur it falls apart, and the border
                                  # between the parts is one more candidate cut (() for none)
    link_level: float = 0.5       # pieces that a light stroke joins (ink above this x the threshold, off
                                  # the pieces: a 0's skipped top) may be one digit across any gap (at 1
                                  # only specks on the threshold's ink could join them)

    def __post_init__(self):
        for name in ("target_height", "speck", "main", "max_width", "split_width", "word_gap"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.attach <= 1 or not 0 < self.line_overlap <= 1:
            raise ValueError("attach and line_overlap must be in (0, 1]")
        if isinstance(self.link_level, bool) or not isinstance(self.link_level, numbers.Real) or \
                not 0 < self.link_level <= 1:
            raise ValueError(f"link_level must be in (0, 1], got {self.link_level!r}")
        if not isinstance(self.bridge_levels, (tuple, list)) or \
                not all(isinstance(v, (int, float)) and 0 < v < 1 for v in self.bridge_levels):
            raise ValueError(f"bridge_levels must lie in (0, 1), got {self.bridge_levels!r}")
        for name in ("max_pieces", "cuts_narrow", "cuts_per_boundary"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {v!r}")


# ---- the ink and its components ------------------------------------------------------------
def _resize(a: np.ndarray, h: int, w: int) -> np.ndarray:
    from PIL import Image
    if (h, w) == a.shape:
        return a
    resample = Image.Resampling.BICUBIC if h > a.shape[0] else Image.Resampling.BOX
    return np.asarray(Image.fromarray(np.ascontiguousarray(a, np.float32), "F").resize((w, h), resample))


def _view_offset(base: np.ndarray, view: np.ndarray) -> tuple[int, int]:
    """Row and column of `view`'s first pixel inside `base` (a slice of it), else (0, 0)."""
    if view is base or view.shape == base.shape or not np.shares_memory(base, view):
        return 0, 0
    delta = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    return delta // base.strides[0], (delta % base.strides[0]) // base.strides[1]


def ink_of(gray: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    """Light-on-dark ink map of a page (H, W) >= 0 and where it lies in `gray` (row, col)."""
    from .normalize import crop_to_sheet, ink_map
    sheet = crop_to_sheet(gray)
    return ink_map(sheet), _view_offset(gray, sheet)


@dataclass
class Components:
    """Connected components of thresholded ink: labels (H, W) and per-component stats."""

    labels: np.ndarray            # int32 (H, W), 0 = background
    boxes: np.ndarray             # int (n, 4) y0, x0, y1, x1 (exclusive)
    area: np.ndarray              # (n,) pixels
    bw: np.ndarray                # bool (H, W) thresholded ink
    faint: np.ndarray             # bool (H, W) ink above link_level x the threshold (light strokes too)

    @property
    def heights(self):
        return self.boxes[:, 2] - self.boxes[:, 0]

    @property
    def widths(self):
        return self.boxes[:, 3] - self.boxes[:, 1]


def components(ink: np.ndarray, sigma: float = 1.0, level: float = 0.2, link_level: float = 0.5) -> Components | None:
    """Threshold the ink (Otsu, above the paper's noise, at least `level` x the ink's 99.5th
    percentile), connected components; None when blank. `faint`: the ink above `link_level` x
    that threshold. The paper's noise is the spread of all pixels, or of those below Otsu where
    the ink covers a quarter of them or more and stands `INK_CLEAR` x their spread clear of them
    (a 1 cropped tight to its stroke; not noise all over the page)."""
    from .normalize import MIN_CONTRAST, otsu, sample
    paper = sample(ink)
    cut = otsu(paper)
    if np.count_nonzero(paper > cut) > 0.25 * paper.size:    # ink on much of the page (a digit cropped tight):
        lo, hi = paper[paper <= cut], paper[paper > cut]     # the median would be the ink's rims, not the paper
        mad = 1.4826 * float(np.median(np.abs(lo - np.median(lo))))
        if np.median(hi) - np.median(lo) >= INK_CLEAR * max(mad, 1e-3):    # ink, not noise all over the page
            paper = lo
    noise = 1.4826 * float(np.median(np.abs(paper - np.median(paper))))    # robust std of the paper
    smooth = ndi.gaussian_filter(ink, sigma) if sigma > 0 else ink
    peak = float(smooth.max())
    if peak < max(MIN_CONTRAST, 3 * noise):
        return None
    strong = float(np.percentile(sample(smooth), 99.5))
    t = max(otsu(sample(smooth)), 3 * noise, 0.2 * peak, level * strong)
    bw = smooth > t
    labels, n = ndi.label(bw, structure=np.ones((3, 3)))
    if n == 0:
        return None
    sl = ndi.find_objects(labels)
    boxes = np.array([[s[0].start, s[1].start, s[0].stop, s[1].stop] for s in sl])
    area = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    return Components(labels, boxes, area, bw, smooth > link_level * t)


def box_overlap(a, b) -> np.ndarray:
    """Intersection area of every box in a (K, 4) with every box in b (N, 4) -> float (K, N). Boxes are
    (lo, lo, hi, hi) in either axis order: y0 x0 y1 x1 (here) or x0 y0 x1 y1 (JSON boxes)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 1, 4), np.asarray(b, np.float64).reshape(1, -1, 4)
    d0 = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    d1 = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    return d0 * d1


def box_area(b) -> np.ndarray:
    """Area of each box of b (..., 4), either axis order (`box_overlap`)."""
    b = np.asarray(b, np.float64)
    return (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])


def page_edges(c: Components, shape, page=None, sides=(True, True, True, True)) -> np.ndarray:
    """(n,) components that touch the border and span most of the page: paper edges, shadows.

    For a region cut from a page: `page` (h, w) is the page's size in the region's pixels and
    `sides` (top, bottom, left, right) says which of the region's sides are the page's border
    (a number written against the top of a photo touches the region's top and fills its
    height, yet it is no page edge).

    Writing can span the page too: a number cropped tight, a digit drawn large on a canvas. So a
    component that touches the border and spans the page is an edge only where it is much larger
    than the other writing: more than `EDGE_OVER_TEXT` x the largest other component's size, among
    those at least `EDGE_SPECK` of its size and mostly outside its box (a dot beside a tight crop,
    or a 5's own bar, is no writing to compare with). With no such writing, only a solid one (ink
    on half its box) that runs along a side (its pixels cover half of that side's border line) is
    an edge: the table beside a sheet, a shadow along the bottom; not a 7 whose bar lies along the
    top row, nor one whose box is the page (a 1 cropped tight to its stroke)."""
    h, w = shape
    ph, pw = page if page is not None else shape
    b = c.boxes
    top, bottom, left, right = sides
    spans = ((((b[:, 0] == 0) & top) | ((b[:, 2] == h) & bottom)) & (c.heights > 0.6 * ph)) | \
            ((((b[:, 1] == 0) & left) | ((b[:, 3] == w) & right)) & (c.widths > 0.6 * pw))
    if not spans.any():
        return spans
    n = len(b)
    size = np.maximum(c.heights, c.widths)                                    # (n,)
    edges = np.zeros(n, bool)
    for k in np.flatnonzero(spans):
        # the others: not specks, and not the component's own pieces (a 5's bar in its box)
        inside = box_overlap(b, b[k])[:, 0] >= 0.5 * box_area(b)
        others = ~spans & ~inside & (size >= EDGE_SPECK * size[k])
        if others.any():
            edges[k] = size[k] > EDGE_OVER_TEXT * size[others].max()
            continue
        along = any(on and np.count_nonzero(line == k + 1) >= 0.5 * length    # labels count from 1
                    for on, line, length in ((top, c.labels[0], w), (bottom, c.labels[-1], w),
                                             (left, c.labels[:, 0], h), (right, c.labels[:, -1], h)))
        whole = c.heights[k] >= 0.9 * ph and c.widths[k] >= 0.9 * pw          # the page is this one stroke
        edges[k] = along and c.area[k] >= 0.5 * c.heights[k] * c.widths[k] and not whole
    return edges


def without_edges(ink: np.ndarray, c: Components, edges: np.ndarray, **kw) -> tuple[np.ndarray, Components | None]:
    """The ink with its page edges (`edges`, (n,) bool) and their rims erased, and its components
    found again: a dark table beside the sheet no longer sets the ink threshold that the writing
    must pass (it held everything lighter than itself under it). (ink, c) unchanged without edges."""
    if not edges.any():
        return ink, c
    return _erased(ink, np.isin(c.labels, np.flatnonzero(edges) + 1), None, **kw)


def _erased(ink: np.ndarray, what: np.ndarray, keep: np.ndarray | None, **kw) -> tuple[np.ndarray, Components | None]:
    """The ink with the pixels `what` (h, w) bool and their blurred rims (`EDGE_RIM` px) erased,
    but not the ink `keep` (h, w) bool outside `what` (the writing that touches a line), and its
    components found again (`components(ink, **kw)`)."""
    mask = binary_dilation(what, iterations=EDGE_RIM)
    if keep is not None:
        mask &= ~(keep & ~what)
    ink = np.where(mask, 0.0, ink).astype(ink.dtype)
    return ink, components(ink, **kw)


def form_rules(bw: np.ndarray, H: float) -> np.ndarray:
    """(h, w) bool: the ink of ruled lines (a form's line the number is written on, a notebook's,
    an underline): straight level runs at least `RULE_LENGTH` x H long, under the ink's middle row,
    where the ink is at most `RULE_THICK` x H tall. No digit has such a run (touching 7s' bars join
    in one, at the top); a line under the writing joined its digits into one component, or was
    read as a row of 1s.

    A run may rise or fall by the rows each row is tested with (0.05 H up and down: a photo's
    few degrees of tilt); where a digit's stroke crosses or stands on the line, the ink there is
    taller than the line and stays the digit's. Runs along the top or bottom border are left to
    `page_edges` (a 2 cropped at its base is no rule)."""
    L = int(RULE_LENGTH * H) | 1                                             # odd: centred windows
    if bw.shape[1] < L or not bw.any():
        return np.zeros_like(bw)
    r = max(1, round(0.05 * H))
    band = ndi.maximum_filter1d(bw, 2 * r + 1, axis=0)                       # (h, w) each row with its neighbours
    full = ndi.uniform_filter1d(band.astype(np.float32), L, axis=1) > 1 - 0.5 / L   # windows all ink
    e = max(1, round(0.1 * H))
    full[:e] = full[-e:] = False                  # along the border: a page edge's business, or a digit cropped tight
    full[:int(np.median(np.nonzero(bw)[0])) + 1] = False    # over the ink's middle row: touching 7s' bars, no line
    if not full.any():
        return np.zeros_like(bw)
    run = ndi.maximum_filter1d(full, L, axis=1) & bw                        # the ink of such windows
    cols, n = ndi.label(bw, structure=[[0, 1, 0], [0, 1, 0], [0, 1, 0]])     # each column's runs of ink
    tall = np.bincount(cols.ravel(), minlength=n + 1)                      # (n + 1,) their lengths
    return run & (tall[cols] <= RULE_THICK * H)


def without_rules(ink: np.ndarray, c: Components, H: float, **kw) -> tuple[np.ndarray, Components | None]:
    """The ink with its ruled lines (`form_rules`) and their blurred rims erased (not the writing
    that touches them), and its components found again; (ink, c) unchanged without a rule. A box
    around the number is not erased: its top is over the ink's middle row."""
    rule = form_rules(c.bw, H)
    if not rule.any():
        return ink, c
    return _erased(ink, rule, c.bw, **kw)


def _first_run(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's first run of ink from the top of m (h, w) bool -> (the run (h, w), each
    pixel's depth below its column's first ink (h, w), counting from 1)."""
    under = np.cumsum(m, axis=0) > 0                                  # at or under the first ink
    gone = np.cumsum(~m & under, axis=0) > 0                          # under the first gap after it
    return m & under & ~gone, np.cumsum(under, axis=0)


def _straight(first: np.ndarray, seen: np.ndarray, depth: int) -> bool:
    """Do the first ink rows `first` (w,) of the columns `seen` (w,) make a straight side near a
    box's top? Away from its ends (a tenth of its length, and a twentieth of the box's depth, at
    most a quarter of its length: a box tilted 3 degrees, its corners), ink in `FRAME_SIDE` of the
    columns, that many within 2 px + 3 % of the length of one straight line, tilted at most ~6
    degrees and a quarter of the box's depth from the top on average."""
    w = len(first)
    trim = int(0.1 * w + min(0.05 * depth, 0.25 * w))          # a long box's short side keeps 30 %
    first, seen = first[trim:w - trim], seen[trim:w - trim]
    if len(first) < 4 or seen.mean() < FRAME_SIDE:
        return False
    x = np.flatnonzero(seen)
    y = first[seen].astype(np.float64)
    if np.median(y) > 0.25 * depth:              # (before the fit: most digits fail here, cheaply)
        return False
    dx = x - x.mean()
    a = float(dx @ (y - y.mean())) / float(dx @ dx)                 # least-squares line y = a x + b
    near = np.abs(y - y.mean() - a * dx) <= 2 + 0.03 * w
    return abs(a) <= 0.1 and np.count_nonzero(near) >= FRAME_SIDE * len(y)


def form_frames(mask: np.ndarray, ink: np.ndarray | None = None,
                writing: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The sides (h, w) bool and the boxes (k, 4) y0, x0, y1, x1 of the boxes drawn around writing
    in the ink `mask` (a form's field, an amount boxed in). A box is a connected part of the mask
    with four straight sides (`_straight`, seen from outside: a digit that touches the box from
    inside stays behind its side) around other ink that stands at least 0.15 of the box's height
    (writing in a box up to ~6 x its height): a ring or a square 0 holds none. Nor is a digit
    whose outline looks straight at the working scale (a bold 8 drawn on the canvas: "808" read
    "80") a box: one under 1.5 x wider than tall holds a component of its own (`writing`, under
    0.9 of its height; the writing in a comb's cells may all touch it), or nothing outside every
    box is nearly as tall (0.7 of its height) as it, or it stands in a row of boxes as tall. A side
    is each column's (row's) first run of the box's ink seen from outside, as deep as the side is
    thick (its median run, + 1 px): a digit that touches the box
    keeps its stroke beyond that (a 7's bar fused into the box's top goes with it). One side may
    be the image's border (a box cropped). `ink` (h, w), the ink map, weighs a lone divider's ink;
    `writing` (k, 4): the boxes of the components in which to look for the ink of its own (default:
    the mask's; in the light ink, blur often joins the writing to its box).
    A comb field's dividers, upright lines from the box's top to its bottom, go too (`_dividers`).

    A box around the number was one component around all of it: the text height was the box's,
    and its sides were read as 1s (a 1-5 digit number in a box read right 7 % of the time,
    benchmarks/ruled_lines.py). Looked for in the light ink (`Components.faint`): a thin box breaks
    into pieces at the working threshold. A thin box tilted in a large photo can break at the
    first look too, or digits can cross it: then it stays."""
    labels, n = ndi.label(mask, structure=np.ones((3, 3)))
    out, boxes, found = np.zeros_like(mask), [], []
    slices = ndi.find_objects(labels)
    for k, sl in enumerate(slices):
        m = labels[sl] == k + 1                                          # (h, w) its own ink
        h, w = m.shape
        if h < 8 or w < 8 or np.count_nonzero(m) > 0.75 * m.size:          # a solid blob is no box
            continue
        views = ((m, lambda a: a), (m[::-1], lambda a: a[::-1]),           # seen from top, bottom,
                 (m.T, lambda a: a.T), (m.T[::-1], lambda a: a[::-1].T))   # left, right; and back
        cut = (sl[0].start == 0, sl[0].stop == mask.shape[0], sl[1].start == 0, sl[1].stop == mask.shape[1])
        if sum(cut) > 1 or not all(on or _straight(q.argmax(0), q.any(0), q.shape[0])
                                   for on, (q, _) in zip(cut, views)):
            continue                              # one side may be the image's border (a box cropped)
        weight = (ink[sl] if ink is not None else m).astype(np.float64)     # (h, w) ink (or pixels)
        side, thick, upright = np.zeros_like(m), 1.0, 0.0
        for k_side, (on, (q, back)) in enumerate(zip(cut, views)):
            if on:
                continue
            run, depth = _first_run(q)
            t = np.median(run.sum(0)[run.any(0)]) + 1
            this = back(run & (depth <= t))                                # (h, w) this side's ink
            side |= this
            thick = max(thick, t)
            if k_side >= 2:                       # the left and right sides: their ink across, per row
                across = (this * weight).sum(1)
                upright = max(upright, float(np.median(across[across > 0])) if (across > 0).any() else 0.0)
        a, b = max(1, int(0.15 * h)), max(1, int(0.15 * w))
        inner = np.flatnonzero((mask[sl] & ~side)[a:h - a, b:w - b].any(1))    # rows inside with other ink
        if not len(inner) or np.ptp(inner) + 1 < 0.15 * h:
            continue                                                      # an empty box: a square 0, a ring
        found.append((sl, side | _dividers(m, thick, weight, upright)))
    # a digit among digits is no box: a box under 1.5 x wider than tall (an 8, a round 0) holds some
    # writing of its own (a component inside it, under 0.9 of its height), or nothing outside every
    # box is nearly as tall as it (0.7). A box around several digits is wider, and the blur of a
    # tight one joins its writing to it: "74 [488]" read "7419881"; boxes in a row, one per digit,
    # are boxes
    if not found:
        return out, np.zeros((0, 4), np.int64)
    spans = np.asarray(writing).reshape(-1, 4) if writing is not None else \
        np.array([[q[0].start, q[1].start, q[0].stop, q[1].stop] for q in slices])           # (components, 4)
    y0, x0, y1, x1 = spans.T
    tall = y1 - y0
    rows = np.array([[q[0].start, q[0].stop, q[1].start, q[1].stop] for q, _ in found])     # (boxes, 4)
    inside = (y0 >= rows[:, :1]) & (y1 <= rows[:, 1:2]) & (x0 >= rows[:, 2:3]) & (x1 <= rows[:, 3:])   # (boxes, comps)
    loose = ~inside.any(0)                                                # components in no box
    for (sl, drawn), holds in zip(found, inside):
        h, w = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
        rivals = loose & (tall >= 0.7 * h)                                # writing outside, nearly as tall
        if w < 1.5 * h and not (holds & (tall >= 0.15 * h) & (tall < 0.9 * h)).any() and rivals.any():
            # ... unless it is one of a row of boxes, one per digit: a box as tall beside it, no such
            # writing between the two (in "808" the 0 stands between two square 8s)
            cx = (x0 + x1) / 2                                            # (components,)
            like = [k for k, r in enumerate(rows) if max(abs(r[0] - sl[0].start), abs(r[1] - sl[0].stop)) <= 0.15 * h
                    and r[2] != sl[1].start and not (rivals & (cx > min(r[3], sl[1].stop)) &
                                                     (cx < max(r[2], sl[1].start))).any()]
            if not like:
                continue                                                  # a bold 8 beside a 0 and an 8
        out[sl] |= drawn
        boxes.append([sl[0].start, sl[1].start, sl[0].stop, sl[1].stop])
    return out, np.array(boxes, np.int64).reshape(-1, 4)


def _dividers(m: np.ndarray, thick: float, weight: np.ndarray, upright: float) -> np.ndarray:
    """(h, w) bool: the upright lines of a box's ink `m` (h, w) that run from its top side to its
    bottom one (a comb field, one digit per cell: | 2 | 0 | 2 | 6 |), where rows cross them thin
    (horizontal runs at most 2 x the sides' thickness `thick` + 2: a digit that touches one keeps its
    stroke). Each column is taken with its neighbours 3 % of the height away (a tilted box); a 1
    that touches the top but not the bottom leaves rows out. A lone such line (two cells: DD, MM)
    is a divider only where its ink across (`weight` summed over a row, median over the rows) is
    at most 1.5 x that of the box's upright sides (`upright`): a 1 written from the box's top side
    to its bottom side with a bolder pen than the box's stays ("714" read "74"); one drawn with the
    box's own pen goes. Its sides match too (they are sides)."""
    h, w = m.shape
    r = max(1, round(0.03 * h))
    cols = ndi.maximum_filter1d(m, 2 * r + 1, axis=1).mean(0) >= 0.98          # (w,) ink on all rows
    groups, _ = ndi.label(cols)
    inner = set(groups[r + 1:w - r - 1].tolist()) - {0, groups[0], groups[-1]}   # not the left or right side
    if not inner:
        return np.zeros_like(m)
    runs, n = ndi.label(m, structure=[[0, 0, 0], [1, 1, 1], [0, 0, 0]])      # each row's runs
    lines = m & (np.bincount(runs.ravel(), minlength=n + 1) <= 2 * thick + 2)[runs] & \
        ndi.maximum_filter1d(cols, 2 * r + 1)[None, :]
    if len(inner) == 1:
        g = ndi.maximum_filter1d(groups == inner.pop(), 2 * r + 1)            # the line's columns
        across = (lines[:, g] * weight[:, g]).sum(1)                          # (h,) its ink per row
        if not (across > 0).any() or np.median(across[across > 0]) > 1.5 * upright:
            return np.zeros_like(m)
    return lines


def without_frames(ink: np.ndarray, c: Components, **kw) -> tuple[np.ndarray, Components | None, np.ndarray]:
    """The ink with the sides of its boxes (`form_frames` in its light ink) and their blurred rims
    erased (not the writing that touches them), its components found again, and the boxes' boxes
    (k, 4); (ink, c) unchanged without a box."""
    side, boxes = form_frames(c.faint, ink, c.boxes)
    if not side.any():
        return ink, c, boxes
    return (*_erased(ink, side, c.bw, **kw), boxes)


def stacks(c: Components, keep: np.ndarray, gap: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Components stacked one above the other (a broken 8's loops, a 5's bar over its body):
    sharing half the narrower one's columns, less than `gap` x the taller one's height apart.

    Returns each component's stack id (n,) and each component's stack box (n, 4) (its own
    box when alone or not kept)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    b, idx = c.boxes, np.flatnonzero(keep)
    n = len(b)
    if len(idx) > 1:
        bb = b[idx]
        x_ov = np.minimum(bb[:, None, 3], bb[None, :, 3]) - np.maximum(bb[:, None, 1], bb[None, :, 1])
        w = bb[:, 3] - bb[:, 1]
        h = bb[:, 2] - bb[:, 0]
        y_gap = np.maximum(bb[None, :, 0] - bb[:, None, 2], bb[:, None, 0] - bb[None, :, 2])   # < 0: overlap
        link = (x_ov >= 0.5 * np.minimum(w[:, None], w[None, :])) & \
               (y_gap <= gap * np.maximum(h[:, None], h[None, :]))                          # (k, k)
        r, q = np.nonzero(np.triu(link, 1))
        _, lab = connected_components(coo_matrix((np.ones(len(r)), (r, q)), shape=(len(idx),) * 2), directed=False)
    else:
        lab = np.zeros(len(idx), np.int64)
    ids = np.arange(n) + (lab.max() + 1 if len(idx) else 0)           # singletons: ids of their own
    ids[idx] = lab
    boxes = b.copy()
    if len(idx):                                      # each stack's box, given to its members
        g = lab.max() + 1
        lo = np.full((g, 2), np.iinfo(np.int64).max)
        hi = np.full((g, 2), np.iinfo(np.int64).min)
        np.minimum.at(lo, lab, b[idx][:, :2])
        np.maximum.at(hi, lab, b[idx][:, 2:])
        boxes[idx] = np.concatenate([lo[lab], hi[lab]], 1)
    return ids, boxes


def text_height(c: Components, shape, edges: np.ndarray | None = None) -> float | None:
    """Median height of the big stacks of components (area >= 20 % of the biggest), ignoring
    page edges (`edges`, default `page_edges(c, shape)`): a digit broken into pieces above one
    another counts at its full height. Among a few stacks, the heaviest sets it when it is at least
    TALL x the median and the stacks far under it are flat (below). None when every big stack is a
    solid bar 4 x wider than tall (a dash drawn alone is no digit, nor a row of 1s)."""
    keep = ~(page_edges(c, shape) if edges is None else edges)
    if not keep.any():
        return None
    ids, boxes = stacks(c, keep)
    area = np.bincount(ids[keep], weights=c.area[keep])               # per stack
    heights, widths = np.zeros(len(area)), np.zeros(len(area))
    heights[ids[keep]] = (boxes[keep, 2] - boxes[keep, 0])
    widths[ids[keep]] = (boxes[keep, 3] - boxes[keep, 1])
    big = area >= 0.2 * area.max()
    if np.all((widths[big] >= 4 * heights[big]) & (area[big] >= 0.6 * widths[big] * heights[big])):
        return None                               # only solid bars: a dash, a rule, no writing
    median = float(np.median(heights[big]))
    # a lone digit broken into flat parts that do not stack (a 5's bar and foot off its body's
    # columns), or beside a few grains as heavy as a fifth of it: the median is a part's or a
    # grain's height. Among a few big stacks the heaviest, when at least TALL x the median, is the
    # digit if every big stack under its height / TALL is flat (a bar, a grain: not a line of
    # smaller digits under a big one), and not on a page of many specks (two stacked ones may be
    # the heaviest)
    t = int(np.argmax(area))
    low = big & (heights < heights[t] / TALL)
    if big.sum() <= TALL_FEW and heights[t] >= TALL * median and np.all(widths[low] >= heights[low]):
        return float(heights[t])
    return median


# ---- layout: lines, pieces, cuts -------------------------------------------------------------
@dataclass
class Piece:
    """A part of a line that is at most one digit: some components' pixels, maybe cut by seams."""

    mask: np.ndarray              # bool (h, w) in the line's region
    main: bool                    # digit-sized (else a small piece that may be noise)
    parent: int = -1              # pieces cut from one component share this id (else -1)
    cut_runs: int = 0             # strokes crossed by the cut on its left (if cut)
    cut_ink: float = 0.0          # ink pixels on that cut / H (a bridge cut: rows where ink meets across it)
    links: frozenset = frozenset()   # the light strokes it touches (Line.faint's regions)

    def __post_init__(self):
        ys, xs = np.nonzero(self.mask)
        self.y0, self.y1 = int(ys.min()), int(ys.max()) + 1
        self.x0, self.x1 = int(xs.min()), int(xs.max()) + 1
        self.cx = 0.5 * (self.x0 + self.x1)


@dataclass
class Line:
    """One line of writing: its region (y0, x0 in the working image), pieces left to right and
    the candidate digits (runs of pieces)."""

    y0: int
    x0: int
    ink: np.ndarray               # (h, w) the line region's ink
    bw: np.ndarray                # bool (h, w) its thresholded ink but the specks: what a candidate keeps clear of
    faint: np.ndarray             # int (h, w) light strokes: faint ink off the pieces, labelled (Piece.links)
    pieces: list[Piece]
    breaks: list[int] = field(default_factory=list)   # piece indices preceded by a word gap
    cuts: list[int] = field(default_factory=list)     # piece indices whose left edge is a cut
    spans: list[tuple[int, int]] = field(default_factory=list)   # candidate digits: pieces [i, j)


def _overlap(a0, a1, b0, b1) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def _alone_between(c: Components, i: int, members: list[int]) -> tuple | None:
    """The nearest of the line's components `members` on the left of component i and on its right
    (None where there is none; each may reach a tenth of its width into its columns), or None when
    another of them shares more than a tenth of its columns: a mark between numbers stands alone."""
    b, w = c.boxes, c.widths[i]
    others = [m for m in members if m != i]
    if any(_overlap(b[i, 1], b[i, 3], b[m, 1], b[m, 3]) > 0.1 * w for m in others):
        return None
    left = [m for m in others if b[m, 3] <= b[i, 1] + 0.1 * w]
    right = [m for m in others if b[m, 1] >= b[i, 3] - 0.1 * w]
    return (max(left, key=lambda m: b[m, 3]) if left else None, min(right, key=lambda m: b[m, 1]) if right else None)


def _dash(c: Components, i: int, mains: list[int], members: list[int], H: float) -> bool:
    """Is component i a dash between numbers (2026-11-24, 3-14): a solid flat bar 0.2-1.5 H long,
    at most 0.3 H tall, across the middle of its line's digits (`mains`) and of its neighbours on
    either side, alone in its columns (no other of the line's components, `members`, shares a
    tenth of them)? A 5's or 7's detached bar is at its digit's top (a small 5's bar, drawn off to
    its right, can be at the line's middle), a 4's cut bar within its columns, a broken 5's middle
    stroke over its foot."""
    b = c.boxes
    h, w = c.heights[i], c.widths[i]
    if not mains or not (h <= 0.3 * H and w >= 2 * h and 0.2 * H <= w <= 1.5 * H and c.area[i] >= 0.5 * h * w):
        return False
    sides = _alone_between(c, i, members)
    if sides is None:
        return False
    near = [m for m in sides if m is not None]
    mid = (b[i, 0] + b[i, 2]) / 2
    bands = [(np.median(b[mains, 0]), np.median(b[mains, 2]))] + [(b[m, 0], b[m, 2]) for m in near]
    return all(top + 0.3 * (bottom - top) <= mid <= bottom - 0.3 * (bottom - top) for top, bottom in bands)


def _point(c: Components, i: int, ink: np.ndarray, mains: list[int], members: list[int], H: float,
           stroke, cleared: np.ndarray | None = None, pen=0.0) -> bool:
    """Is component i a point between numbers (12.50, 25.11.2026)?

    - a filled blob with no hole and a dark middle (a small 0 has neither), at most twice as long
      as wide, at most 0.4 H across and at least about the line's pen (`pen`, px: a click on the
      canvas makes a point as wide as the brush, 2 px at the working scale for a thin one; 0.08 H
      without it);
    - as dark as its line's strokes (`stroke`: their 90th percentile ink; grain and a JPEG's
      blotches are lighter; `stroke` and `pen` may be functions that measure them, called only for
      a blob that passed the cheaper checks);
    - low in the line: its middle in the lowest 0.4 of the digits' band (`mains`) and of its
      nearest neighbours' on either side, its bottom at most 0.2 H under theirs;
    - alone in its columns, between two of the line's components (`members`), at least `CLEAR[0]`
      x H from all other ink, and `CLEAR[1]` x H from both neighbours, or about halfway between
      them (the nearer at least half as far as the other):
      where a pen skipped, the piece it cut off a stroke's end (a 9's or 7's foot, a 3's tail)
      lies by its digit (0.09-0.14 H), and a point written close lies between the two;
    - no ink erased as a page edge, box or ruled line (`cleared`, bool (h, w)) right over it
      (in its columns, 0.15 H up): a foot's tip left under an erased line; nor one touching erased
      ink that is thinner than 0.8 pen: the stub of a stroke that crossed the line. A point sitting
      on a form's line is one."""
    b = c.boxes
    h, w = c.heights[i], c.widths[i]
    if not mains or not (2 <= max(h, w) <= 0.4 * H and max(h, w) <= 2 * min(h, w) and c.area[i] >= 0.55 * h * w):
        return False
    near = _alone_between(c, i, members)
    if near is None or None in near:
        return False
    mid = (b[i, 0] + b[i, 2]) / 2
    bands = [(np.median(b[mains, 0]), np.median(b[mains, 2]))] + [(b[m, 0], b[m, 2]) for m in near]
    if not all(top + 0.6 * (bottom - top) <= mid and b[i, 2] <= bottom + 0.2 * H for top, bottom in bands):
        return False
    pen = pen() if callable(pen) else pen                                 # (the line's, measured once, lazily)
    small = (max(2.0, 0.75 * pen), max(1.0, 0.3 * pen)) if pen > 0 else (0.08 * H, 0.05 * H)  # long, short side
    if max(h, w) < small[0] or min(h, w) < small[1]:
        return False
    y0, x0, y1, x1 = b[i]
    own = c.labels[y0:y1, x0:x1] == i + 1                                 # (h, w)
    peak = float(ink[y0:y1, x0:x1][own].max())
    if ndi.binary_fill_holes(own).sum() > own.sum() or ink[(y0 + y1) // 2, (x0 + x1) // 2] < 0.5 * peak:
        return False                                                      # a ring, its middle light: a small 0
    r = max(3, round(0.15 * H))                                          # erased ink over it (not the row
    if cleared is not None and cleared[max(0, y0 - r):max(0, y0 - 1), x0:x1].any():     # next to it: a rim)
        return False
    if cleared is not None and cleared[max(0, y0 - 1):y1 + 2, max(0, x0 - 1):x1 + 1].any() and \
            min(h, w) < (0.8 * pen if pen > 0 else 0.08 * H):
        return False                                                      # a stroke's stub the line's erasure left
    if peak < 0.5 * (stroke() if callable(stroke) else stroke):
        return False
    d = int(math.ceil(0.5 * H))
    lab = c.labels[max(0, y0 - d):y1 + d, max(0, x0 - d):x1 + d]          # (h', w') the point and around it
    mine = lab == i + 1

    def clear(m: np.ndarray) -> float:                                    # / H, at most 0.5 (the window)
        return float(distance_transform_edt(~m)[mine].min()) / H if m.any() else 0.5
    if clear((lab > 0) & ~mine) < CLEAR[0]:
        return False
    sides = sorted(clear(lab == k + 1) for k in near)                      # to the left and right neighbour
    return sides[0] >= CLEAR[1] or sides[0] >= 0.5 * sides[1]


def group_lines(c: Components, keep: np.ndarray, mains: list[int], boxes: np.ndarray, H: float,
                p: SegmentParams) -> list[list[int]]:
    """Components (indices) per line, lines top to bottom: `mains` (digit-sized, with their stack
    `boxes`) by vertical overlap; the other kept components join the nearest line."""
    b, hts = boxes, boxes[:, 2] - boxes[:, 0]
    lines: list[list[int]] = []
    for i in sorted(mains, key=lambda i: b[i, 0] + b[i, 2]):
        best, best_ov = None, 0.0
        for k, line in enumerate(lines):
            y0, y1 = np.median(b[line, 0]), np.median(b[line, 2])
            ov = _overlap(b[i, 0], b[i, 2], y0, y1) / max(1.0, min(hts[i], y1 - y0))
            if ov > best_ov:
                best, best_ov = k, ov
        if best is not None and best_ov >= p.line_overlap:
            lines[best].append(i)
        else:
            lines.append([i])
    bands = [(float(np.median(b[line, 0])), float(np.median(b[line, 2]))) for line in lines]
    main_set = set(mains)
    for i in np.flatnonzero(keep):
        if i in main_set or not lines:
            continue
        cy = 0.5 * (b[i, 0] + b[i, 2])
        dist = [max(y0 - cy, cy - y1, 0.0) for y0, y1 in bands]
        k = int(np.argmin(dist))
        if dist[k] <= 0.3 * H:
            lines[k].append(i)
    order = np.argsort([0.5 * (y0 + y1) for y0, y1 in bands])
    return [lines[k] for k in order]


def _leave_both_sides(cum: np.ndarray, xs: np.ndarray, min_side: float) -> np.ndarray:
    """bool (..., K): does each cut of xs (..., h, K) (x per row, a cut per column) leave at least
    `min_side` of the weight on either side? cum: the weight's running sum along rows (h, w)."""
    left = cum[np.arange(cum.shape[0])[:, None], xs].sum(-2)               # (..., K) weight left of and at each cut
    total = float(cum[:, -1].sum())
    return (left >= min_side * total) & (total - left >= min_side * total)


def seams(cost: np.ndarray, weight: np.ndarray, n_max: int, spacing: float, min_side: float,
          diag: float = 1.0):
    """Up to n_max cheapest top-to-bottom paths through `cost` (h, w) that leave at least
    `min_side` of `weight`'s total on either side, at least `spacing` apart (mean column);
    each path moves at most one column per row (diagonal steps cost `diag`).

    Returns a list of (x per row int (h,), cost), left to right.
    """
    h, w = cost.shape
    acc = np.full((h, w + 2), np.inf)                  # (h, w + 2) cheapest path to each pixel, inf beside
    acc[0, 1:-1] = cost[0]
    back = np.zeros((h, w), np.int64)                  # its step from the row above: -1, 0, +1
    cols = np.arange(w)
    steps = np.array([diag, 0.0, diag])
    above = sliding_window_view(acc, 3, axis=1)        # (h, w, 3) a view: each pixel's three above-neighbours
    for r in range(1, h):
        came = above[r - 1] + steps                    # (w, 3) from left, above, right
        came.argmin(1, out=back[r])                    # the first of equals, as before
        np.add(cost[r], came[cols, back[r]], out=acc[r, 1:-1])
    back[1:] -= 1
    acc = acc[-1, 1:-1]                                # (w,) each path's cost
    xs = np.empty((h, w), np.int64)                    # xs[:, e]: the path ending in column e
    xs[-1] = cols
    for r in range(h - 1, 0, -1):
        xs[r - 1] = xs[r] + back[r, xs[r]]
    ok = np.flatnonzero(_leave_both_sides(np.cumsum(weight, axis=1), xs, min_side))
    chosen: list[int] = []
    centre = xs.mean(0)
    for e in ok[np.argsort(acc[ok], kind="stable")]:
        if all(abs(centre[e] - centre[c]) >= spacing for c in chosen):
            chosen.append(int(e))
            if len(chosen) == n_max:
                break
    return [(xs[:, e], float(acc[e])) for e in sorted(chosen, key=lambda e: centre[e])]


def line_cuts(cost: np.ndarray, weight: np.ndarray, min_side: float, diag: float,
              slants=np.linspace(-0.6, 0.6, 13)):
    """Straight cuts x = c + t * (y - yc) for each slant t and column c that leave at least
    `min_side` of `weight` on either side: the best (cheapest) per slant, as (x per row, cost).

    Seams follow the cheapest ink; where two slanted digits merge over several rows (a 1 leaning
    into a 2's foot) no cheap seam runs between them, but a straight cut along their common
    slant does."""
    h, w = cost.shape
    rows = np.arange(h)[None, :, None]                                    # (1, h, 1)
    cum = np.cumsum(weight, axis=1)                                       # (h, w)
    t = np.array(list(slants), float)[:, None, None]                      # (S, 1, 1)
    xs = np.clip(np.rint(np.arange(w) + t * (rows - (h - 1) / 2)), 0, w - 1).astype(np.int64)   # (S, h, w)
    c = cost[rows, xs].sum(1) + diag * np.abs(np.diff(xs, axis=1)).sum(1)                      # (S, w)
    fair = _leave_both_sides(cum, xs, min_side)                           # (S, w)
    out = []
    for k in range(len(xs)):                                              # each slant's cheapest fair cut
        ok = np.flatnonzero(fair[k])
        if len(ok):
            e = ok[np.argmin(c[k, ok])]
            out.append((xs[k, :, e], float(c[k, e])))
    return out


def bridge_cuts(mask: np.ndarray, ink: np.ndarray, H: float, levels=SegmentParams.bridge_levels,
                share: float = 0.2, tall: float = 0.4) -> list[np.ndarray]:
    """Cuts (x per row, int (h,)) along the border between strokes that only blur joins.

    Two digits that touch with a hairline gap (or half a pixel of overlap) are one component of
    the thresholded ink, but their stroke cores are not joined: above `level` x the piece's core
    ink (the 90th percentile of `ink` on `mask`) the piece falls apart. Each pair of neighbouring
    big parts (>= `share` of that ink, >= `tall` H high) gives a cut: every pixel of the piece
    goes to the nearer part, and each row is cut at the column that misplaces the fewest pixels.
    Unlike a seam, the cut follows the border where it is, beside a slanted 1's stem too."""
    v = ink[mask]
    if v.size < 10:
        return []
    core = float(np.quantile(v, 0.9))
    h, w = mask.shape
    rows, inked = np.arange(h), mask.any(1)                                 # (h,) each
    out = []
    for level in levels:
        strong = mask & (ink > level * core)                                # (h, w)
        lab, n = ndi.label(strong, structure=np.ones((3, 3)))
        if n < 2:
            continue
        area = np.bincount(lab.ravel(), minlength=n + 1)[1:]
        big = [k for k, sl in enumerate(ndi.find_objects(lab), start=1)
               if area[k - 1] >= share * area.sum() and sl[0].stop - sl[0].start >= tall * H]
        parts = sorted((c[1], k) for c, k in zip(ndi.center_of_mass(strong, lab, big), big))   # left to right
        dist = {k: distance_transform_edt(lab != k) for _, k in parts}       # (h, w) to each part
        for (_, a), (_, b) in zip(parts, parts[1:]):
            nearer_a = mask & (dist[a] <= dist[b])                           # (h, w)
            to_b = mask & ~nearer_a
            # cutting row r after column c misplaces the A pixels right of c and the B pixels up to c
            ca, cb = np.cumsum(nearer_a, 1), np.cumsum(to_b, 1)                   # (h, w) each
            cost = ca[:, -1:] - ca + cb                                          # (h, w)
            xs = np.argmin(cost, axis=1)                                         # (h,) the first cheapest
            both = nearer_a.any(1) & to_b.any(1)
            one = inked & ~both
            if both.any() and one.any():              # a row with one part's ink: any cut past it is
                last = w - 1 - np.argmin(cost[:, ::-1], axis=1)   # as cheap; follow the two-part rows
                along = np.rint(np.interp(rows, rows[both], xs[both])).astype(np.int64)
                xs[one] = np.clip(along, xs, last)[one]           # within the row's cheapest columns
            xs = np.rint(np.interp(rows, rows[inked], xs[inked])).astype(np.int64)  # rows without ink
            if not any(np.array_equal(xs, o) for o in out):     # a higher level may part it the same
                out.append(xs)
    return out


def _split(piece: Piece, ink: np.ndarray, H: float, p: SegmentParams) -> list[Piece]:
    """A wide piece -> pieces between candidate cuts (seams), left to right."""
    w = piece.x1 - piece.x0
    if w <= p.split_width * H:
        return [piece]
    sub = piece.mask[piece.y0:piece.y1, piece.x0:piece.x1]                  # (h, w)
    cost = sub + 0.5 * ink[piece.y0:piece.y1, piece.x0:piece.x1] * sub        # crossing ink costs
    # cuts_per_boundary cuts to try per likely boundary (at least two in all: a piece just over
    # split_more H rounds to one digit); cuts_narrow (one) for pieces about as wide as a digit (a 1 touching)
    n_max = p.cuts_narrow if w <= p.split_more * H else \
        max(2, p.cuts_per_boundary * (round(w / (0.75 * H)) - 1))
    single = w <= p.single_stroke * H                 # only cuts through a single stroke: look
    # a cut: (x per row, cost, whether it runs between columns x and x + 1, beside strokes rather
    # than through them: a bridge cut)
    cuts = [(xs, c, False) for xs, c in
            seams(cost, sub, n_max + 3 * single, p.cut_spacing * H, p.min_side, p.seam_diag)]   # at more
    cols = np.arange(w)[None, :]                                             # (1, w)
    rows = np.arange(sub.shape[0])

    def strokes(on):                                  # strokes a cut crosses (runs of ink along it)
        return int(on[0]) + int(np.sum(on[1:] & ~on[:-1]))

    def crossed(xs, between):                         # (h,) bool: the rows where the cut runs through ink
        on = sub[rows, xs]
        if between:                                   # between column xs (the left digit's last ink) and
            right = np.zeros_like(on)                 # xs + 1: through ink only where ink lies on both
            inside = xs + 1 < w                       # sides of it
            right[inside] = sub[rows[inside], xs[inside] + 1]
            on &= right
        return on

    def apart(xs, others):                            # at least half the cut spacing from the others
        return all(abs(xs.mean() - o[0].mean()) >= 0.5 * p.cut_spacing * H for o in others)

    if p.bridge_levels:                               # + the borders where blur bridged two digits that
        cum = np.cumsum(sub, axis=1)                  # leave min_side of the ink on either side and lie
        # apart from the seams that stay (in a piece about one digit wide, those through one stroke);
        # cost -1: first where cuts are picked by cost
        near = [c for c in cuts if not single or strokes(sub[rows, c[0]]) <= 1]
        for xs in bridge_cuts(sub, ink[piece.y0:piece.y1, piece.x0:piece.x1], H, p.bridge_levels):
            if _leave_both_sides(cum, xs[:, None], p.min_side)[0] and apart(xs, near):
                cuts.append((xs, -1.0, True))
                near.append((xs, -1.0, True))
        cuts.sort(key=lambda c: c[0].mean())

    if single:                                        # about one digit wide: only a cut through a
        cuts = [c for c in cuts + [(xs, c, False) for xs, c in line_cuts(cost, sub, p.min_side, p.seam_diag)]
                if strokes(sub[rows, c[0]]) <= 1]     # single stroke (where two touch), never through
        if not cuts:                                  # both sides of a wide 0
            return [piece]
        chosen: list[int] = []
        for k in sorted(range(len(cuts)), key=lambda k: cuts[k][1]):          # cheapest first
            if all(abs(cuts[k][0].mean() - cuts[c][0].mean()) >= p.cut_spacing * H for c in chosen):
                chosen.append(k)
        cuts = sorted((cuts[k] for k in chosen[:n_max]), key=lambda c: c[0].mean())   # left to right
    out, left, crossing = [], np.full(sub.shape[0], -1), (0, 0.0)
    for xs, _, between in cuts + [(np.full(sub.shape[0], w), 0.0, False)]:
        part = sub & (cols > left[:, None]) & (cols <= xs[:, None])
        left = xs
        if part.sum() >= 2:
            m = np.zeros_like(piece.mask)
            m[piece.y0:piece.y1, piece.x0:piece.x1] = part
            q = Piece(m, piece.main)
            q.main = q.main and q.y1 - q.y0 >= p.main * H
            q.cut_runs, q.cut_ink = crossing                  # the cut on its left
            out.append(q)
        if xs[0] < w:                                         # strokes this cut crosses, ink px / H
            on = crossed(xs, between)
            crossing = (strokes(on), float(on.sum()) / H)
    return out or [piece]


def layout(ink: np.ndarray, c: Components, H: float, p: SegmentParams,
           edges: np.ndarray | None = None, cleared: np.ndarray | None = None) -> list[Line]:
    """Lines of pieces with their candidate digits, from components at the working scale;
    `edges`: the components that are page edges (default `page_edges(c, ink.shape)`); `cleared`:
    bool (h, w), the ink erased as page edges, boxes or ruled lines (a point is never beside it)."""
    from .normalize import _stroke_width
    hts, wds, b = c.heights, c.widths, c.boxes
    h_img, w_img = ink.shape
    small = np.maximum(hts, wds) < p.speck * H                    # (n,) specks
    keep = ~small & ~(page_edges(c, ink.shape) if edges is None else edges)
    speck = np.r_[False, small]                                    # (n+1,) by label: a speck's pixels
    specks = np.flatnonzero(small)
    ids, sboxes = stacks(c, keep)
    # digit-sized: the biggest component of each stack at least `main` H tall
    mains = []
    for g in np.unique(ids[keep]):
        members = np.flatnonzero(keep & (ids == g))
        top = members[np.argmax(c.area[members])]
        if sboxes[top, 2] - sboxes[top, 0] >= p.main * H:
            mains.append(int(top))
    lines = []
    for members in group_lines(c, keep, mains, sboxes, H, p):
        yb0, xb0 = b[members, 0].min(), b[members, 1].min()
        yb1, xb1 = b[members, 2].max(), b[members, 3].max()
        pad = max(2, int(0.3 * H))
        y0, x0 = max(0, yb0 - pad), max(0, xb0 - pad)
        y1, x1 = min(h_img, yb1 + pad), min(w_img, xb1 + pad)
        lab = c.labels[y0:y1, x0:x1]
        line_mains = [i for i in members if i in set(mains)]
        small = [i for i in members if i not in set(mains)]
        groups = {i: [i] for i in line_mains}
        loose = []
        for i in small:                      # a piece sharing its columns with a digit joins it
            ov = [_overlap(b[i, 1], b[i, 3], b[m, 1], b[m, 3]) / max(1, wds[i]) for m in line_mains]
            k = int(np.argmax(ov)) if ov else -1
            if k >= 0 and ov[k] >= p.attach:
                groups[line_mains[k]].append(i)
            else:
                loose.append(i)
        dashes = [i for i in loose if _dash(c, i, line_mains, members, H)]   # separators: no digit, a word break
        # points: loose pieces, or specks (no line's members) within the line's columns and rows
        sb = b[specks]
        dots = specks[(sb[:, 1] >= xb0) & (sb[:, 3] <= xb1) & (sb[:, 0] >= yb0) & (sb[:, 2] <= yb1 + 0.3 * H)].tolist()
        main_px = functools.cache(lambda: np.isin(lab, np.array(line_mains) + 1))        # (h, w), when asked
        stroke = functools.cache(lambda: float(np.percentile(ink[y0:y1, x0:x1][main_px()], 90)))
        pen = functools.cache(lambda: _stroke_width(main_px()))                          # px
        points = [i for i in loose + dots if i not in dashes and _point(c, i, ink, line_mains, members, H, stroke,
                                                                         cleared, pen)]
        loose = [i for i in loose if i not in dashes and i not in points]
        pieces = [Piece(np.isin(lab, np.array(g) + 1), True) for g in groups.values()]
        pieces += [Piece(lab == i + 1, False) for i in loose]
        region_ink = ink[y0:y1, x0:x1]
        split = []
        for k, pc in enumerate(sorted(pieces, key=lambda q: q.cx)):
            parts = _split(pc, region_ink, H, p)
            for q in parts:
                q.parent = k if len(parts) > 1 else -1
            split += parts
        split.sort(key=lambda q: q.cx)
        # pieces that a light stroke joins (a 0's skipped top and bottom): faint ink more than 2 px
        # from every piece (not their rims, nor the blur between two close digits), and the pieces
        # each such region comes within 3 px of
        taken = np.logical_or.reduce([q.mask for q in split])                      # (h, w)
        light = c.faint[y0:y1, x0:x1] & ~binary_dilation(taken, iterations=2)
        faint, n = ndi.label(light, structure=np.ones((3, 3)))                   # (h, w) regions 1..n
        if n:
            near = maximum_filter(faint.astype(np.float32), 7)                  # each grown by 3 px
            for q in split:
                q.links = frozenset(np.unique(near[q.mask]).astype(int).tolist()) - {0}
        # the ink each candidate keeps clear of (Line.bw): not the specks, which belong to no piece and
        # are mostly a digit's own fragments (a thin 9's loop top under the threshold but for 5 px)
        line = Line(y0, x0, region_ink, c.bw[y0:y1, x0:x1] & ~speck[lab], faint, split)
        right = -np.inf
        after = [0.5 * (b[i, 1] + b[i, 3]) - x0 for i in dashes + points]   # each separator's middle (line px)
        for k, pc in enumerate(split):
            if k and (pc.x0 - right > p.word_gap * H or any(split[k - 1].cx < e <= pc.cx for e in after)):
                line.breaks.append(k)
            if k and pc.parent >= 0 and pc.parent == split[k - 1].parent:
                line.cuts.append(k)
            right = max(right, pc.x1)
        line.spans = candidate_spans(split, H, p, set(line.breaks))
        lines.append(line)
    return lines


def candidate_spans(pieces: list[Piece], H: float, p: SegmentParams, breaks=frozenset()):
    """Runs of pieces [i, j) that could be one digit: every single piece, every whole component
    that was cut, and runs of up to max_pieces neighbours no wider than max_width with gaps
    under merge_gap (or joined by faint ink: `Piece.links`), within a word."""
    spans = set()
    for i in range(len(pieces)):
        spans.add((i, i + 1))
        x0, x1 = pieces[i].x0, pieces[i].x1
        links, common = set(pieces[i].links), set(pieces[i].links)
        mains = {pieces[i].parent if pieces[i].parent >= 0 else -2 - i} if pieces[i].main else set()
        for j in range(i + 1, min(len(pieces), i + p.max_pieces)):
            q = pieces[j]
            if j in breaks or (q.x0 - x1 > p.merge_gap * H and not links & q.links):
                break
            links |= q.links
            common &= q.links                         # one region of faint ink holds them all
            x0, x1 = min(x0, q.x0), max(x1, q.x1)
            if x1 - x0 > p.max_width * H:
                break
            if q.main:
                mains.add(q.parent if q.parent >= 0 else -2 - j)
            # two digit-sized components as one digit: only a broken digit, as narrow as a digit,
            # or one that lighter ink holds together (a wide 0 whose top and bottom are light)
            if len(mains) > 1 and x1 - x0 > p.merge_width * H and not common:
                continue
            spans.add((i, j + 1))
    parents = [q.parent for q in pieces]
    for i, par in enumerate(parents):                 # a cut component, whole again
        if par >= 0 and (i == 0 or parents[i - 1] != par):
            j = i
            while j < len(pieces) and parents[j] == par:
                j += 1
            spans.add((i, j))
    return sorted(spans)


# ---- from a page to candidate 28x28 digits -------------------------------------------------
@dataclass
class Segmentation:
    """What `segment` found: candidate digits as 28x28 images and how they fit together."""

    images: np.ndarray            # uint8 (K, 28, 28) candidate digits, normalized
    lines: list[dict]             # per line: {"n": pieces, "main": [bool], "spans": [(i, j, k)],
                                  #   "widths"/"heights": [per span, / H], "breaks", "cuts": [piece]}
    boxes: np.ndarray             # int (K, 4) x0, y0, x1, y1 of each candidate in the source image
    height: float                 # text height H in source pixels


def source_size(item: Item | None, shape) -> tuple[int, int]:
    """(H, W) of the source image as load_gray orients it (EXIF applied): the decode's own size
    (`decode_gray(item, with_size=True)`); `shape` for no item, an array, or a source that no
    longer decodes (the decode the caller made succeeded: trust it)."""
    from .normalize import ImageError
    if item is None or isinstance(item.data, np.ndarray):
        return tuple(shape)
    try:
        return decode_gray(item, with_size=True)[1]
    except ImageError:
        return tuple(shape)


def segment(gray, p: SegmentParams | None = None, item: Item | None = None,
            source_shape: tuple[int, int] | None = None) -> Segmentation:
    """A page (H, W) grayscale -> candidate digits. Raises ImageError("no digit found ...").

    `item`: where `gray` came from, to decode a larger copy for small writing and to give
    boxes in the source's pixels (without it, boxes are in `gray`'s pixels). `source_shape`:
    the source's (H, W) when the caller decoded it (`decode_gray(item, with_size=True)`);
    else `item` is decoded again for it (`source_size`).
    """
    from .normalize import ImageError, as_gray, is_mnist_style, normalize_digit, normalize_ink
    p = p or SegmentParams()
    g = as_gray(gray)
    src_h, src_w = source_shape or source_size(item, g.shape)
    if np.ptp(g) < 0.08:
        raise ImageError("no digit found (blank image)")
    if is_mnist_style(g):                         # an MNIST digit: exactly what the digit mode reads
        return Segmentation(normalize_digit(g)[None], [{"n": 1, "main": [True], "spans": [(0, 1, 0)],
                                                        "widths": [1.0], "heights": [1.0],
                                                        "breaks": [], "cuts": [], "cut_runs": [0], "parents": [-1],
                                                        "cut_ink": [0.0]}],
                            np.array([[0, 0, src_w, src_h]]), float(src_h))
    # 1. first look
    g1 = g if max(g.shape) <= FIRST_LOOK else _resize(g, *_fit(g.shape, FIRST_LOOK))   # arrays may be big
    ink1, (oy, ox) = ink_of(g1)
    raw1 = ink1                                   # before page edges are erased: its zeros are paper
    c1 = components(ink1)
    if c1 is not None:
        ink1, c1 = without_edges(ink1, c1, page_edges(c1, ink1.shape))
    frames1 = np.zeros((0, 4), np.int64)
    if c1 is not None:                            # a box around the number: its height is no text height
        ink1, c1, frames1 = without_frames(ink1, c1)
    H1 = text_height(c1, ink1.shape) if c1 is not None else None
    if H1 is not None:                            # a ruled line set H too (a digit and its line: their mean)
        ink1, c2 = without_rules(ink1, c1, H1)
        if c2 is not c1:
            c1, H1 = c2, text_height(c2, ink1.shape) if c2 is not None else None
    if H1 is None or H1 < max(3, p.min_height * max(g1.shape)):
        raise ImageError("no digit found")
    keep = (np.maximum(c1.heights, c1.widths) >= p.speck * H1) & ~page_edges(c1, ink1.shape)
    keep &= c1.area >= 0.02 * c1.area[keep].max(initial=0)
    if not keep.any():
        raise ImageError("no digit found")
    kb = c1.boxes[keep]
    m = 0.6 * H1
    fb = np.concatenate([kb - [m, m, -m, -m], frames1 + [-2, -2, 2, 2]])   # the writing, whole boxes around it
    fb = fb[box_overlap(fb, kb).sum(1) > 0]                                 # (those that hold some)
    roi1 = (max(0, fb[:, 0].min()) + oy, max(0, fb[:, 1].min()) + ox,
            min(ink1.shape[0], fb[:, 2].max()) + oy, min(ink1.shape[1], fb[:, 3].max()) + ox)
    # writing cropped tight to its ink gets paper around it: without it the ink map finds no paper
    # beside a stroke that fills the region's width (a 1 at 32x2 px). Tight: the region the writing
    # needs (its boxes and the margin m) lies mostly outside the image; not writing (or a shadow's
    # sliver) that merely comes near the border
    need = (kb[:, 2].max() - kb[:, 0].min() + 2 * m) * (kb[:, 3].max() - kb[:, 1].min() + 2 * m)
    tight = (roi1[2] - roi1[0]) * (roi1[3] - roi1[1]) < TIGHT * need
    # 2. the region at the working scale: H -> target_height px
    s = p.target_height / H1                      # working px per first-look px
    s = min(s, math.sqrt(MAX_WORK_PIXELS / max(1.0, (roi1[2] - roi1[0]) * (roi1[3] - roi1[1]))))
    g2, k2 = g1, 1.0                              # the image the region is cut from, its px per first-look px
    if s > 1.15 and g1 is not g:                 # an array reduced for the first look: use it all
        g2, k2 = g, g.shape[1] / g1.shape[1]
    elif s > 1.15 and item is not None and not isinstance(item.data, np.ndarray) and \
            max(src_h, src_w) > max(g1.shape):     # a file decoded small: decode a bigger copy
        g2 = decode_gray(item, max_side=min(MAX_DECODE, math.ceil(max(g1.shape) * s)))
        k2 = g2.shape[1] / g1.shape[1]
    ry0, rx0 = int(roi1[0] * k2), int(roi1[1] * k2)
    ry1, rx1 = int(math.ceil(roi1[2] * k2)), int(math.ceil(roi1[3] * k2))
    region = g2[ry0:ry1, rx0:rx1]
    if tight:                                     # paper for the margin the region lacks (first-look px)
        lack = (m - kb[:, 0].min(), m - kb[:, 1].min(),
                kb[:, 2].max() + m - ink1.shape[0], kb[:, 3].max() + m - ink1.shape[1])
        pt, pl, pb, pr = (int(round(max(0.0, q) * k2)) for q in lack)   # g2 px: top, left, bottom, right
        sheet1 = g1[oy:oy + raw1.shape[0], ox:ox + raw1.shape[1]]
        paper = float(np.median(sheet1[raw1 <= raw1.min()]))          # the least inky pixels' grey
        region = np.pad(region, ((pt, pb), (pl, pr)), constant_values=paper)
        ry0, rx0, ry1, rx1 = ry0 - pt, rx0 - pl, ry1 + pb, rx1 + pr       # the region's place, beyond g2
    f = s / k2                                    # working px per px of g2
    hh, ww = max(1, round(region.shape[0] * f)), max(1, round(region.shape[1] * f))
    work = _resize(region, hh, ww) if abs(f - 1) > 0.05 else region
    f_y, f_x = work.shape[0] / region.shape[0], work.shape[1] / region.shape[1]
    from .normalize import ink_map
    ink = ink_map(np.ascontiguousarray(work, np.float32))
    c = components(ink, p.sigma, p.level, p.link_level)
    if c is None:
        raise ImageError("no digit found")
    # the region's sides that are the page's border, and the page's size in working px
    sides = (ry0 <= 0, ry1 >= g2.shape[0], rx0 <= 0, rx1 >= g2.shape[1])
    page = (g2.shape[0] * f_y, g2.shape[1] * f_x)
    edges = page_edges(c, ink.shape, page, sides)
    kw = {"sigma": p.sigma, "level": p.level, "link_level": p.link_level}
    # page edges, boxes, ruled lines, in turn: each step reads the ink and components the last one left
    cleared = None                                # (h, w) bool: the pixels they erased (None: none)
    for erase in (lambda: without_edges(ink, c, edges, **kw), lambda: without_frames(ink, c, **kw)[:2],
                  lambda: without_rules(ink, c, H1 * s, **kw)):
        before = ink
        ink, c2 = erase()
        if c2 is None:
            raise ImageError("no digit found")
        if c2 is not c:                           # components found again: their edges too
            c, edges = c2, page_edges(c2, ink.shape, page, sides)
            cleared = (before != ink) if cleared is None else cleared | (before != ink)
    H = text_height(c, ink.shape, edges)
    if H is None:
        raise ImageError("no digit found")
    # 3.-5. lines, pieces, candidate digits
    lines = layout(ink, c, H, p, edges, cleared)
    images, boxes, out_lines = [], [], []
    to_src_x = src_w / g2.shape[1] / f_x          # source px per working px
    to_src_y = src_h / g2.shape[0] / f_y
    for line in lines:
        others = line.bw
        spans, widths, heights = [], [], []
        for i, j in line.spans:
            run = line.pieces[i:j]
            mask = np.logical_or.reduce([q.mask for q in run])
            common = frozenset.intersection(*(frozenset(q.links) for q in run)) if j - i > 1 else frozenset()
            parents = {q.parent for q in run}
            if common and (len(parents) > 1 or -1 in parents):
                # pieces of two components or more that a light stroke joins: the stroke is part of the
                # digit (a 0's light top and bottom), within their columns and a quarter H above and below
                ys, xs = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
                r0, r1 = max(0, ys[0] - int(0.25 * H)), ys[-1] + 1 + int(0.25 * H)
                mask[r0:r1, xs[0]:xs[-1] + 1] |= np.isin(line.faint[r0:r1, xs[0]:xs[-1] + 1], list(common))
            img, box = _candidate(mask, line, others, H, normalize_ink, ImageError)
            if img is None:
                continue
            spans.append((i, j, len(images)))
            widths.append((box[3] - box[1]) / H)
            heights.append((box[2] - box[0]) / H)
            images.append(img)
            y0, x0, y1, x1 = box
            boxes.append([int((line.x0 + x0) * to_src_x + rx0 * src_w / g2.shape[1]),
                          int((line.y0 + y0) * to_src_y + ry0 * src_h / g2.shape[0]),
                          int(math.ceil((line.x0 + x1) * to_src_x + rx0 * src_w / g2.shape[1])),
                          int(math.ceil((line.y0 + y1) * to_src_y + ry0 * src_h / g2.shape[0]))])
        out_lines.append({"n": len(line.pieces), "main": [q.main for q in line.pieces],
                          "spans": spans, "widths": widths, "heights": heights,
                          "breaks": line.breaks, "cuts": line.cuts,
                          "parents": [q.parent for q in line.pieces],
                          "cut_runs": [q.cut_runs for q in line.pieces],
                          "cut_ink": [q.cut_ink for q in line.pieces]})
    if not images:
        raise ImageError("no digit found")
    boxes = np.array(boxes)
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, src_w)           # paper added beyond the border is no place
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, src_h)
    return Segmentation(np.stack(images), out_lines, boxes, H * to_src_y)


def _fit(shape, side):
    h, w = shape
    s = side / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def _box(shape, y0, x0, y1, x1) -> np.ndarray:
    b = np.zeros(shape, bool)
    b[y0:y1, x0:x1] = True
    return b


def _candidate(mask, line: Line, others, H, normalize_ink, ImageError):
    """One candidate digit: its pixels (with their anti-aliased rims and the faint ink between
    them, not its neighbours') cropped from the ink map -> normalize_ink -> (28, 28)."""
    ys, xs = np.nonzero(mask)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    rim = 3
    h, w = mask.shape
    cy0, cx0, cy1, cx1 = max(0, y0 - rim), max(0, x0 - rim), min(h, y1 + rim), min(w, x1 + rim)
    m = mask[cy0:cy1, cx0:cx1]
    # keep the faint ink between its pieces (a thin stroke under the threshold: a 5's bar joined
    # to its body), drop only the other candidates' ink and its anti-aliased rim
    other = others[cy0:cy1, cx0:cx1] & ~m
    region = ~binary_dilation(other, iterations=2) | m
    region &= binary_dilation(m, iterations=2) | _box(m.shape, y0 - cy0, x0 - cx0, y1 - cy0, x1 - cx0)
    crop = np.clip(line.ink[cy0:cy1, cx0:cx1], 0, 1) * region          # ink within 2 px of the box
    # on blank paper one H wider on every side (the threshold in normalize_ink is measured
    # against that much paper, as for a photographed digit). Only NEAR px of it are built: after
    # the blur here (4 px at most) the ink stays 4 px inside them, as far as normalize_ink's own
    # blur reaches, so neither sees past them; normalize_ink counts the rest
    pad = max(rim, int(H))
    near = min(pad, NEAR)
    page = np.zeros((y1 - y0 + 2 * near, x1 - x0 + 2 * near), np.float32)   # (h + 2 near, w + 2 near)
    page[near - (y0 - cy0):near + (cy1 - y0), near - (x0 - cx0):near + (cx1 - x0)] = crop
    try:
        # the ink is measured already: only what ink_map would still do to it, a light blur
        sigma = min(1.0, (max(y1 - y0, x1 - x0) + 2 * pad) / 200)    # as for the whole page
        return normalize_ink(ndi.gaussian_filter(page, sigma), paper=pad - near), (y0, x0, y1, x1)
    except ImageError:
        return None, None
