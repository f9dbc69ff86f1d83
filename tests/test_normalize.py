"""Real-world image -> MNIST-style 28x28, on synthetic inputs whose answer we know."""
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage as ndi

from ensemble.normalize import ImageError, load_and_normalize, load_gray, normalize_digit


def draw_digit(size=200, box=(60, 40, 130, 170), width=14, ink=0, paper=255, mode="L"):
    """A '4'-like glyph (three strokes) inside `box` (x0, y0, x1, y1) on a plain canvas."""
    img = Image.new(mode, (size, size), paper)
    x0, y0, x1, y1 = box
    d = ImageDraw.Draw(img)
    xm, ym = x0 + (x1 - x0) * 0.7, y0 + (y1 - y0) * 0.6
    d.line([(xm, y0), (x0, ym), (x1, ym)], fill=ink, width=width, joint="curve")
    d.line([(xm, y0), (xm, y1)], fill=ink, width=width)
    return img


def uneven(gray_u8, rng, noise=0.03):
    """Light falling off across the page plus sensor noise: float (H, W) in [0, 1]."""
    g = np.asarray(gray_u8, np.float32) / 255
    h, w = g.shape
    yy, xx = np.mgrid[:h, :w] / max(h, w)
    light = 0.5 + 0.45 * xx * (1 - 0.4 * yy)                       # 0.5 .. 0.95 across the page
    return np.clip(g * light + rng.normal(0, noise, g.shape), 0, 1).astype(np.float32)


def check_mnist_like(out):
    assert out.shape == (28, 28) and out.dtype == np.uint8
    frame = np.concatenate([out[0], out[-1], out[:, 0], out[:, -1]])
    assert frame.max() == 0 and out.max() >= 250                     # light ink on black
    cy, cx = ndi.center_of_mass(out.astype(float))
    assert np.hypot(cy - 14, cx - 14) <= 1.0
    rows, cols = np.flatnonzero(out.any(1)), np.flatnonzero(out.any(0))
    assert max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) == 20


def test_dark_digit_off_centre_on_unevenly_lit_paper():
    rng = np.random.default_rng(0)
    out = normalize_digit(uneven(draw_digit(box=(20, 15, 80, 110)), rng))
    check_mnist_like(out)


def test_photo_matches_clean_rendering():
    rng = np.random.default_rng(1)
    clean = normalize_digit(255 - np.asarray(draw_digit()))            # light-on-dark, no noise
    noisy = uneven(draw_digit(), rng, noise=0.05)
    noisy[rng.random(noisy.shape) < 0.01] = 0                          # pepper specks
    buf = io.BytesIO()
    Image.fromarray((noisy * 255).astype(np.uint8)).save(buf, "JPEG", quality=60)
    out = normalize_digit(np.asarray(Image.open(buf)))
    check_mnist_like(out)
    assert np.corrcoef(out.ravel(), clean.ravel())[0, 1] > 0.9


def test_mnist_style_input_is_unchanged(tmp_path):
    img = np.asarray(draw_digit(28, (6, 4, 22, 24), width=2, ink=255, paper=0))
    assert normalize_digit(img) is not img
    assert np.array_equal(normalize_digit(img), img)
    Image.fromarray(img).save(tmp_path / "d.png")
    assert np.array_equal(load_and_normalize(tmp_path / "d.png"), img)


def test_transparent_canvas(tmp_path):
    for ink in [(0, 0, 0, 255), (255, 255, 255, 255)]:               # black or white ink, no paper
        draw_digit(mode="RGBA", ink=ink, paper=(0, 0, 0, 0)).save(tmp_path / "t.png")
        check_mnist_like(load_and_normalize(tmp_path / "t.png"))


def test_16_bit_and_palette_and_rgb(tmp_path):
    g = 255 - np.asarray(draw_digit())
    Image.fromarray(g.astype(np.uint16) * 257).save(tmp_path / "a.png")    # 16-bit grayscale
    draw_digit().convert("P").save(tmp_path / "b.gif")
    draw_digit().convert("RGB").save(tmp_path / "c.webp")
    for name in ["a.png", "b.gif", "c.webp"]:
        check_mnist_like(load_and_normalize(tmp_path / name))


def test_exif_orientation_is_applied(tmp_path):
    img = draw_digit(box=(30, 20, 100, 180)).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 3                                                    # "rotate 180" tag
    img.save(tmp_path / "r.jpg", exif=exif, quality=95)
    upright = normalize_digit(np.asarray(img.rotate(180).convert("L")))
    turned = load_and_normalize(tmp_path / "r.jpg")
    assert np.corrcoef(turned.ravel(), upright.ravel())[0, 1] > 0.9


@pytest.mark.parametrize("image", [np.full((50, 40), 200, np.uint8), np.zeros((28, 28), np.uint8),
                                   np.random.default_rng(0).normal(0.6, 0.01, (64, 64)).clip(0, 1)])
def test_blank_image_has_no_digit(image):
    with pytest.raises(ImageError, match="no digit found"):
        normalize_digit(image)


def test_unreadable_files_give_short_reasons(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not a picture")
    buf = io.BytesIO()
    draw_digit().save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    reasons = {"empty.png": "empty file", "text.png": "not an image", "cut.png": "truncated",
               "gone.png": "not found"}
    for name, reason in reasons.items():
        with pytest.raises(ImageError, match=reason):
            load_gray(tmp_path / name)


def test_bad_array_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="2-D"):
        normalize_digit(np.zeros((3, 28, 28)))


def test_hairline_strokes_are_thickened_to_pen_width():
    bold = normalize_digit(255 - np.asarray(draw_digit(width=14)))
    thin = normalize_digit(255 - np.asarray(draw_digit(width=2)))
    check_mnist_like(thin)
    assert (thin > 127).sum() >= 0.6 * (bold > 127).sum()


def test_sheet_on_dark_table_and_hard_shadow():
    rng = np.random.default_rng(2)
    clean = normalize_digit(255 - np.asarray(draw_digit()))
    sheet = uneven(draw_digit(), rng)                                   # (200, 200)
    table = np.full((250, 270), 0.12, np.float32) + rng.normal(0, 0.02, (250, 270)).astype(np.float32)
    table[20:220, 40:240] = sheet                                        # table shows on every side
    shadow = sheet.copy()
    yy, xx = np.mgrid[:200, :200]
    shadow[xx + yy < 150] *= 0.4                                         # a phone's hard-edged shadow
    for img in (np.clip(table, 0, 1), shadow):
        out = normalize_digit(img)
        check_mnist_like(out)
        assert np.corrcoef(out.ravel(), clean.ravel())[0, 1] > 0.9
