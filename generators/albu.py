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

Differences: albumentations resamples twice (affine, then elastic) where the torch path
composes one grid and resamples once, and its blur reflects at the border where ours pads
with zeros, so its field is slightly stronger near the edges. `tests/test_generators.py`
checks that both give distortions of comparable strength.
"""
from __future__ import annotations

import albumentations as A
import cv2
import numpy as np
import torch

from .distort import DistortionConfig

__all__ = ["build_albumentations", "AlbumentationsDataset"]


def build_albumentations(cfg: DistortionConfig | None = None, seed: int | None = None) -> A.Compose:
    """An albumentations pipeline (Affine + ElasticTransform) equivalent to `cfg`."""
    cfg = cfg or DistortionConfig()
    s, t, r, k = cfg.scale, cfg.translate, cfg.rotation, cfg.shear
    ops = [A.Affine(scale={"x": (1 - s, 1 + s), "y": (1 - s, 1 + s)},
                    translate_percent={"x": (-t, t), "y": (-t, t)},
                    rotate=(-r, r), shear={"x": (-k, k), "y": (-k, k)},
                    interpolation=cv2.INTER_LINEAR, border_mode=cv2.BORDER_CONSTANT, fill=0, p=1.0)]
    if cfg.elastic_alpha > 0:
        ops.append(A.ElasticTransform(alpha=cfg.elastic_alpha, sigma=cfg.elastic_sigma,
                                      noise_distribution="uniform", approximate=False,
                                      interpolation=cv2.INTER_LINEAR,
                                      border_mode=cv2.BORDER_CONSTANT, fill=0, p=1.0))
    return A.Compose(ops, seed=seed)


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
