"""Preview the distortions: a PNG grid, one row per digit, the original then k distortions.

    python -m generators.preview --out distortions.png                 # default config
    python -m generators.preview --config configs/members/msn_deep.yaml --rows 10 --k 8
    python -m generators.preview --set thicken=1.0 --set thin=0.7 --set lowres=0.6   # try magnitudes
    # exactly what training sample 123 (and 4567) saw in epochs 0-9 of member c5_pool:
    python -m generators.preview --config configs/members/c5_pool.yaml --index 123,4567 --epochs 0:10

The same grid (`preview_grid`) goes to TensorBoard during training (images/distorted). With
--index, the rows are training images by dataset index (as `ensemble.data.DigitsDataModule`
numbers them) and the columns the distortion each one got in each epoch: training keys every
sample's distortion by (member seed, epoch, index), see `generators.distort`.
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


def seen_in_training(member_cfg: dict, index, epochs, cfg: DistortionConfig | None = None) -> torch.Tensor:
    """(R, 1 + len(epochs), 1, H, W): training images `index` (R,), then the distortion each got in each epoch.

    The images come from the member's DataModule, numbered as training numbers them; the
    distortion is keyed exactly as `MemberModule.distort_batch` keys it.
    """
    from ensemble.data import DigitsDataModule
    dm = DigitsDataModule(member_cfg["data"])
    dm.setup()
    index = torch.as_tensor(index, dtype=torch.long)
    n = len(dm.train_x)
    if index.numel() and (index.min() < 0 or index.max() >= n):
        raise ValueError(f"--index must be in [0, {n - 1}] (the member's {n} training images)")
    x = dm.train_x[index].float().div(255).unsqueeze(1)                   # (R, 1, H, W)
    cfg = cfg or DistortionConfig.from_dict(member_cfg.get("distortion"))
    seed = int(member_cfg.get("seed", 0))
    views = [distort(x, cfg, keys=(seed, int(e), index)) for e in epochs]
    return torch.stack([x, *views], 1)


def _assignment(s: str) -> tuple[str, float]:
    """'thicken=1.0' -> ('thicken', 1.0)."""
    k, sep, v = s.partition("=")
    try:
        if sep:
            return k.strip(), float(v)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected NAME=NUMBER, got {s!r}")


def _int_list(s: str) -> list[int]:
    """'3' -> [3]; '0:10' -> 0..9; '1,5,9' -> [1, 5, 9]."""
    try:
        if ":" in s:
            a, b = s.split(":")
            return list(range(int(a), int(b)))
        return [int(v) for v in s.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N, A:B or N,M,...; got {s!r}") from None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="distortions.png", help="PNG file to write")
    p.add_argument("--config", help="a member YAML config (its distortion block, seed and data are used)")
    p.add_argument("--quick", action="store_true", help="the member's --quick recipe (train_all.py --quick)")
    p.add_argument("--set", action="append", default=[], type=_assignment, metavar="NAME=VALUE",
                   help="override one DistortionConfig field, e.g. --set thicken=1.0 (repeatable)")
    p.add_argument("--rows", type=int, default=10, help="digits (one of each class when possible)")
    p.add_argument("--k", type=int, default=7, help="distortions per digit")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--index", type=_int_list, help="training images by dataset index (needs --config)")
    p.add_argument("--epochs", type=_int_list, default=[0], help="with --index: epochs, e.g. 4 or 0:10")
    p.add_argument("--scale", type=int, default=3, help="upscale factor of the PNG")
    a = p.parse_args(argv)
    member = None
    if a.config:
        from ensemble.config import load_member_config
        member = load_member_config(a.config, quick=a.quick)
    elif a.index is not None:
        p.error("--index needs --config (the member whose training to show)")
    try:
        cfg = DistortionConfig.from_dict({**(member["distortion"] if member else {}), **dict(a.set)})
    except ValueError as e:
        p.error(str(e))
    if a.index is not None:
        try:
            tiles = seen_in_training(member, a.index, a.epochs, cfg)       # (R, 1 + E, 1, H, W)
        except ValueError as e:
            p.error(str(e))
        grid = make_grid(tiles.flatten(0, 1), nrow=tiles.shape[1], padding=2, pad_value=0.5)
        what = (f"training images {a.index} of {member['name']} (seed {member.get('seed', 0)}): "
                f"original + epochs {a.epochs}")
    else:
        from .mnist import load_mnist
        x, y = load_mnist("train")
        # One digit per class first (0, 1, 2, ...), so the grid shows every class.
        idx = [int((y == c).nonzero()[0]) for c in range(10)][: a.rows]
        imgs = x[idx].float().div(255).unsqueeze(1)                       # (R, 1, 28, 28)
        grid = preview_grid(imgs, cfg, a.k, torch.Generator().manual_seed(a.seed))
        what = f"{len(idx)} digits x (original + {a.k} distortions)"
    grid = torch.nn.functional.interpolate(grid[None], scale_factor=a.scale, mode="nearest")[0]
    save_image(grid, a.out)
    print(f"wrote {a.out}: {what}, {cfg}", file=sys.stderr)


if __name__ == "__main__":
    main()
