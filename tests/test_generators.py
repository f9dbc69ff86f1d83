"""generators/distort.py: shapes, identity, independence, seeds, keyed draws, ink, conventions, stages.

All fast and marked `mutation`: they are the suite mutmut runs against distort.py (README: Mutation
testing). The albumentations backend, the preview and the training wiring: test_generator_wiring.py.
"""
import importlib
import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from digits import synthetic_digits
from generators import DistortionConfig, distort
from generators.distort import affine_theta, apply_distortion, elastic_field, gaussian_matrix

pytestmark = pytest.mark.mutation

ZERO = dict(elastic_alpha=0.0, rotation=0.0, scale=0.0, shear=0.0, translate=0.0)


@pytest.fixture(scope="module")
def digits():
    return synthetic_digits(128)


@pytest.fixture(autouse=True)
def fresh_caches():
    """Every test computes the cached factors and tables itself: no test depends on another's
    cache, and mutmut sees which tests reach the cached functions."""
    d = importlib.import_module("generators.distort")                    # the module, not the function
    for f in (d._lowrank_factor, d.lowrank_factors, d._grid_factors, d._resize_table):
        f.cache_clear()


def seeded(s):
    return torch.Generator().manual_seed(s)


def test_shape_dtype_range(digits):
    y = distort(digits, DistortionConfig(), seeded(0))
    assert y.shape == digits.shape and y.dtype == digits.dtype
    assert y.min() >= 0 and y.max() <= 1
    y64 = distort(digits.double(), DistortionConfig(), seeded(0))
    assert y64.dtype == torch.float64


def test_rectangular_and_multichannel():
    x = torch.rand(4, 3, 20, 32)
    y = distort(x, DistortionConfig(), seeded(0))
    assert y.shape == x.shape


def test_identity_at_zero(digits):
    assert torch.equal(distort(digits, DistortionConfig(**ZERO), seeded(0)), digits)
    # The sampling path itself (not only the shortcut) is the identity with zero parameters.
    B = digits.shape[0]
    z, one = torch.zeros(B), torch.ones(B)
    params = {"angle": z, "sx": one, "sy": one, "shx": z, "shy": z, "tx": z, "ty": z,
              "coef": torch.zeros(B, 2, 6, 6)}
    out = apply_distortion(digits, params, DistortionConfig())
    assert torch.allclose(out, digits, atol=1e-5)


def test_per_sample_independence(digits):
    x = digits[:1].repeat(16, 1, 1, 1)                     # 16 copies of the same digit
    y = distort(x, DistortionConfig(), seeded(0)).flatten(1)
    d = torch.cdist(y, y)
    off = d[~torch.eye(16, dtype=torch.bool)]
    assert off.min() > 0.1, "two samples got the same distortion"


def test_fresh_each_call(digits):
    g = seeded(0)
    assert not torch.equal(distort(digits, DistortionConfig(), g), distort(digits, DistortionConfig(), g))


def test_seed_reproducible(digits):
    a = distort(digits, DistortionConfig(), seeded(123))
    b = distort(digits, DistortionConfig(), seeded(123))
    c = distort(digits, DistortionConfig(), seeded(124))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_ink_kept_at_defaults(digits):
    y = distort(digits.repeat(4, 1, 1, 1), DistortionConfig(), seeded(1))
    x = digits.repeat(4, 1, 1, 1)
    ratio = y.sum((1, 2, 3)) / x.sum((1, 2, 3))
    assert 0.9 < ratio.mean() < 1.1 and ratio.min() > 0.5  # scale 0.88^2 alone gives 0.77
    ring = torch.ones(28, 28, dtype=torch.bool)
    ring[2:-2, 2:-2] = False                                # the outer 2-pixel frame
    assert y[:, 0][:, ring].sum() / y.sum() < 0.01, "digits pushed onto the border"


def test_gaussian_matrix_matches_scipy():
    f = torch.rand(28, 28, dtype=torch.float64) * 2 - 1
    ours = elastic_field(f[None, None].expand(1, 2, 28, 28).clone(), 5.5)[0, 0]
    ref = gaussian_filter(f.numpy(), 5.5, mode="constant", cval=0.0, truncate=4.0)
    assert np.allclose(ours.numpy(), ref, atol=1e-6)
    g = gaussian_matrix(9, 1.0)
    assert torch.allclose(g, g.T)


def _centroid(img):
    h, w = img.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=img.dtype), torch.arange(w, dtype=img.dtype), indexing="ij")
    m = img.sum()
    return float((img * xs).sum() / m), float((img * ys).sum() / m)


def test_affine_conventions():
    img = torch.zeros(1, 1, 28, 28)
    img[0, 0, 10:14, 16:20] = 1                            # a blob right of centre
    one, z = torch.ones(1), torch.zeros(1)

    def warp(angle=z, sx=one, sy=one, tx=z, ty=z):
        th = affine_theta(angle, sx, sy, z, z, tx, ty, 28, 28)
        grid = torch.nn.functional.affine_grid(th, [1, 1, 28, 28], align_corners=False)
        return torch.nn.functional.grid_sample(img, grid, align_corners=False)

    cx, cy = _centroid(img[0, 0])
    tx, ty = _centroid(warp(tx=torch.tensor([3.0]), ty=torch.tensor([-2.0]))[0, 0])
    assert abs(tx - cx - 3) < 1e-3 and abs(ty - cy + 2) < 1e-3          # translation in pixels
    r = warp(angle=torch.tensor([math.pi / 2]))[0, 0]                   # 90 degrees = exact rot90
    assert torch.allclose(r, torch.rot90(img[0, 0], k=-1, dims=(0, 1)), atol=1e-5)
    s = warp(sx=torch.tensor([2.0]))[0, 0]                              # x-scale doubles x offsets
    sx_, sy_ = _centroid(s)
    assert abs((sx_ - 13.5) - 2 * (cx - 13.5)) < 0.05 and abs(sy_ - cy) < 0.05


@pytest.mark.parametrize("bad", [dict(rotation=-1), dict(scale=1.5), dict(elastic_alpha=float("nan")),
                                 dict(translate="0.1"), dict(elastic_alpha=10, elastic_sigma=0)])
def test_config_validation(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        DistortionConfig(**bad)


def test_config_from_dict():
    assert DistortionConfig.from_dict({"rotation": 5}).rotation == 5.0
    with pytest.raises(ValueError, match="known"):
        DistortionConfig.from_dict({"rotate": 5})


def test_bad_input():
    with pytest.raises(ValueError, match="B, C, H, W"):
        distort(torch.rand(28, 28))
    with pytest.raises(TypeError, match="float"):
        distort(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))


def test_lowrank_field_has_the_exact_field_statistics():
    """The fast field (rank-r Gaussian coefficients) matches Simard's smoothed uniform noise."""
    from generators.distort import sample_params
    n = torch.rand(3000, 2, 28, 28, generator=seeded(0)) * 2 - 1
    exact = elastic_field(n, 5.5)                                        # (B, 2, H, W)
    from generators.distort import elastic_field_lowrank, lowrank_factors
    fast = elastic_field_lowrank(sample_params(3000, 28, 28, DistortionConfig(), seeded(1))["coef"],
                                 *lowrank_factors(28, 28, 5.5, "cpu", torch.float32))
    for sl in [(...,), (..., 14, 14), (..., 0, 0), (..., 3, 20)]:       # overall, centre, corner, edge
        re, rf = exact[sl].pow(2).mean().sqrt(), fast[sl].pow(2).mean().sqrt()
        assert abs(rf / re - 1) < 0.05, (sl, float(re), float(rf))
    # Neighbouring displacements are correlated the same way (smoothness).
    ce = (exact[..., :, 1:] * exact[..., :, :-1]).mean() / exact.pow(2).mean()
    cf = (fast[..., :, 1:] * fast[..., :, :-1]).mean() / fast.pow(2).mean()
    assert abs(ce - cf) < 0.02


# ----------------------------------------------------------------------------- each stage on its own
AFFINE_ONLY = dict(elastic_alpha=0.0)
ELASTIC_ONLY = dict(rotation=0.0, scale=0.0, shear=0.0, translate=0.0)


def _pairwise_min(y):
    """Smallest distance between two different samples of (B, ...)."""
    d = torch.cdist(y.flatten(1), y.flatten(1))
    return float(d[~torch.eye(len(y), dtype=torch.bool)].min())


@pytest.mark.parametrize("keyed", [False, True])
def test_elastic_only_differs_per_sample_and_from_input(digits, keyed):
    """Kills 'the elastic step switched off in apply_distortion' and 'one field for the batch'."""
    x = digits[:1].repeat(16, 1, 1, 1)                                    # 16 copies of one digit
    cfg = DistortionConfig(**ELASTIC_ONLY)
    y = distort(x, cfg, keys=(0, 0, torch.arange(16))) if keyed else distort(x, cfg, seeded(0))
    moved = (y - x).abs().sum((1, 2, 3)) / x.sum((1, 2, 3))              # (16,) displaced ink
    assert moved.min() > 0.1, "the elastic field did not move some samples"
    assert _pairwise_min(y) > 0.1, "two samples got the same elastic field"


@pytest.mark.parametrize("keyed", [False, True])
def test_affine_params_and_outputs_differ_per_sample(digits, keyed):
    """Kills 'one affine transform for the whole batch instead of one per sample'."""
    from generators.distort import sample_params
    cfg = DistortionConfig(**AFFINE_ONLY)
    B = 64
    p = sample_params(B, 28, 28, cfg, None if keyed else seeded(0), keys=(0, 0, torch.arange(B)) if keyed else None)
    for k in ("angle", "sx", "sy", "shx", "shy", "tx", "ty"):
        assert p[k].shape == (B,) and len(torch.unique(p[k])) == B, f"{k} is shared between samples"
    # The seven parameters are independent draws, not one number reused.
    r = torch.stack([p["angle"] / cfg.rotation, p["sx"] - 1, p["sy"] - 1, p["shx"], p["shy"], p["tx"], p["ty"]])
    c = torch.corrcoef(r)
    assert c[~torch.eye(7, dtype=torch.bool)].abs().max() < 0.5
    x = digits[:1].repeat(16, 1, 1, 1)
    y = distort(x, cfg, keys=(0, 0, torch.arange(16))) if keyed else distort(x, cfg, seeded(0))
    assert _pairwise_min(y) > 0.1, "two samples got the same affine transform"


def test_affine_params_cover_their_ranges():
    from generators.distort import sample_params
    cfg = DistortionConfig(rotation=10, scale=0.1, shear=5, translate=0.1)
    p = sample_params(4000, 28, 20, cfg, seeded(0))
    deg = math.pi / 180
    for k, half, centre in [("angle", 10 * deg, 0), ("sx", 0.1, 1), ("sy", 0.1, 1), ("shx", 5 * deg, 0),
                            ("shy", 5 * deg, 0), ("tx", 0.1 * 20, 0), ("ty", 0.1 * 28, 0)]:
        v = (p[k] - centre) / half                                        # should be U(-1, 1)
        assert v.min() >= -1 and v.max() <= 1, k
        assert v.min() < -0.95 and v.max() > 0.95, k
        assert abs(float(v.mean())) < 0.05 and abs(float(v.var()) - 1 / 3) < 0.03, k


def test_each_affine_parameter_moves_the_digit():
    """Every affine parameter reaches the grid: changing one alone changes the output."""
    from generators.distort import sampling_grid
    x = synthetic_digits(1)
    base = dict(angle=0.0, sx=1.0, sy=1.0, shx=0.0, shy=0.0, tx=0.0, ty=0.0)
    for k, v in [("angle", 0.2), ("sx", 1.2), ("sy", 1.2), ("shx", 0.2), ("shy", 0.2), ("tx", 2.0), ("ty", 2.0)]:
        p = {n: torch.tensor([v if n == k else b]) for n, b in base.items()}
        theta = affine_theta(*(p[n] for n in base), 28, 28)
        grid = sampling_grid(theta, None, 0.0, 0.0, 28, 28)
        ref = torch.nn.functional.affine_grid(theta, [1, 1, 28, 28], align_corners=False)
        assert torch.allclose(grid, ref, atol=1e-5), k
        y = torch.nn.functional.grid_sample(x, grid, align_corners=False)
        assert (y - x).abs().sum() > 1.0, k


def test_grid_folds_field_and_affine_exactly():
    """The one-matmul grid equals affine_grid + the low-rank field in normalized units."""
    from generators.distort import elastic_field_lowrank, lowrank_factors, sampling_grid
    B, H, W, alpha, sigma = 5, 24, 20, 30.0, 5.0
    g = seeded(3)
    theta = torch.randn(B, 2, 3, generator=g, dtype=torch.float64)
    ah, aw = lowrank_factors(H, W, sigma, "cpu", torch.float64)
    coef = torch.randn(B, 2, ah.shape[1], aw.shape[1], generator=g, dtype=torch.float64)
    field = elastic_field_lowrank(coef, ah, aw)                          # (B, 2, H, W) pixels / alpha
    ref = torch.nn.functional.affine_grid(theta, [B, 1, H, W], align_corners=False)
    ref = ref + torch.stack([field[:, 0] * alpha * 2 / W, field[:, 1] * alpha * 2 / H], -1)
    assert torch.allclose(sampling_grid(theta, coef, alpha, sigma, H, W), ref, atol=1e-10, rtol=0)


# ----------------------------------------------------------------------------- keyed randomness
def test_splitmix64_matches_the_reference():
    from generators.distort import _i64, _splitmix64_int, splitmix64
    vals = [0, 1, 2, 12345, -1, -(2 ** 63), 2 ** 63 - 1, 0x0123456789ABCDEF, -0x0123456789ABCDEF]
    got = splitmix64(torch.tensor(vals, dtype=torch.int64)).tolist()
    assert got == [_i64(_splitmix64_int(v)) for v in vals]
    assert _splitmix64_int(0) == 0 and _splitmix64_int(1) == 0x5692161D100B05E5   # known values


def test_keyed_uniforms_are_uniform_and_independent():
    from generators.distort import keyed_uniforms
    u = keyed_uniforms(1, 2, torch.arange(20000), 10)
    assert u.shape == (20000, 10) and u.dtype == torch.float32
    assert keyed_uniforms(1, 2, torch.arange(3), 7).shape == (3, 8)      # odd n: rounded up
    assert u.min() >= 0 and u.max() < 1
    assert (u.mean(0) - 0.5).abs().max() < 0.01
    assert (u.var(0) - 1 / 12).abs().max() < 0.003
    c = torch.corrcoef(u.T)
    assert c[~torch.eye(10, dtype=torch.bool)].abs().max() < 0.03
    # Neighbouring indices, epochs, seeds are unrelated too.
    for other in [keyed_uniforms(1, 2, torch.arange(1, 20001), 10), keyed_uniforms(1, 3, torch.arange(20000), 10),
                  keyed_uniforms(2, 2, torch.arange(20000), 10)]:
        assert abs(float(torch.corrcoef(torch.stack([u.flatten(), other.flatten()]))[0, 1])) < 0.03


def test_keyed_is_a_function_of_the_sample_not_the_batch(digits):
    cfg = DistortionConfig(thicken=1.0, thin=0.5, lowres=0.5)
    idx = torch.arange(100, 100 + len(digits))
    y = distort(digits, cfg, keys=(7, 3, idx))
    assert torch.equal(y, distort(digits, cfg, keys=(7, 3, idx)))      # reproducible
    perm = torch.randperm(len(digits), generator=seeded(0))
    yp = distort(digits[perm], cfg, keys=(7, 3, idx[perm]))             # other positions
    assert torch.allclose(yp, y[perm], atol=1e-5)
    part = distort(digits[5:9], cfg, keys=(7, 3, idx[5:9]))             # another batch size
    assert torch.allclose(part, y[5:9], atol=1e-5)
    for keys in [(8, 3, idx), (7, 4, idx), (7, 3, idx + 1)]:             # seed, epoch, index matter
        other = distort(digits, cfg, keys=keys)
        assert ((other - y).abs().sum((1, 2, 3)) > 0.1).all(), keys


def test_keyed_stage_draws_do_not_shift_when_a_stage_is_switched_on():
    from generators.distort import sample_params
    keys = (0, 1, torch.arange(32))
    a = sample_params(32, 28, 28, DistortionConfig(), keys=keys)
    b = sample_params(32, 28, 28, DistortionConfig(thicken=1, thin=0.5, lowres=0.5, redraw=0.5), keys=keys)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert {"rho", "size_h", "size_w", "redraw"} <= set(b)
    c = sample_params(32, 28, 28, DistortionConfig(thicken=1, thin=0.5, lowres=0.5), keys=keys)
    for k in c:                                   # switching redraw on shifts no other stage's draws
        assert torch.equal(c[k], b[k]), k


@pytest.mark.parametrize("keys, match", [((0, 0), "seed, epoch, index"), ((0, 0, torch.arange(3)), "one integer per sample"),
                                         ((0, 0, torch.zeros(4)), "one integer per sample"),
                                         ((0.5, 0, torch.arange(4)), "seed must be an int"),
                                         ((0, True, torch.arange(4)), "epoch must be an int")])
def test_bad_keys(keys, match):
    with pytest.raises(ValueError, match=match):
        distort(torch.rand(4, 1, 28, 28), DistortionConfig(), keys=keys)


def test_generator_and_keys_exclusive():
    with pytest.raises(ValueError, match="not both"):
        distort(torch.rand(2, 1, 28, 28), DistortionConfig(), seeded(0), keys=(0, 0, [0, 1]))


def test_keys_accept_lists_and_negative_values(digits):
    a = distort(digits[:3], DistortionConfig(), keys=(-5, 2 ** 40, [0, 1, 2]))
    b = distort(digits[:3], DistortionConfig(), keys=(-5, 2 ** 40, torch.tensor([0, 1, 2], dtype=torch.int32)))
    assert torch.equal(a, b)


# ----------------------------------------------------------------------------- pen width
def test_stroke_width_is_exact_on_rings():
    from generators.distort import stroke_width
    yy, xx = torch.meshgrid(torch.arange(112) + 0.5, torch.arange(112) + 0.5, indexing="ij")
    r = ((xx - 56) ** 2 + (yy - 56) ** 2).sqrt()
    for w in [2, 3, 4, 6]:
        ring = (w / 2 + 0.5 - (r - 30).abs()).clamp(0, 1)                  # anti-aliased ring, width w
        assert abs(float(stroke_width(ring[None, None])) - w) < 0.05 * w
    assert torch.equal(stroke_width(torch.zeros(2, 1, 8, 8)), torch.zeros(2))


def _ink(x):
    return x.sum((1, 2, 3))


def test_pen_width_thickens_and_thins_relative_to_the_stroke(digits):
    from generators.distort import pen_width
    B = len(digits)
    assert torch.allclose(pen_width(digits, torch.zeros(B), 3, 3), digits, atol=1e-6)   # identity at 0
    for rho, lo, hi in [(1.0, 1.7, 2.3), (0.5, 1.3, 1.7), (-0.3, 0.6, 0.9), (-0.5, 0.4, 0.8)]:
        y = pen_width(digits, torch.full((B,), rho), 3, 3)
        ratio = _ink(y) / _ink(digits)                                    # ink ~ width * length
        assert lo < float(ratio.median()) < hi, (rho, float(ratio.median()))
        assert torch.allclose(y.amax((1, 2, 3)), digits.amax((1, 2, 3)), atol=1e-5)   # peak kept
    y = pen_width(digits, torch.linspace(-0.5, 1.0, B), 3, 3)             # per sample, monotone in rho
    ratio = _ink(y) / _ink(digits)
    assert ratio[: B // 4].mean() < 0.9 < 1.2 < ratio[-B // 4:].mean()


def test_thinning_never_erases_a_thin_digit():
    from generators.distort import pen_width
    x = torch.zeros(3, 1, 28, 28)
    x[0, 0, 4:24, 14] = 1                                                  # a 1-px stroke
    x[1, 0, 4:24, 13:15] = 0.6                                             # a faint 2-px stroke
    x[2, 0, 14, 14] = 1                                                    # a dot
    y = pen_width(x, torch.full((3,), -0.9), 0, 3)
    assert (_ink(y) > 0.3 * _ink(x)).all()
    assert torch.allclose(y.amax((1, 2, 3)), x.amax((1, 2, 3)))
    y = distort(x, DistortionConfig(elastic_alpha=0, rotation=0, scale=0, shear=0, translate=0, thin=0.9), seeded(0))
    assert (_ink(y) > 0.3 * _ink(x)).all()


def test_pen_width_is_per_sample_and_independent_of_the_batch(digits):
    from generators.distort import pen_width
    rho = torch.linspace(-0.6, 1.5, len(digits))
    y = pen_width(digits, rho, 5, 2)
    for i in [0, 40, 127]:
        assert torch.allclose(pen_width(digits[i:i + 1], rho[i:i + 1], 5, 2), y[i:i + 1], atol=1e-6)


def test_pen_only_distortion(digits):
    cfg = DistortionConfig(elastic_alpha=0, rotation=0, scale=0, shear=0, translate=0, thicken=1.0)
    assert not cfg.is_identity and cfg.pen and not cfg.warps
    y = distort(digits, cfg, seeded(0))
    ratio = _ink(y) / _ink(digits)                                        # rho ~ U(0, 1)
    assert (ratio > 0.99).all() and 1.3 < float(ratio.mean()) < 1.7
    assert float(ratio.std()) > 0.1                                       # per sample
    thin = distort(digits, DistortionConfig(**ZERO, thin=0.7), seeded(0))
    assert (_ink(thin) < _ink(digits) + 1e-3).all() and float((_ink(thin) / _ink(digits)).mean()) < 0.85


# ----------------------------------------------------------------------------- low resolution
def test_low_resolution_is_area_down_then_bilinear_up():
    import cv2
    from generators.distort import low_resolution
    F = torch.nn.functional
    x = torch.rand(4, 2, 28, 20, dtype=torch.float64)
    sh, sw = torch.tensor([7, 13, 28, 1]), torch.tensor([5, 20, 11, 1])
    y = low_resolution(x, sh, sw)
    for b in range(4):
        small = np.stack([cv2.resize(c, (int(sw[b]), int(sh[b])), interpolation=cv2.INTER_AREA) for c in x[b].numpy()])
        ref = F.interpolate(torch.from_numpy(small).reshape(1, 2, int(sh[b]), int(sw[b])), size=(28, 20),
                            mode="bilinear", align_corners=False)
        assert torch.allclose(y[b:b + 1], ref, atol=1e-6), b
    assert torch.allclose(low_resolution(x, torch.full((4,), 28), torch.full((4,), 20)), x, atol=1e-12, rtol=0)
    assert torch.allclose(y.sum((2, 3)), x.sum((2, 3)), rtol=0.05)       # area reduction keeps the ink


def test_lowres_sizes_and_probability():
    from generators.distort import sample_params
    cfg = DistortionConfig(lowres=0.6, lowres_p=0.3)
    p = sample_params(4000, 28, 20, cfg, keys=(0, 0, torch.arange(4000)))
    reduced = p["size_h"] < 28
    assert abs(float(reduced.float().mean()) - 0.3) < 0.03
    assert p["size_h"][reduced].min() == round(0.4 * 28) and p["size_h"].max() == 28
    assert p["size_w"][reduced].min() == round(0.4 * 20) and (p["size_w"][~reduced] == 20).all()
    f = p["size_h"][reduced].float() / 28                                 # ~ U(0.4, 1)
    assert abs(float(f.mean()) - 0.7) < 0.02
    assert (p["size_h"][reduced].float() / 28 - p["size_w"][reduced].float() / 20).abs().max() < 0.06   # aspect kept
    assert "size_h" not in sample_params(8, 28, 28, DistortionConfig(lowres=0.6, lowres_p=0), seeded(0))


def test_lowres_only_distortion_blurs(digits):
    from generators.distort import sample_params
    cfg = DistortionConfig(**ZERO, lowres=0.6, lowres_p=0.5)
    y = distort(digits, cfg, seeded(0))
    size = sample_params(len(digits), 28, 28, cfg, seeded(0))["size_h"]  # (B,) the same draw
    energy = lambda z: ((z[..., 1:] - z[..., :-1]) ** 2).sum((1, 2, 3))  # noqa: E731  high frequencies
    ratio = energy(y) / energy(digits)
    full, small = size == 28, size <= 16
    assert 30 < full.sum() < 100 and small.sum() > 10
    assert torch.allclose(y[full], digits[full], atol=1e-5)              # not drawn: untouched
    assert (ratio[~full] < 0.98).all() and (ratio[small] < 0.8).all()
    assert torch.allclose(_ink(y), _ink(digits), rtol=0.05)              # area averaging keeps the ink
    assert torch.equal(distort(digits, DistortionConfig(**ZERO, lowres=0.6, lowres_p=0.0), seeded(0)), digits)


# ----------------------------------------------------------------------------- config, dtype, device
@pytest.mark.parametrize("bad", [dict(thicken=-0.1), dict(thicken=3.5), dict(thin=0.95), dict(thin=-1),
                                 dict(lowres=0.95), dict(lowres_p=1.5), dict(lowres_p=-0.1), dict(thicken=True),
                                 dict(redraw=1.5), dict(redraw=-0.1), dict(redraw=float("nan"))])
def test_new_fields_validated(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        DistortionConfig(**bad)


def test_new_fields_default_off():
    cfg = DistortionConfig()
    assert cfg.thicken == cfg.thin == cfg.lowres == 0 and not cfg.pen and not cfg.reduces
    assert DistortionConfig(**ZERO).is_identity
    assert not DistortionConfig(**ZERO, thin=0.1).is_identity
    assert DistortionConfig(**ZERO, lowres=0.5, lowres_p=0).is_identity
    assert cfg.redraw == 0 and not cfg.redraws and not DistortionConfig(**ZERO, redraw=0.1).is_identity


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_every_stage_keeps_device_dtype_and_range(digits, device, dtype):
    cfg = DistortionConfig(thicken=1.0, thin=0.5, lowres=0.6, lowres_p=0.5, redraw=0.5)
    x = digits[:16].to(device, dtype)
    y = distort(x, cfg, keys=(0, 0, torch.arange(16, device=device)))
    assert y.device == x.device and y.dtype == dtype and y.shape == x.shape
    assert y.min() >= 0 and y.max() <= 1
    g = torch.Generator(device=device).manual_seed(0)
    assert distort(x, cfg, g).device == x.device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_keyed_same_on_cpu_and_gpu(digits):
    """Keyed draws are device-independent; a CPU generator may drive a GPU batch."""
    cfg = DistortionConfig(thicken=1.0, lowres=0.5)
    a = distort(digits, cfg, keys=(3, 1, torch.arange(len(digits))))
    b = distort(digits.cuda(), cfg, keys=(3, 1, torch.arange(len(digits)).cuda())).cpu()
    assert torch.allclose(a, b, atol=1e-4)
    assert torch.equal(distort(digits.cuda(), cfg, seeded(0)).cpu(), distort(digits.cuda(), cfg, seeded(0)).cpu())
    assert elastic_field(torch.rand(2, 2, 9, 7, device="cuda"), 2.0).is_cuda


# ----------------------------------------------------------------------------- exact references (mutation testing)
G64, M64 = 0x9E3779B97F4A7C15, (1 << 64) - 1


def _mix(z):
    """SplitMix64's finalizer, written from its definition (Steele et al. 2014)."""
    z &= M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def test_keyed_uniforms_follow_the_documented_formula():
    """Pins the keyed draws: checkpoints and previews stay comparable across versions and devices."""
    from generators.distort import keyed_uniforms
    for seed, epoch, index, n in [(0, 0, [0, 1, 2], 6), (11, 7, [54999, 3], 4), (-3, 2 ** 40, [-1, 2 ** 62], 2)]:
        base = _mix(_mix(seed) + epoch)
        want = []
        for i in index:
            key = _mix(i * G64 + base)
            row = []
            for k in range(n // 2):
                h = _mix(key + (k + 1) * G64)
                row += [(h & 0xFFFFFF) / 2 ** 24, ((h >> 32) & 0xFFFFFF) / 2 ** 24]
            want.append(row)
        got = keyed_uniforms(seed, epoch, torch.tensor(index), n)
        assert got.tolist() == want, (seed, epoch, index)


def test_i64_wraps_at_the_sign_bit():
    from generators.distort import _i64
    assert _i64(1 << 63) == -(1 << 63) and _i64((1 << 63) - 1) == (1 << 63) - 1
    assert _i64(-1) == -1 and _i64(1 << 64) == 0 and _i64(M64) == -1


def test_params_from_uniforms_exact():
    from generators.distort import n_uniforms, params_from_uniforms
    cfg = DistortionConfig(rotation=10, scale=0.1, shear=5, translate=0.1, elastic_alpha=30, elastic_sigma=5,
                           thicken=1.0, thin=0.5, lowres=0.6, lowres_p=0.3)
    H, W, B = 28, 20, 5
    n = n_uniforms(H, W, cfg)
    u = torch.rand(B, n, generator=seeded(0), dtype=torch.float64)
    u[0] = 0.0                                                            # every draw at its lower end
    u[1, 8] = 0.3                                                         # exactly lowres_p: not reduced
    p = params_from_uniforms(u, H, W, cfg)
    s, d = u * 2 - 1, math.pi / 180
    want = {"angle": s[:, 0] * 10 * d, "sx": 1 + s[:, 1] * 0.1, "sy": 1 + s[:, 2] * 0.1, "shx": s[:, 3] * 5 * d,
            "shy": s[:, 4] * 5 * d, "tx": s[:, 5] * 0.1 * W, "ty": s[:, 6] * 0.1 * H, "rho": u[:, 7] * 1.5 - 0.5}
    for k, v in want.items():
        assert torch.allclose(p[k], v, atol=1e-12, rtol=0), k
    assert p["angle"][0] == -10 * d and p["sx"][0] == 0.9 and p["rho"][0] == -0.5
    reduced = u[:, 8] < 0.3
    f = 1 - u[:, 9] * 0.6
    assert torch.equal(p["size_h"], torch.where(reduced, (f * H).round().long(), H))
    assert torch.equal(p["size_w"], torch.where(reduced, (f * W).round().long(), W))
    assert bool(reduced[0]) and not bool(reduced[1])
    rh, rw = p["coef"].shape[-2:]
    assert n == 16 + 2 * rh * rw
    u1, u2 = u[:, 16::2], u[:, 17::2]                                     # Box-Muller pairs
    r = torch.sqrt(-2 * torch.log(1 - u1)) / math.sqrt(3)
    want = torch.cat([r * torch.cos(2 * math.pi * u2), r * torch.sin(2 * math.pi * u2)], 1).view(B, 2, rh, rw)
    assert torch.allclose(p["coef"], want, atol=1e-12, rtol=0)
    # A tiny image: the smallest reduction is one pixel, never zero.
    tiny = DistortionConfig(lowres=0.9, lowres_p=1.0)
    u = torch.zeros(1, n_uniforms(5, 5, tiny), dtype=torch.float64)
    u[0, 9] = 1 - 2 ** -24                                                # f = 0.1: 0.5 px
    p = params_from_uniforms(u, 5, 5, tiny)
    assert p["size_h"].tolist() == [1] and p["size_w"].tolist() == [1]
    # Any alpha > 0 draws a field.
    assert "coef" in params_from_uniforms(torch.rand(2, n_uniforms(28, 28, DistortionConfig(elastic_alpha=0.5))),
                                          28, 28, DistortionConfig(elastic_alpha=0.5))


def test_n_uniforms():
    from generators.distort import n_uniforms
    assert n_uniforms(28, 28, DistortionConfig()) == 16 + 2 * 6 * 6
    assert n_uniforms(28, 28, DistortionConfig(elastic_alpha=0)) == 16
    assert n_uniforms(28, 28, DistortionConfig(elastic_alpha=0.5)) == 16 + 2 * 6 * 6


def test_config_boundaries_and_messages():
    DistortionConfig(elastic_alpha=0, elastic_sigma=0)                    # no field: sigma unused
    DistortionConfig(elastic_alpha=10, elastic_sigma=0.5)
    with pytest.raises(ValueError, match=r"^DistortionConfig\.elastic_sigma must be > 0 when elastic_alpha > 0 "
                                         r"\(got sigma=0\.0\)$"):
        DistortionConfig(elastic_alpha=0.5, elastic_sigma=0)
    with pytest.raises(ValueError, match=r"^DistortionConfig\.thin=0\.95 is out of range \[0\.0, 0\.9\]$"):
        DistortionConfig(thin=0.95)
    with pytest.raises(ValueError, match=r"^DistortionConfig\.rotation must be a finite number, got inf$"):
        DistortionConfig(rotation=float("inf"))
    d = DistortionConfig(thicken=1).to_dict()
    assert d["thicken"] == 1.0 and DistortionConfig.from_dict(d) == DistortionConfig(thicken=1)


@pytest.mark.parametrize("sigma", [0.5, 0.8])
def test_small_sigma_field(digits, sigma):
    """A field smoothed by sigma < 1 px (few singular values dropped) still runs and moves ink."""
    x = digits[:8]
    y = distort(x, DistortionConfig(**ELASTIC_ONLY, elastic_sigma=sigma, elastic_alpha=3.0), seeded(0))
    assert ((y - x).abs().sum((1, 2, 3)) > 0.5).all()
    z = distort(x, DistortionConfig(**AFFINE_ONLY, elastic_sigma=0.0), seeded(0))   # no field, sigma 0
    assert z.shape == x.shape and torch.isfinite(z).all()


def test_gaussian_matrix_is_float64_exact():
    f = np.random.default_rng(0).uniform(-1, 1, (28, 20))
    g_h, g_w = gaussian_matrix(28, 3.5, dtype=torch.float64), gaussian_matrix(20, 3.5, dtype=torch.float64)
    ref = gaussian_filter(f, 3.5, mode="constant", cval=0.0, truncate=4.0)
    assert np.abs((g_h @ torch.from_numpy(f) @ g_w.T).numpy() - ref).max() < 1e-13
    assert gaussian_matrix(5, 1.0).dtype == torch.float32 and gaussian_matrix(5, 1.0, dtype=torch.float64).dtype == torch.float64


def test_everything_runs_on_the_tensors_device():
    """On the meta device (no data): every tensor a stage makes must follow the batch's device."""
    cfg = DistortionConfig(thicken=1.0, thin=0.5, lowres=0.6)
    x = torch.rand(4, 1, 28, 20, device="meta")
    for y in [distort(x, cfg, keys=(0, 0, torch.arange(4))), distort(x, cfg, seeded(0)),
              distort(x.double(), DistortionConfig(elastic_alpha=0, thin=0.5), keys=(0, 0, [0, 1, 2, 3]))]:
        assert y.device.type == "meta" and y.shape == x.shape
    assert elastic_field(torch.rand(2, 2, 9, 7, device="meta"), 2.0).device.type == "meta"
    assert gaussian_matrix(5, 1.0, device="meta").device.type == "meta"


def test_affine_theta_is_the_inverse_map_in_normalized_coordinates():
    """theta = D^-1 M^-1 D, -D^-1 M^-1 t with M = R Sh S (pixels about the centre), D = diag(W/2, H/2)."""
    g = torch.Generator().manual_seed(0)
    B, H, W = 16, 28, 20
    ang, shx, shy = (torch.rand(3, B, generator=g, dtype=torch.float64) - 0.5)
    sx, sy = 0.7 + 0.6 * torch.rand(2, B, generator=g, dtype=torch.float64)
    tx, ty = 4 * torch.randn(2, B, generator=g, dtype=torch.float64)
    theta = affine_theta(ang, sx, sy, shx, shy, tx, ty, H, W)
    D = np.diag([W / 2, H / 2])
    for b in range(B):
        c, s = math.cos(ang[b]), math.sin(ang[b])
        M = np.array([[c, -s], [s, c]]) @ np.array([[1, math.tan(shx[b])], [math.tan(shy[b]), 1]]) @ np.diag([sx[b], sy[b]])
        Minv = np.linalg.inv(M)
        want = np.concatenate([np.linalg.inv(D) @ Minv @ D, -(np.linalg.inv(D) @ Minv @ [tx[b], ty[b]])[:, None]], 1)
        assert np.allclose(theta[b].numpy(), want, atol=1e-12, rtol=0), b


def test_without_generator_or_keys_uses_torchs_global_generator(digits):
    torch.manual_seed(5)
    a = distort(digits[:4], DistortionConfig())
    torch.manual_seed(5)
    assert torch.equal(a, distort(digits[:4]))
    assert (a - digits[:4]).abs().sum() > 1.0


def test_resize_table_layout():
    from generators.distort import resize_table
    t = resize_table(28, "cpu", torch.float64)
    assert t.shape == (29, 28, 28) and t.dtype == torch.float64
    assert torch.equal(t[28], torch.eye(28, dtype=torch.float64))
    assert torch.allclose(t.sum(2), torch.ones(29, 28, dtype=torch.float64), atol=1e-12, rtol=0)   # rows average


def test_defaults_single_sample_and_empty_batch(digits):
    y = distort(digits[:1], keys=(0, 0, [3]))                             # default config, one sample
    assert (y - digits[:1]).abs().sum() > 1.0
    assert torch.equal(y, distort(digits[:1], DistortionConfig(), keys=(0, 0, [3])))
    empty = torch.zeros(0, 1, 28, 28)
    assert distort(empty, DistortionConfig(thicken=1, lowres=0.5), keys=(0, 0, [])).shape == (0, 1, 28, 28)
    assert distort(empty, DistortionConfig(), seeded(0)).shape == (0, 1, 28, 28)


def test_float64_is_computed_in_float64(digits):
    from generators.distort import apply_distortion, sample_params
    cfg = DistortionConfig(thicken=0.5, lowres=0.5)
    x = digits[:8].double()
    keys = (1, 2, torch.arange(8))
    ref = apply_distortion(x, sample_params(8, 28, 28, cfg, device="cpu", dtype=torch.float64, keys=keys), cfg)
    assert torch.allclose(distort(x, cfg, keys=keys), ref.clamp(0, 1), atol=1e-12, rtol=0)


def test_saturated_input_stays_in_range():
    x = torch.ones(64, 1, 28, 28)
    x[:, :, :2] = 0
    for cfg in [DistortionConfig(), DistortionConfig(**ZERO, lowres=0.6, lowres_p=1.0), DistortionConfig(**ZERO, thin=0.9)]:
        y = distort(x, cfg, keys=(0, 0, torch.arange(64)))
        assert y.min() >= 0 and y.max() <= 1, cfg


@pytest.mark.filterwarnings("error")
def test_no_warnings(digits):
    distort(digits[:4], DistortionConfig(thicken=1, thin=0.5, lowres=0.5), keys=(0, 0, torch.arange(4)))


@pytest.mark.parametrize("index, match", [(torch.tensor([True, False]), "one integer per sample"),
                                          (torch.tensor([1j, 2j]), "one integer per sample"),
                                          (torch.zeros(2, 1, dtype=torch.long), "one integer per sample")])
def test_bad_index_dtypes(index, match):
    with pytest.raises(ValueError, match=match):
        distort(torch.rand(2, 1, 8, 8), DistortionConfig(), keys=(0, 0, index))


def test_key_error_messages_are_exact():
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match=r"^keys must be \(seed, epoch, index\): two ints and one index per sample$"):
        distort(x, keys=(0, 0))
    with pytest.raises(ValueError, match=r"^keys: index must hold one integer per sample \(2\), got torch\.float32 "
                                         r"of shape \(2,\)$"):
        distort(x, keys=(0, 0, [0.5, 1.5]))
    with pytest.raises(ValueError, match=r"^distort: pass a generator or keys, not both$"):
        distort(x, generator=seeded(0), keys=(0, 0, [0, 1]))
    with pytest.raises(ValueError, match=r"^distort expects a \(B, C, H, W\) batch, got shape \(8, 8\)$"):
        distort(x[0, 0])


def test_stroke_width_ignores_intensity():
    from generators.distort import stroke_width
    x = synthetic_digits(8)
    assert torch.allclose(stroke_width(x * 0.01), stroke_width(x), rtol=1e-4)


def test_grow_steps_are_cross_then_square():
    from scipy.ndimage import grey_dilation
    from generators.distort import _grow
    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)
    x = torch.rand(3, 2, 11, 9, generator=seeded(0), dtype=torch.float64) ** 4
    cur, ref = x, x.numpy()
    for step in range(1, 5):
        cur = _grow(cur, step)
        fp = cross if step % 2 else np.ones((3, 3), bool)
        ref = grey_dilation(ref, footprint=fp[None, None], mode="constant", cval=0.0)
        assert np.array_equal(cur.numpy(), ref), step
    dot = torch.zeros(1, 1, 9, 9)
    dot[..., 4, 4] = 1
    assert int(_grow(dot, 1).sum()) == 5 and int(_grow(_grow(dot, 1), 2).sum()) == 21 and int(_grow(dot, 2).sum()) == 9


def _pen_reference(x, rho, max_grow, max_shrink):
    """pen_width written out per sample with scipy's grey morphology (the docstring's algorithm)."""
    from scipy.ndimage import grey_dilation, grey_erosion
    from generators.distort import stroke_width
    cross, square = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool), np.ones((3, 3), bool)
    out = []
    for b in range(len(x)):
        img = x[b].numpy()                                                 # (C, H, W)
        peak, w = img.max(), float(stroke_width(x[b:b + 1])[0])
        grown, shrunk = [img], [img]
        for k in range(1, max(max_grow, max_shrink) + 1):
            fp = (cross if k % 2 else square)[None]
            grown.append(grey_dilation(grown[-1], footprint=fp, mode="constant", cval=0.0))
            shrunk.append(grey_erosion(shrunk[-1], footprint=fp, mode="constant", cval=0.0))
        alive = sum(s.max() > 0.25 * peak for s in shrunk[1:max_shrink + 1])
        radius = max(min(float(rho[b]) * w / 2, max_grow), -(alive + 0.5))
        res = sum(max(0.0, 1 - abs(radius - k)) * grown[k] for k in range(max_grow + 1))
        res = res + sum(max(0.0, 1 - abs(radius + k)) * shrunk[k] for k in range(1, max_shrink + 1))
        out.append(res * peak / max(res.max(), 1e-6))
    return torch.from_numpy(np.stack(out))


def _bars():
    """Bars 1-10 px wide (some faint), a large blob, and a stroke whose first erosion peaks at exactly 1/4."""
    xs = []
    for wdt, v in [(1, 1.0), (2, 0.6), (3, 1.0), (4, 0.5), (6, 1.0), (8, 1.0), (10, 1.0)]:
        b = torch.zeros(1, 40, 40, dtype=torch.float64)
        b[0, 5:35, 20 - wdt // 2: 20 - wdt // 2 + wdt] = v
        xs.append(b)
    blob = torch.zeros(1, 40, 40, dtype=torch.float64)
    blob[0, 10:30, 8:32] = 1
    edge = torch.zeros(1, 40, 40, dtype=torch.float64)
    edge[0, 5:35, 19:22] = 0.25
    edge[0, 20, 19] = 1.0
    return torch.stack(xs + [blob, edge])                                 # (9, 1, 40, 40)


def test_pen_width_matches_the_reference():
    from generators.distort import pen_width
    x = torch.cat([_bars(), torch.nn.functional.pad(synthetic_digits(6).double(), (6, 6, 6, 6))])
    for rho in [-0.9, -0.6, -0.3, 0.4, 1.0, 2.5]:
        r = torch.full((len(x),), rho, dtype=torch.float64)
        for mg, ms in [(3, 3), (2, 4), (9, 0)]:
            assert torch.allclose(pen_width(x, r, mg, ms), _pen_reference(x, r, mg, ms), atol=1e-10, rtol=0), (rho, mg, ms)


def test_pen_stage_reaches_its_full_radius():
    """apply_distortion gives pen_width radii up to thicken (thin) * 6 / 2 px: a wide blob at rho = +-1
    needs 3 px."""
    from generators.distort import apply_distortion, pen_width
    x = _bars()[[6, 7]]                                                   # 10-px bar and a 20x24 blob
    for cfg, rho, mg, ms in [(DistortionConfig(**ZERO, thicken=1.0), 1.0, 3, 0),
                             (DistortionConfig(**ZERO, thin=0.9), -0.9, 0, 3)]:
        r = torch.full((2,), rho, dtype=torch.float64)
        assert torch.allclose(apply_distortion(x, {"rho": r}, cfg), pen_width(x, r, mg, ms), atol=1e-12, rtol=0)


def test_area_matrix_is_exact_area_averaging():
    from generators.distort import area_matrix
    v = np.random.default_rng(0).uniform(0, 1, 28)
    for s in [1, 5, 9, 13, 20, 27, 28]:
        ref = np.repeat(v, s).reshape(s, 28).mean(1)                       # 28 s sub-pixels, s groups
        got = (area_matrix(28, s) @ torch.from_numpy(v)).numpy()
        assert np.abs(got - ref).max() < 1e-13, s


def test_low_resolution_float64_exact():
    from generators.distort import area_matrix, low_resolution
    x = torch.rand(3, 1, 28, 20, dtype=torch.float64, generator=seeded(0))
    sh, sw = torch.tensor([9, 28, 14]), torch.tensor([7, 13, 20])
    y = low_resolution(x, sh, sw)
    for b in range(3):
        small = area_matrix(28, int(sh[b])) @ x[b, 0] @ area_matrix(20, int(sw[b])).T
        ref = torch.nn.functional.interpolate(small[None, None], size=(28, 20), mode="bilinear", align_corners=False)
        assert torch.allclose(y[b], ref[0], atol=1e-13, rtol=0), b


def test_lowrank_factor_is_the_float64_truncated_svd():
    from generators.distort import lowrank_factor
    G = gaussian_matrix(28, 5.5, dtype=torch.float64).numpy()
    u, s, _ = np.linalg.svd(G)
    A = lowrank_factor(28, 5.5)
    r = A.shape[1]
    assert A.dtype == torch.float64 and r == 6
    assert (s[:r] ** 2).sum() / (s ** 2).sum() >= 1 - 1e-4 > (s[:r - 1] ** 2).sum() / (s ** 2).sum()   # smallest rank
    ref = (u[:, :r] * s[:r]) @ (u[:, :r] * s[:r]).T
    assert np.abs(A.numpy() @ A.numpy().T - ref).max() < 1e-13


# ----------------------------------------------------------------------------- redraw stage
def _blobs(n: int, size: int, seed: int) -> torch.Tensor:
    """bool (n, 1, size, size): thresholded smooth noise, blobs with holes and branches."""
    rng = np.random.default_rng(seed)
    return torch.from_numpy(gaussian_filter(rng.random((n, size, size)), (0, 2, 2)) > 0.52)[:, None]


def test_redraw_thinning_is_the_reading_paths_zhang_suen():
    """generators.redraw.thin (torch, its table from the conditions as tensor ops) == ensemble.skeleton.thin (numpy)."""
    from ensemble.skeleton import thin as numpy_thin
    from generators.redraw import thin
    m = _blobs(24, 40, 0)
    m[0] = True                                                          # ink on every border
    m[1] = False                                                         # nothing
    got = thin(m)
    assert got.shape == m.shape and got.dtype == torch.bool
    assert np.array_equal(got[:, 0].numpy(), numpy_thin(m[:, 0].numpy()))
    assert got[2:].sum() < m[2:].sum() / 3 and not (got & ~m).any()     # thinner, and inside the ink
    # dense noise, a sample at a time (a batch passes on while any sample changes): passes whose
    # second sub-step peels nothing while the first did, and more passes are still to come
    noise = torch.rand(48, 1, 20, 20, generator=torch.Generator().manual_seed(0)) < 0.8
    for k in range(48):
        assert np.array_equal(thin(noise[k:k + 1])[0, 0].numpy(), numpy_thin(noise[k, 0].numpy())), k


def test_redraw_gpu_paths_equal_the_cpu_paths():
    """The few-kernel paths a CUDA tensor takes (3x3 correlation for the neighbourhood codes, one
    correlation with every pen ring) give exactly what the CPU paths give; the peel table is the
    reading path's."""
    from ensemble.skeleton import _PEEL
    from generators.redraw import _codes, _peel_table, _pen_by_offsets, _pen_by_rings, thin
    assert np.array_equal(_peel_table().numpy(), _PEEL)
    m = _blobs(16, 40, 1).to(torch.uint8)
    m[0] = 1                                                             # ink on every border
    codes = _codes(m, True)
    assert torch.equal(codes, _codes(m, False)) and int(codes.max()) == 255 and int(codes.min()) == 0
    skel = thin(_blobs(16, 40, 2))
    skel[1] = False                                                      # no centre line: no ink
    r = torch.linspace(0, 6, 16)[:, None, None, None]                    # past MAX_RADIUS too
    ink = _pen_by_rings(skel, r.clamp(0, 5))
    assert torch.equal(ink, _pen_by_offsets(skel, r.clamp(0, 5))) and ink[1].sum() == 0 and ink.max() == 1


def test_draw_pen_is_the_anti_aliased_round_pen():
    from ensemble.skeleton import redraw as numpy_redraw
    from generators.redraw import draw_pen
    skel = torch.zeros(5, 1, 30, 30, dtype=torch.bool)
    skel[:, 0, 15, 5:25] = True
    skel[:, 0, 5:25, 15] = True
    r = torch.tensor([0.5, 1.75, 4.0, 4.75, 5.0])                       # up to MAX_RADIUS
    ink = draw_pen(skel, r)
    for k in range(5):                                                   # the reading path's pen, 2r px wide
        assert torch.allclose(ink[k, 0], torch.from_numpy(numpy_redraw(skel[k, 0].numpy(), 2 * float(r[k]))), atol=1e-6)
    assert torch.allclose(ink[:, 0, 5, 10:21].sum(1), 2 * r)             # across the bar: 2r of ink


def test_redraw_keeps_width_shape_and_makes_the_pen_uniform(digits):
    from generators.distort import stroke_width
    from generators.redraw import redraw
    # a wedge: a horizontal stroke 1 px thin at the left, 5 px bold at the right
    x = torch.zeros(1, 1, 28, 28)
    for c in range(4, 24):
        half = (1 + 4 * (c - 4) / 19) / 2
        rows = torch.arange(28, dtype=torch.float32) + 0.5
        x[0, 0, :, c] = (half - (rows - 14).abs() + 0.5).clamp(0, 1)
    w = torch.tensor([3.0])
    y = redraw(x, w)
    cols = y[0, 0, :, 7:21].sum(0)                                       # ink across the stroke, per column
    assert float(cols.std()) < 0.1 and abs(float(cols.mean()) - 3.0) < 0.35, cols
    assert float(x[0, 0, :, 7:21].sum(0).std()) > 0.8                    # (it was a wedge)
    # digits: same width, same place, same shape (a blob scribbled shut becomes its centre line:
    # the rings, every third sample, are strokes throughout)
    y = redraw(digits, stroke_width(digits))
    ratio = stroke_width(y) / stroke_width(digits)
    assert ((ratio[::3] - 1).abs() < 0.12).all() and abs(float(ratio.median()) - 1) < 0.1, ratio
    a, b = digits > 0.5, y > 0.5
    iou = (a & b).sum((1, 2, 3)).float() / (a | b).sum((1, 2, 3)).float()
    assert float(iou[::3].min()) > 0.8 and float(iou.median()) > 0.7, iou
    assert not torch.equal(y, digits)


def test_redraw_leaves_blank_and_faint_samples_alone():
    from generators.redraw import redraw
    x = torch.zeros(3, 2, 28, 28)
    x[1, :, 10:18, 10:18] = 0.3                                          # under the ink threshold
    x[2, :, 8:20, 13:15] = 1.0                                           # a bar, both channels
    y = redraw(x, torch.full((3,), 2.0))
    assert torch.equal(y[:2], x[:2])
    assert torch.equal(y[2, 0], y[2, 1]) and y[2].sum() > 0
    assert redraw(x[:0], torch.zeros(0)).shape == (0, 2, 28, 28)


def test_redraw_stage_probability_and_keys(digits):
    from generators.distort import sample_params
    cfg = DistortionConfig(**ZERO, redraw=0.3)
    p = sample_params(4000, 28, 28, cfg, keys=(1, 0, torch.arange(4000)))
    assert p["redraw"].dtype == torch.bool and abs(float(p["redraw"].float().mean()) - 0.3) < 0.03
    # its own column: independent of every other stage's draws
    q = sample_params(4000, 28, 28, DistortionConfig(thicken=1, thin=1 / 3, lowres=0.5, lowres_p=0.5, redraw=0.5),
                      keys=(1, 0, torch.arange(4000)))
    others = [q["rho"] > 0, q["size_h"] < 28, q["angle"] > 0, q["tx"] > 0, q["coef"][:, 0, 0, 0] > 0]
    for o in others:
        assert abs(float((o == q["redraw"]).float().mean()) - 0.5) < 0.05
    keys = (0, 2, torch.arange(len(digits)))
    y = distort(digits, cfg, keys=keys)
    picked = sample_params(len(digits), 28, 28, cfg, keys=keys)["redraw"]
    changed = (y - digits).abs().sum((1, 2, 3)) > 0
    assert torch.equal(changed, picked) and 0 < int(picked.sum()) < len(digits)
    assert torch.equal(distort(digits, cfg, keys=keys), y)               # keyed: the same again
    everything = distort(digits, DistortionConfig(**ZERO, redraw=1.0), keys=keys)
    assert ((everything - digits).abs().sum((1, 2, 3)) > 0).all()
