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
written as tensor ops on the 8 neighbours; `ensemble/skeleton.py` (the reading path's numpy
twin, a lookup table) must give the same centre lines, and `tests/test_generators.py` checks it.
"""
from __future__ import annotations

import math
from functools import lru_cache

import torch
import torch.nn.functional as F

UP = 2              # thinned and redrawn at 2x: a 2.5-px MNIST stroke is 5 px there
THRESHOLD = 0.4     # ink of the 2x upscale that counts as stroke (benchmarks/robustness.py's too)
MAX_RADIUS = 5.0    # pen radius at 2x, px: a stroke width of at most 5 px at 1x (MNIST's 99th percentile)


def _neighbours(m: torch.Tensor) -> list[torch.Tensor]:
    """P2..P9 of Zhang & Suen (north, then clockwise) of a 0/1 uint8 (B, 1, H, W), zero outside."""
    p = F.pad(m, (1, 1, 1, 1))
    H, W = m.shape[-2:]
    at = lambda dy, dx: p[..., 1 + dy:1 + dy + H, 1 + dx:1 + dx + W]   # noqa: E731
    return [at(-1, 0), at(-1, 1), at(0, 1), at(1, 1), at(1, 0), at(1, -1), at(0, -1), at(-1, -1)]


def thin(mask: torch.Tensor, max_passes: int = 64) -> torch.Tensor:
    """Zhang-Suen thinning of a bool (B, 1, H, W) batch -> bool (B, 1, H, W) 1-px centre lines.

    Each pass has two sub-steps; a set pixel is peeled when it has 2-6 set neighbours, exactly
    one 0 -> 1 transition going round them, and the sub-step's pair of products is zero
    (P2 P4 P6 = P4 P6 P8 = 0, then P2 P4 P8 = P2 P6 P8 = 0). Passes until nothing changes.
    """
    m = mask.to(torch.uint8)
    for _ in range(max_passes):
        changed = False
        for step in (0, 1):
            n = _neighbours(m)                                             # 8 x (B, 1, H, W)
            b = sum(n)                                                     # set neighbours
            a = sum((1 - n[k]) * n[(k + 1) % 8] for k in range(8))         # 0 -> 1 transitions
            p2, p4, p6, p8 = n[0], n[2], n[4], n[6]
            if step == 0:
                pair = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                pair = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            kill = (m == 1) & (b >= 2) & (b <= 6) & (a == 1) & pair
            if bool(kill.any()):
                m = m * ~kill
                changed = True
        if not changed:
            break
    return m.bool()


@lru_cache(maxsize=8)
def _offsets(max_radius: float) -> tuple[tuple[int, int, float], ...]:
    """(dy, dx, distance) of every pixel a pen of radius <= max_radius can ink, around its centre."""
    R = math.ceil(max_radius + 0.5)
    return tuple((dy, dx, math.hypot(dy, dx)) for dy in range(-R, R + 1) for dx in range(-R, R + 1)
                 if math.hypot(dy, dx) < max_radius + 0.5)


def draw_pen(skel: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Centre lines bool (B, 1, H, W) drawn with a round pen of `radius` (B,) px: float ink in [0, 1].

    A pixel at distance d from the line gets clamp(radius + 0.5 - d, 0, 1): solid inside the pen,
    anti-aliased over its last pixel (`ensemble.skeleton.redraw` draws the same pen).
    """
    r = radius.clamp(0, MAX_RADIUS).to(torch.float32)[:, None, None, None]   # (B, 1, 1, 1)
    H, W = skel.shape[-2:]
    R = math.ceil(MAX_RADIUS + 0.5)
    s = F.pad(skel.to(torch.float32), (R, R, R, R))                         # (B, 1, H + 2R, W + 2R)
    out = torch.zeros(skel.shape, dtype=torch.float32, device=skel.device)
    for dy, dx, d in _offsets(MAX_RADIUS):
        weight = (r + 0.5 - d).clamp(0, 1)                                  # (B, 1, 1, 1)
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
