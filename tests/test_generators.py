"""generators/distort.py: shapes, identity, independence, seeds, keyed draws, ink, conventions, stages.

All fast and marked `mutation`: they are the suite mutmut runs against distort.py (README: Mutation
testing). The albumentations backend, the preview and the training wiring: test_generator_wiring.py.
"""
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
    B, H, W, alpha, sigma = 5, 24, 32, 30.0, 5.0
    g = seeded(3)
    theta = torch.randn(B, 2, 3, generator=g, dtype=torch.float64)
    ah, aw = lowrank_factors(H, W, sigma, "cpu", torch.float64)
    coef = torch.randn(B, 2, ah.shape[1], aw.shape[1], generator=g, dtype=torch.float64)
    field = elastic_field_lowrank(coef, ah, aw)                          # (B, 2, H, W) pixels / alpha
    ref = torch.nn.functional.affine_grid(theta, [B, 1, H, W], align_corners=False)
    ref = ref + torch.stack([field[:, 0] * alpha * 2 / W, field[:, 1] * alpha * 2 / H], -1)
    assert torch.allclose(sampling_grid(theta, coef, alpha, sigma, H, W), ref, atol=1e-10)


# ----------------------------------------------------------------------------- keyed randomness
def test_splitmix64_matches_the_reference():
    from generators.distort import _i64, _splitmix64_int, splitmix64
    vals = [0, 1, 2, 12345, -1, -(2 ** 63), 2 ** 63 - 1, 0x0123456789ABCDEF, -0x0123456789ABCDEF]
    got = splitmix64(torch.tensor(vals, dtype=torch.int64)).tolist()
    assert got == [_i64(_splitmix64_int(v)) for v in vals]
    assert _splitmix64_int(0) == 0 and _splitmix64_int(1) == 0x5692161D100B05E5   # known values


def test_keyed_uniforms_are_uniform_and_independent():
    from generators.distort import keyed_uniforms
    u = keyed_uniforms(1, 2, torch.arange(20000), 9)                      # (B, 9), odd n
    assert u.shape == (20000, 9) and u.dtype == torch.float32
    assert u.min() >= 0 and u.max() < 1
    assert (u.mean(0) - 0.5).abs().max() < 0.01
    assert (u.var(0) - 1 / 12).abs().max() < 0.003
    c = torch.corrcoef(u.T)
    assert c[~torch.eye(9, dtype=torch.bool)].abs().max() < 0.03
    # Neighbouring indices, epochs, seeds are unrelated too.
    for other in [keyed_uniforms(1, 2, torch.arange(1, 20001), 9), keyed_uniforms(1, 3, torch.arange(20000), 9),
                  keyed_uniforms(2, 2, torch.arange(20000), 9)]:
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
    b = sample_params(32, 28, 28, DistortionConfig(thicken=1, thin=0.5, lowres=0.5), keys=keys)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert {"rho", "size_h", "size_w"} <= set(b)


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
    assert torch.allclose(low_resolution(x, torch.full((4,), 28), torch.full((4,), 20)), x, atol=1e-12)
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
                                 dict(lowres=0.95), dict(lowres_p=1.5), dict(lowres_p=-0.1), dict(thicken=True)])
def test_new_fields_validated(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        DistortionConfig(**bad)


def test_new_fields_default_off():
    cfg = DistortionConfig()
    assert cfg.thicken == cfg.thin == cfg.lowres == 0 and not cfg.pen and not cfg.reduces
    assert DistortionConfig(**ZERO).is_identity
    assert not DistortionConfig(**ZERO, thin=0.1).is_identity
    assert DistortionConfig(**ZERO, lowres=0.5, lowres_p=0).is_identity


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_every_stage_keeps_device_dtype_and_range(digits, device, dtype):
    cfg = DistortionConfig(thicken=1.0, thin=0.5, lowres=0.6, lowres_p=0.5)
    x = digits[:16].to(device, dtype)
    y = distort(x, cfg, keys=(0, 0, torch.arange(16, device=device)))
    assert y.device == x.device and y.dtype == dtype and y.shape == x.shape
    assert y.min() >= 0 and y.max() <= 1
    g = torch.Generator(device=device).manual_seed(0)
    assert distort(x, cfg, g).device == x.device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU: keyed draws are device-independent")
def test_keyed_same_on_cpu_and_gpu(digits):
    cfg = DistortionConfig(thicken=1.0, lowres=0.5)
    a = distort(digits, cfg, keys=(3, 1, torch.arange(len(digits))))
    b = distort(digits.cuda(), cfg, keys=(3, 1, torch.arange(len(digits)).cuda())).cpu()
    assert torch.allclose(a, b, atol=1e-4)
