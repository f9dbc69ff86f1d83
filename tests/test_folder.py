"""Tests for generators.folder.load_image_folder."""
import numpy as np
import pytest
import torch
from PIL import Image

from generators.folder import ImageFolderError, load_image_folder


def save(path, mode, size, value):
    path.parent.mkdir(parents=True, exist_ok=True)
    color = {"L": value, "RGB": (value,) * 3, "RGBA": (value, value, value, 255)}[mode]
    Image.new(mode, size, color).save(path)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "letters"
    save(root / "b" / "1.png", "L", (28, 28), 10)
    save(root / "b" / "2.png", "RGB", (64, 40), 200)
    save(root / "a" / "x.png", "RGBA", (28, 28), 50)
    save(root / "c_class" / "big.png", "RGB", (100, 100), 128)
    save(root / "c_class" / "small.jpg", "L", (10, 10), 255)
    (root / "c_class" / "notes.txt").write_text("not an image, ignored")
    return root


def test_loads_classes_shapes_and_values(tree):
    images, labels, names = load_image_folder(tree)
    assert names == ["a", "b", "c_class"]
    assert images.dtype == torch.uint8 and images.shape == (5, 28, 28)
    assert labels.dtype == torch.int64 and labels.tolist() == [0, 1, 1, 2, 2]
    means = images.float().mean(dim=(1, 2)).round().tolist()
    assert means[:4] == [50, 10, 200, 128]  # constant images keep their value through resize/convert
    assert abs(means[4] - 255) <= 1  # JPEG


def test_size_and_rgb(tree):
    images, labels, _ = load_image_folder(tree, size=16, grayscale=False)
    assert images.shape == (5, 3, 16, 16) and images.dtype == torch.uint8


def test_transparent_pixels_become_white(tmp_path):
    img = Image.new("RGBA", (28, 28), (0, 0, 0, 0))
    img.putpixel((3, 3), (0, 0, 0, 255))
    (tmp_path / "k").mkdir()
    img.save(tmp_path / "k" / "t.png")
    images, _, _ = load_image_folder(tmp_path)
    assert images[0, 0, 0] == 255 and images[0, 3, 3] == 0


def test_many_classes(tmp_path):
    for i in range(47):
        save(tmp_path / f"class{i:02d}" / "0.png", "L", (28, 28), i)
    images, labels, names = load_image_folder(tmp_path)
    assert len(names) == 47 and labels.tolist() == list(range(47))
    assert np.array_equal(images[:, 0, 0].numpy(), np.arange(47))


def test_missing_root(tmp_path):
    with pytest.raises(ImageFolderError, match="nope"):
        load_image_folder(tmp_path / "nope")


def test_no_class_folders(tmp_path):
    with pytest.raises(ImageFolderError, match=f"{tmp_path}.*no class subfolders"):
        load_image_folder(tmp_path)


def test_no_images(tmp_path):
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(ImageFolderError, match=str(tmp_path)):
        load_image_folder(tmp_path)


def test_corrupt_image_named(tree):
    bad = tree / "b" / "3.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    with pytest.raises(ImageFolderError, match="3.png"):
        load_image_folder(tree)


def test_errors_are_value_errors():
    assert issubclass(ImageFolderError, ValueError)


# ------------------------------------------------------------------ loader=: the caller's own reader
def test_custom_loader_replaces_decoding(tree):
    seen = []

    def loader(path):
        seen.append(path)
        return np.full((28, 28), len(seen), np.uint8)

    images, labels, names = load_image_folder(tree, loader=loader)
    assert len(seen) == 5 and images[:, 0, 0].tolist() == [1, 2, 3, 4, 5]
    assert labels.tolist() == [0, 1, 1, 2, 2] and names == ["a", "b", "c_class"]


def test_loader_errors_name_the_file(tree):
    def loader(path):
        if path.endswith("big.png"):
            raise ValueError("no digit found (blank image)")
        return np.zeros((28, 28), np.uint8)

    with pytest.raises(ImageFolderError, match=r"big\.png: cannot use image \(no digit found"):
        load_image_folder(tree, loader=loader)
    with pytest.raises(ImageFolderError, match=r"x\.png: the loader returned uint8 \(27, 28\)"):
        load_image_folder(tree, loader=lambda p: np.zeros((27, 28), np.uint8))
    with pytest.raises(ValueError, match="grayscale"):
        load_image_folder(tree, grayscale=False, loader=lambda p: None)


def test_generators_do_not_import_ensemble():
    """generators/ is the lower layer: no module in it imports ensemble/ at import time."""
    import ast
    from pathlib import Path
    for path in sorted((Path(__file__).resolve().parent.parent / "generators").glob("*.py")):
        for node in ast.parse(path.read_text()).body:  # module level only (a lazy import in a function is fine)
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n.split(".")[0] == "ensemble"], f"{path.name} imports {names}"
