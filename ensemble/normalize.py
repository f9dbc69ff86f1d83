"""Turn a real-world digit image into what the networks saw in training: an MNIST-style 28x28.

MNIST was made by taking a digit's bounding box, fitting its longest side into 20 px
(aspect ratio kept, anti-aliased) and placing it in a 28x28 field with its centre of mass
at the centre; ink is light (255) on a dark (0) background. We do the same for photos
and scans:

1. decode with Pillow: EXIF orientation applied, grayscale (RGB, palette, CMYK, 16-bit),
   transparent canvases composited on white (or their alpha used as ink when the ink
   colour is invisible on white), huge photos reduced to <= 384 px on the fly; tiny images
   (8x8 digits, thumbnails) scaled up to >= 64 px with a margin of paper;
2. a sheet of paper photographed on a darker table is cropped to the sheet;
3. polarity: the image border is paper, so whichever end of the grey range it is near is
   the paper's (where the border is undecided, the heavier tail against a median-filtered
   estimate of the paper is the ink), so dark ink on light paper becomes MNIST's
   light-on-dark; the ink's contrast is then measured against a grey closing of the page
   (follows uneven lighting, along the sides too, and keeps hard shadow edges), relative to the local paper
   brightness; strokes too wide for that window (bold markers, blurred low-resolution
   digits) are measured against a window of half the image instead, so they stay whole;
4. Otsu threshold, connected components (scipy.ndimage): keep the heaviest non-border
   component and the sizeable pieces close to it (broken strokes), drop specks; fainter ink
   joined to them is kept too (hysteresis);
5. crop, stretch the contrast (stroke cores white, background black), bring the pen to
   MNIST's width (hairlines thickened; bold strokes eroded to MNIST's bold side, their centre
   line redrawn where the erosion cut one, so none breaks), fit into 20 px, paste into 28x28
   so the centre of mass lands on pixel (14, 14) as in MNIST.

Images that already are MNIST-style (28x28, light digit on a dark border) are returned
unchanged, byte for byte. Results are uint8 (28, 28) arrays -- divide by 255 for the
float [0, 1] network input (`ensemble.inference.Ensemble` accepts uint8 directly).

    from ensemble.normalize import load_and_normalize, normalize_digit
    img28 = load_and_normalize("photo.jpg")   # uint8 (28, 28); raises ImageError on failure
    img28 = normalize_digit(gray)             # gray: (H, W) float in [0, 1] or uint8

The steps are public for other readers of pages (ensemble/segment.py reads whole numbers with
them): `crop_to_sheet` (step 2), `ink_map` (step 3: light-on-dark contrast, float (H, W) >= 0),
`otsu` (Otsu's threshold of some values), `sample` (a cheap regular subsample for quantiles),
`as_gray` (any 2-D grayscale to float32 in [0, 1]),
`normalize_ink` (steps 4-5 on an ink map) and `MIN_CONTRAST` (the faintest ink that counts).
"""
from __future__ import annotations

import io
import math
import os
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage as ndi

from .morph import binary_dilation, distance_transform_edt, grey_closing, maximum_filter, median_filter
from .skeleton import redraw, thin

SIZE, BOX = 28, 20          # MNIST: 20x20 digit box centred by mass in a 28x28 field
WORK_SIZE = 384             # larger images are reduced first (plenty for a 20 px result)
THUMB = 32                  # background is estimated on a thumbnail this big
MIN_CONTRAST = 0.08         # ink must differ from the paper by ~20 grey levels
MIN_SIDE = 64               # smaller images (8x8 thumbnails...) are first scaled up to this
WIDE = 0.5                  # paper window for strokes wider than 15 % of the image, x its side
HYSTERESIS = 0.5           # fainter ink (down to this x the threshold) joined to the digit is digit
STRETCH_LOW = 0.25         # the contrast stretch starts at this x the threshold
GROW_MARGIN = 0.1          # how far (x the digit's size) fainter strokes may reach out
PAPER_QUANTILE = 0.25      # the paper's own texture: this quantile of the contrast map
EXTREME = 2e-4              # polarity: the darkest / lightest pixels' quantile (~10 of a first look)
SHADOW_AREA = 0.3           # a wide dark region touching the border and this big is a shadow
SAMPLE = 16384              # pixels `sample` keeps at least: plenty for histograms and quantiles
# stroke width in px of the 20 px box. MNIST's (validation digits, median of twice the
# distance to the background along the ridges): 5th pct 1.55, median 2.25, 95th pct 3.66.
MIN_STROKE, TARGET_STROKE = 1.2, 2.0   # thinner pens are thickened to TARGET_STROKE
MAX_STROKE, THIN_STROKE = 4.4, 3.0     # bolder pens are eroded to THIN_STROKE (chosen on validation:
#   benchmarks/RESULTS.md, "Bold pens eroded, not redrawn"). MAX_STROKE is MNIST's 99th percentile
#   (4.37): a pen MNIST's own writers use is left as drawn ("MNIST's bold pens left as drawn")
_ANTIALIAS = Image.Resampling.LANCZOS


class ImageError(ValueError):
    """An image could not be used; str(e) is a short reason fit for a status column."""


# ---- decoding -----------------------------------------------------------------------------
def load_gray(path: str | os.PathLike | bytes | io.IOBase, max_side: int = WORK_SIZE,
              with_size: bool = False) -> np.ndarray | tuple[np.ndarray, tuple[int, int]]:
    """Decode `path` (a file, or encoded image bytes / a binary file object held in memory) to a
    float32 (H, W) grayscale array in [0, 1], at most `max_side` px. with_size: also the source's
    size (H, W) as oriented (EXIF applied), before any reduction: `(gray, (H, W))`.

    Raises ImageError with a short reason (empty file, not an image, truncated, too large...).
    """
    if isinstance(path, (bytes, bytearray, memoryview)):
        path = io.BytesIO(path)
    try:
        # other file objects: Pillow calls an empty one "not an image"
        if isinstance(path, io.BytesIO) and path.getbuffer().nbytes == 0 or (
                not hasattr(path, "read") and os.path.getsize(path) == 0):
            raise ImageError("empty file")
        with warnings.catch_warnings():
            # Pillow only *warns* between MAX_IMAGE_PIXELS and twice that; refuse both
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if img.format == "JPEG":   # let libjpeg decode at 1/2, 1/4, 1/8 scale: much faster
                    s = max_side / max(w, h)
                    img.draft("L", (math.ceil(w * s), math.ceil(h * s)))
                upright = ImageOps.exif_transpose(img)
                if img.format != "JPEG":                  # the size its pixels came out at, turned or not
                    w, h = upright.size
                elif upright.size != img.size:            # a JPEG decoded smaller (draft), then turned
                    w, h = h, w
                gray = _to_gray(upright, max_side)
                return (gray, (h, w)) if with_size else gray
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError("file not found (vanished?)") from None
    except IsADirectoryError:
        raise ImageError("is a directory") from None
    except PermissionError:
        raise ImageError("permission denied") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"image too large, refused as a decompression bomb ({_first_sentence(e)})") from None
    except UnidentifiedImageError:
        raise ImageError("not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as e:
        raise ImageError(f"corrupt or truncated image ({_first_sentence(e)})") from None


def _first_sentence(e: BaseException) -> str:
    return str(e).split(". ")[0].strip().rstrip(".") or type(e).__name__


def _to_gray(img: Image.Image, max_side: int) -> np.ndarray:
    """Any Pillow mode -> float32 (H, W) in [0, 1], reduced to at most max_side."""
    # (not "La": Pillow's decoders never make it, and it cannot convert it to RGBA)
    if img.mode in ("RGBA", "LA", "PA", "RGBa") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        rgba.thumbnail((max_side, max_side), _ANTIALIAS)
        a = np.asarray(rgba, dtype=np.float32)[..., 3] / 255             # (H, W) opacity
        flat = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("L")
        gray = np.asarray(flat, dtype=np.float32) / 255                  # (H, W)
        # white (or very light) ink on a transparent canvas vanishes on white: use opacity
        if np.ptp(gray) < MIN_CONTRAST <= np.ptp(a):
            gray = 1 - a
        return gray
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        arr = np.asarray(img)                                            # (H, W) 16/32-bit int or float
        top = 65535.0 if img.mode.startswith("I;16") or arr.max() > 255 else 255.0
        if img.mode == "F" and arr.max() <= 1:
            top = 1.0
        img = Image.fromarray(np.clip(arr / top, 0, 1).astype(np.float32))   # mode F
    else:
        try:
            img = img.convert("L")                                       # (a copy when already L)
        except ValueError:   # LAB has no direct route to L
            img = img.convert("RGB").convert("L")
    img.thumbnail((max_side, max_side), _ANTIALIAS)                      # never enlarges
    arr = np.asarray(img, dtype=np.float32)
    return arr if img.mode == "F" else arr / 255


def load_and_normalize(path: str | os.PathLike) -> np.ndarray:
    """Decode and normalize one image file: uint8 (28, 28), light digit on black."""
    return normalize_digit(load_gray(path))


# ---- normalization ------------------------------------------------------------------------
def as_gray(gray) -> np.ndarray:
    """(H, W) grayscale, uint8 or float -> float32 (H, W) in [0, 1]; ValueError if not 2-D."""
    g = np.asarray(gray)
    if g.ndim != 2 or min(g.shape) < 1:
        raise ValueError(f"expected a 2-D grayscale image, got shape {g.shape}")
    return g.astype(np.float32) / 255 if g.dtype == np.uint8 else np.clip(g.astype(np.float32), 0, 1)


def normalize_digit(gray) -> np.ndarray:
    """(H, W) grayscale (uint8, or float in [0, 1]) -> MNIST-style uint8 (28, 28).

    Raises ImageError("no digit found") for blank or featureless images.
    """
    g = as_gray(gray)
    if np.ptp(g) < MIN_CONTRAST:
        raise ImageError("no digit found (blank image)")
    if is_mnist_style(g):
        return np.rint(g * 255).astype(np.uint8)          # exact bytes of an 8-bit input
    big = _upscale_small(g)
    ink = ink_map(crop_to_sheet(big), upscaled=big is not g)   # (H, W) light-on-dark, background ~0
    return normalize_ink(ink)


def normalize_ink(ink: np.ndarray, paper: int = 0) -> np.ndarray:
    """Steps 4-5 alone: a light-on-dark ink map (H, W) >= 0 (background ~0, as `ink_map` gives)
    -> MNIST-style uint8 (28, 28). For callers that measured the page's ink already (the
    candidate digits of ensemble/segment.py). Raises ImageError("no digit found").

    paper: the map lies on a page `paper` px wider on every side, blank there (zeros), that
    the caller did not build: the same 28x28 as `normalize_ink(np.pad(ink, paper))`, cheaper,
    when the map's own border (4 px, the reach of the blur below) is blank too: the blur then
    brings nothing in from beyond it. The threshold is measured against the whole page's paper."""
    crop = _digit_crop(np.asarray(ink, np.float32), paper)   # (h, w) in [0, 1]
    return _fit_and_centre(crop)


def is_mnist_style(g: np.ndarray) -> bool:
    """28x28, black background, light digit that stays off the border (as MNIST digits do)."""
    if g.shape != (SIZE, SIZE):
        return False
    frame = np.concatenate([g[0], g[-1], g[1:-1, 0], g[1:-1, -1]])      # (108,) border pixels
    return bool(np.median(g) < 0.1 and np.mean(frame > 0.5) < 0.1 and g.max() > 0.5)


def _upscale_small(g: np.ndarray) -> np.ndarray:
    """Tiny images (thumbnails, 8x8 digits) -> bicubic, longest side >= MIN_SIDE.

    A stroke then spans several pixels, so the filters below (sized in pixels) do not erase it.
    """
    h, w = g.shape
    if max(h, w) >= MIN_SIDE:
        return g
    f = math.ceil(MIN_SIDE / max(h, w))
    big = np.clip(np.asarray(Image.fromarray(g).resize((w * f, h * f), Image.Resampling.BICUBIC)), 0, 1)
    # such a digit often fills its frame: give it a margin of paper (the border's usual value),
    # so that its strokes do not look like things coming in from outside the picture
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    return np.pad(big, 2 * f, constant_values=float(np.median(border)))


def crop_to_sheet(g: np.ndarray) -> np.ndarray:
    """A sheet photographed on a darker table: keep just the sheet (its edges are not ink).

    Applies when most of the image border is much darker than the image's median (the sheet
    covers most of the picture) and one bright region spans >= 20 % of it.
    """
    h, w = g.shape
    b = max(1, round(0.03 * min(h, w)))
    border = np.concatenate([g[:b].ravel(), g[-b:].ravel(), g[:, :b].ravel(), g[:, -b:].ravel()])
    med = float(np.median(sample(g)))
    if np.mean(border < 0.6 * med) < 0.6:
        return g
    # med > 0 here (the border is darker than it), so some pixel >= med lies above the cut: n >= 1
    labels, _ = ndi.label(g > (float(np.median(border)) + med) / 2)
    sizes = np.bincount(labels.ravel())[1:]                               # (n,) areas
    k = int(np.argmax(sizes))
    if sizes[k] < 0.2 * g.size:
        return g
    rows, cols = ndi.find_objects(labels)[k]
    m = max(1, round(0.02 * max(h, w)))                                   # stay off the sheet's edge
    y0, y1, x0, x1 = rows.start + m, rows.stop - m, cols.start + m, cols.stop - m
    return g[y0:y1, x0:x1] if min(y1 - y0, x1 - x0) >= 8 else g


def _dark_ink(g: np.ndarray) -> bool:
    """Polarity: is the ink darker than the paper?

    Mostly the border says: it is paper (a sheet on a table was cropped away before), so
    whichever end of the grey range it lies near is the paper's. Where the border is
    undecided (shade across it, ink leaving the frame), a median filter (window wider than
    twice most strokes, on a 32 px thumbnail) estimates the paper under any lighting, and the
    ink is on the side of it with the heavier tail: a few quantiles of a subsample, plus the
    whole image's most extreme pixels (EXTREME), which a small digit on a large page still
    holds. (So ~10 bright specks of a first look, glints or dust, weigh against faint ink.)
    """
    lo, hi = np.quantile(sample(g), [0.01, 0.99])
    border = np.median(np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]]))
    if abs(border - (lo + hi) / 2) > 0.25 * (hi - lo):
        return bool(border > (lo + hi) / 2)
    h, w = g.shape
    scale = min(1.0, THUMB / max(h, w))
    th, tw = max(1, round(h * scale)), max(1, round(w * scale))
    thumb = np.asarray(Image.fromarray(g).resize((tw, th), Image.Resampling.BOX))
    k = max(3, int(0.4 * max(th, tw)) | 1)
    bg = median_filter(thumb, k)
    bg = np.asarray(Image.fromarray(bg.astype(np.float32)).resize((w, h), Image.Resampling.BILINEAR))
    r = g - bg                                            # (H, W) off the paper: ink, noise
    q = np.quantile(sample(r), [0.002, 0.01, 0.05, 0.95, 0.99, 0.998])
    # a small digit on a large page (a lone digit photographed from afar: 30 ink px of 50,000)
    # lies beyond every sampled quantile, so the tails are noise; its strokes still hold the
    # most extreme pixels, found in the whole image (O(n) partition)
    e = np.quantile(r, [EXTREME, 1 - EXTREME])
    return bool(-(q[:3].sum() + e[0]) > q[3:].sum() + e[1])


def ink_map(g: np.ndarray, upscaled: bool = False) -> np.ndarray:
    """Ink as light-on-dark contrast relative to the local paper brightness: (H, W) >= 0.

    The paper is a grey closing (max then min filter) of the dark-ink image: it erases strokes
    narrower than the window yet keeps the sharp edges of shadows, unlike a blur. Dividing by
    it makes the contrast independent of how brightly each part of the page is lit. A window
    of 15 % of the image follows uneven light closely but would swallow a bolder stroke (only
    its rim would stay ink): where a window of half the image finds much more ink, that wider
    window gives the paper -- unless the region touches the border and is large, a shadow.
    Along the sides, where both windows are cut short, the paper follows the light's slope
    (`light_slope`, `side_light`): a page lit from one side has no glow of ink down its darker side.
    """
    x = g if _dark_ink(g) else 1 - g                      # (H, W) now dark ink on light paper
    x = ndi.gaussian_filter(x, min(1.0, max(x.shape) / 200))   # noise, JPEG ringing down (not on tiny images)
    side = max(x.shape)
    size, wide_size = _odd(0.15 * side), _odd(WIDE * side)
    paper = grey_closing(x, size)                                # (H, W)
    wide_paper = grey_closing(x, wide_size)                      # (H, W) >= paper (before side_light)
    if not upscaled:                                      # (a tiny input's strokes fill it: no light to fit)
        light = light_slope(paper, size // 2)
        paper = side_light(paper, size // 2, light)
        wide_paper = side_light(wide_paper, wide_size // 2, light)
    gain = (wide_paper - paper) / np.maximum(wide_paper, 0.05)   # ink only the wide window sees
    ink_wide = (wide_paper - x) / np.maximum(wide_paper, 0.05)
    cut = max(MIN_CONTRAST, 0.3 * float(ink_wide.max()))
    wide = gain > cut
    if upscaled:                                          # a tiny input: no shadows, strokes fill it
        paper = wide_paper
    elif wide.any():
        labels, n = ndi.label(wide, structure=np.ones((3, 3)))
        stroke = np.zeros(n + 1, bool)                                   # (n+1,) region is a stroke
        for i, box in enumerate(ndi.find_objects(labels), start=1):
            stroke[i] = not _is_shadow(labels, i, box, paper, wide_paper, cut)
        strokes = binary_dilation(stroke[labels], iterations=2)          # + their rims
        paper = np.where(strokes, wide_paper, paper)
    ink = (paper - x) / np.maximum(paper, 0.05)
    return np.maximum(ink - float(np.quantile(sample(ink), PAPER_QUANTILE)), 0)


def light_slope(paper: np.ndarray, r: int) -> tuple[float, float, float]:
    """The light on a page, from its paper (a grey closing whose window reaches r px to each
    side): (per row, per column, level), a plane fitted to ~1,000 points of the paper where that
    window is whole: first to the brighter half of them, then twice more to the points no darker
    than it by over 3 robust sigma (strokes bolder than the window, shadows: as long as they
    cover less than half of that part); level: the plane at those points' middle. (0, 0, 1)
    where that part is under 3 px across."""
    h, w = paper.shape
    if h <= 2 * r + 2 or w <= 2 * r + 2:
        return 0.0, 0.0, 1.0
    step = _sample_step((h - 2 * r) * (w - 2 * r), 1024)                  # a plane: ~1,000 points plenty
    z = paper[r:h - r:step, r:w - r:step].astype(np.float64)             # (n, m)
    yy, xx = np.meshgrid(np.arange(z.shape[0]) * step, np.arange(z.shape[1]) * step, indexing="ij")
    a = np.stack([np.ones(z.size), yy.ravel() - yy.mean(), xx.ravel() - xx.mean()], 1)   # (N, 3), centred
    z = z.ravel()
    # start from the brighter half: any part of a plane gives the whole plane, and a hard shadow
    # or a bold digit covering less than half the page stays out of the first fit (a plain first
    # fit tilts towards them, and its spread then keeps them in)
    keep = z >= np.median(z)
    for _ in range(3):
        k = a[keep]
        coef = np.linalg.solve(k.T @ k + 1e-9 * np.eye(3), k.T @ z[keep])
        res = z - a @ coef
        sigma = 1.4826 * float(np.median(np.abs(res[keep]))) + 1e-4
        keep = res > -3 * sigma
    return float(coef[1]), float(coef[2]), max(float(coef[0]), 0.05)


def side_light(paper: np.ndarray, r: int, light: tuple[float, float, float]) -> np.ndarray:
    """A grey closing (window reaching r px) put right along the sides the light falls off to.

    Near a side the window is cut short, and where the light falls by g per px towards that
    side, the closing p < r px from it is the paper r px in: too bright by g (r - p), so the
    darker paper along the side read as ink (a photo lit from one side read "0313" as a "1"
    the page's height: the glow down its darker side). Take that off (on a corner, both
    sides'); only where it reaches 1 % of the paper's level, so a page lit evenly keeps its
    closing. light: `light_slope`'s (per row, per column, level)."""
    out = None
    for axis, g in ((0, light[0]), (1, light[1])):
        n = paper.shape[axis]
        reach = min(r, n - 1)             # a window past the far side: the paper there is the far side's
        for towards, near in ((g, True), (-g, False)):                   # towards > 0: the light falls to it
            if reach < 1 or towards * reach < 0.01 * light[2]:
                continue
            over = towards * np.arange(reach, 0, -1, dtype=np.float32)   # (reach,) g (r - p), p px from the side
            band = slice(0, reach) if near else slice(n - reach, n)
            if not near:
                over = over[::-1]
            if out is None:
                out = paper.copy()
            if axis == 0:
                out[band] -= over[:, None]
            else:
                out[:, band] -= over[None, :]
    return paper if out is None else out


def _is_shadow(labels, i, box, paper, wide_paper, cut) -> bool:
    """Is region i (where only the wide window sees ink) a shadow rather than a bold stroke?

    A shadow comes in from the border, and it is large or it borders on more shadow (the
    part of it that the narrow window kept as paper); a bold stroke, even one that leaves the
    picture, is surrounded by paper.
    """
    h, w = labels.shape
    rows, cols = box
    if not (rows.start == 0 or cols.start == 0 or rows.stop == h or cols.stop == w):
        return False
    y0, y1, x0, x1 = max(0, rows.start - 3), min(h, rows.stop + 3), max(0, cols.start - 3), min(w, cols.stop + 3)
    region = labels[y0:y1, x0:x1] == i                                  # (h', w')
    if region.sum() >= SHADOW_AREA * labels.size:
        return True                                                      # larger than any stroke
    rim = binary_dilation(region, iterations=2) & ~region
    level = float(wide_paper[y0:y1, x0:x1][region].mean())              # the paper under it
    # the rim is never empty: it is only when the region fills its window, i.e. the whole image,
    # and that is larger than SHADOW_AREA
    dark = paper[y0:y1, x0:x1][rim] < level * (1 - 0.5 * cut)           # neighbours in shade
    return bool(dark.mean() > 0.25)


def _odd(size: float) -> int:
    """A filter window: odd, at least 3 px."""
    return max(3, int(size) | 1)


def sample(a: np.ndarray, n: int = SAMPLE) -> np.ndarray:
    """A regular subsample of ~n pixels: plenty for histograms and quantiles, much cheaper."""
    step = _sample_step(a.size, n)
    return a[::step, ::step]


def _sample_step(size: int, n: int = SAMPLE) -> int:
    return max(1, int(math.sqrt(size / n)))


def otsu(values: np.ndarray, bins: int = 256, zeros: int = 0) -> float:
    """Otsu's threshold: the cut maximising the between-class variance of a histogram.
    zeros: that many more values 0 (blank paper the caller did not build)."""
    hist, edges = np.histogram(values, bins=bins, range=(0.0, float(values.max()) or 1.0))
    hist[0] += zeros                                      # 0 falls in the first bin, whatever the range
    p = hist / hist.sum()                                 # (bins,) float64; values >= 0, all counted
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)                                     # weight of the class below each cut
    m0 = np.cumsum(p * centres)                           # its first moment
    between = (m0[-1] * w0 - m0) ** 2 / np.maximum(w0 * (1 - w0), 1e-12)
    return float(edges[1:][np.argmax(between)])


def _digit_crop(ink: np.ndarray, paper: int) -> np.ndarray:
    """Find the digit among noise/specks/shadows; return its contrast-stretched bounding box.
    paper: px of blank page around `ink` (see `normalize_ink`)."""
    h, w = ink.shape
    if paper and _sample_step((h + 2 * paper) * (w + 2 * paper)) > 1:
        ink, paper = np.pad(ink, paper), 0                # a page `sample` thins out: build it
        h, w = ink.shape
    blank = (h + 2 * paper) * (w + 2 * paper) - h * w     # the page's pixels not in `ink`, all 0
    smooth = ndi.gaussian_filter(ink, 1.0)                # salt noise and JPEG ringing fade out
    # robust std of the pixel noise, from what the blur removed: strokes are smooth, so this
    # holds however much of the image the digit covers
    noise = 1.4826 * _median(np.abs(sample(ink - smooth)), blank)
    peak = float(smooth.max())
    if peak < max(MIN_CONTRAST, 3 * noise):
        raise ImageError("no digit found")
    t = max(otsu(sample(smooth), zeros=blank), 3 * noise, 0.2 * peak)
    labels, n = ndi.label(smooth > t, structure=np.ones((3, 3)))
    if n == 0:
        raise ImageError("no digit found")
    mass = np.bincount(labels.ravel(), weights=ink.ravel())[1:]   # (n,) ink per component (all n labels occur)
    boxes = ndi.find_objects(labels)                      # n slices (rows, cols)
    touches = np.array([b[0].start == 0 or b[1].start == 0 or b[0].stop == h or b[1].stop == w
                        for b in boxes])
    # paper edges and shadows touch the border; a digit usually does not
    main = int(np.argmax(np.where(touches, mass * 0.25, mass)))   # (a lone component wins anyway)
    y0, y1, x0, x1 = boxes[main][0].start, boxes[main][0].stop, boxes[main][1].start, boxes[main][1].stop
    keep = [main]
    for i in np.argsort(-mass):                           # heaviest first: the box can grow
        if i == main or mass[i] < 0.05 * mass[main]:
            continue
        b = boxes[i]
        reach = 0.35 * max(y1 - y0, x1 - x0)              # broken strokes lie close to the digit
        if (b[0].start < y1 + reach and b[0].stop > y0 - reach and
                b[1].start < x1 + reach and b[1].stop > x0 - reach):
            keep.append(i)
            y0, y1 = min(y0, b[0].start), max(y1, b[0].stop)
            x0, x1 = min(x0, b[1].start), max(x1, b[1].stop)
    # hysteresis: fainter ink joined to the kept strokes is stroke too (a blurred or low-resolution
    # digit is faint where its pen was thin), within a margin around the box found so far
    m = int(GROW_MARGIN * max(y1 - y0, x1 - x0))
    y0, y1, x0, x1 = max(0, y0 - m), min(h, y1 + m), max(0, x0 - m), min(w, x1 + m)
    kept = np.zeros(n + 1, bool)
    kept[np.array(keep) + 1] = True                       # (n+1,) by label (labels from 1)
    strong = kept[labels[y0:y1, x0:x1]]                   # (h', w') kept strokes
    weak, n_weak = ndi.label(smooth[y0:y1, x0:x1] > HYSTERESIS * t, structure=np.ones((3, 3)))
    joined = np.zeros(n_weak + 1, bool)
    joined[weak[strong]] = True                           # strong is part of weak (never label 0)
    mask = joined[weak]
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    y0, y1, x0, x1 = y0 + rows[0], y0 + rows[-1] + 1, x0 + cols[0], x0 + cols[-1] + 1
    mask = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    region = binary_dilation(mask, iterations=2)          # their anti-aliased rims too
    crop = ink[y0:y1, x0:x1]
    lo, hi = STRETCH_LOW * t, float(np.quantile(crop[mask], 0.9))
    return np.clip((crop - lo) / max(hi - lo, 1e-6), 0, 1) * region


def _median(values: np.ndarray, zeros: int) -> float:
    """`np.median` of `values` >= 0 and `zeros` more zeros (blank paper not built), exactly."""
    if not zeros:
        return float(np.median(values))
    v = values.ravel()
    n = v.size + zeros
    ranks = sorted({(n - 1) // 2, n // 2})               # the middle one or two of all n, zeros first
    part = np.partition(v, [r - zeros for r in ranks if r >= zeros]) if ranks[-1] >= zeros else v
    middle = np.array([part[r - zeros] if r >= zeros else 0 for r in ranks], v.dtype)
    return float(np.median(middle))                       # their mean, as numpy's median takes it


def _stroke_width(mask: np.ndarray) -> float:
    """Typical stroke width in pixels: twice the distance-to-background along the ridges, less 1."""
    if not mask.any():
        return 0.0
    # background all round: a stroke that fills the crop's width (a straight 1) is measured
    # across, not from the far side of its neighbours' room
    dist = distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]         # (h, w)
    ridge = mask & (dist >= maximum_filter(dist, 3))
    return 2 * float(np.median(dist[ridge])) - 1


def _lost_strokes(centre: np.ndarray, kept: np.ndarray, spur: float) -> np.ndarray:
    """The pieces of the centre line `centre` (bool, (h, w)) that an erosion cut away, to be
    redrawn: each piece of it off the kept ink `kept` that meets the kept ink at two places or
    more (a stroke cut where the pen was lighter, between two pieces or across a loop), at none
    (a whole light stroke), or at one but reaches out further than `spur` px (a light tail or
    stem). What is left out are the thinning's short spurs from a blob toward its corners."""
    off, n = ndi.label(centre & ~kept, structure=np.ones((3, 3)))     # (h, w) pieces 1..n
    if n == 0:
        return off > 0
    touching = off > 0
    touching &= binary_dilation(kept, square=True)                    # off pixels next to kept ink
    contacts, _ = ndi.label(touching, structure=np.ones((3, 3)))      # where each piece meets it
    pieces, _ = ndi.label(kept, structure=np.ones((3, 3)))
    h, w = off.shape
    redraw_it = np.zeros(n + 1, bool)
    for k, (ys, xs) in enumerate(ndi.find_objects(off), start=1):
        box = slice(max(0, ys.start - 1), min(h, ys.stop + 1)), slice(max(0, xs.start - 1), min(w, xs.stop + 1))
        own = off[box] == k                                           # the piece, in its box grown by 1 px
        meets = len(np.unique(contacts[box][own & (contacts[box] > 0)]))
        joins = len(np.unique(pieces[box][binary_dilation(own, square=True) & (pieces[box] > 0)]))
        redraw_it[k] = meets != 1 or joins > 1 or np.count_nonzero(own) > spur
    return redraw_it[off]


def erode_disk(a: np.ndarray, e: int) -> np.ndarray:
    """Grey erosion of a float (H, W) by a disk of radius e >= 0 px (x^2 + y^2 <= e^2): exactly
    `ndi.grey_erosion(a, footprint=disk)` whenever the disk fits in the image, ~10x faster. The
    disk is a stack of 2e + 1 rows; the minimum over each row is a 1-D running minimum (O(1)
    per pixel whatever its width), the erosion the minimum of those, shifted to their rows.
    (The border's mirror image only repeats pixels the disk covers anyway, so how it is
    mirrored does not matter; for a disk wider than the image scipy's own result varies from
    call to call, scipy 1.17.)"""
    h, w = a.shape
    big = np.pad(a, e, mode="symmetric")                  # (H+2e, W+2e)
    runs: dict[int, np.ndarray] = {}                      # half-width -> row minima of big
    out = None
    for dy in range(-e, e + 1):
        half = math.isqrt(e * e - dy * dy)                # the disk's half-width in row dy
        if half not in runs:
            runs[half] = ndi.minimum_filter1d(big, 2 * half + 1, axis=1)
        row = runs[half][e + dy:e + dy + h, e:e + w]      # (H, W)
        out = row.copy() if out is None else np.minimum(out, row, out=out)
    return out


def _pen(crop: np.ndarray) -> np.ndarray:
    """Bring the pen into MNIST's range (in the final 20 px box: 5th pct 1.55, median 2.25, 99th
    pct 4.37 px); pens from MIN_STROKE to MAX_STROKE (MNIST's 99th percentile) are left alone.

    Hairlines are thickened to TARGET_STROKE. Bolder strokes are eroded to THIN_STROKE, within
    MNIST's bold range (95th pct 3.66): the members trained with pen-width distortion read that
    pen, and the erosion keeps the shape of blobs (a bold 8 whose loops closed reads as an 8,
    where its centre line alone reads as a 1). Where the erosion cut a stroke away (where the pen was
    lighter: across a stroke or a loop, or a whole light stem or tail), its centre line is
    redrawn with a THIN_STROKE pen, so every stroke stays whole; only the thinning's short spurs
    toward a blob's corners are left out (`_lost_strokes`).
    Works on a copy scaled to 4x the final box, where widths can be measured; returns `crop`
    itself when the pen is already MNIST-like.
    """
    h, w = crop.shape
    s = 4 * BOX / max(h, w)
    work = np.asarray(Image.fromarray(crop.astype(np.float32)).resize(
        (max(1, round(w * s)), max(1, round(h * s))), _ANTIALIAS)).clip(0, 1)   # longest side 80
    mask = work > 0.5
    width = _stroke_width(mask) / 4                                      # at final scale
    if width > MAX_STROKE:
        r = math.ceil(2 * THIN_STROKE)                                   # room for the new pen
        work = np.pad(work, r)                                           # (h'+2r, w'+2r)
        e = round(4 * (width - THIN_STROKE) / 2)                         # erode each side, in 4x px
        ink = erode_disk(work, e)                                        # blobs keep their shape
        lost = _lost_strokes(thin(work > 0.5), ink > 0.5, spur=2 * e)   # a spur: <= ~e * sqrt(2) long
        ink = np.maximum(ink, redraw(lost, 4 * THIN_STROKE))            # + the strokes it cut away
        rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
        return ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]           # the new pen's own box
    if width >= MIN_STROKE:
        return crop
    r = max(1, round((TARGET_STROKE - width) * 4 / 2))                   # grow each side, in 4x px
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    work = np.pad(work, r)                                               # room to grow outwards
    return ndi.grey_dilation(work, footprint=yy ** 2 + xx ** 2 <= r * r)


def _fit_and_centre(crop: np.ndarray) -> np.ndarray:
    """Longest side -> 20 px (aspect kept, anti-aliased), centre of mass -> (14, 14) in 28x28."""
    crop = _pen(crop)
    h, w = crop.shape
    s = BOX / max(h, w)
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    small = np.asarray(Image.fromarray(crop.astype(np.float32)).resize((nw, nh), _ANTIALIAS))
    small = np.clip(small, 0, 1)                          # (nh, nw); Lanczos may overshoot
    cy, cx = ndi.center_of_mass(small)
    oy, ox = int(round(SIZE / 2 - cy)), int(round(SIZE / 2 - cx))
    out = np.zeros((SIZE, SIZE), np.float32)
    # paste with clipping: a lopsided digit may be pushed partly off the field, as in MNIST
    ty0, tx0 = max(0, oy), max(0, ox)
    ty1, tx1 = min(SIZE, oy + nh), min(SIZE, ox + nw)
    out[ty0:ty1, tx0:tx1] = small[ty0 - oy:ty1 - oy, tx0 - ox:tx1 - ox]
    return np.rint(out * 255).astype(np.uint8)
