"""Distortion-based sample generator: elastic field + affine, pen width, low resolution, per sample.

Every sample of a batch gets its *own* random distortion; everything is whole-batch tensor work
on the device the batch lives on (on a GPU it costs almost nothing next to the network).

    import torch
    from generators import DistortionConfig, distort
    x = torch.rand(512, 1, 28, 28)                                   # (B, 1, H, W) in [0, 1]
    y = distort(x, DistortionConfig(), torch.Generator().manual_seed(0))      # seeded stream
    y = distort(x, DistortionConfig(), keys=(7, 3, torch.arange(512)))        # keyed: see below

The stages, in order (each skipped when its magnitudes are zero):

0. Redraw (canvas apps, markers): with probability `redraw` the sample's strokes are redrawn
   along their centre line (Zhang-Suen at 2x) with a uniform round pen of the sample's own
   stroke width, `generators/redraw.py`: no thin/thick modulation, round ends.
1. Pen width (Morpho-MNIST's thickening/thinning, Castro et al. 2019): the stroke width w is
   estimated per sample (2 x ink area / ink perimeter) and changed to w (1 + rho),
   rho ~ U(-thin, +thicken), by grey dilation or erosion with a disk of radius |rho| w / 2
   (max-pool steps, alternately a 3x3 cross and a 3x3 square, blended for fractional radii).
   Thinning is relative to w, so it never erases a digit: a 1-px stroke keeps its ink.
2. Warp: a Simard-style elastic field and a random affine transform (rotation, x/y scale,
   shear, translation), composed into one sampling grid and resampled once (`grid_sample`).
3. Low resolution (thumbnails, old scans): with probability `lowres_p` the image is reduced to
   round(f H) x round(f W) pixels, f ~ U(1 - lowres, 1), by area averaging, and scaled back up
   bilinearly; a (B, H, H) @ (B, C, H, W) @ (B, W, W) product, one operator per sample.

Elastic part (Simard, Steinkraus & Platt 2003): a field of uniform U(-1, 1) noise per pixel
and axis, smoothed by a Gaussian of std `elastic_sigma` pixels (zero outside the image, as
`scipy.ndimage.gaussian_filter(mode="constant")`), scaled by `elastic_alpha`: displacement in
pixels. The smoothing is separable: G_h @ N @ G_w^T with (H, H) and (W, W) Gaussian matrices.
A Gaussian of sigma ~5 px on 28 pixels has only ~6 significant singular values: with
G = U S V^T truncated to rank r, G_h N G_w^T = (U_h S_h) Z (U_w S_w)^T where Z = V_h^T N V_w is
(r, r) with i.i.d. entries of variance Var(N) = 1/3 (V orthonormal), Gaussian by the central
limit theorem. So we draw Z directly: ~72 random numbers per field instead of 1,568, same
covariance as the full field (to the truncation tolerance, 1e-4 of the energy;
`tests/test_generators.py` checks it). The affine grid is rank 2 in (row, column) as well, so
both fold into one product: grid = [A_h 1 y] Z' [A_w 1 x]^T with Z' (B, 2, r+2, r+2) holding the
field coefficients and the affine matrix, two small matmuls for the whole sampling grid.

Randomness. Each sample's parameters are a fixed function of a row of uniform numbers
(B, N) with a fixed column layout (`_AFFINE`, `_PEN`, `_LOWRES`, `_FIELD`). The row comes from
either a `torch.Generator` (`generator=`: a stream, so a sample's draw depends on its batch) or,
with `keys=(seed, epoch, index)`, from a counter-based hash (SplitMix64 on int64 tensors) of
(seed, epoch, dataset index, column): the distortion sample i sees in epoch e is then the same
whatever batch it lands in and on whatever device, so `python -m generators.preview --index i
--epochs e` shows exactly what training showed. Training uses the keyed form.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from functools import lru_cache

import torch
import torch.nn.functional as F

from .redraw import redraw

__all__ = ["DistortionConfig", "distort", "gaussian_matrix", "elastic_field", "elastic_field_lowrank",
           "affine_theta", "sampling_grid", "sample_params", "params_from_uniforms", "apply_distortion", "keyed_uniforms",
           "stroke_width", "pen_width", "area_matrix", "low_resolution", "splitmix64"]


@dataclass(frozen=True)
class DistortionConfig:
    """Magnitudes of the random distortions; each is sampled uniformly per sample.

    elastic_alpha: displacement scale in pixels (Simard: 34 for 28x28); 0 disables.
    elastic_sigma: std of the Gaussian smoothing the noise field, in pixels (4-6 typical).
    rotation:      degrees, angle ~ U(-rotation, +rotation).
    scale:         fraction, sx and sy ~ U(1 - scale, 1 + scale) independently.
    shear:         degrees, shear angles in x and y ~ U(-shear, +shear) independently.
    translate:     fraction of the image size, tx, ty ~ U(-translate, +translate) * size.
    thicken:       pen width: stroke width w -> w (1 + rho), rho ~ U(-thin, +thicken);
    thin:          Morpho-MNIST's perturbations use thicken 1.0 (double) and thin 0.7. 0 disables.
    lowres:        resolution: reduce to a fraction f ~ U(1 - lowres, 1) of the size (area
                   averaging), scale back up (bilinear). An MNIST digit is ~20 px tall, so
                   lowres 0.6 reaches 8-px digits. 0 disables.
    lowres_p:      probability that a sample is reduced at all (when lowres > 0).
    redraw:        probability that a sample's strokes are redrawn with a uniform round pen of
                   its own width along their centre line (generators/redraw.py). 0 disables.
    """

    elastic_alpha: float = 34.0
    elastic_sigma: float = 5.5
    rotation: float = 12.0
    scale: float = 0.12
    shear: float = 8.0
    translate: float = 0.06
    thicken: float = 0.0
    thin: float = 0.0
    lowres: float = 0.0
    lowres_p: float = 0.5
    redraw: float = 0.0

    # Inclusive bounds; checked at construction with a clear message.
    _BOUNDS = {
        "elastic_alpha": (0.0, 200.0),
        "elastic_sigma": (0.0, 50.0),
        "rotation": (0.0, 180.0),
        "scale": (0.0, 0.9),
        "shear": (0.0, 60.0),
        "translate": (0.0, 0.5),
        "thicken": (0.0, 3.0),     # x4 stroke width at most
        "thin": (0.0, 0.9),        # < 1: a stroke always keeps a tenth of its width
        "lowres": (0.0, 0.9),      # f >= 0.1: at least 3 px of a 28-px image
        "lowres_p": (0.0, 1.0),
        "redraw": (0.0, 1.0),
    }

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"DistortionConfig.{f.name} must be a finite number, got {v!r}")
            lo, hi = self._BOUNDS[f.name]
            if not lo <= v <= hi:
                raise ValueError(f"DistortionConfig.{f.name}={v!r} is out of range [{lo}, {hi}]")
            object.__setattr__(self, f.name, float(v))
        if self.elastic_alpha > 0 and self.elastic_sigma <= 0:
            raise ValueError("DistortionConfig.elastic_sigma must be > 0 when elastic_alpha > 0 "
                             f"(got sigma={self.elastic_sigma})")

    @classmethod
    def from_dict(cls, d: dict | None) -> "DistortionConfig":
        """Build from a config mapping (e.g. the `distortion:` block of a YAML file)."""
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown distortion parameter(s) {unknown}; known: {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def warps(self) -> bool:
        return any(getattr(self, k) > 0 for k in ("elastic_alpha", "rotation", "scale", "shear", "translate"))

    @property
    def pen(self) -> bool:
        return self.thicken > 0 or self.thin > 0

    @property
    def reduces(self) -> bool:
        return self.lowres > 0 and self.lowres_p > 0

    @property
    def redraws(self) -> bool:
        return self.redraw > 0

    @property
    def is_identity(self) -> bool:
        return not (self.warps or self.pen or self.reduces or self.redraws)


# ----------------------------------------------------------------------------- randomness
# Column layout of the per-sample uniforms (B, N). Fixed, so that switching one stage on does not
# change what another draws (keyed mode); 11-15 are free for future stages.
_AFFINE = 0     # 7 columns: angle, sx, sy, shx, shy, tx, ty
_PEN = 7        # 1: rho
_LOWRES = 8     # 2: reduce?, size fraction
_REDRAW = 10    # 1: redraw?
_FIELD = 16     # 2 r_h r_w: elastic coefficients, Box-Muller pairs (u1, u2)

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15                       # SplitMix64's increment


def _i64(v: int) -> int:
    """An unsigned 64-bit value as the signed int64 torch stores."""
    v &= _MASK64
    return v - (1 << 64) if v >= 1 << 63 else v


def _splitmix64_int(z: int) -> int:
    """SplitMix64's finalizer on a Python int (the reference; exact mod 2^64)."""
    z &= _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def splitmix64(z: torch.Tensor) -> torch.Tensor:
    """SplitMix64's finalizer on an int64 tensor (wrapping arithmetic, bit-identical on every device).

    torch's >> is arithmetic on int64: the masks make it the logical shift the mixer needs.
    """
    z = z ^ ((z >> 30) & ((1 << 34) - 1))
    z = z * _i64(0xBF58476D1CE4E5B9)
    z = z ^ ((z >> 27) & ((1 << 37) - 1))
    z = z * _i64(0x94D049BB133111EB)
    return z ^ ((z >> 31) & ((1 << 33) - 1))


_INDEX_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def _check_keys(keys, B: int, device) -> tuple[int, int, torch.Tensor]:
    try:
        seed, epoch, index = keys
    except (TypeError, ValueError):
        raise ValueError("keys must be (seed, epoch, index): two ints and one index per sample") from None
    for name, v in (("seed", seed), ("epoch", epoch)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError(f"keys: {name} must be an int, got {v!r}")
    index = torch.as_tensor(index, device=device)
    if index.dim() != 1 or len(index) != B or (B and index.dtype not in _INDEX_DTYPES):
        raise ValueError(f"keys: index must hold one integer per sample ({B}), got "
                         f"{index.dtype} of shape {tuple(index.shape)}")
    return seed, epoch, index.long()


def keyed_uniforms(seed: int, epoch: int, index: torch.Tensor, n: int) -> torch.Tensor:
    """(B, n) float32 uniforms in [0, 1), n even: entry j of row b is a fixed function of (seed, epoch, index[b], j).

    Counter-based: key_b = mix(mix(mix(seed) + epoch) + index_b * golden) (mod 2^64), then
    entries 2k and 2k + 1 are bits 0-23 and 32-55 of mix(key_b + (k + 1) * golden), times 2^-24:
    SplitMix64 with a per-sample state. An odd n gives n + 1 columns.
    """
    base = _splitmix64_int(_splitmix64_int(seed) + epoch)                    # python int, exact
    key = splitmix64(index * _i64(_GOLDEN) + _i64(base))                     # (B,) int64
    ctr = torch.arange(1, (n + 1) // 2 + 1, device=index.device) * _i64(_GOLDEN)
    h = splitmix64(key[:, None] + ctr)                                        # (B, n / 2)
    bits = torch.stack([h & 0xFFFFFF, (h >> 32) & 0xFFFFFF], -1)              # (B, n / 2, 2)
    return bits.flatten(1).float() * 2.0 ** -24                               # exact in float32


# ----------------------------------------------------------------------------- pure functions

def gaussian_matrix(n: int, sigma: float, device=None, dtype=torch.float32) -> torch.Tensor:
    """(n, n) matrix G with (G @ v) = v convolved with a normalized Gaussian, zero padding.

    Row i holds k(i - j) / sum_k k: the kernel is normalized over its full (4 sigma) support,
    so near the border the field is weaker, exactly like gaussian_filter(mode="constant").
    """
    idx = torch.arange(n, device=device, dtype=torch.float64)
    d = idx[:, None] - idx[None, :]                                      # (n, n)
    radius = int(4.0 * sigma + 0.5)
    k = torch.arange(-radius, radius + 1, device=device, dtype=torch.float64)
    norm = torch.exp(-0.5 * (k / sigma) ** 2).sum()
    g = torch.exp(-0.5 * (d / sigma) ** 2) * (d.abs() <= radius)
    return (g / norm).to(dtype)


def elastic_field(noise: torch.Tensor, sigma: float) -> torch.Tensor:
    """Smooth a noise field (B, 2, H, W) with a Gaussian of std `sigma` pixels, separably (reference)."""
    *_, H, W = noise.shape
    gh = gaussian_matrix(H, sigma, noise.device, noise.dtype)            # (H, H)
    gw = gaussian_matrix(W, sigma, noise.device, noise.dtype)            # (W, W)
    return gh @ noise @ gw.T                                             # (B, 2, H, W)


def lowrank_factor(n: int, sigma: float, tol: float = 1e-4) -> torch.Tensor:
    """(n, r) float64 factor A = U_r S_r of the Gaussian matrix G (A A^T ~ G G^T), keeping 1 - tol of its energy."""
    u, s, _ = torch.linalg.svd(gaussian_matrix(n, sigma, dtype=torch.float64))
    energy = torch.cumsum(s ** 2, 0) / (s ** 2).sum()
    r = int((energy < 1 - tol).sum()) + 1
    return u[:, :r] * s[:r]                                               # float64; cast per use


_lowrank_factor = lru_cache(maxsize=32)(lowrank_factor)


@lru_cache(maxsize=32)
def lowrank_factors(H: int, W: int, sigma: float, device, dtype):
    """(H, r_h), (W, r_w) factors on `device`; cached per device: no host-to-device copy per step."""
    return _lowrank_factor(H, sigma).to(device, dtype), _lowrank_factor(W, sigma).to(device, dtype)


def elastic_field_lowrank(z: torch.Tensor, ah: torch.Tensor, aw: torch.Tensor) -> torch.Tensor:
    """(B, 2, r_h, r_w) coefficients -> smoothed field (B, 2, H, W) = A_h Z A_w^T."""
    return ah @ z @ aw.T


def grid_factors(H: int, W: int, sigma: float, device, dtype):
    """[A_h 1 y] (H, r_h + 2) and [A_w 1 x]^T (r_w + 2, W), no A for sigma 0: x, y pixel centres in
    normalized coordinates (align_corners=False). Cached as `_grid_factors`."""
    ys = (torch.arange(H, device=device, dtype=dtype) * 2 + 1) / H - 1           # (H,)
    xs = (torch.arange(W, device=device, dtype=dtype) * 2 + 1) / W - 1           # (W,)
    left, right = [torch.ones_like(ys), ys], [torch.ones_like(xs), xs]
    if sigma > 0:
        ah, aw = lowrank_factors(H, W, sigma, device, dtype)
        left, right = [*ah.T, *left], [*aw.T, *right]
    return torch.stack(left, 1), torch.stack(right)


_grid_factors = lru_cache(maxsize=32)(grid_factors)


def affine_theta(angle, sx, sy, shx, shy, tx, ty, H: int, W: int) -> torch.Tensor:
    """(B, 2, 3) matrices for `F.affine_grid`, mapping output to input in normalized coords.

    Angles in radians, translations in pixels. The forward map (input -> output, about the
    image centre, in pixels) is p_out = R(angle) @ Shear(shx, shy) @ diag(sx, sy) @ p_in + t.
    """
    c, s = torch.cos(angle), torch.sin(angle)
    kx, ky = torch.tan(shx), torch.tan(shy)
    # M = R @ Sh @ S, written out: Sh = [[1, kx], [ky, 1]].
    m00 = (c - s * ky) * sx
    m01 = (c * kx - s) * sy
    m10 = (s + c * ky) * sx
    m11 = (s * kx + c) * sy
    det = m00 * m11 - m01 * m10
    i00, i01, i10, i11 = m11 / det, -m01 / det, -m10 / det, m00 / det     # M^-1
    # Pixels -> normalized coords: x_n = x / (W/2), y_n = y / (H/2) (align_corners=False).
    hx, hy = W / 2.0, H / 2.0
    theta = torch.stack([
        torch.stack([i00, i01 * hy / hx, -(i00 * tx + i01 * ty) / hx], 1),
        torch.stack([i10 * hx / hy, i11, -(i10 * tx + i11 * ty) / hy], 1),
    ], -2)
    return theta                                                          # (B, 2, 3) for (B,) parameters


def sampling_grid(theta: torch.Tensor, coef: torch.Tensor | None, alpha: float, sigma: float,
                  H: int, W: int) -> torch.Tensor:
    """Affine (B, 2, 3) + elastic coefficients (B, 2, r_h, r_w) -> grid (B, H, W, 2) for grid_sample.

    grid_c = [A_h 1 y] Z'_c [A_w 1 x]^T, with Z'_c's corner holding theta's row c
    (constant at (1, 1), x slope at (1, x), y slope at (y, 1)) and its top-left block the field
    coefficients in normalized units (pixels * 2 / size, per axis); zero without a field.
    """
    B = theta.shape[0]
    left, right = _grid_factors(H, W, sigma, theta.device, theta.dtype)
    rh, rw = left.shape[1] - 2, right.shape[0] - 2
    z = theta.new_zeros(B, 2, rh + 2, rw + 2)
    if coef is not None:
        z[:, 0, :rh, :rw] = coef[:, 0] * (alpha * 2.0 / W)              # python scalars: no H2D copy
        z[:, 1, :rh, :rw] = coef[:, 1] * (alpha * 2.0 / H)
    z[:, :, rh, rw] = theta[:, :, 2]
    z[:, :, rh, rw + 1] = theta[:, :, 0]
    z[:, :, rh + 1, rw] = theta[:, :, 1]
    return (left @ (z @ right)).permute(0, 2, 3, 1)                        # (B, H, W, 2)


def stroke_width(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) ink in [0, 1] -> (B,) stroke width in pixels, 2 x area / perimeter.

    The perimeter is the summed |gradient| (an anti-aliased edge sums to its length), L1 times
    pi/4 (the mean of |cos| + |sin| is 4/pi). Exact on rings; MNIST: median 2.5 px, 1-99 %: 1.5-5.
    """
    gx = (x[..., :, 1:] - x[..., :, :-1]).abs().sum((1, 2, 3))
    gy = (x[..., 1:, :] - x[..., :-1, :]).abs().sum((1, 2, 3))
    return 2 * x.sum((1, 2, 3)) / ((gx + gy) * (math.pi / 4)).clamp_min(1e-6)


def _grow(x: torch.Tensor, step: int) -> torch.Tensor:
    """One grey dilation step: 3x3 cross on odd steps, 3x3 square on even ones (disk-like growth).

    Shifted maxima of a zero-padded copy (outside the image is background): on the CPU 10x
    faster than max_pool2d with stride 1.
    """
    p = F.pad(x, (1, 1, 1, 1))                                            # (B, C, H + 2, W + 2)
    if step % 2:
        return torch.maximum(torch.maximum(p[..., 1:-1, :-2], p[..., 1:-1, 2:]),
                             torch.maximum(torch.maximum(p[..., :-2, 1:-1], p[..., 2:, 1:-1]), x))
    row = torch.maximum(torch.maximum(p[..., :-2], p[..., 2:]), p[..., 1:-1])     # (B, C, H + 2, W)
    return torch.maximum(torch.maximum(row[..., :-2, :], row[..., 2:, :]), row[..., 1:-1, :])


_MAX_WIDTH = 6      # px: pen-width radii are capped at thicken (thin) * 6 / 2 (MNIST's 99th percentile width is 5)


def pen_width(x: torch.Tensor, rho: torch.Tensor, max_grow: int, max_shrink: int) -> torch.Tensor:
    """Change every sample's stroke width w to w (1 + rho) (rho (B,), > 0 thickens, < 0 thins).

    Radius rho w / 2 of grey dilation (> 0, at most max_grow px) or erosion (< 0, at most
    max_shrink px), blended linearly between the integer steps. Erosion stops half a step past
    the last one that leaves ink (a quarter of the peak), so no digit is ever erased, whatever
    the width estimate; the samples are rescaled to their original peak, since eroding an
    anti-aliased stroke dims it as well as narrowing it.
    """
    peak = x.amax((1, 2, 3))                                               # (B,)
    shrunk = [x]
    for k in range(1, max_shrink + 1):
        shrunk.append(-_grow(-shrunk[-1], k))
    alive = torch.zeros_like(peak)                                         # (B,) erosion steps that leave ink
    for s in shrunk[1:]:
        alive += s.amax((1, 2, 3)) > 0.25 * peak
    radius = (rho * stroke_width(x) / 2).clamp(max=max_grow)              # below: stops where ink ends
    radius = torch.maximum(radius, -(alive + 0.5))[:, None, None, None]    # (B, 1, 1, 1)
    out = x * (1 - radius.abs()).clamp_min(0)
    for k in range(1, max_shrink + 1):
        out = out + shrunk[k] * (1 - (radius + k).abs()).clamp_min(0)
    grown = x
    for k in range(1, max_grow + 1):
        grown = _grow(grown, k)
        out = out + grown * (1 - (radius - k).abs()).clamp_min(0)
    return out * (peak / out.amax((1, 2, 3)).clamp_min(1e-6))[:, None, None, None]


def area_matrix(n: int, s: int) -> torch.Tensor:
    """(s, n) area reduction n -> s pixels: each output pixel averages the input it covers,
    fractional overlaps included (cv2.INTER_AREA, PIL's BOX); every input pixel gives s/n of its ink."""
    edges = torch.arange(s + 1, dtype=torch.float64) * (n / s)               # output pixel edges, input px
    j = torch.arange(n)                                                      # input pixel i covers [j, j + 1)
    overlap = torch.minimum(edges[1:, None], j + 1) - torch.maximum(edges[:-1, None], j)
    return overlap.clamp_min(0) * (s / n)


def resize_table(n: int, device, dtype) -> torch.Tensor:
    """(n + 1, n, n): entry s is the 1-D operator 'area-reduce n -> s, bilinear back to n' (entry 0 unused).
    Cached per device as `_resize_table`."""
    table = torch.eye(n, dtype=torch.float64).repeat(n + 1, 1, 1)
    for s in range(1, n):                                                  # once per (size, device)
        small = area_matrix(n, s).T[:, None]                               # (n, 1, s): reduced basis vectors
        table[s] = F.interpolate(small, size=n, mode="linear")[:, 0].T     # align_corners=False
    return table.to(device, dtype)


_resize_table = lru_cache(maxsize=32)(resize_table)


def low_resolution(x: torch.Tensor, size_h: torch.Tensor, size_w: torch.Tensor) -> torch.Tensor:
    """Reduce sample b to (size_h[b], size_w[b]) pixels (area) and scale it back up (bilinear).

    Separable, so per sample it is M_h X M_w^T: the same as F.interpolate twice.
    """
    *_, H, W = x.shape
    mh = _resize_table(H, x.device, x.dtype)[size_h]                      # (B, H, H)
    mw = _resize_table(W, x.device, x.dtype)[size_w]                      # (B, W, W)
    return mh[:, None] @ x @ mw[:, None].mT                              # (B, C, H, W)


def params_from_uniforms(u: torch.Tensor, H: int, W: int, cfg: DistortionConfig) -> dict:
    """Uniforms (B, N) in [0, 1) (layout `_AFFINE`, `_PEN`, ...) -> the per-sample parameters."""
    angle, sx, sy, shx, shy, tx, ty = (u[:, _AFFINE:_AFFINE + 7] * 2 - 1).unbind(1)   # (B,) each, in [-1, 1)
    deg = math.pi / 180
    p = {
        "angle": angle * (cfg.rotation * deg),
        "sx": 1 + sx * cfg.scale,
        "sy": 1 + sy * cfg.scale,
        "shx": shx * (cfg.shear * deg),
        "shy": shy * (cfg.shear * deg),
        "tx": tx * (cfg.translate * W),
        "ty": ty * (cfg.translate * H),
    }
    if cfg.elastic_alpha > 0:
        rh, rw = _lowrank_factor(H, cfg.elastic_sigma).shape[1], _lowrank_factor(W, cfg.elastic_sigma).shape[1]
        u1, u2 = u[:, _FIELD:].reshape(len(u), rh * rw, 2).unbind(2)       # Box-Muller pairs -> 2 rh rw normals
        r = torch.sqrt(-2 * torch.log1p(-u1)) * (1 / math.sqrt(3))           # variance 1/3 (module docstring)
        a = u2 * (2 * math.pi)
        p["coef"] = torch.cat([r * torch.cos(a), r * torch.sin(a)], 1).view(-1, 2, rh, rw)
    if cfg.pen:
        p["rho"] = u[:, _PEN] * (cfg.thicken + cfg.thin) - cfg.thin       # U(-thin, +thicken)
    if cfg.reduces:
        f = 1 - u[:, _LOWRES + 1] * cfg.lowres                             # (B,) in (1 - lowres, 1]
        reduced = u[:, _LOWRES] < cfg.lowres_p                             # with probability lowres_p
        p["size_h"] = torch.where(reduced, (f * H).round().long().clamp_min(1), H)
        p["size_w"] = torch.where(reduced, (f * W).round().long().clamp_min(1), W)
    if cfg.redraws:
        p["redraw"] = u[:, _REDRAW] < cfg.redraw                           # (B,) bool, probability redraw
    return p


def n_uniforms(H: int, W: int, cfg: DistortionConfig) -> int:
    """Columns of the uniform layout that `cfg` reads."""
    if cfg.elastic_alpha <= 0:
        return _FIELD
    return _FIELD + 2 * _lowrank_factor(H, cfg.elastic_sigma).shape[1] * _lowrank_factor(W, cfg.elastic_sigma).shape[1]


def sample_params(B: int, H: int, W: int, cfg: DistortionConfig, generator=None,
                  device=None, dtype=torch.float32, keys=None) -> dict:
    """Draw the per-sample parameters from `generator` (a stream) or `keys` (seed, epoch, index)."""
    n = n_uniforms(H, W, cfg)
    if keys is not None:
        seed, epoch, index = _check_keys(keys, B, device)
        u = keyed_uniforms(seed, epoch, index, n)
    else:
        gdev = generator.device if generator is not None else device
        u = torch.rand(B, n, generator=generator, device=gdev)
    return params_from_uniforms(u.to(device, dtype), H, W, cfg)


def apply_distortion(images: torch.Tensor, params: dict, cfg: DistortionConfig) -> torch.Tensor:
    """Redraw, pen width, then affine + elastic in one resampling (bilinear, zeros outside), then low resolution."""
    B, C, H, W = images.shape
    out = images
    if "redraw" in params and bool(params["redraw"].any()):
        pick = params["redraw"].nonzero()[:, 0]                           # (b,) the samples redrawn
        chosen = out[pick]                                                # (b, C, H, W), a copy
        out = out.index_copy(0, pick, redraw(chosen, stroke_width(chosen)))
    if "rho" in params:
        out = pen_width(out, params["rho"], math.ceil(cfg.thicken * _MAX_WIDTH / 2), math.ceil(cfg.thin * _MAX_WIDTH / 2))
    if cfg.warps:
        theta = affine_theta(params["angle"], params["sx"], params["sy"], params["shx"],
                             params["shy"], params["tx"], params["ty"], H, W)  # (B, 2, 3)
        grid = sampling_grid(theta, params.get("coef"), cfg.elastic_alpha, cfg.elastic_sigma, H, W)
        out = F.grid_sample(out, grid, align_corners=False)               # bilinear, zeros outside
    if "size_h" in params:
        out = low_resolution(out, params["size_h"], params["size_w"])
    return out


def distort(images: torch.Tensor, cfg: DistortionConfig | None = None,
            generator: torch.Generator | None = None, *, keys=None) -> torch.Tensor:
    """Distort a float batch (B, C, H, W) in [0, 1]; a different random distortion per sample.

    generator: a torch.Generator (same seed, same output; a sample's draw depends on its batch).
    keys:      (seed, epoch, index) with index one int per sample (e.g. its dataset index): the
               sample's distortion depends on these alone (to float rounding), not on its batch.
    With every magnitude at zero it returns the input unchanged. Works on any device; the output
    has the input's shape and dtype.
    """
    if cfg is None:
        cfg = DistortionConfig()
    if images.dim() != 4:
        raise ValueError(f"distort expects a (B, C, H, W) batch, got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"distort expects a float batch in [0, 1], got {images.dtype}")
    if generator is not None and keys is not None:
        raise ValueError("distort: pass a generator or keys, not both")
    if keys is not None:
        _check_keys(keys, images.shape[0], None)                          # early: even for identity configs
    if cfg.is_identity:
        return images
    B, C, H, W = images.shape
    work = images if images.dtype in (torch.float32, torch.float64) else images.float()
    params = sample_params(B, H, W, cfg, generator, work.device, work.dtype, keys=keys)
    out = apply_distortion(work, params, cfg)
    return out.clamp(0, 1).to(images.dtype)
