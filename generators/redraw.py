"""The `redraw` stage of the generator: strokes redrawn along their centre line with a uniform
round pen, whole batches in torch.

Canvas apps, markers and ball pens draw every stroke as wide as the pen, with round ends: none of
the thin/thick modulation of MNIST's scanned pencil and ink strokes. A member that saw only MNIST
reads an ambiguous digit partly from that modulation (a closed 8's thin waist, a 1's light
foot), and loses it on a canvas drawing. This stage shows it such digits during training:

    x2 = bilinear 2x upscale of the sample, ink > 0.4          # bool (b, 1, 2H, 2W)
    skel = zhang_suen(x2)                                      # 1-px centre lines
    ink2 = round pen of radius w (the sample's own stroke width w at 1x, i.e. the same pen)
    out = 2x2 area average of ink2                             # (b, 1, H, W), anti-aliased

`generators.distort` runs it first, on the samples it picks (probability `redraw`); the pen-width
stage after it then varies the width. The thinning here is Zhang & Suen's (1984) conditions
written as tensor ops on the 8 neighbours, evaluated once into a 256-entry table that each
sub-step looks pixels up in; `ensemble/skeleton.py` (the reading path's numpy twin, its own
table) must give the same centre lines, and `tests/test_generators.py` checks it. On a GPU the
neighbourhood codes and the pen are correlations, a few kernels per step where a CPU does
shifted copies: the same numbers either way (tested), for a stage that was launch-bound there.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

UP = 2              # thinned and redrawn at 2x: a 2.5-px MNIST stroke is 5 px there
THRESHOLD = 0.4     # ink of the 2x upscale that counts as stroke (benchmarks/robustness.py's too)
MAX_RADIUS = 5.0    # pen radius at 2x, px: a stroke width of at most 5 px at 1x (MNIST's 99th percentile)


# bit k of a pixel's neighbourhood code = its neighbour P(k+2), clockwise from north (P2) to
# north-west (P9): one 3x3 correlation packs the 8 neighbours into a byte (exact in float32)
_BITS = ((128.0, 1.0, 2.0), (64.0, 0.0, 4.0), (32.0, 16.0, 8.0))


@lru_cache(maxsize=1)
def _peel_table() -> torch.Tensor:
    """bool (2, 256): may a set pixel be peeled in sub-step 0 / 1, given its neighbourhood code?

    Zhang & Suen's conditions, evaluated once on all 256 codes: 2-6 set neighbours, exactly one
    0 -> 1 transition going round them, and the sub-step's pair of products zero (P2 P4 P6 =
    P4 P6 P8 = 0, then P2 P4 P8 = P2 P6 P8 = 0). One table lookup per pixel then replaces ~40
    tensor ops per sub-step: on a GPU the thinning was launch-bound (benchmarks/RESULTS.md).
    """
    code = torch.arange(256)
    n = [(code >> k) & 1 for k in range(8)]                                # P2..P9, each (256,)
    b = sum(n)                                                             # set neighbours
    a = sum((1 - n[k]) * n[(k + 1) % 8] for k in range(8))                 # 0 -> 1 transitions
    p2, p4, p6, p8 = n[0], n[2], n[4], n[6]
    ok = (b >= 2) & (b <= 6) & (a == 1)
    return torch.stack([ok & (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0),
                        ok & (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)])


def _codes(m: torch.Tensor, by_conv: bool) -> torch.Tensor:
    """Neighbourhood codes long (B, 1, H, W) in 0..255 of a 0/1 uint8 (B, 1, H, W), zero outside.

    by_conv: one 3x3 correlation with the bit weights (one kernel: what a GPU wants); else the
    8 shifted neighbours or-ed bit by bit (what a CPU does fastest). Both are exact and equal."""
    if by_conv:
        bits = _on(m.device)["bits"]                                     # (1, 1, 3, 3)
        # rounded, not truncated: cuDNN may pick a Winograd or FFT algorithm, off by ~1e-5;
        # fp32 even under autocast, where half precision would not keep 255 +- 0.5
        with torch.autocast(m.device.type, enabled=False):
            return F.conv2d(m.to(torch.float32), bits, padding=1).round().to(torch.long)
    p = F.pad(m, (1, 1, 1, 1))
    H, W = m.shape[-2:]
    at = lambda dy, dx: p[..., 1 + dy:1 + dy + H, 1 + dx:1 + dx + W]   # noqa: E731
    code = torch.zeros_like(m)
    for k, (dy, dx) in enumerate(((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))):
        code |= at(dy, dx) << k                                          # P(k+2), clockwise from north
    return code.to(torch.long)


def thin(mask: torch.Tensor, max_passes: int = 64) -> torch.Tensor:
    """Zhang-Suen thinning of a bool (B, 1, H, W) batch -> bool (B, 1, H, W) 1-px centre lines.

    Each pass has two sub-steps; in each, every set pixel whose neighbourhood code the sub-step's
    table marks is peeled (`_peel_table`). Passes until one changes nothing: one host sync per
    pass, not per sub-step.
    """
    m = mask.bool().to(torch.uint8)                                        # (B, 1, H, W) 0/1
    table = _on(m.device)["peel"]                                          # (2, 256)
    for _ in range(max_passes):
        changed = torch.zeros((), dtype=torch.bool, device=m.device)
        for step in (0, 1):
            kill = table[step].take(_codes(m, m.is_cuda)) & m.bool()       # (B, 1, H, W)
            m = m.masked_fill(kill, 0)
            changed = changed | kill.any()
        if not bool(changed):
            break
    return m.bool()


@lru_cache(maxsize=8)
def _disc(max_radius: float) -> tuple[tuple[float, tuple[tuple[int, int], ...]], ...]:
    """The pixels (dy, dx) a pen of radius <= max_radius can ink around its centre, in rings of
    equal distance, nearest first: ((distance, offsets), ...)."""
    R = math.ceil(max_radius + 0.5)
    rings: dict[int, list[tuple[int, int]]] = {}
    for dy in range(-R, R + 1):
        for dx in range(-R, R + 1):
            if math.hypot(dy, dx) < max_radius + 0.5:
                rings.setdefault(dy * dy + dx * dx, []).append((dy, dx))
    return tuple((math.sqrt(d2), tuple(rings[d2])) for d2 in sorted(rings))


@lru_cache(maxsize=8)
def _pen_rings(max_radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """`_disc` as correlation kernels float (n, 1, K, K), one ring each, and their distances float (n,)."""
    disc, R = _disc(max_radius), math.ceil(max_radius + 0.5)
    kernels = torch.zeros(len(disc), 1, 2 * R + 1, 2 * R + 1)
    for i, (_, ring) in enumerate(disc):
        for dy, dx in ring:
            kernels[i, 0, R + dy, R + dx] = 1.0
    return kernels, torch.tensor([d for d, _ in disc], dtype=torch.float32)


@lru_cache(maxsize=8)
def _on(device: torch.device) -> dict:
    """The stage's constant tensors on `device`, made once: a copy from the host inside the
    loops would wait for the GPU at every sub-step."""
    kernels, dist = _pen_rings(MAX_RADIUS)
    return {"bits": torch.tensor(_BITS, dtype=torch.float32, device=device)[None, None],   # (1, 1, 3, 3)
            "peel": _peel_table().to(device),                                              # (2, 256)
            "rings": (kernels.to(device), dist.to(device))}


def draw_pen(skel: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Centre lines bool (B, 1, H, W) drawn with a round pen of `radius` (B,) px: float ink in [0, 1].

    A pixel at distance d from the line gets clamp(radius + 0.5 - d, 0, 1): solid inside the pen,
    anti-aliased over its last pixel (`ensemble.skeleton.redraw` draws the same pen). d is the
    nearest ring of the pen's disc holding a centre-line pixel: one correlation with a kernel
    per ring (0/1 sums, exact) on a GPU, shifted copies on a CPU.
    """
    r = radius.clamp(0, MAX_RADIUS).to(torch.float32)[:, None, None, None]   # (B, 1, 1, 1)
    return _pen_by_rings(skel, r) if skel.is_cuda else _pen_by_offsets(skel, r)


def _pen_by_rings(skel: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """draw_pen in a few kernels (a GPU's way): the distance of the nearest ring of the pen's disc
    that holds a centre-line pixel, from one correlation with every ring's kernel (0/1 sums,
    exact); the ink falls with that distance, so it equals the max over the disc's pixels."""
    kernels, dist = _on(skel.device)["rings"]
    # counts of centre-line pixels per ring: > 0.5, not > 0, as cuDNN's Winograd/FFT may be off by ~1e-5
    with torch.autocast(skel.device.type, enabled=False):
        hits = F.conv2d(skel.to(torch.float32), kernels, padding=kernels.shape[-1] // 2) > 0.5   # (B, n, H, W)
    near = torch.where(hits, dist[None, :, None, None], math.inf).amin(1, keepdim=True)      # (B, 1, H, W)
    return (r + 0.5 - near).clamp(0, 1)


def _pen_by_offsets(skel: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """draw_pen pixel by pixel of the pen's disc (a CPU's fastest way): the max over the disc of
    the centre line shifted there, weighted by the ink at that distance."""
    R = math.ceil(MAX_RADIUS + 0.5)
    H, W = skel.shape[-2:]
    s = F.pad(skel.to(torch.float32), (R, R, R, R))                         # (B, 1, H + 2R, W + 2R)
    out = torch.zeros(skel.shape, dtype=torch.float32, device=skel.device)
    for d, ring in _disc(MAX_RADIUS):
        weight = (r + 0.5 - d).clamp(0, 1)                                  # (B, 1, 1, 1)
        for dy, dx in ring:
            out = torch.maximum(out, s[..., R + dy:R + dy + H, R + dx:R + dx + W] * weight)
    return out


def redraw(x: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """Each sample of x (B, C, H, W) in [0, 1] redrawn along its centre line with a round pen
    `width` (B,) px wide (at x's scale). The channels are averaged for the centre line; every
    channel gets the new ink. A sample without ink above THRESHOLD comes back unchanged."""
    B, C, H, W = x.shape
    if B == 0:
        return x
    big = F.interpolate(x.mean(1, keepdim=True).float(), scale_factor=UP, mode="bilinear",
                        align_corners=False)                                # (B, 1, 2H, 2W)
    skel = thin(big > THRESHOLD)
    ink = F.avg_pool2d(draw_pen(skel, width.float() * (UP / 2)), UP)        # (B, 1, H, W)
    has_ink = skel.flatten(1).any(1)[:, None, None, None]                   # (B, 1, 1, 1)
    return torch.where(has_ink, ink.to(x.dtype).expand(B, C, H, W), x)
