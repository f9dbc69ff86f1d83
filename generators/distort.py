"""Distortion-based sample generator: Simard-style elastic field + random affine, per sample.

Every call draws a *different* elastic displacement field and affine transform for every
sample of the batch, composes both into one sampling grid and resamples once with
`grid_sample`. Everything is whole-batch tensor work, so it runs on the device the batch
lives on (on a GPU it costs almost nothing next to the network).

    import torch
    from generators import DistortionConfig, distort
    x = torch.rand(512, 1, 28, 28)                          # (B, 1, H, W) in [0, 1]
    y = distort(x, DistortionConfig(), torch.Generator().manual_seed(0))

Elastic part (Simard, Steinkraus & Platt 2003): a field of uniform U(-1, 1) noise per pixel
and axis, smoothed by a Gaussian of std `elastic_sigma` pixels (zero outside the image, as
`scipy.ndimage.gaussian_filter(mode="constant")`), scaled by `elastic_alpha`: displacement in
pixels. The smoothing is separable: G_h @ N @ G_w^T with small (H, H) and (W, W) Gaussian
matrices instead of a large padded `conv2d`. Faster still, a Gaussian of sigma ~5 px on 28
pixels has only ~8 significant singular values: with G = U S V^T truncated to rank r,
G_h N G_w^T = (U_h S_h) Z (U_w S_w)^T where Z = V_h^T N V_w is (r, r) with i.i.d. entries of
variance Var(N) = 1/3 (V orthonormal), Gaussian by the central limit theorem. So we draw Z
directly: ~100 random numbers per field instead of 784, same covariance as the full field
(to the truncation tolerance, 1e-4 of the energy; `tests/test_generators.py` checks it).
"""
from __future__ import annotations

import math
from functools import lru_cache
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F

__all__ = ["DistortionConfig", "distort", "gaussian_matrix", "elastic_field", "elastic_field_lowrank",
           "affine_theta", "sample_params", "apply_distortion"]


@dataclass(frozen=True)
class DistortionConfig:
    """Magnitudes of the random distortions; each is sampled uniformly per sample.

    elastic_alpha: displacement scale in pixels (Simard: 34 for 28x28); 0 disables.
    elastic_sigma: std of the Gaussian smoothing the noise field, in pixels (4-6 typical).
    rotation:      degrees, angle ~ U(-rotation, +rotation).
    scale:         fraction, sx and sy ~ U(1 - scale, 1 + scale) independently.
    shear:         degrees, shear angles in x and y ~ U(-shear, +shear) independently.
    translate:     fraction of the image size, tx, ty ~ U(-translate, +translate) * size.
    """

    elastic_alpha: float = 34.0
    elastic_sigma: float = 5.5
    rotation: float = 12.0
    scale: float = 0.12
    shear: float = 8.0
    translate: float = 0.06

    # (low, high, inclusive-low?) bounds; checked at construction with a clear message.
    _BOUNDS = {
        "elastic_alpha": (0.0, 200.0),
        "elastic_sigma": (0.0, 50.0),
        "rotation": (0.0, 180.0),
        "scale": (0.0, 0.9),
        "shear": (0.0, 60.0),
        "translate": (0.0, 0.5),
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
    def is_identity(self) -> bool:
        return all(getattr(self, f.name) == 0 for f in fields(self) if f.name != "elastic_sigma")


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
    """Smooth a noise field (B, 2, H, W) with a Gaussian of std `sigma` pixels, separably."""
    H, W = noise.shape[-2:]
    gh = gaussian_matrix(H, sigma, noise.device, noise.dtype)            # (H, H)
    gw = gaussian_matrix(W, sigma, noise.device, noise.dtype)            # (W, W)
    return gh @ noise @ gw.T                                             # (B, 2, H, W)


@lru_cache(maxsize=32)
def _lowrank_factor(n: int, sigma: float, tol: float = 1e-4) -> torch.Tensor:
    """(n, r) factor A = U_r S_r of the Gaussian matrix, keeping 1 - tol of its energy."""
    u, s, _ = torch.linalg.svd(gaussian_matrix(n, sigma, dtype=torch.float64))
    energy = torch.cumsum(s ** 2, 0) / (s ** 2).sum()
    r = int((energy < 1 - tol).sum()) + 1
    return (u[:, :r] * s[:r]).float()


@lru_cache(maxsize=32)
def _lowrank_factors_on(H: int, W: int, sigma: float, device: torch.device, dtype: torch.dtype):
    return _lowrank_factor(H, sigma).to(device, dtype), _lowrank_factor(W, sigma).to(device, dtype)


def lowrank_factors(H: int, W: int, sigma: float, device, dtype):
    """Cached per device: no host-to-device copy on the training hot path."""
    return _lowrank_factors_on(H, W, float(sigma), torch.device(device) if device is not None else torch.device("cpu"), dtype)


def elastic_field_lowrank(z: torch.Tensor, ah: torch.Tensor, aw: torch.Tensor) -> torch.Tensor:
    """(B, 2, r_h, r_w) coefficients -> smoothed field (B, 2, H, W) = A_h Z A_w^T."""
    return ah @ z @ aw.T


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
        torch.stack([i00, i01 * hy / hx, -(i00 * tx + i01 * ty) / hx], -1),
        torch.stack([i10 * hx / hy, i11, -(i10 * tx + i11 * ty) / hy], -1),
    ], -2)
    return theta                                                          # (B, 2, 3)


def sample_params(B: int, H: int, W: int, cfg: DistortionConfig, generator=None,
                  device=None, dtype=torch.float32) -> dict:
    """Draw the per-sample random parameters (on the generator's device, then moved)."""
    gdev = generator.device if generator is not None else device

    def u(*shape):                                                        # U(-1, 1)
        return (torch.rand(*shape, generator=generator, device=gdev, dtype=dtype) * 2 - 1).to(device)

    r = u(7, B)                                                           # (7, B)
    deg = math.pi / 180.0
    p = {
        "angle": r[0] * cfg.rotation * deg,
        "sx": 1 + r[1] * cfg.scale,
        "sy": 1 + r[2] * cfg.scale,
        "shx": r[3] * cfg.shear * deg,
        "shy": r[4] * cfg.shear * deg,
        "tx": r[5] * cfg.translate * W,
        "ty": r[6] * cfg.translate * H,
    }
    if cfg.elastic_alpha > 0:
        ah, aw = lowrank_factors(H, W, cfg.elastic_sigma, device, dtype)
        # Z = V_h^T N V_w for N ~ U(-1, 1): i.i.d., variance 1/3, Gaussian (see module docstring).
        z = torch.randn(B, 2, ah.shape[1], aw.shape[1], generator=generator, device=gdev, dtype=dtype)
        p["field"] = elastic_field_lowrank(z.to(device) * (1 / math.sqrt(3)), ah, aw)  # (B, 2, H, W)
    return p


def apply_distortion(images: torch.Tensor, params: dict, cfg: DistortionConfig) -> torch.Tensor:
    """Compose affine + elastic into one grid and resample once (bilinear, zeros outside)."""
    B, C, H, W = images.shape
    theta = affine_theta(params["angle"], params["sx"], params["sy"], params["shx"],
                         params["shy"], params["tx"], params["ty"], H, W)  # (B, 2, 3)
    # Same as F.affine_grid(align_corners=False), but as broadcast multiply-adds: on the CPU
    # affine_grid's batched matmul is 5x slower for (B, 784, 3) x (3, 2).
    ys = (torch.arange(H, device=images.device, dtype=theta.dtype) * 2 + 1) / H - 1   # (H,)
    xs = (torch.arange(W, device=images.device, dtype=theta.dtype) * 2 + 1) / W - 1   # (W,)
    t = theta[:, :, :, None, None]                                        # (B, 2, 3, 1, 1)
    grid = t[:, :, 0] * xs + t[:, :, 1] * ys[:, None] + t[:, :, 2]         # (B, 2, H, W)
    if "field" in params:                                                 # (B, 2, H, W) pixels / alpha
        field = params["field"]
        # pixels -> normalized units, per axis (x: 2/W, y: 2/H); python scalars, no H2D copy.
        a = cfg.elastic_alpha
        grid = grid + torch.cat([field[:, :1] * (a * 2.0 / W), field[:, 1:] * (a * 2.0 / H)], 1)
    grid = grid.permute(0, 2, 3, 1)                                       # (B, H, W, 2)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def distort(images: torch.Tensor, cfg: DistortionConfig | None = None,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Distort a float batch (B, C, H, W) in [0, 1]; a fresh random distortion per sample.

    Seeded by `generator` (same seed, same output). With every magnitude at zero it returns
    the input unchanged. Works on any device; the output has the input's shape and dtype.
    """
    if cfg is None:
        cfg = DistortionConfig()
    if images.dim() != 4:
        raise ValueError(f"distort expects a (B, C, H, W) batch, got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"distort expects a float batch in [0, 1], got {images.dtype}")
    if cfg.is_identity or images.shape[0] == 0:
        return images
    B, C, H, W = images.shape
    work = images if images.dtype in (torch.float32, torch.float64) else images.float()
    params = sample_params(B, H, W, cfg, generator, work.device, work.dtype)
    out = apply_distortion(work, params, cfg)
    return out.clamp_(0, 1).to(images.dtype)
