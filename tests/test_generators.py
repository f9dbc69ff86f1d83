"""The distortion generator: shapes, identity, independence, seeds, ink, conventions, backends."""
import math

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from digits import synthetic_digits
from generators import DistortionConfig, distort
from generators.distort import affine_theta, apply_distortion, elastic_field, gaussian_matrix

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
              "field": torch.zeros(B, 2, 28, 28)}
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


def _strength(x, y):
    """Mean displaced ink: sum |distorted - original| / sum original, averaged over samples."""
    return float(((y - x).abs().sum((1, 2, 3)) / x.sum((1, 2, 3))).mean())


def test_albumentations_backend_comparable(digits):
    from generators.albu import AlbumentationsDataset, build_albumentations
    cfg = DistortionConfig()
    u8 = (digits[:, 0] * 255).round().to(torch.uint8)
    xq = u8.float().div(255).unsqueeze(1)
    pipe = build_albumentations(cfg, seed=0)
    ya = torch.from_numpy(np.stack([pipe(image=im)["image"] for im in u8.numpy()])).float().div(255).unsqueeze(1)
    yt = distort(xq, cfg, seeded(0))
    sa, st = _strength(xq, ya), _strength(xq, yt)
    assert 0.3 < st < 2.0
    assert abs(sa - st) / st < 0.25, f"torch {st:.3f} vs albumentations {sa:.3f}"
    # Zero config: albumentations is the identity as well.
    ident = build_albumentations(DistortionConfig(**ZERO), seed=0)
    assert np.array_equal(ident(image=u8[0].numpy())["image"], u8[0].numpy())
    ds = AlbumentationsDataset(u8, torch.zeros(len(u8), dtype=torch.long), cfg)
    x0, y0 = ds[0]
    assert x0.shape == (1, 28, 28) and x0.dtype == torch.float32 and 0 <= x0.min() and x0.max() <= 1


def test_preview_grid(digits, tmp_path):
    from generators.preview import preview_grid
    g = preview_grid(digits[:3], DistortionConfig(), k=4, generator=seeded(0))
    assert g.shape == (3, 3 * 30 + 2, 5 * 30 + 2)



def test_lowrank_field_has_the_exact_field_statistics():
    """The fast field (rank-r Gaussian coefficients) matches Simard's smoothed uniform noise."""
    from generators.distort import sample_params
    n = torch.rand(3000, 2, 28, 28, generator=seeded(0)) * 2 - 1
    exact = elastic_field(n, 5.5)                                        # (B, 2, H, W)
    fast = sample_params(3000, 28, 28, DistortionConfig(), seeded(1))["field"]
    for sl in [(...,), (..., 14, 14), (..., 0, 0), (..., 3, 20)]:       # overall, centre, corner, edge
        re, rf = exact[sl].pow(2).mean().sqrt(), fast[sl].pow(2).mean().sqrt()
        assert abs(rf / re - 1) < 0.05, (sl, float(re), float(rf))
    # Neighbouring displacements are correlated the same way (smoothness).
    ce = (exact[..., :, 1:] * exact[..., :, :-1]).mean() / exact.pow(2).mean()
    cf = (fast[..., :, 1:] * fast[..., :, :-1]).mean() / fast.pow(2).mean()
    assert abs(ce - cf) < 0.02
