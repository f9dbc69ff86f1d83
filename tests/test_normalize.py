"""Real-world image -> MNIST-style 28x28, on synthetic inputs whose answer we know."""
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw
from scipy import ndimage as ndi

from ensemble.normalize import ImageError, load_and_normalize, load_gray, normalize_digit

# fast: part of the mutmut suite (README: Mutation testing), except the one marked slow
pytestmark = pytest.mark.mutation


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
    # up to a 1 px shift: the centre of mass is placed to the nearest pixel, as in MNIST, so a
    # crop one pixel taller can move the whole digit by one (this photo's, since 2026-11-25)
    best = max(np.corrcoef(np.roll(out, (dy, dx), (0, 1)).ravel(), clean.ravel())[0, 1]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    assert best > 0.9


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
    (tmp_path / "folder.png").mkdir()
    reasons = {"empty.png": r"empty file", "text.png": r"not an image \(unrecognised format\)",
               "cut.png": r"corrupt or truncated image \(image file is truncated\)",   # Pillow's words
               "gone.png": r"file not found \(vanished\?\)",
               "folder.png": r"is a directory"}
    for name, reason in reasons.items():
        with pytest.raises(ImageError, match=f"^{reason}$"):          # the whole status text
            load_gray(tmp_path / name)


def test_decompression_bomb_is_refused_with_a_short_reason(tmp_path, monkeypatch):
    Image.new("L", (200, 200), 255).save(tmp_path / "big.png")
    for limit in (10_000, 30_000):            # over 2x the limit: an error; over 1x: a warning
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        with pytest.raises(ImageError, match=r"^image too large, refused as a decompression bomb \(Image size \(40000 "
                                             r"pixels\) exceeds limit of [0-9]+ pixels[^.]*\)$"):
            load_gray(tmp_path / "big.png")


def test_first_sentence_of_an_error():
    from ensemble.normalize import _first_sentence
    assert _first_sentence(ValueError("Bad header. More text.")) == "Bad header"
    assert _first_sentence(ValueError("ends with a dot.")) == "ends with a dot"
    assert _first_sentence(ValueError("  padded  ")) == "padded"
    assert _first_sentence(ValueError("")) == "ValueError"
    assert _first_sentence(ValueError("unknown raw mode XX.")) == "unknown raw mode XX"   # only the dot goes


@pytest.mark.parametrize("mode", ["LA", "RGBA", "P-transparency"])
def test_transparent_modes_composite_on_white(mode, tmp_path):
    """Black strokes on a fully transparent canvas, in every mode Pillow has for alpha."""
    rgba = draw_digit(mode="RGBA", ink=(0, 0, 0, 255), paper=(0, 0, 0, 0))
    if mode == "P-transparency":                                      # a GIF-style palette image
        alpha = np.asarray(rgba)[..., 3]
        pal = np.where(alpha > 127, 1, 0).astype(np.uint8)            # index 1 = ink, 0 = transparent
        img = Image.fromarray(pal, "P")
        img.putpalette([0, 0, 0, 0, 0, 0] + [0] * 762)
        img.save(tmp_path / "t.png", transparency=0)
    else:
        img = rgba.convert(mode)
        img.save(tmp_path / "t.png")
    g = load_gray(tmp_path / "t.png")
    assert g.dtype == np.float32 and g.shape == (200, 200)
    assert g[0, 0] == 1.0 and g.min() == 0.0                          # white paper, black ink
    check_mnist_like(normalize_digit(g))


def test_white_ink_on_transparent_canvas_uses_the_alpha(tmp_path):
    draw_digit(mode="RGBA", ink=(255, 255, 255, 255), paper=(255, 255, 255, 0)).save(tmp_path / "w.png")
    g = load_gray(tmp_path / "w.png")
    assert g[0, 0] == 1.0 and g.min() == 0.0                          # 1 - alpha: ink dark on white


@pytest.mark.parametrize("kind", ["I;16", "I", "F-unit", "F-255"])
def test_high_depth_modes_scale_to_unit_range(kind, tmp_path):
    g8 = 255 - np.asarray(draw_digit())                                # (200, 200) light on dark
    if kind == "I;16":
        img = Image.fromarray(g8.astype(np.uint16) * 257)
    elif kind == "I":
        img = Image.fromarray(g8.astype(np.int32) * 257, "I")
    elif kind == "F-unit":
        img = Image.fromarray(g8.astype(np.float32) / 255, "F")
    else:
        img = Image.fromarray(g8.astype(np.float32), "F")
    path = tmp_path / ("a.png" if kind == "I;16" else "a.tif")
    img.save(path)
    g = load_gray(path)
    assert g.dtype == np.float32 and np.allclose(g, g8 / 255, atol=1 / 255)


def test_large_images_are_reduced_to_the_working_size(tmp_path):
    draw_digit(size=1000, box=(300, 200, 650, 850), width=60).save(tmp_path / "big.png")
    draw_digit(size=1000, box=(300, 200, 650, 850), width=60).convert("RGB").save(tmp_path / "big.jpg")
    for name in ("big.png", "big.jpg"):
        g = load_gray(tmp_path / name)
        assert g.shape == (384, 384) and g.dtype == np.float32 and 0 <= g.min() < 0.1 and g.max() > 0.9
    assert load_gray(tmp_path / "big.png", max_side=100).shape == (100, 100)


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


# ---- pens, polarity, centring, tiny inputs (issue 9) ------------------------------------------
def out_stroke_width(out):
    """Stroke width of a 28x28 result in px, measured as the normalization measures pens."""
    from ensemble.normalize import _stroke_width
    big = np.asarray(Image.fromarray(out).resize((112, 112), Image.Resampling.BILINEAR))
    return _stroke_width(big > 127) / 4


def reference():
    return normalize_digit(255 - np.asarray(draw_digit(width=14)))      # light on dark, MNIST-like pen


@pytest.mark.parametrize("width", [2, 8, 14, 24, 36, 48])
def test_every_pen_width_becomes_an_mnist_pen(width):
    """Hairline to ~40 % of the digit's height: a whole digit with MNIST's pen, never an outline."""
    big = draw_digit(size=240, box=(60, 30, 170, 200), width=width)      # digit 170 px high
    out = normalize_digit(np.asarray(big))
    check_mnist_like(out)
    assert 1.2 <= out_stroke_width(out) <= 4.4                          # MNIST: 1.55 .. 4.37 (5th .. 99th pct)
    assert np.corrcoef(out.ravel(), reference().ravel())[0, 1] > 0.75


@pytest.mark.parametrize("width", [4, 14, 40])
def test_polarity_dark_on_light_equals_light_on_dark(width):
    dark = np.asarray(draw_digit(width=width))                           # black ink, white paper
    a, b = normalize_digit(dark), normalize_digit(255 - dark)
    check_mnist_like(a)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.98


@pytest.mark.parametrize("ink", [0, 255])
def test_polarity_of_a_bold_digit_that_covers_most_of_its_canvas(ink):
    """More ink than paper around the digit (a median of the neighbourhood is ink): the border
    still says which is paper."""
    from ensemble.normalize import _dark_ink
    img = np.asarray(draw_digit(size=160, box=(10, 5, 150, 155), width=40, ink=ink, paper=255 - ink))
    assert _dark_ink(img.astype(np.float32) / 255) == (ink == 0)


def test_polarity_of_light_ink_on_unevenly_lit_dark_board():
    rng = np.random.default_rng(4)
    board = 1 - uneven(draw_digit(), rng)                                # chalk on a blackboard
    assert np.corrcoef(normalize_digit(board).ravel(), reference().ravel())[0, 1] > 0.9


@pytest.mark.parametrize("box", [(10, 10, 80, 140), (120, 60, 190, 190), (60, 5, 130, 135)])
def test_centring_does_not_depend_on_where_the_digit_was(box):
    out = normalize_digit(255 - np.asarray(draw_digit(box=box)))
    check_mnist_like(out)                                                # mass at (14, 14)
    assert np.corrcoef(out.ravel(), reference().ravel())[0, 1] > 0.97


def test_centring_is_by_mass_not_by_box():
    """A top-heavy glyph (a 7): centre of mass on (14, 14), so its box sits low, as in MNIST."""
    img = Image.new("L", (200, 200), 0)
    d = ImageDraw.Draw(img)
    d.rectangle((50, 30, 150, 52), fill=255)                             # heavy bar
    d.line([(150, 45), (100, 170)], fill=255, width=12)                   # thinner stem
    out = normalize_digit(np.asarray(img))
    cy, cx = ndi.center_of_mass(out.astype(float))
    assert np.hypot(cy - 14, cx - 14) <= 1.0
    rows = np.flatnonzero(out.any(1))
    assert (rows[0] + rows[-1]) / 2 > 14.5                               # box centre below the middle


def test_wide_digit_fits_its_width_into_20_px():
    img = Image.new("L", (200, 120), 255)
    ImageDraw.Draw(img).line([(20, 60), (180, 60)], fill=0, width=12)     # a dash, wider than high
    ImageDraw.Draw(img).line([(20, 40), (20, 80)], fill=0, width=12)
    out = normalize_digit(np.asarray(img))
    cols = np.flatnonzero(out.any(0))
    assert cols[-1] - cols[0] + 1 == 20


@pytest.mark.parametrize("side", [8, 12, 16])
def test_tiny_inputs(side):
    """A digit as small as 8x8 (thumbnails, the UCI digits) is scaled up and read whole."""
    small = draw_digit(size=200, box=(40, 20, 160, 180), width=22).resize((side, side), Image.Resampling.BOX)
    out = normalize_digit(np.asarray(small))
    check_mnist_like(out)
    assert np.corrcoef(out.ravel(), reference().ravel())[0, 1] > 0.7


@pytest.mark.slow                       # 10,000 digits: run by the suite, not once per mutant
def test_mnist_digits_pass_through_byte_for_byte():
    """Every MNIST test digit: the shortcut returns its exact bytes (so vote.py scores the test
    PNGs exactly as `python -m ensemble.evaluate` does)."""
    from generators import load_mnist
    x, _ = load_mnist("test")
    x = x.numpy()
    assert all(np.array_equal(normalize_digit(d), d) for d in x)


# ---- the small pieces, exactly (mutation testing showed what the end-to-end tests leave open) -
def test_is_mnist_style_boundaries():
    from ensemble.normalize import is_mnist_style
    g = np.zeros((28, 28), np.float32)
    g[8:20, 12:16] = 1.0                                                 # a light "1" off the border
    assert is_mnist_style(g)
    assert not is_mnist_style(np.pad(g, 1))                              # 30x30 is not MNIST's size
    assert not is_mnist_style(g * 0.5)                                   # no pixel above 0.5: too faint
    h = g.copy()
    h[:, :] = 0.1                                                        # median exactly 0.1: not dark
    h[8:20, 12:16] = 1.0
    assert not is_mnist_style(h)
    for edge in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):  # any one side bright
        b = g.copy()
        b[edge] = 1.0
        assert not is_mnist_style(b), edge
    b = g.copy()
    b[0, :10] = 1.0                                                      # 10 of 108 border pixels:
    assert is_mnist_style(b)                                             # < 10 %, still MNIST-style
    b[0, :11] = 0.5                                                      # exactly 0.5 is not bright
    assert is_mnist_style(b)


def test_otsu_splits_two_clusters_between_them():
    from ensemble.normalize import otsu
    values = np.concatenate([np.full(700, 0.2), np.full(300, 0.8)]).astype(np.float32)
    t = otsu(values)
    assert 0.2 < t < 0.8
    assert abs(otsu(values * 2) - 2 * t) < 0.01                         # follows the range
    values = np.concatenate([np.full(500, 0.1), np.full(500, 0.3)]).astype(np.float32)
    assert 0.1 < otsu(values) < 0.3
    assert otsu(np.zeros(10, np.float32)) == pytest.approx(1 / 256)     # blank: first bin edge


def test_upscale_small_keeps_values_and_adds_a_margin_of_paper():
    from ensemble.normalize import MIN_SIDE, _upscale_small
    g = np.ones((8, 6), np.float32)
    g[2:6, 2:4] = 0.0                                                    # dark digit, white paper
    big = _upscale_small(g)
    f = 8                                                                # ceil(64 / 8)
    assert big.shape == (8 * f + 4 * f, 6 * f + 4 * f)                   # 2 f px of paper each side
    assert big.min() >= 0 and big.max() <= 1
    assert np.all(big[:2 * f] == 1.0) and np.all(big[:, :2 * f] == 1.0)  # the margin is paper
    assert big[2 * f + 4 * f, 2 * f + 3 * f] < 0.1                       # the digit, scaled up
    inv = _upscale_small(1 - g)
    assert np.all(inv[:2 * f] == 0.0)                                    # dark paper: dark margin
    same = np.ones((MIN_SIDE, 10), np.float32)
    assert _upscale_small(same) is same                                  # big enough: untouched


def test_pen_thins_a_bold_bar_to_mnist_width_in_a_tight_box():
    from ensemble.normalize import THIN_STROKE, _pen
    crop = np.zeros((30, 100), np.float32)
    crop[3:27] = 1.0                                                     # a 24 px bar: 4.8 px of 20 when fitted
    ink = _pen(crop)                                                     # at 4x the final box
    assert ink.dtype == np.float32 and 0 <= ink.min() and ink.max() == 1
    assert ink[0].any() and ink[-1].any() and ink[:, 0].any() and ink[:, -1].any()   # tight box
    thick = int((ink[:, ink.shape[1] // 2] >= 0.5).sum())               # rows of ink mid-bar
    assert 4 * THIN_STROKE - 1.5 <= thick <= 4 * THIN_STROKE + 1.5      # ~12 px: 3 px at 20 px
    assert ink.shape[0] <= thick + 3 and ink.shape[1] >= 70             # the bar stays a bar
    assert (ink[:, 10:-10] >= 0.5).sum(0).min() >= thick - 1            # even along its length


def test_pen_thickens_a_hairline_and_leaves_an_mnist_pen_alone():
    from ensemble.normalize import _pen
    hair = np.zeros((40, 100), np.float32)
    hair[20] = 1.0                                                       # 1 px of 100: 0.2 px at 20
    ink = _pen(hair)
    mid = ink[:, ink.shape[1] // 2]
    assert 6 <= (mid >= 0.5).sum() <= 10 and ink.shape[1] > 80          # ~2 px at the final scale
    mnist = np.zeros((40, 100), np.float32)
    mnist[15:26] = 1.0                                                   # 11 px of 100: 2.2 px at 20
    assert _pen(mnist) is mnist
    bold = np.zeros((40, 100), np.float32)
    bold[10:30] = 1.0                                                    # 20 px of 100: 4 px at 20, a pen
    assert _pen(bold) is bold                                            # MNIST's own bold writers use
    bolder = np.zeros((40, 100), np.float32)
    bolder[8:32] = 1.0                                                   # 4.8 px: beyond MNIST's 99th pct
    assert (_pen(bolder)[:, 40] >= 0.5).sum() < 20                       # eroded (12 px at 4x)


def test_otsu_matches_a_brute_force_search():
    """Otsu's cut maximises w0 w1 (m0 - m1)^2; checked against trying every bin edge."""
    from ensemble.normalize import otsu
    rng = np.random.default_rng(0)
    for values in (np.concatenate([rng.normal(0.1, 0.03, 500), rng.normal(0.5, 0.05, 150), rng.normal(0.9, 0.04, 350)]),
                   np.concatenate([rng.normal(0.2, 0.1, 900), rng.normal(0.7, 0.05, 100)]),
                   rng.uniform(0, 1, 1000) ** 3):
        values = np.clip(values, 0, None).astype(np.float32)
        edges = np.linspace(0, values.max(), 257)
        centre = np.clip(np.digitize(values, edges[1:-1]), 0, 255)        # bin of each value
        mids = (edges[:-1] + edges[1:]) / 2
        best, cut = -1.0, None
        for k in range(1, 256):                                          # class 0: bins < k
            lo, hi = mids[centre[centre < k]], mids[centre[centre >= k]]
            if len(lo) and len(hi):
                score = len(lo) * len(hi) * (lo.mean() - hi.mean()) ** 2
                if score > best + 1e-9:
                    best, cut = score, edges[k]
        assert otsu(values) == pytest.approx(cut, abs=1e-6)


# ---- finding the digit in an ink map (_digit_crop), on hand-made maps whose answer we know ----
def ink_plus(size=240):
    """A '+' broken into six pieces (a pen skipping: 6 px gaps) on an ink map (background 0): the
    centre ramps 0.7..1.0 across, the arms are 0.8; the lower stem is broken twice, so its last
    piece is only near the digit once the piece before it is in. Its box: rows 59:160, cols 69:131."""
    ink = np.zeros((size, size), np.float32)
    ink[90:110, 90:110] = np.linspace(0.7, 1.0, 20)                       # centre, mass ~340
    ink[59:84, 97:103] = ink[116:141, 97:103] = 0.8                       # arms above and below (150)
    ink[97:103, 69:84] = ink[97:103, 116:131] = 0.8                       # shorter arms left and right
    ink[147:160, 97:103] = 0.8                                            # the stem's last piece (62)
    return ink


def crop_size_ok(crop, h, w):
    return h <= crop.shape[0] <= h + 2 and w <= crop.shape[1] <= w + 2   # smoothing may add a rim


def test_digit_crop_keeps_every_piece_of_a_broken_digit_and_stretches_its_contrast():
    from ensemble.normalize import _digit_crop
    ink = ink_plus()
    crop = _digit_crop(ink, 0)
    assert crop_size_ok(crop, 101, 62), crop.shape                       # all six pieces, nothing more
    assert crop.min() == 0 and crop.max() == 1                           # stretched into [0, 1]
    assert (crop == 1).sum() >= 40                                       # the brightest cores are white
    oy, ox = (crop.shape[0] - 101) // 2, (crop.shape[1] - 62) // 2
    inner = crop[oy + 31:oy + 51, ox + 21:ox + 41]                       # the centre piece
    assert np.all(np.diff(inner[:, :16], axis=1) >= 0)                   # its ramp is kept, in order
    assert np.all(crop[oy:oy + 101, ox:ox + 62][ink[59:160, 69:131] == 0] == 0)   # paper stays black


@pytest.mark.parametrize("where", ["right", "below", "left", "above"])
def test_digit_crop_drops_far_pieces_and_specks(where):
    """Ink farther from the digit than ~1/3 of its size is not part of it (another mark on the
    page), nor is a speck next to it with under 5 % of the digit's ink."""
    from ensemble.normalize import _digit_crop
    ink = ink_plus()
    ink[50:53, 120:123] = 1.0                                            # a speck (9 px) near the digit
    far = {"right": np.s_[95:105, 180:190], "left": np.s_[95:105, 10:20],
           "above": np.s_[5:15, 95:105], "below": np.s_[210:220, 95:105]}[where]
    ink[far] = 1.0                                                       # 40-50 px from the digit
    assert crop_size_ok(_digit_crop(ink, 0), 101, 62)


def test_digit_crop_picks_the_component_with_the_most_ink_not_the_most_pixels():
    from ensemble.normalize import _digit_crop
    ink = np.zeros((200, 200), np.float32)
    ink[20:60, 20:60] = 1.0                                              # the digit: 1,600 px of full ink
    ink[120:170, 120:180] = 0.5                                          # a grey patch: 3,000 px, less ink
    assert crop_size_ok(_digit_crop(ink, 0), 40, 40)


def test_digit_crop_hysteresis_keeps_faint_ink_joined_to_the_digit_within_a_margin():
    """A faint tail (a stroke where the pen was lighter) joined to the digit is kept, up to a
    margin of 10 % of the digit's size; a digit cut by the image's edge keeps its edge row."""
    from ensemble.normalize import _digit_crop
    ink = np.zeros((200, 200), np.float32)
    ink[50:90, 50:90] = 1.0                                              # the digit, 40 px
    ink[68:72, 90:170] = 0.3                                             # the faint tail, 80 px long
    assert 40 <= _digit_crop(ink, 0).shape[0] <= 42 and 44 <= _digit_crop(ink, 0).shape[1] <= 46   # tail cut at 4 px
    corner = np.zeros((200, 200), np.float32)
    corner[0:40, 0:40] = 1.0                                             # at the top-left corner
    crop = _digit_crop(corner, 0)
    assert crop.shape == (41, 41) and crop[0, :40].min() == 1            # from row/column 0 to the blur's rim


@pytest.mark.parametrize("side", range(4))
def test_digit_crop_prefers_the_digit_to_a_heavier_region_at_the_border(side):
    """Paper edges and shadows come in from the border: such a region loses to a digit with
    more than a quarter of its ink."""
    from ensemble.normalize import _digit_crop
    ink = np.zeros((200, 200), np.float32)
    ink[0:20, 10:170] = 1.0                                              # 3,200 px on the top edge
    ink = np.rot90(ink, side).copy()
    ink[80:120, 80:120] = 1.0                                            # the digit: 1,600 px, centre
    assert crop_size_ok(_digit_crop(ink, 0), 40, 40)


def test_digit_crop_leaves_out_a_faint_smear_beside_the_digit():
    """A smear with a quarter of the stroke's contrast, next to it: Otsu's threshold (between
    the smear and the strokes) leaves it out, a fixed fraction of the peak would not."""
    from ensemble.normalize import _digit_crop
    ink = np.zeros((200, 200), np.float32)
    ink[80:120, 80:120] = 1.0                                            # the digit
    ink[80:120, 130:190] = 0.24                                          # the smear, 10 px away
    assert crop_size_ok(_digit_crop(ink, 0), 40, 40)


@pytest.mark.parametrize("ink", [np.zeros((60, 60), np.float32),
                                 np.abs(np.random.default_rng(0).normal(0, 0.08, (120, 120))).astype(np.float32)])
def test_digit_crop_of_paper_or_noise_is_no_digit(ink):
    from ensemble.normalize import _digit_crop
    with pytest.raises(ImageError, match="^no digit found$"):
        _digit_crop(ink, 0)


# ---- decoding: every way an image can arrive, every Pillow mode --------------------------------
def test_encoded_bytes_and_file_objects_decode_like_the_file(tmp_path):
    path = tmp_path / "d.png"
    draw_digit().save(path)
    want = load_gray(path)
    data = path.read_bytes()
    for source in (data, bytearray(data), memoryview(data), io.BytesIO(data)):
        assert np.array_equal(load_gray(source), want), type(source)
    with open(path, "rb") as f:                                          # a file object, not bytes
        assert np.array_equal(load_gray(f), want)
    for empty in (b"", io.BytesIO()):
        with pytest.raises(ImageError, match="^empty file$"):
            load_gray(empty)


def test_permission_denied_is_a_short_reason(tmp_path, monkeypatch):
    draw_digit().save(tmp_path / "d.png")                                # we are root: chmod would not stop us
    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(Image, "open", refuse)
    with pytest.raises(ImageError, match="^permission denied$"):
        load_gray(tmp_path / "d.png")


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA", "RGBa", "L-transparency"])
def test_every_alpha_mode_is_composited_on_white(mode):
    from ensemble.normalize import _to_gray
    rgba = draw_digit(mode="RGBA", ink=(0, 0, 0, 255), paper=(0, 0, 0, 0))   # black ink, no paper
    if mode == "PA":
        img = Image.merge("PA", (rgba.getchannel("R"), rgba.getchannel("A")))
        img.putpalette([0, 0, 0] * 256)
    elif mode == "L-transparency":
        img = Image.fromarray(np.where(np.asarray(rgba)[..., 3] > 127, 0, 7).astype(np.uint8))
        img.info["transparency"] = 7                                     # grey 7 is see-through
    else:
        img = rgba.convert(mode)
    g = _to_gray(img, 384)
    assert g.dtype == np.float32 and g.shape == (200, 200)
    assert g[0, 0] == 1.0 and g.min() == 0.0 and np.mean(g < 0.5) > 0.02   # white paper, black ink


def test_white_ink_on_a_transparent_canvas_becomes_dark_ink_from_its_opacity():
    from ensemble.normalize import _to_gray
    img = draw_digit(mode="RGBA", ink=(255, 255, 255, 255), paper=(255, 255, 255, 0))
    g = _to_gray(img, 384)
    assert g.dtype == np.float32
    assert np.array_equal(g, 1 - np.asarray(img, np.float32)[..., 3] / 255)


def test_integer_and_float_modes_scale_by_their_range():
    """16-bit by its bit depth (a dark 16-bit scan stays dark); 32-bit integers 0..255 as 8-bit,
    beyond that as 16-bit (clipped); floats 0..1 as they are, otherwise as 8-bit."""
    from ensemble.normalize import _to_gray
    ramp = np.arange(0, 256).reshape(16, 16)                             # int64: no overflow below
    u16 = np.uint16
    cases = [(Image.fromarray((ramp * 257).astype(u16)), ramp / 255),    # I;16, full range
             (Image.fromarray((ramp * 200 // 255).astype(u16)), ramp * 200 // 255 / 65535),   # I;16, dark
             (Image.fromarray(ramp.astype(np.int32), "I"), ramp / 255),  # I, 8-bit values
             (Image.fromarray(ramp.astype(np.int32) * 400, "I"), np.minimum(ramp * 400 / 65535, 1)),
             (Image.fromarray(ramp.astype(np.int32) + 1, "I"), (ramp + 1) / 65535),   # 256: past 8 bits
             (Image.fromarray(np.linspace(-0.5, 1, 256, dtype=np.float32).reshape(16, 16)),   # F, max 1:
              np.clip(np.linspace(-0.5, 1, 256), 0, 1).reshape(16, 16)),                     # unit range
             (Image.fromarray(ramp.astype(np.float32) / 255 * 1.5), ramp / 255 * 1.5 / 255)]   # max 1.5: 8-bit
    for img, want in cases:
        g = _to_gray(img, 384)
        assert g.dtype == np.float32 and g.shape == (16, 16)
        assert np.allclose(g, want, atol=1e-6), img.mode
    assert _to_gray(Image.fromarray((ramp * 257).astype(u16)), 384).max() == 1.0   # white is exactly 1


@pytest.mark.parametrize("mode", ["LAB", "HSV", "CMYK", "1"])
def test_colour_spaces_without_a_direct_route_still_decode(mode):
    from ensemble.normalize import _to_gray
    rgb = draw_digit().convert("RGB")
    img = rgb.convert(mode) if mode != "LAB" else Image.merge("LAB", (rgb.getchannel("R"),) + (Image.new("L", rgb.size, 128),) * 2)
    g = _to_gray(img, 384)
    assert g.dtype == np.float32 and g.shape == (200, 200)
    assert np.corrcoef(g.ravel(), np.asarray(draw_digit(), np.float32).ravel())[0, 1] > 0.9


# ---- a sheet on a table (crop_to_sheet), bold pens (_pen), exactly ----------------------------
def test_crop_to_sheet_keeps_the_largest_bright_region_less_a_margin():
    from ensemble.normalize import crop_to_sheet
    g = np.full((200, 240), 0.1, np.float32)                             # the table
    g[5:15, 5:15] = 0.95                                                 # a small card, first in raster order
    g[30:190, 40:220] = 0.9                                              # the sheet: 160 x 180
    m = round(0.02 * 240)                                                # margin off the sheet's edge
    out = crop_to_sheet(g)
    assert out.shape == (160 - 2 * m, 180 - 2 * m) and np.all(out == np.float32(0.9))
    small = np.full((60, 60), 0.1, np.float32)
    small[4:56, 5:55] = 0.9                                              # a small photo: 1 px margin
    assert crop_to_sheet(small).shape == (52 - 2, 50 - 2)


@pytest.mark.parametrize("transpose", [False, True])
def test_crop_to_sheet_leaves_images_without_a_usable_sheet_alone(transpose):
    from ensemble.normalize import crop_to_sheet
    small = np.full((200, 240), 0.1, np.float32)
    small[60:100, 60:140] = 0.9                                          # a bright card: 7 % of the picture
    strip = np.full((30, 300), 0.1, np.float32)
    strip[6:24, 20:280] = 0.9                                            # a sheet 18 px high: 6 px left after margins
    for g in (small, strip):
        g = g.T.copy() if transpose else g
        assert crop_to_sheet(g) is g


def test_pen_keeps_a_bold_blob_round_and_its_box_tight():
    """A bold digit whose loops closed is a blob: eroded, it stays a round blob (the erosion's
    footprint is a disc), centred in the returned box."""
    from ensemble.normalize import _pen
    yy, xx = np.mgrid[:60, :60] - 29.5
    disc = (yy ** 2 + xx ** 2 <= 28 ** 2).astype(np.float32)            # 56 px across: far too bold
    ink = _pen(disc)
    h, w = ink.shape
    assert abs(h - w) <= 1 and 0.6 < (ink >= 0.5).mean() < 0.9          # a disc fills pi/4 of its box
    assert np.abs(ink - ink.T).max() < 0.05 and np.abs(ink - ink[::-1, ::-1]).max() < 0.05   # round, centred
    assert ink[0].any() and ink[-1].any() and ink[:, 0].any() and ink[:, -1].any()            # tight box


@pytest.mark.parametrize("width", [3, 7, 11])
def test_stroke_width_of_a_stroke_that_fills_its_crop_across(width):
    """A straight 1 cropped to its ink fills the crop's width: it is measured across (width px),
    not along its length to the background above and below (which made it "very bold")."""
    from ensemble.normalize import _stroke_width
    mask = np.zeros((80, width), bool)
    mask[4:76] = True                                                    # a vertical bar, 72 px long
    assert abs(_stroke_width(mask) - width) <= 1


def test_pen_leaves_a_straight_one_alone():
    """Its pen is MNIST-like once measured across: no erosion, no redrawing."""
    from ensemble.normalize import _pen
    crop = np.zeros((80, 8), np.float32)
    crop[2:78] = 1.0                                                     # 8 px wide in an 80 px crop: 2 px at 20 px
    assert _pen(crop) is crop


def test_pen_keeps_a_bold_stroke_whole_where_it_narrows():
    """The erosion alone would cut a bold stroke where the pen was lighter; its centre line,
    redrawn there with the THIN_STROKE pen (12 px at 4x), keeps it whole."""
    from ensemble.normalize import THIN_STROKE, _pen
    crop = np.zeros((30, 100), np.float32)
    crop[3:27] = 1.0                                                     # a 24 px bar (4.8 px of 20) ...
    crop[3:12, 45:55] = crop[18:27, 45:55] = 0                           # ... pinched to 6 px in the middle
    ink = _pen(crop)
    assert ndi.label(ink >= 0.5)[1] == 1                                 # one piece
    mid = ink[:, ink.shape[1] // 2]
    assert 4 * THIN_STROKE - 2 <= (mid >= 0.5).sum() <= 4 * THIN_STROKE + 2   # the new pen's width there


def test_pen_keeps_a_vertical_bold_stroke_whole_where_it_narrows():
    """The same across the other axis: the cut is bridged from the piece above to the one below."""
    from ensemble.normalize import _pen
    crop = np.zeros((100, 30), np.float32)
    crop[:, 5:25] = 1.0                                                  # a 20 px upright bar ...
    crop[45:55, 5:12] = crop[45:55, 18:25] = 0                           # ... pinched to 6 px
    assert ndi.label(_pen(crop) >= 0.5)[1] == 1


def test_pen_keeps_a_slanted_bold_stroke_whole_where_it_narrows():
    """A slanted stroke's centre line is a diagonal chain of pixels: it bridges the cut too."""
    from ensemble.normalize import MAX_STROKE, _pen, _stroke_width
    yy, xx = np.mgrid[:110, :110]
    crop = (np.abs(yy - xx) <= 20).astype(np.float32)                    # a 45-degree bar, ~28 px across
    crop[(np.abs(yy - xx) > 3) & (np.abs(yy + xx - 110) < 6)] = 0        # pinched to ~4 px mid-way
    h, w = crop.shape                                                    # measured as _pen does: at 4x the 20 px box
    work = np.asarray(Image.fromarray(crop).resize((80 * w // max(h, w), 80 * h // max(h, w)), Image.LANCZOS))
    assert _stroke_width(work > 0.5) / 4 > MAX_STROKE                    # the bold branch, not a no-op
    assert ndi.label(_pen(crop) >= 0.5, structure=np.ones((3, 3)))[1] == 1


def test_pen_keeps_a_bold_loop_closed_where_it_narrows():
    """A bold 0 whose ring is thinner on one side: the erosion cuts the ring once, so both ends
    of the cut belong to the same kept piece. Its centre line is redrawn there: still a 0."""
    from ensemble.normalize import _pen
    yy, xx = np.mgrid[:100, :100] - 49.5
    r = np.hypot(yy, xx)
    ring = ((r >= 20) & (r <= 48)).astype(np.float32)                   # a 28 px pen
    ring[(np.abs(yy) < 5) & (xx > 0) & (np.abs(r - 34) > 3)] = 0         # 6 px on the right
    ink = _pen(ring)
    assert ndi.label(np.pad(ink < 0.5, 1))[1] == 2                       # outside + one hole


def test_pen_keeps_a_light_stem_under_a_bold_bar():
    """A 7 written with a heavy bar and a light stem: the erosion removes the stem whole, its
    centre line (longer than any spur) is redrawn."""
    from ensemble.normalize import _pen
    crop = np.zeros((100, 80), np.float32)
    crop[:30] = 1.0                                                      # the bar, 30 px
    crop[30:, 60:66] = 1.0                                               # the stem, 6 px
    ink = _pen(crop)
    assert ink.shape[0] > ink.shape[1]                                   # tall as the 7, not just the bar
    assert (ink[-10:] >= 0.5).any()                                      # the stem reaches the bottom


def test_lost_strokes_redraws_cuts_loops_lone_strokes_and_tails_but_not_spurs():
    """_lost_strokes on hand-made centre lines (rows of pixels) and kept ink (boxes)."""
    from ensemble.normalize import _lost_strokes
    centre = np.zeros((40, 100), bool)
    centre[20, 5:95] = True                                              # one straight centre line
    kept = np.zeros_like(centre)
    kept[16:25, 20:80] = True                                            # a bar: 15 px stick out each side
    assert not _lost_strokes(centre, kept, spur=20).any()                # spurs: left out
    assert not _lost_strokes(centre & (np.arange(100) >= 20), kept, spur=20).any()   # a lone spur too
    assert _lost_strokes(centre, kept, spur=10).sum() == 30              # tails: both redrawn
    cut = kept.copy()
    cut[:, 45:55] = False                                                # the bar cut in two
    lost = _lost_strokes(centre, cut, spur=100)
    assert lost[20, 45:55].all() and lost.sum() == 10                    # only the bridge
    nick = kept.copy()
    nick[:, 50] = False                                                  # cut by 1 px: one contact, two pieces
    assert _lost_strokes(centre, nick, spur=100)[20, 50]
    assert _lost_strokes(centre, np.zeros_like(centre), spur=1000).sum() == 90   # nothing kept: all of it
    ring = np.zeros((80, 80), bool)
    yy, xx = np.mgrid[:80, :80] - 40
    ring[np.abs(np.hypot(yy, xx) - 30) < 0.7] = True                     # a 1 px loop
    thick = (np.abs(np.hypot(yy, xx) - 30) < 6) & ~((xx > 0) & (np.abs(yy) < 4))   # cut once, on the right
    lost = _lost_strokes(ring, thick, spur=1000)
    assert lost.any() and not lost[:, :40].any()                         # the arc across the cut, only
    lone = np.zeros((40, 100), bool)
    lone[5, 10:20] = True                                                # a short stroke far from the bar
    assert _lost_strokes(centre | lone, kept, spur=20)[5, 10:20].all()   # gone whole: redrawn


def test_pen_erodes_a_bold_blob_without_drawing_its_centre_line_spurs():
    """A blob (a bold 8 whose loops closed, here a filled rectangle) is only eroded: a symmetric
    blob stays exactly symmetric (erosion plus the whole centre line, the old rule, is not: the
    thinning's centre line is lopsided). Spurs themselves: the _lost_strokes test."""
    from ensemble.normalize import _pen
    crop = np.zeros((70, 110), np.float32)
    crop[5:65, 5:105] = 1.0
    ink = _pen(crop)
    assert np.abs(ink - ink[::-1]).max() < 0.01 and np.abs(ink - ink[:, ::-1]).max() < 0.01
    assert ink.shape[0] < ink.shape[1] / 2                               # still a bar, thinned


def test_pen_thickens_a_hairline_ring_evenly():
    from ensemble.normalize import _pen
    yy, xx = np.mgrid[:100, :100] - 49.5
    ring = (np.abs(np.hypot(yy, xx) - 40) < 0.6).astype(np.float32)     # a 1 px circle: an "0" in hairline
    ink = _pen(ring)
    assert np.abs(ink - ink.T).max() < 0.05 and np.abs(ink - ink[::-1, ::-1]).max() < 0.05   # evenly, all round
    assert ndi.label(ink >= 0.5)[1] == 1 and ndi.label(ink < 0.5)[1] == 2   # still a closed ring


# ---- shadows vs bold strokes (_is_shadow, ink_map), exactly ---------------------------------
def shadow_case(side, rim_paper, rows=slice(0, 20), cols=slice(40, 60)):
    """Region 1 (where only the wide window sees ink) in a 100x100 map, on edge `side` (0..3,
    by rotation); the narrow window's paper around it is `rim_paper`, the wide one's is 1."""
    labels = np.zeros((100, 100), np.int32)
    labels[rows, cols] = 1
    paper = np.ones((100, 100), np.float32)
    paper[ndi.binary_dilation(labels == 1, iterations=2) & (labels != 1)] = rim_paper
    labels, paper = np.rot90(labels, side).copy(), np.rot90(paper, side).copy()
    return labels, ndi.find_objects(labels)[0], paper, np.ones((100, 100), np.float32)


@pytest.mark.parametrize("side", range(4))
def test_is_shadow_small_region_at_the_border(side):
    """A small region coming in from any edge: a shadow if the paper around it is in shade too,
    a bold stroke leaving the picture if the paper around it is bright."""
    from ensemble.normalize import _is_shadow
    labels, box, paper, wide = shadow_case(side, rim_paper=0.7)          # 30 % darker around it
    assert _is_shadow(labels, 1, box, paper, wide, cut=0.3)
    labels, box, paper, wide = shadow_case(side, rim_paper=1.0)          # bright paper around it
    assert not _is_shadow(labels, 1, box, paper, wide, cut=0.3)


def test_is_shadow_large_border_region_or_inner_region():
    from ensemble.normalize import _is_shadow
    labels, box, paper, wide = shadow_case(0, rim_paper=1.0, rows=slice(0, 60), cols=slice(0, 60))
    assert _is_shadow(labels, 1, box, paper, wide, cut=0.3)              # 36 % of the picture: a shadow
    labels, box, paper, wide = shadow_case(0, rim_paper=0.7, rows=slice(40, 60), cols=slice(40, 60))
    assert not _is_shadow(labels, 1, box, paper, wide, cut=0.3)          # off the border: a stroke


def test_ink_map_contrast_is_relative_to_the_paper_and_ignores_a_hard_shadow():
    """Black ink on white paper is contrast 1 and the paper 0, in either polarity. On a full
    page (not an upscaled thumbnail, the default, as ensemble.numbers uses it) the edge of a
    hard shadow is not ink; taking the wide window's paper everywhere would make it ink."""
    from ensemble.normalize import ink_map
    page = np.asarray(draw_digit(), np.float32) / 255                   # (200, 200) black on white
    far = ndi.distance_transform_edt(page > 0.99) > 3                   # paper, off the strokes' blur
    for g in (page, 1 - page):
        ink = ink_map(g)
        assert ink.max() > 0.95 and ink[far].max() < 0.01
    shadow = page.copy()
    yy, xx = np.mgrid[:200, :200]
    in_shadow = xx + yy < 150
    shadow[in_shadow] *= 0.4                                            # a phone's hard-edged shadow
    paper_in_shade = in_shadow & (ndi.distance_transform_edt(page > 0.99) > 10)
    assert np.mean(ink_map(shadow)[paper_in_shade] > 0.1) < 0.05      # (a corner where it meets the frame)
    assert np.mean(ink_map(shadow, upscaled=True)[paper_in_shade] > 0.1) > 0.15   # (what this guards)


@pytest.mark.parametrize("dark", [True, False])
def test_polarity_where_the_border_is_undecided(dark):
    """Paper lit half dim, half bright, the dim half covering most of the border: the border's
    median lies mid-range, so the heavier tail against the local paper says which is ink."""
    from ensemble.normalize import _dark_ink
    page = np.asarray(draw_digit(box=(40, 40, 170, 170), width=10), np.float32) / 255   # black on white
    paper = np.where(np.arange(200) < 120, 0.3, 0.9).astype(np.float32)                  # (W,) light
    g = page * paper if dark else 1 - page * paper                       # ink 0 (dark) or 1 (light)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    lo, hi = np.quantile(g, [0.01, 0.99])
    assert abs(np.median(border) - (lo + hi) / 2) <= 0.25 * (hi - lo)   # (the border cannot tell)
    assert _dark_ink(g) == dark


@pytest.mark.parametrize("turn", range(4))
def test_lopsided_digit_is_pushed_partly_off_the_field_as_in_mnist(turn):
    """A heavy base under a thin stem: centring its mass on (14, 14) pushes the box past the
    field's edge; the part that fits is pasted, on whichever side it happens."""
    img = Image.new("L", (200, 200), 0)
    d = ImageDraw.Draw(img)
    d.rectangle((50, 150, 150, 190), fill=255)                           # heavy base
    d.rectangle((94, 10, 106, 150), fill=255)                            # thin stem
    out = normalize_digit(np.rot90(np.asarray(img), turn).copy())
    cy, cx = ndi.center_of_mass(out.astype(float))
    assert np.hypot(cy - 14, cx - 14) <= 0.5
    edge = [out[0], out[:, 0], out[-1], out[:, -1]][turn]                # the stem's end is cut off there
    assert edge.max() > 200


def test_out_of_range_floats_are_clipped_before_the_mnist_shortcut():
    img = np.asarray(draw_digit(28, (6, 4, 22, 24), width=2, ink=255, paper=0))   # MNIST-style bytes
    wild = img.astype(np.float32) / 255 * 2 - 0.5                        # -0.5 .. 1.5
    assert np.array_equal(normalize_digit(wild), np.rint(np.clip(wild, 0, 1) * 255).astype(np.uint8))


def test_one_pixel_strip_is_an_image_and_float_input_is_clipped():
    with pytest.raises(ImageError, match="blank"):                      # a blank image, not a bad shape
        normalize_digit(np.zeros((1, 5), np.float32))
    g = 1 - np.asarray(draw_digit(), np.float32) / 255                   # light on dark, floats
    wild = g * 2 - 0.5                                                   # -0.5 .. 1.5: out of range
    assert np.array_equal(normalize_digit(wild), normalize_digit(np.clip(wild, 0, 1)))


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("end", ["top", "bottom"])
def test_is_mnist_style_counts_every_frame_pixel(side, end):
    """11 bright pixels on a side column (over 10 % of the 108 frame pixels): not MNIST-style,
    including the column's pixels next to the corners."""
    from ensemble.normalize import is_mnist_style
    g = np.zeros((28, 28), np.float32)
    g[8:20, 12:16] = 1.0
    col = 0 if side == "left" else -1
    rows = slice(1, 12) if end == "top" else slice(16, 27)
    g[rows, col] = 1.0
    assert not is_mnist_style(g)


# ---- what the second mutation run left open (issue 17): draft decoding, warnings, sampling, sheets
def test_large_jpeg_is_decoded_in_grey_at_the_smallest_scale_that_holds_the_working_size(monkeypatch):
    """libjpeg's draft mode: a 1600x1200 colour photo is decoded as grey at 1/4 scale (400x300,
    the smallest of 1/1, 1/2, 1/4, 1/8 that still holds 384x288; 1/8 would be too small), and
    only then reduced: the same picture as a full decode, at a sixteenth of the pixels."""
    import ensemble.normalize as N
    img = draw_digit(size=1600, box=(500, 300, 1100, 1400), width=90).resize((1600, 1200)).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    decoded = []                                                         # (mode, size) handed on
    to_gray = N._to_gray
    monkeypatch.setattr(N, "_to_gray", lambda im, side: (decoded.append((im.mode, im.size)), to_gray(im, side))[1])
    g = load_gray(buf.getvalue())
    assert decoded == [("L", (400, 300))]
    assert g.shape == (288, 384)
    full = Image.open(io.BytesIO(buf.getvalue())).convert("L")
    full.thumbnail((384, 384), Image.Resampling.LANCZOS)
    assert np.abs(g - np.asarray(full, np.float32) / 255).mean() < 0.005


def test_a_warning_other_than_a_decompression_bomb_does_not_refuse_the_image():
    """A JPEG whose EXIF block was cut short (some phones and editors write such): Pillow warns
    ('Truncated File Read') and reads the pixels; so do we, rather than calling it corrupt."""
    exif = Image.Exif()
    exif[0x010E] = "a scanned digit, described at some length"          # stored past the IFD ...
    img = draw_digit()
    good, bad = io.BytesIO(), io.BytesIO()
    img.save(good, "JPEG", quality=95)
    img.save(bad, "JPEG", quality=95, exif=exif.tobytes()[:-20])        # ... and cut short
    with pytest.warns(UserWarning):
        g = load_gray(bad.getvalue())
    assert np.array_equal(g, load_gray(good.getvalue()))


@pytest.mark.parametrize("shape", [(100, 100), (128, 128), (256, 256), (300, 200), (1000, 700), (2000, 3000)])
def test_sample_is_the_coarsest_regular_grid_with_at_least_n_pixels(shape):
    from ensemble.normalize import sample
    a = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    s = sample(a)
    k = int(s[0, 1] - s[0, 0])                                           # the step
    assert np.array_equal(s, a[::k, ::k])                                # regular, from the corner
    n = 16384
    assert a.size / k ** 2 >= min(n, a.size)                             # enough for a quantile ...
    assert a.size / (k + 1) ** 2 < n                                     # ... and no more than needed
    few = sample(a, 100)                                                 # another n: its own step
    k = max(1, int(np.sqrt(a.size / 100)))
    assert np.array_equal(few, a[::k, ::k])


# ---- a sheet on a table, near its limits
def test_crop_to_sheet_of_a_small_photo_with_a_one_pixel_rim_of_table():
    from ensemble.normalize import crop_to_sheet
    g = np.full((40, 40), 0.1, np.float32)
    g[1:-1, 1:-1] = 0.9                                                  # the table shows 1 px all round
    assert crop_to_sheet(g).shape == (36, 36)                            # the sheet, less 1 px each side


def test_crop_to_sheet_leaves_a_scan_with_a_dark_edge_line_alone():
    """A flat-bed scan: the sheet fills the picture but its outermost pixel row is the scanner's
    dark edge. The border strip (3 % of the side) is mostly paper, so there is no table to cut."""
    from ensemble.normalize import crop_to_sheet
    g = np.full((200, 240), 0.9, np.float32)
    g[0] = g[-1] = g[:, 0] = g[:, -1] = 0.1
    assert crop_to_sheet(g) is g


def test_crop_to_sheet_is_just_the_sheet_beside_a_grey_object_on_the_table():
    """A grey thing (a phone, a pen) on the table next to the sheet: darker than halfway between
    table and sheet, so it is not part of the sheet."""
    from ensemble.normalize import crop_to_sheet
    g = np.full((200, 240), 0.1, np.float32)
    g[30:190, 40:220] = 0.9
    g[60:120, 5:40] = 0.4                                                # touches the sheet's left edge
    m = round(0.02 * 240)
    assert crop_to_sheet(g).shape == (160 - 2 * m, 180 - 2 * m)


def test_crop_to_sheet_leaves_several_small_cards_alone():
    """Six cards on a table, covering most of it, none 20 % of the picture: which one holds the
    digit cannot be told, so nothing is cropped."""
    from ensemble.normalize import crop_to_sheet
    g = np.full((200, 240), 0.1, np.float32)
    for y in (8, 104):
        for x in (8, 86, 164):
            g[y:y + 88, x:x + 70] = 0.9                                  # 13 % each, 77 % together
    assert crop_to_sheet(g) is g


def test_crop_to_sheet_keeps_a_narrow_sheet_of_exactly_8_px_after_its_margins():
    from ensemble.normalize import crop_to_sheet
    strip = np.full((30, 300), 0.1, np.float32)
    strip[5:25, 20:280] = 0.9                                            # 20 px high, 6 px margins
    assert crop_to_sheet(strip).shape == (8, 248)                        # (6 px would be refused)


def test_upscale_small_margin_is_the_paper_of_the_outermost_pixels():
    """A tiny '0' whose ring runs one pixel inside the frame, on paper lit unevenly: the margin
    added around it is the median of the frame itself, not of the ring just inside it."""
    from ensemble.normalize import _upscale_small
    g = np.random.default_rng(0).uniform(0.5, 1.0, (10, 8)).astype(np.float32)   # paper, unevenly lit
    g[1:-1, 1:-1] = 0.0                                                  # the ring of ink ...
    g[3:-3, 3:-3] = 0.8                                                  # ... round its paper hole
    frame = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    big = _upscale_small(g)
    assert big[0, 0] == np.float32(np.median(frame))


@pytest.mark.parametrize("side", range(4))
def test_is_shadow_counts_all_of_a_region_just_over_30_percent(side):
    """A region touching any edge with 30.1 % of the picture is a shadow even with bright paper
    around it: all of it counts, its first and last rows and columns included."""
    from ensemble.normalize import _is_shadow
    labels, box, paper, wide = shadow_case(side, rim_paper=1.0, rows=slice(0, 43), cols=slice(30, 100))
    assert (labels == 1).sum() == 3010
    assert _is_shadow(labels, 1, box, paper, wide, cut=0.3)


@pytest.mark.parametrize("size, thick", [(100, 1), (100, 3), (40, 1), (40, 2), (20, 1)])
@pytest.mark.parametrize("slant", [False, True])
def test_pen_brings_a_hairline_to_the_target_width_in_every_direction(size, thick, slant):
    """Hairlines (0.2 to 1 px in the final 20 px box), level or at 45 degrees, grow to about
    TARGET_STROKE (2 px; the measure moves in steps of 1/4 px, and a slant reads thinner),
    well inside MNIST's 1.55-3.66; the pen stays an intensity in [0, 1] (Lanczos, enlarging
    a small crop 4x, overshoots past 1 and below 0 beside a stroke)."""
    from ensemble.normalize import TARGET_STROKE, _pen, _stroke_width
    crop = np.zeros((size, size), np.float32)
    for i in range(size // 10, size - size // 10):
        if slant:
            crop[i, i:i + thick] = 1.0
        else:
            crop[size // 2:size // 2 + thick, i] = 1.0
    ink = _pen(crop)
    assert 0 <= ink.min() and ink.max() <= 1
    assert abs(_stroke_width(ink > 0.5) / 4 - TARGET_STROKE) <= 0.5


@pytest.mark.parametrize("width", [30, 40])
@pytest.mark.parametrize("ink, paper", [(1.0, 0.6), (0.0, 0.4)])
def test_polarity_of_a_bold_digit_on_grey_card(ink, paper, width):
    """White ink on a mid-grey card, or black ink on a dark-grey one, the digit covering much of
    the card: the card's border decides, as it lies at the paper's end of the (short) grey range.
    (The fallback for undecided borders gets some of these wrong: its median of the
    neighbourhood is partly ink.)"""
    from ensemble.normalize import _dark_ink
    img = np.asarray(draw_digit(size=160, box=(10, 5, 150, 155), width=width, ink=255, paper=0), np.float32) / 255
    g = paper + (ink - paper) * img                                      # (160, 160)
    assert _dark_ink(g) == (ink < paper)


@pytest.mark.parametrize("side, pen, least", [(64, 1, 0.9), (384, 3, 0.8)])
def test_ink_map_denoising_blur_keeps_a_fine_pen(side, pen, least):
    """The blur against noise and JPEG ringing is sized to the page (side / 200 px, at most 1 px):
    a 1 px line on a 64 px thumbnail, or a 3 px pen on a page of load_gray's working size
    (384 px), still reads as (nearly) full-contrast ink."""
    from ensemble.normalize import ink_map
    g = np.ones((side, side), np.float32)
    g[side // 2:side // 2 + pen, side // 8:-side // 8] = 0.0             # black line on white
    ink = ink_map(g)[side // 2:side // 2 + pen, side // 8 + 2:-side // 8 - 2].max(0)   # along the line
    assert np.median(ink) >= least


@pytest.mark.parametrize("paper, ink", [(0.4, 0.0), (0.3, 0.1), (0.5, 0.25)])
def test_bold_digit_on_dim_paper_reads_as_on_white(paper, ink):
    """Contrast is relative to the paper's brightness: a bold digit (strokes wider than the
    narrow paper window) photographed in dim light, or in low contrast, normalizes to the same
    28x28 as black on white."""
    page = np.asarray(draw_digit(width=40), np.float32) / 255           # black on white, 0..1
    clean = normalize_digit(page)
    out = normalize_digit(ink + (paper - ink) * page)
    assert np.corrcoef(out.ravel(), clean.ravel())[0, 1] > 0.99


def test_digit_crop_is_not_misled_by_a_large_faint_stain():
    """A faint stain (a remnant of shading, 0.15) over 60 % of the map with a small digit beside
    it: Otsu's cut alone would fall inside the stain (the digit is too few pixels to pull it up)
    and take the stain for the digit; a cut never below a fifth of the peak ignores it."""
    from ensemble.normalize import _digit_crop
    ink = np.zeros((200, 200), np.float32)
    ink[:, :120] = 0.15                                                  # the stain, off the digit
    ink[140:180, 150:154] = ink[140:144, 150:180] = 1.0                  # an 'L', 40 x 30, 4 px pen
    assert crop_size_ok(_digit_crop(ink, 0), 40, 30)


@pytest.mark.parametrize("e", [0, 1, 2, 5, 9, 16])
def test_erode_disk_is_grey_erosion_by_the_disk(e):
    from ensemble.normalize import erode_disk
    rng = np.random.default_rng(e)
    for h, w in [(e + 1, 40), (33, e + 1), (50, 47), (17, 90)]:   # down to a disk as wide as the image
        # (wider than the image, scipy's erosion varies from call to call: nothing to compare)
        a = ndi.gaussian_filter(rng.random((h, w)), 1.5).astype(np.float32)
        yy, xx = np.mgrid[-e:e + 1, -e:e + 1]
        want = ndi.grey_erosion(a, footprint=yy ** 2 + xx ** 2 <= e * e)
        got = erode_disk(a, e)
        assert got.dtype == a.dtype and np.array_equal(got, want), (h, w)


def test_fit_and_centre_is_mnists_last_step_exactly():
    """The last step, as MNIST made its digits: the longest side fitted into 20 px with Lanczos
    (aspect kept), the centre of mass moved to the field's centre (14, 14), rounded to uint8."""
    from ensemble.normalize import _fit_and_centre, _pen
    yy, xx = np.mgrid[:90, :60]
    crop = ((np.hypot((yy - 45) / 40, (xx - 30) / 26) - 0.8) ** 2 < 0.02).astype(np.float32)    # a 0's ring, ~2 px at 20
    crop = ndi.gaussian_filter(crop, 1.0)
    crop /= crop.max()
    assert _pen(crop) is crop                                            # an MNIST pen: no pen step
    small = np.asarray(Image.fromarray(crop).resize((13, 20), Image.Resampling.LANCZOS)).clip(0, 1)   # (20, 13)
    cy, cx = ndi.center_of_mass(small)
    oy, ox = int(round(14 - cy)), int(round(14 - cx))
    want = np.zeros((28, 28), np.float32)
    want[oy:oy + 20, ox:ox + 13] = small
    assert np.array_equal(_fit_and_centre(crop), np.rint(want * 255).astype(np.uint8))


@pytest.mark.parametrize("ink", [0, 255])
def test_polarity_of_a_small_digit_on_a_large_unevenly_lit_page(ink):
    """A lone digit photographed from afar: ~70 ink pixels of 49,000 at the first look, near the
    bright edge of a page whose light falls off by half. Every sampled quantile of the page is
    paper and noise; the digit's strokes are still its most extreme pixels, which decide."""
    from ensemble.normalize import _dark_ink
    rng = np.random.default_rng(5)
    page = np.asarray(draw_digit(size=256, box=(200, 4, 212, 16), width=2, ink=ink, paper=255 - ink))
    g = np.asarray(page, np.float32) / 255
    yy = np.mgrid[:256, :256][0] / 255
    light = 0.95 - 0.45 * yy                                             # bright top, dark bottom
    x = g * light if ink == 0 else 1 - (1 - g) * light                   # light ink: the dark-ink page's negative
    x = np.clip(x + rng.normal(0, 0.01, x.shape), 0, 1).astype(np.float32)[:192]     # (192, 256)
    assert _dark_ink(x) == (ink == 0)


# ---- blank paper the caller did not build (segment.py's candidates) --------------------------
def _ink_on_a_patch(rng, h=40, w=34, noise=0.02):
    """A '4' as an ink map (light on dark) with faint noise and a speck, blank 8 px and more
    inside its border (what `normalize_ink(..., paper=...)` asks of its map)."""
    g = np.asarray(draw_digit(100, box=(30, 20, 64, 80), width=6).resize((w - 16, h - 16)), np.float32)
    ink = np.zeros((h, w), np.float32)
    ink[8:-8, 8:-8] = np.clip(1 - g / 255 + np.abs(rng.normal(0, noise, g.shape)), 0, 1)
    ink[9, 9] = 0.6                                                      # a speck near the corner
    return ink


@pytest.mark.parametrize("paper", [1, 7, 30, 120, 200])
def test_normalize_ink_counts_the_paper_it_was_not_given(paper):
    """normalize_ink(ink, paper=P) is normalize_ink(np.pad(ink, P)), byte for byte: the noise and
    Otsu's cut are measured against the whole page's paper (P = 120, 200: pages big enough that
    `sample` takes every 2nd and every 3rd pixel, built then). Paper matters: its many zeros
    lower both."""
    from ensemble.normalize import normalize_ink
    rng = np.random.default_rng(paper)
    for k in range(4):
        ink = _ink_on_a_patch(rng, noise=0.01 + 0.03 * k)
        want = normalize_ink(np.pad(ink, paper))
        assert np.array_equal(normalize_ink(ink, paper=paper), want)
        assert np.array_equal(normalize_ink(ink), normalize_ink(ink, paper=0))


def test_paper_changes_what_normalize_ink_keeps():
    """The counted paper is no formality: with no paper around it, the noise of this map sets a
    cut that keeps less of the digit than on its page. A faint noisy digit filling its map but
    for the 4 px its blur needs: only the page's zeros bring the noise median down to the paper's."""
    from ensemble.normalize import normalize_ink
    ink = _ink_on_a_patch(np.random.default_rng(5), noise=0.05)
    assert not np.array_equal(normalize_ink(ink), normalize_ink(ink, paper=30))
    g = np.asarray(draw_digit(100, box=(30, 20, 64, 80), width=6).resize((26, 32)), np.float32)
    faint = np.zeros((40, 34), np.float32)
    faint[4:-4, 4:-4] = np.clip(0.3 * (1 - g / 255) + np.abs(np.random.default_rng(2).normal(0, 0.1, g.shape)), 0, 1)
    on_page = normalize_ink(faint, paper=30)
    assert np.array_equal(on_page, normalize_ink(np.pad(faint, 30)))
    assert not np.array_equal(on_page, normalize_ink(faint))


def test_median_and_otsu_count_zeros_they_were_not_given():
    from ensemble.normalize import _median, otsu
    rng = np.random.default_rng(0)
    for n, zeros in [(1, 1), (2, 1), (5, 0), (6, 3), (7, 6), (7, 7), (8, 9), (9, 30), (100, 101), (101, 100)]:
        v = (rng.random(n) * (rng.random(n) > 0.3)).astype(np.float32)
        full = np.concatenate([v, np.zeros(zeros, np.float32)])
        assert _median(v, zeros) == float(np.median(full)), (n, zeros)
        assert otsu(v, zeros=zeros) == otsu(full), (n, zeros)
    two = np.array([0.5, 1.0], np.float32)                              # one more zero moves the cut
    assert otsu(two) == otsu(two, zeros=0) != otsu(two, zeros=1)


def _png_turned_after_its_pixels(img: Image.Image) -> bytes:
    """A PNG whose orientation (6: turned 90 degrees) only follows its pixels: XMP in an iTXt
    chunk before IEND (the last 12 bytes), after an EXIF chunk that does not say it."""
    import struct
    import zlib
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')
    body = b"iTXt" + b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp.encode()
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    exif = Image.Exif()
    exif[0x010E] = "a digit"                                               # ImageDescription
    buf = io.BytesIO()
    img.save(buf, "PNG", exif=exif.tobytes())
    return buf.getvalue()[:-12] + chunk + buf.getvalue()[-12:]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_load_gray_with_size_gives_the_source_size_as_oriented(fmt):
    """The size before any reduction, turned by the EXIF orientation as the pixels are
    (segment.py's boxes are in the source's pixels), from a path, bytes or a file object; the
    pixels are load_gray's own."""
    img = Image.fromarray((np.random.default_rng(0).random((500, 800)) * 255).astype(np.uint8))
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        buf = io.BytesIO()
        img.save(buf, fmt, exif=exif.tobytes())
        turned = orientation in (5, 6, 7, 8)
        for source in (buf.getvalue(), io.BytesIO(buf.getvalue())):
            gray, size = load_gray(source, max_side=100, with_size=True)
            assert size == ((800, 500) if turned else (500, 800))
            assert max(gray.shape) == 100 and (gray.shape[0] > gray.shape[1]) == turned
            assert np.array_equal(gray, load_gray(buf.getvalue(), max_side=100))


def test_load_gray_with_size_follows_an_orientation_after_the_pixels():
    """A PNG may say how it is turned only after its pixels: Pillow finds that once it has
    decoded them, and the size must be turned as the pixels are."""
    data = _png_turned_after_its_pixels(Image.fromarray(np.full((50, 80), 200, np.uint8)))
    gray, size = load_gray(data, with_size=True)
    assert gray.shape == size == (80, 50)
    assert np.array_equal(gray, load_gray(data))


def lit_plane(h: int, w: int, gy: float, gx: float) -> np.ndarray:
    """Paper lit unevenly: brightness 0.6 in the middle, rising by gy per row and gx per column
    (float32 (h, w))."""
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    return (0.6 + gy * (yy - h / 2) + gx * (xx - w / 2)).astype(np.float32)


@pytest.mark.parametrize("gy,gx", [(0.0, 0.002), (0.0, -0.002), (0.0015, 0.0), (-0.0015, 0.0), (0.001, -0.0012)])
def test_side_light_puts_the_closing_of_a_lit_page_right_along_its_sides(gy, gx):
    """A grey closing's window is cut short at the image's sides: on paper whose light falls
    towards a side, the closing there is the brighter paper from further in (the glow that read
    a page's darker side as ink). Knowing the light's slope, side_light gives the paper back
    exactly, and light_slope finds that slope under strokes bolder than the window."""
    from ensemble.morph import grey_closing
    from ensemble.normalize import light_slope, side_light
    x = lit_plane(180, 240, gy, gx)
    size = 37
    closing = grey_closing(x, size)
    assert np.abs(closing - x).max() > 0.015                              # the bug it puts right
    assert np.abs(side_light(closing, size // 2, (gy, gx, 0.6)) - x).max() < 1e-5
    bold = x.copy()
    bold[60:110, 40:100] -= 0.4                                          # a stroke 50 px wide
    bold[20:30, 150:230] -= 0.4                                          # (10 px: the closing erases it)
    fy, fx, level = light_slope(grey_closing(bold, size), size // 2)
    assert abs(fy - gy) < 5e-5 and abs(fx - gx) < 5e-5 and abs(level - 0.6) < 0.005


def test_side_light_leaves_an_evenly_lit_page_alone():
    """Light that changes by less than 1 % of the paper's level over the window's reach is no light's
    slope to put right: the closing is returned as it is (a flat page, a noisy one)."""
    from ensemble.morph import grey_closing
    from ensemble.normalize import light_slope, side_light
    closing = grey_closing(lit_plane(100, 100, 0.0, 0.00002), 15)
    assert side_light(closing, 7, light_slope(closing, 7)) is closing
    rng = np.random.default_rng(0)
    noisy = grey_closing(np.clip(0.8 + rng.normal(0, 0.03, (120, 90)), 0, 1).astype(np.float32), 15)
    assert side_light(noisy, 7, light_slope(noisy, 7)) is noisy
    lit = grey_closing(lit_plane(100, 100, 0.0, 0.002), 15)
    assert side_light(lit, 7, light_slope(lit, 7)) is not lit


def test_side_light_with_a_window_past_the_far_side():
    """A window wider than the page (the wide window on a strip): the closing is the far side's
    paper all across, and side_light still gives the paper back exactly."""
    from ensemble.morph import grey_closing
    from ensemble.normalize import side_light
    for gy, gx in ((0.003, 0.0), (-0.003, 0.0002)):
        x = lit_plane(30, 200, gy, gx)
        closing = grey_closing(x, 101)                                   # reaches 50 px: past the 30 rows
        assert np.abs(side_light(closing, 50, (gy, gx, 0.6)) - x).max() < 1e-5
    x = lit_plane(40, 60, 0.01, -0.01)                                   # the smallest window: 3 px, r = 1
    assert np.abs(side_light(grey_closing(x, 3), 1, (0.01, -0.01, 0.6)) - x).max() < 1e-5


def test_light_slope_needs_three_rows_and_columns_where_the_window_is_whole():
    """The plane is fitted where the window (r px each way) is whole: with 3 rows and columns
    of it the slope is exact, with 2 it is not fitted at all: (0, 0, 1)."""
    from ensemble.normalize import light_slope
    r = 10
    for h, w in ((2 * r + 3, 100), (100, 2 * r + 3)):
        gy, gx, level = light_slope(lit_plane(h, w, 0.001, -0.002), r)
        assert abs(gy - 0.001) < 1e-6 and abs(gx + 0.002) < 1e-6 and abs(level - 0.6) < 0.01
    for h, w in ((2 * r + 2, 100), (100, 2 * r + 2)):
        assert light_slope(lit_plane(h, w, 0.001, -0.002), r) == (0.0, 0.0, 1.0)


def page_lit_towards(side: str, h: int = 288, w: int = 384, ink: int = 0) -> np.ndarray:
    """A stroke in the middle of a page whose light falls from 0.95 to 0.45 towards `side` (or
    a corner): float32 (h, w)."""
    img = Image.new("L", (w, h), 255)
    ImageDraw.Draw(img).line([(180, 100), (180, 190)], fill=ink, width=5)
    g = np.asarray(img, np.float32) / 255
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    away = {"left": xx / w, "right": 1 - xx / w, "top": yy / h, "bottom": 1 - yy / h,
            "topleft": (xx / w + yy / h) / 2, "bottomright": 1 - (xx / w + yy / h) / 2}[side]   # 0: dark
    return (g * (0.45 + 0.5 * away)).astype(np.float32)


@pytest.mark.parametrize("side", ["left", "right", "top", "bottom", "topleft", "bottomright"])
def test_ink_map_of_a_page_lit_from_one_side_has_no_glow_along_its_darker_side(side):
    """The paper along the side the light falls towards is that side's own, not the brighter
    paper further in: no ink there (it was 0.07-0.1 before side_light), and the stroke stays."""
    from ensemble.normalize import ink_map
    page = page_lit_towards(side)
    ink = ink_map(page)
    assert ink[110:180, 179:182].min() > 0.3
    band = np.zeros(page.shape, bool)
    band[:, :30] |= "left" in side
    band[:, -30:] |= "right" in side
    band[:30] |= "top" in side
    band[-30:] |= "bottom" in side
    assert ink[band].max() < 0.01


@pytest.mark.parametrize("width", [0.2, 0.4])
def test_a_hard_shadow_is_no_slope_of_the_light(width):
    """A hard shadow along one side is not the light falling towards it: light_slope starts
    from the brighter half, so the shadow does not tilt the plane, and faint ink in the shadow
    near the side keeps its contrast."""
    from ensemble.morph import grey_closing
    from ensemble.normalize import light_slope
    page = np.full((288, 384), 0.85, np.float32)
    page[:, :int(width * 384)] -= 0.4
    gy, gx, level = light_slope(grey_closing(page, 57), 28)
    assert abs(gy) < 1e-5 and abs(gx) < 1e-5 and abs(level - 0.85) < 0.01
    lit = lit_plane(288, 384, 0.0, 0.002)
    lit[:, :int(width * 384)] -= 0.4
    assert abs(light_slope(grey_closing(lit, 57), 28)[1] - 0.002) < 5e-5


@pytest.mark.parametrize("x0,x1", [(20, 90), (40, 100), (150, 220)])
def test_a_bold_stroke_near_the_darker_side_keeps_a_rim_of_paper(x0, x1):
    """A stroke bolder than the narrow window is measured against the wide window's paper, whose
    own reach (a quarter of the page) is cut short at the side too: that paper is put right
    along the side as well, so the stroke near the darker side does not grow a rim of glow
    (0.18-0.22 without it) and looks like one far from it."""
    from ensemble.normalize import ink_map
    h, w = 288, 384
    g = np.ones((h, w), np.float32)
    g[60:230, x0:x1] = 0.1                                               # 60-70 px: wider than 0.15 x 384
    page = (g * (0.45 + 0.5 * np.mgrid[:h, :w][1] / w)).astype(np.float32)   # darker to the left
    ink = ink_map(page)
    assert ink[70:220, x0 + 3:x1 - 3].min() > 0.8
    rim = np.zeros((h, w), bool)
    rim[62:228, x0 - 4:x0 - 1] = rim[62:228, x1 + 1:x1 + 4] = True
    assert ink[rim].max() < 0.08


def test_side_light_acts_from_one_percent_of_the_paper_over_the_reach():
    """The light's fall over the window's reach (r px; fewer on a page narrower than r) is put
    right from 1 % of the paper's level: 1.2 % is, 0.8 % is not, whatever the level."""
    from ensemble.normalize import side_light
    closing = np.full((50, 200), 0.5, np.float32)
    across = np.full((200, 50), 0.5, np.float32)
    for level in (0.3, 0.9):
        for share, acts in ((0.012, True), (0.008, False)):
            g = share * level / 20                                       # r = 20 px
            assert (side_light(closing, 20, (0.0, g, level)) is not closing) == acts
            assert (side_light(across, 20, (g, 0.0, level)) is not across) == acts
    strip = np.full((12, 200), 0.5, np.float32)                          # 12 rows: the reach is 11
    for share, acts in ((0.012, True), (0.008, False)):
        g = share * 0.5 / 11
        assert (side_light(strip, 40, (g, 0.0, 0.5)) is not strip) == acts


def test_ink_map_of_a_blurred_stroke_on_even_paper_is_its_contrast_to_the_rims():
    """On evenly lit paper the ink map is each pixel's contrast against the paper, out to the
    faint rims of a blurred stroke: the paper comes from a window of 15 % of the image, which
    erases the stroke. (A narrow window of 3 px would leave the stroke's own pixels as paper;
    the wide window then rescues only the stroke and 2 px around it, and the rims are lost.)"""
    from ensemble.normalize import ink_map
    img = Image.new("L", (320, 240), 230)
    ImageDraw.Draw(img).line([(80, 60), (240, 180)], fill=50, width=6)
    page = ndi.gaussian_filter(np.asarray(img, np.float32) / 255, 2.5)     # rims ~6 px wide
    want = (230 / 255 - ndi.gaussian_filter(page, 1.0)) / (230 / 255)     # ink_map's own blur first
    ink = ink_map(page)
    assert np.abs(ink - want).max() < 0.02
    assert ((want > 0.05) & (want < 0.2)).sum() > 500                    # (there are rims to lose)


def test_ink_map_takes_the_papers_own_texture_off():
    """The paper's own texture (grain, noise) is not ink: PAPER_QUANTILE of the contrast map is
    taken off, so at least that share of a noisy page reads exactly 0."""
    from ensemble.normalize import PAPER_QUANTILE, ink_map
    rng = np.random.default_rng(0)
    page = uneven(draw_digit(), rng, noise=0.05)
    ink = ink_map(page)
    assert (ink == 0).mean() >= PAPER_QUANTILE
    assert ink.max() > 0.9
