"""Preview the distortions: a PNG grid, one row per digit, the original then k distortions.

    python -m generators.preview --out distortions.png                 # default config
    python -m generators.preview --config configs/members/msn_deep.yaml --rows 10 --k 8

The same grid (`preview_grid`) goes to TensorBoard during training (images/distorted).
"""
from __future__ import annotations

import argparse
import sys

import torch
from torchvision.utils import make_grid, save_image

from .distort import DistortionConfig, distort


def preview_grid(images: torch.Tensor, cfg: DistortionConfig, k: int = 6,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """images (R, 1, H, W) float in [0, 1] -> grid (3, H', W'): each row original + k distortions."""
    R = images.shape[0]
    reps = images.repeat_interleave(k, dim=0)                             # (R*k, 1, H, W)
    d = distort(reps, cfg, generator).view(R, k, *images.shape[1:])
    tiles = torch.cat([images.unsqueeze(1), d], dim=1).flatten(0, 1)     # (R*(k+1), 1, H, W)
    return make_grid(tiles, nrow=k + 1, padding=2, pad_value=0.5)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="distortions.png", help="PNG file to write")
    p.add_argument("--config", help="a member YAML config (its distortion block is used)")
    p.add_argument("--rows", type=int, default=10, help="digits (one of each class when possible)")
    p.add_argument("--k", type=int, default=7, help="distortions per digit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=int, default=3, help="upscale factor of the PNG")
    a = p.parse_args(argv)
    from .mnist import load_mnist
    cfg = DistortionConfig()
    if a.config:
        from ensemble.config import load_member_config
        cfg = DistortionConfig.from_dict(load_member_config(a.config)["distortion"])
    x, y = load_mnist("train")
    # One digit per class first (0, 1, 2, ...), so the grid shows every class.
    idx = [int((y == c).nonzero()[0]) for c in range(10)][: a.rows]
    imgs = x[idx].float().div(255).unsqueeze(1)                           # (R, 1, 28, 28)
    grid = preview_grid(imgs, cfg, a.k, torch.Generator().manual_seed(a.seed))
    grid = torch.nn.functional.interpolate(grid[None], scale_factor=a.scale, mode="nearest")[0]
    save_image(grid, a.out)
    print(f"wrote {a.out}: {len(idx)} digits x (original + {a.k} distortions), {cfg}", file=sys.stderr)


if __name__ == "__main__":
    main()
