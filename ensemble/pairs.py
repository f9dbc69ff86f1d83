"""The pair reader: reads a candidate that holds two touching digits as the pair ("19").

    python train_pairs.py                       # -> checkpoints/verifier/pair.safetensors + report
    from ensemble.pairs import PairReader
    probs = PairReader.load()(images)           # uint8 (K, 28, 28) -> (K, 101) p(pair 00..99, not a pair)

Why: where two digits touch, the segmentation offers cuts between them, but sometimes none of
them runs where the digits meet (a slanted 1 inside its 9's box, two loops drawn into each other).
The candidate that holds both is always there: a connected piece. The members read it as one digit;
this net reads it as the two (`NumberMode` offers each wide-enough candidate as a two-digit
option in the best-path search, `PairScoring`).

Its data (`pair_crops`): numbers rendered from MNIST training digits 0-54,999 (validation:
55,000-59,999) as photos or scans, read by NumberMode.prepare exactly as `vote.py --number`
reads them (the same 28x28 candidates the members see). A candidate is the pair "ab" when its box
matches the box around two neighbouring drawn digits (IoU >= 0.8) and holds most of each one
(>= 0.9 of each digit's box area); it is "not a pair" when its IoU with every such pair box is
< 0.5; in between it is left out.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .verifier import box_iou, labelled_candidates, load_net, map_tasks, number_tasks, read_render, save_net

META_KEY = "digit_ensemble_pair_reader"
DEFAULT_PATH = Path(__file__).resolve().parent.parent / "checkpoints" / "verifier" / "pair.safetensors"
NOT_PAIR = 100                          # the class index of "not two digits"
IOU_PAIR, IOU_OTHER, INSIDE = 0.8, 0.5, 0.9
BATCH = 64                              # crops per forward pass: on the 2-core VM 0.06 ms a crop in
                                        # batches of 64, 0.13 in batches of 256 (the activations leave the cache)


class PairNet(nn.Module):
    """Three conv stages and a head: (B, 1, 28, 28) -> (B, 101) logits, pairs 00..99 and "not a pair".
    A pair squeezed into 28x28 has each digit about 10 px wide: three 3x3 stages keep the detail."""

    num_classes = NOT_PAIR + 1

    def __init__(self, width: int = 32, hidden: int = 256, dropout: float = 0.3):
        super().__init__()
        w = width
        self.features = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2),            # (B, w, 14, 14)
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.BatchNorm2d(2 * w), nn.ReLU(), nn.MaxPool2d(2),    # (B, 2w, 7, 7)
            nn.Conv2d(2 * w, 4 * w, 3, padding=1), nn.BatchNorm2d(4 * w), nn.ReLU(),
            nn.AdaptiveMaxPool2d((3, 3)))                                                           # (B, 4w, 3, 3)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(36 * w, hidden), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(hidden, self.num_classes))

    def forward(self, x, return_aux: bool = False):
        logits = self.head(self.features(x))                                 # (B, 101)
        return (logits, []) if return_aux else logits


# ---- data: the candidates of rendered numbers, labelled by their boxes ----------------------
def pair_boxes(truth) -> np.ndarray:
    """(n - 1, 4) the box around each two neighbouring digits of (n, 4) boxes."""
    t = np.asarray(truth, np.float64).reshape(-1, 4)
    if len(t) < 2:
        return np.zeros((0, 4))
    return np.concatenate([np.minimum(t[:-1, :2], t[1:, :2]), np.maximum(t[:-1, 2:], t[1:, 2:])], 1)


def _inside(boxes, truth) -> np.ndarray:
    """(K, n) share of each true box's area inside each candidate box."""
    from .segment import box_area, box_overlap
    return box_overlap(boxes, truth) / np.maximum(box_area(np.reshape(truth, (-1, 4))), 1)[None]


def label_pairs(boxes, truth, digits) -> np.ndarray:
    """int (K,): 10 a + b for the pair "ab", NOT_PAIR, or -1 (left out); digits: the true labels (n,)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    y = np.full(len(boxes), NOT_PAIR, np.int64)
    pb = pair_boxes(truth)
    if len(boxes) == 0 or len(pb) == 0:
        return y
    iou = box_iou(boxes, pb)                                                 # (K, n - 1)
    inside = _inside(boxes, truth)                                           # (K, n)
    both = np.minimum(inside[:, :-1], inside[:, 1:])                         # (K, n - 1)
    best = iou.argmax(1)
    k = np.arange(len(boxes))
    good = (iou[k, best] >= IOU_PAIR) & (both[k, best] >= INSIDE)
    y[iou.max(1) >= IOU_OTHER] = -1
    d = np.asarray(digits, np.int64)
    y[good] = 10 * d[best[good]] + d[best[good] + 1]
    return y


def _one_number(task) -> tuple[np.ndarray, np.ndarray]:
    """(digits, labels, seed, style dict, JPEG quality or None) -> the candidates' (crops, labels)."""
    digits, labels, *render = task
    p, truth = read_render(digits, *render)
    return labelled_candidates(p, None if p is None else label_pairs(p.info["boxes"], truth, labels))


def pair_crops(images, labels, mix, n, seed, workers=2, desc="numbers", keep_not=0.3):
    """Render n numbers per `mix` entry, read them: uint8 (K, 28, 28), int64 (K,); of the "not a pair"
    candidates only a random share keep_not is kept (they are most of them)."""
    out = map_tasks(_one_number, number_tasks(images, mix, n, seed, labels), workers, desc, "number")
    x = np.concatenate([c for c, _ in out]) if out else np.zeros((0, 28, 28), np.uint8)
    y = np.concatenate([v for _, v in out]) if out else np.zeros(0, np.int64)
    keep = (y != NOT_PAIR) | (np.random.default_rng(seed).random(len(y)) < keep_not)
    return x[keep], y[keep]


# Synthetic pairs: two MNIST digits at about the working scale (H ~ 32 px: x1.3-2.0), the second
# placed so that their closest ink rows overlap by -0.5..2 MNIST px (as the benchmark's touching and
# overlapping pairs), baseline jitter, a slant, blur, fainter ink and grain, then normalized by
# `normalize_ink` as every candidate is. Cheap (~4 ms each on one core), so there can be many of them; the
# rendered numbers' candidates (`pair_crops`) add the real pictures' look.
def _synthetic_pair(args):
    """(digit a, digit b (28, 28) uint8, seed) -> the pair written touching, as a candidate 28x28 (or None);
    b None: digit a alone, pictured the same way."""
    from scipy import ndimage as ndi
    a, b, seed = args
    rng = np.random.default_rng(seed)
    s = rng.uniform(1.3, 2.0)                                                # MNIST px -> working px
    A = ndi.zoom(a.astype(np.float32) / 255, s * rng.uniform(0.88, 1.12), order=1)
    if b is None:                                                            # one digit alone: "not a pair"
        return _picture(np.pad(A, 4), s, rng)
    B = ndi.zoom(b.astype(np.float32) / 255, s * rng.uniform(0.88, 1.12), order=1)
    dy = int(round(rng.uniform(-2, 2) * s))                                  # baseline jitter
    H = max(A.shape[0], B.shape[0]) + 2 * abs(dy) + 4
    ya, yb = abs(dy) + 2, abs(dy) + 2 + dy
    ra, lb = np.full(H, -np.inf), np.full(H, np.inf)                         # (H,) a's right / b's left ink edge
    ma, mb = A > 0.3, B > 0.3
    ra[ya:ya + len(A)] = np.where(ma.any(1), A.shape[1] - 1 - np.argmax(ma[:, ::-1], 1), -np.inf)
    lb[yb:yb + len(B)] = np.where(mb.any(1), np.argmax(mb, 1), np.inf)
    gap = ra - lb                                                            # (H,) finite where both have ink
    ov = rng.uniform(-0.5, 2.0) * s                                          # how far the closest rows overlap
    d = int(round(gap[np.isfinite(gap)].max() - ov + 1)) if np.isfinite(gap).any() else A.shape[1]
    off = max(0, -d) + 2                                                     # b's left edge at off + d
    canvas = np.zeros((H, max(A.shape[1], d + B.shape[1]) + off + 4), np.float32)
    canvas[ya:ya + A.shape[0], off:off + A.shape[1]] = A
    sub = canvas[yb:yb + B.shape[0], off + d:off + d + B.shape[1]]
    sub[...] = np.maximum(sub, B)
    return _picture(canvas, s, rng)


def _picture(canvas: np.ndarray, s: float, rng) -> np.ndarray | None:
    """Ink (H, W) at the working scale -> slanted, blurred, fainter, grainy, normalized 28x28 (None: no ink)."""
    from scipy import ndimage as ndi

    from .normalize import normalize_ink
    H = canvas.shape[0]
    k = rng.uniform(-0.25, 0.25)
    pad = int(abs(k) * H) + 2
    c2 = np.pad(canvas, ((0, 0), (pad, pad)))
    out = np.stack([ndi.shift(row, k * (H - 1 - i), order=1) for i, row in enumerate(c2)])     # slant
    sig = rng.uniform(0.0, 1.2)
    if sig > 0.2:
        out = ndi.gaussian_filter(out, sig)
    out = out * rng.uniform(0.5, 1.0) + rng.normal(0, 0.02, out.shape)
    try:
        return normalize_ink(np.clip(out, 0, None).astype(np.float32))
    except Exception:
        return None


def synthetic_pairs(images, labels, n: int, seed: int, workers: int = 2, desc: str = "pairs", singles: int = 0):
    """n synthetic touching pairs of random digits from `images` (N, 28, 28), and `singles` lone digits
    pictured the same way ("not a pair": a wide lone 7 is no "17"): uint8 (n', 28, 28), int64 (n',)."""
    rng = np.random.default_rng(seed)
    i, j = rng.integers(len(images), size=n), rng.integers(len(images), size=n)
    one = rng.integers(len(images), size=singles)
    tasks = [(images[p], images[q], int(rng.integers(2 ** 31))) for p, q in zip(i, j)]
    tasks += [(images[p], None, int(rng.integers(2 ** 31))) for p in one]
    out = map_tasks(_synthetic_pair, tasks, workers, desc, "crop", chunksize=64)
    ok = np.array([o is not None for o in out], bool)
    x = np.stack([o for o in out if o is not None]).astype(np.uint8) if ok.any() else np.zeros((0, 28, 28), np.uint8)
    y = np.concatenate([10 * np.asarray(labels)[i] + np.asarray(labels)[j], np.full(singles, NOT_PAIR)])
    return x, y.astype(np.int64)[ok]


# ---- the weights file -----------------------------------------------------------------------
def save_pair_reader(path, net: PairNet, meta: dict) -> Path:
    """Weights + `meta` in one .safetensors file, atomically."""
    return save_net(path, net, meta, META_KEY)


def _for_inference(net: PairNet) -> PairNet:
    """A copy of `net` for reading: each batch norm folded into its convolution, channels-last memory.
    The same arithmetic up to float rounding, ~2.6x faster on the CPU for a number's ~11 candidates
    (small batches: the eager batch norms and the NCHW layout cost more than the convolutions)."""
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval
    fast = copy.deepcopy(net).eval()
    layers = list(fast.features)
    for i, layer in enumerate(layers[:-1]):
        if isinstance(layer, nn.Conv2d) and isinstance(layers[i + 1], nn.BatchNorm2d):
            layers[i], layers[i + 1] = fuse_conv_bn_eval(layer, layers[i + 1]), nn.Identity()
    fast.features = nn.Sequential(*layers)
    return fast.to(memory_format=torch.channels_last)


class PairReader:
    """A loaded pair reader: __call__(uint8 (K, 28, 28)) -> float64 (K, 101) probabilities."""

    def __init__(self, net: PairNet, meta: dict | None = None):
        self.net, self.meta = net.eval(), dict(meta or {})
        self._fast = _for_inference(self.net)

    @classmethod
    def load(cls, path=None) -> "PairReader":
        return cls(*load_net(path or DEFAULT_PATH, META_KEY, PairNet, "pair reader", "train_pairs.py"))

    @torch.no_grad()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        out = [np.zeros((0, NOT_PAIR + 1))]
        for i in range(0, len(images), BATCH):
            x = torch.from_numpy(np.ascontiguousarray(images[i:i + BATCH])).float().div_(255).unsqueeze(1)
            x = x.contiguous(memory_format=torch.channels_last)
            out.append(torch.softmax(self._fast(x).float(), 1).double().numpy())
        return np.concatenate(out)
