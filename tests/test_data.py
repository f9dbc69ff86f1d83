"""The data module: disjoint training/validation splits, folder images read like vote.py, polarity."""
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from ensemble.data import DigitsDataModule, load_dataset, polarity_counts, polarity_label, split_indices
from ensemble.normalize import load_and_normalize
from generators.folder import ImageFolderError

pytestmark = pytest.mark.mutation          # fast: part of the mutmut suite (README: Mutation testing)

N, VAL = 600, 100


@pytest.fixture
def numbered_mnist(monkeypatch):
    """A fake MNIST whose image i carries its own number i in two pixels (no real data read)."""
    def load(split, root=None, **kw):
        i = torch.arange(N if split == "train" else 50)
        x = torch.zeros(len(i), 28, 28, dtype=torch.uint8)
        x[:, 0, 0], x[:, 0, 1] = i % 256, i // 256
        return x, i % 10
    monkeypatch.setattr("ensemble.data.load_mnist", load)


def numbers(x):
    return set((x[:, 0, 0].long() + 256 * x[:, 0, 1].long()).tolist())


def loaded_numbers(loader):
    return numbers(torch.cat([batch[0] for batch in loader]))


def module(**cfg):
    dm = DigitsDataModule({"dataset": "mnist", "val_size": VAL, **cfg}, batch_size=50)
    dm.setup()
    return dm


def test_validation_is_the_tail_and_disjoint_from_training(numbered_mnist):
    dm = module()
    train, val = loaded_numbers(dm.train_dataloader()), loaded_numbers(dm.val_dataloader())
    assert val == set(range(N - VAL, N)) and train == set(range(N - VAL))
    assert not train & val
    assert set(dm.train_idx.tolist()) == train and set(dm.val_idx.tolist()) == val


def test_subsets_stay_disjoint(numbered_mnist):
    dm = module(train_subset=200, val_subset=30)
    train, val = loaded_numbers(dm.train_dataloader()), loaded_numbers(dm.val_dataloader())
    assert train == set(range(200)) and val == set(range(N - VAL, N - VAL + 30))
    assert not train & val


def test_full_train_overlaps_exactly_the_validation_images(numbered_mnist):
    """Documented: full_train trains on everything, so validation is measured on trained-on images."""
    dm = module(full_train=True)
    train, val = loaded_numbers(dm.train_dataloader()), loaded_numbers(dm.val_dataloader())
    assert train == set(range(N)) and train & val == val == set(range(N - VAL, N))


@pytest.mark.parametrize("val_size", [0, N, None])
def test_bad_val_size(val_size):
    with pytest.raises(ValueError, match=rf"^data\.val_size={val_size or 0} must be between 1 and {N - 1}$"):
        split_indices(N, {"val_size": val_size})


@pytest.mark.parametrize("val_size", [1, N - 1])
def test_smallest_and_largest_val_size_are_allowed(val_size):
    """The range the error message promises, both ends: one validation image, or one training image."""
    train, val = split_indices(N, {"val_size": val_size})
    assert val.tolist() == list(range(N - val_size, N)) and train.tolist() == list(range(N - val_size))


def test_the_suite_has_its_own_mnist_cache():
    """tests/conftest.py points every test at the suite's own cache, never the user's."""
    from pathlib import Path

    from conftest import TEST_MNIST_CACHE
    from generators.mnist import default_cache_dir
    assert default_cache_dir() == TEST_MNIST_CACHE
    assert Path.home() / ".cache" not in default_cache_dir().parents


# ------------------------------------------------------------------ polarity
def test_polarity_counts():
    light = torch.zeros(3, 28, 28, dtype=torch.uint8)
    light[:, 10:18, 12:15] = 255
    assert polarity_counts(light) == {"light-on-dark": 3, "dark-on-light": 0}
    assert polarity_counts(255 - light) == {"light-on-dark": 0, "dark-on-light": 3}
    assert polarity_label(polarity_counts(torch.cat([light, 255 - light[:1]]))) == "mixed"
    assert polarity_label({"light-on-dark": 0, "dark-on-light": 4}) == "dark-on-light"


def draw_digit(path, size, dark_on_light, offset=(0, 0)):
    """A '7'-like stroke, off-centre, in a size (w, h) image."""
    bg, ink = (240, 30) if dark_on_light else (0, 250)
    img = Image.new("L", size, bg)
    w, h = size
    x0, y0 = w // 4 + offset[0], h // 4 + offset[1]
    ImageDraw.Draw(img).line([(x0, y0), (x0 + w // 3, y0), (x0 + w // 8, y0 + h // 2)], fill=ink, width=max(2, w // 12))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def test_folder_images_are_read_exactly_like_vote_py(tmp_path):
    draw_digit(tmp_path / "a" / "1.png", (60, 90), True, (5, -8))
    draw_digit(tmp_path / "a" / "2.jpg", (33, 41), True)
    draw_digit(tmp_path / "b" / "3.png", (120, 80), True, (-20, 10))
    ds = load_dataset(str(tmp_path))
    files = sorted(tmp_path.rglob("*.*"))
    want = {bytes(load_and_normalize(f).tobytes()) for f in files}
    assert {bytes(im.numpy().tobytes()) for im in ds.train_x} == want
    assert ds.train_x.shape == (3, 28, 28) and ds.train_x.dtype == torch.uint8
    assert ds.source["polarity"] == "dark-on-light" and ds.source["polarity_counts"]["dark-on-light"] == 3
    assert polarity_counts(ds.train_x)["light-on-dark"] == 3            # what the network sees
    assert ds.test_x is None and ds.class_names == ["a", "b"]


def test_mixed_polarity_folder_is_recorded_as_mixed(tmp_path):
    draw_digit(tmp_path / "a" / "1.png", (50, 50), True)
    draw_digit(tmp_path / "b" / "2.png", (50, 50), False)
    ds = load_dataset(str(tmp_path))
    assert ds.source["polarity"] == "mixed"
    assert ds.source["polarity_counts"] == {"light-on-dark": 1, "dark-on-light": 1}


def test_mnist_style_folder_images_pass_unchanged(tmp_path):
    img = np.zeros((28, 28), np.uint8)
    img[6:22, 12:16] = 255
    (tmp_path / "1").mkdir()
    Image.fromarray(img).save(tmp_path / "1" / "a.png")
    ds = load_dataset(str(tmp_path))
    assert np.array_equal(ds.train_x[0].numpy(), img) and ds.source["polarity"] == "light-on-dark"


def test_unusable_folder_image_is_named(tmp_path):
    draw_digit(tmp_path / "a" / "1.png", (50, 50), True)
    Image.new("L", (40, 40), 200).save(tmp_path / "a" / "blank.png")
    with pytest.raises(ImageFolderError, match=r"blank\.png: cannot use image \(no digit found"):
        load_dataset(str(tmp_path))
    (tmp_path / "a" / "blank.png").write_bytes(b"not a picture")
    with pytest.raises(ImageFolderError, match=r"blank\.png: cannot use image"):
        load_dataset(str(tmp_path))
