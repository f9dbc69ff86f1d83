"""The same DistortionConfig as an albumentations pipeline, for per-sample CPU use in workers.

The torch path (`generators.distort`) is the one training uses: whole batches, on the device.
This backend exists for users who want per-sample CPU augmentation in DataLoader workers
(e.g. a custom dataset of PIL images). Parameter correspondence:

| DistortionConfig | torch path (`distort`)                  | albumentations                                 |
|------------------|-----------------------------------------|------------------------------------------------|
| elastic_alpha    | displacement px = alpha * smoothed U(-1,1) | ElasticTransform(alpha=, noise_distribution="uniform") |
| elastic_sigma    | Gaussian std px, zero padding           | ElasticTransform(sigma=) (cv2 blur, reflect border) |
| rotation         | U(-r, r) degrees                        | Affine(rotate=(-r, r))                          |
| scale            | sx, sy ~ U(1-s, 1+s) independently      | Affine(scale={"x": (1-s, 1+s), "y": ...})       |
| shear            | x and y ~ U(-k, k) degrees              | Affine(shear={"x": (-k, k), "y": (-k, k)})      |
| translate        | U(-t, t) * size px                      | Affine(translate_percent={"x": (-t, t), ...})   |
| thicken, thin    | grey dilation/erosion, radius rho w / 2, rho ~ U(-thin, thicken), w = the sample's stroke width | OneOf(Morphological(scale=(k, k)) dilation/erosion, NoOp), k from rho at MNIST's median w = 2.5 px |
| lowres, lowres_p | area-reduce to f ~ U(1-l, 1), bilinear back, probability p | Downscale(scale_range=(1-l, 1), INTER_AREA down, INTER_LINEAR up, p=p) |
| redraw           | centre line redrawn with a uniform round pen of the sample's own width, probability p | Lambda(p=p) calling the torch path's own `generators.redraw.redraw` on the one image (albumentations has no thinning) |

Differences: albumentations resamples twice (affine, then elastic) where the torch path
composes one grid and resamples once, and its blur reflects at the border where ours pads
with zeros, so its field is slightly stronger near the edges. Its pen width is absolute, not
relative to each digit's stroke: kernels are chosen for a 2.5-px stroke, so strong thinning
can erase a thin digit (the torch path cannot). `tests/test_generators.py` checks that both
give distortions of comparable strength.
"""
from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
import torch

from .distort import DistortionConfig

__all__ = ["build_albumentations", "AlbumentationsDataset"]


def build_albumentations(cfg: DistortionConfig | None = None, seed: int | None = None) -> A.Compose:
    """An albumentations pipeline (pen width, Affine, ElasticTransform, Downscale) equivalent to `cfg`."""
    cfg = cfg or DistortionConfig()
    s, t, r, k = cfg.scale, cfg.translate, cfg.rotation, cfg.shear
    ops = []
    if cfg.redraws:
        ops.append(A.Lambda(image=_redraw_image, p=cfg.redraw, name="redraw"))
    if cfg.pen:
        ops.append(_pen_width(cfg))
    ops.append(A.Affine(scale={"x": (1 - s, 1 + s), "y": (1 - s, 1 + s)},
                        translate_percent={"x": (-t, t), "y": (-t, t)},
                        rotate=(-r, r), shear={"x": (-k, k), "y": (-k, k)},
                        interpolation=cv2.INTER_LINEAR, border_mode=cv2.BORDER_CONSTANT, fill=0, p=1.0))
    if cfg.elastic_alpha > 0:
        ops.append(A.ElasticTransform(alpha=cfg.elastic_alpha, sigma=cfg.elastic_sigma,
                                      noise_distribution="uniform", approximate=False,
                                      interpolation=cv2.INTER_LINEAR,
                                      border_mode=cv2.BORDER_CONSTANT, fill=0, p=1.0))
    if cfg.reduces:
        ops.append(A.Downscale(scale_range=(1 - cfg.lowres, 1.0), p=cfg.lowres_p,
                               interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR}))
    return A.Compose(ops, seed=seed)


def _redraw_image(image: np.ndarray, **_) -> np.ndarray:
    """One image (H, W) or (H, W, C), uint8 or float in [0, 1], through the torch path's redraw stage."""
    from .distort import stroke_width
    from .redraw import redraw
    scale = 255.0 if image.dtype == np.uint8 else 1.0
    x = torch.from_numpy(np.ascontiguousarray(image, np.float32) / scale)
    x = (x[None, None] if x.dim() == 2 else x.permute(2, 0, 1)[None])       # (1, C, H, W)
    y = redraw(x, stroke_width(x))[0]
    y = y[0] if image.ndim == 2 else y.permute(1, 2, 0)
    out = y.numpy() * scale
    return np.rint(out).astype(np.uint8) if image.dtype == np.uint8 else out.astype(image.dtype)


TYPICAL_WIDTH = 2.5   # px, MNIST's median stroke width (generators.distort.stroke_width)


def _pen_width(cfg: DistortionConfig) -> A.OneOf:
    """rho ~ U(-thin, thicken) at a 2.5-px stroke -> radius rho * 1.25 px, in half-pixel steps h.

    h half pixels of growth is an elliptic kernel of size h + 1 (3: the 3x3 cross, as the torch
    path's first step; even sizes grow one side only); each h is chosen with the probability
    that rho rounds to it, h = 0 is no change.
    """
    lo, hi, per = -cfg.thin, cfg.thicken, TYPICAL_WIDTH         # rho range; h = round(rho * per)
    ops = []
    for h in range(round(lo * per), round(hi * per) + 1):
        a, b = max(lo, (h - 0.5) / per), min(hi, (h + 0.5) / per)  # rho values that round to h
        if b <= a:
            continue
        w = (b - a) / (hi - lo)
        if h == 0:
            ops.append(A.NoOp(p=w))
        else:
            ops.append(A.Morphological(scale=(abs(h) + 1, abs(h) + 1), p=w,
                                       operation="dilation" if h > 0 else "erosion"))
    return A.OneOf(ops, p=1.0)


class AlbumentationsDataset(torch.utils.data.Dataset):
    """uint8 images (N, H, W) + labels, distorted per sample on the CPU (use DataLoader workers).

    Returns (float (1, H, W) in [0, 1], int64 label). Each worker seeds its own pipeline from
    torch's per-worker seed, so workers draw different distortions.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, cfg: DistortionConfig | None = None):
        if images.dtype != torch.uint8 or images.dim() != 3:
            raise ValueError(f"expected uint8 images (N, H, W), got {images.dtype} {tuple(images.shape)}")
        self.images = images.numpy()
        self.labels = labels
        self.cfg = cfg or DistortionConfig()
        self._pipe = None

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        if self._pipe is None:  # built lazily inside each worker, seeded per worker
            self._pipe = build_albumentations(self.cfg, seed=torch.initial_seed() % 2**32)
        img = self._pipe(image=self.images[i])["image"]                  # (H, W) uint8
        x = torch.from_numpy(np.ascontiguousarray(img)).float().div_(255).unsqueeze(0)
        return x, self.labels[i]
