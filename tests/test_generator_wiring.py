"""Around the generator: the albumentations backend, the preview, and the training wiring (keyed draws)."""
import numpy as np
import pytest
import torch

from digits import synthetic_digits
from generators import DistortionConfig, distort

ZERO = dict(elastic_alpha=0.0, rotation=0.0, scale=0.0, shear=0.0, translate=0.0)


@pytest.fixture(scope="module")
def digits():
    return synthetic_digits(128)


def seeded(s):
    return torch.Generator().manual_seed(s)


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


def test_albumentations_new_stages(digits):
    from generators.albu import build_albumentations
    u8 = (digits[:, 0] * 255).round().to(torch.uint8).numpy()

    def run(**kw):
        pipe = build_albumentations(DistortionConfig(**ZERO, **kw), seed=0)
        return torch.from_numpy(np.stack([pipe(image=im)["image"] for im in u8])).float()

    x = torch.from_numpy(u8).float()
    ink = lambda z: z.sum((1, 2))  # noqa: E731
    thick, thin = run(thicken=1.0), run(thin=0.7)
    assert (ink(thick) >= ink(x)).all() and 1.2 < float((ink(thick) / ink(x)).mean()) < 1.9
    assert (ink(thin) <= ink(x)).all() and float((ink(thin) / ink(x)).mean()) < 0.85
    low = run(lowres=0.6, lowres_p=1.0)
    detail = lambda z: (z[..., 1:] - z[..., :-1]).abs().sum((1, 2))  # noqa: E731
    assert float((detail(low) / detail(x)).mean()) < 0.9
    assert torch.equal(run(lowres=0.6, lowres_p=0.0), x)
    # redraw: the torch path's own stage, image by image
    from generators.distort import stroke_width
    from generators.redraw import redraw
    drawn = run(redraw=1.0)
    f = x[:, None] / 255
    assert torch.allclose(drawn, (redraw(f, stroke_width(f))[:, 0] * 255).round(), atol=1)
    assert torch.equal(run(redraw=0.0), x) and not torch.equal(drawn, x)


# ----------------------------------------------------------------------------- training wiring and preview
@pytest.fixture(scope="module")
def member(tmp_path_factory):
    """A member config over a tiny labelled folder (no MNIST needed): 10 classes x 4 images."""
    from PIL import Image
    root = tmp_path_factory.mktemp("folder")
    for i, img in enumerate(synthetic_digits(40, seed=1)):
        (root / str(i % 10)).mkdir(exist_ok=True)
        Image.fromarray((img[0].numpy() * 255).astype(np.uint8)).save(root / str(i % 10) / f"{i}.png")
    return {"name": "tiny", "arch": "convpool", "seed": 5, "train": {}, "data": {"dataset": str(root), "val_size": 8},
            "distortion": {"thicken": 0.5, "lowres": 0.4}}


def test_training_distorts_by_dataset_index_and_preview_shows_it(member):
    """What training showed sample i in epoch e is what `generators.preview --index i --epochs e` shows."""
    from types import SimpleNamespace

    from ensemble.data import DigitsDataModule
    from ensemble.module import MemberModule
    from generators.preview import seen_in_training
    dm = DigitsDataModule(member["data"], batch_size=8)
    dm.setup()
    x, y, idx = next(iter(dm.train_dataloader()))                        # training batches carry the index
    assert torch.equal(x, dm.train_x[idx]) and torch.equal(y, dm.train_y[idx])
    assert len(next(iter(dm.val_dataloader()))) == 2                     # validation batches do not
    module = MemberModule(torch.nn.Identity(), member, dm.class_names)
    module._trainer = SimpleNamespace(training=True, current_epoch=3)
    seen, labels = module.prepare_batch((x, y, idx), train=True)
    assert torch.equal(labels, y)
    shown = seen_in_training(member, idx, [2, 3])                        # (B, 3, 1, H, W)
    assert torch.equal(shown[:, 0], x.unsqueeze(1).float() / 255)
    assert torch.allclose(shown[:, 2], seen, atol=1e-5)
    assert not torch.allclose(shown[:, 1], seen, atol=1e-2)             # another epoch, another distortion
    with pytest.raises(ValueError, match="dataset indices"):
        module.prepare_batch((x, y), train=True)
    plain, _ = module.prepare_batch((x, y), train=False)                 # validation: never distorted
    assert torch.equal(plain, x.unsqueeze(1).float() / 255)


def test_preview_cli(member, tmp_path):
    import yaml
    from PIL import Image

    from generators.preview import main
    cfg = tmp_path / "members" / "tiny.yaml"
    cfg.parent.mkdir()
    cfg.write_text(yaml.safe_dump(member))
    out = tmp_path / "seen.png"
    main(["--config", str(cfg), "--index", "0,5", "--epochs", "0:3", "--out", str(out), "--scale", "1"])
    assert Image.open(out).size == (4 * 30 + 2, 2 * 30 + 2)              # original + 3 epochs, 2 rows
    for bad in (["--index", "99"], ["--set", "thin=5"], ["--set", "nope"], ["--index", "x"]):
        with pytest.raises(SystemExit):
            main(["--config", str(cfg), "--out", str(out), *bad])
    with pytest.raises(SystemExit):
        main(["--index", "1", "--out", str(out)])                        # --index needs --config
