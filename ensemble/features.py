"""What a member's first convolution layers make of one image: feature maps, as pictures.

    from ensemble.features import conv_feature_maps, feature_grid
    maps = conv_feature_maps(ens, "c5_pool", img28, layers=2)   # [FeatureMap], first conv first
    maps[0].maps.shape                                          # (C, H, W) float32, e.g. (32, 28, 28)
    feature_grid(maps[0].maps).save("conv1.png")                # one tile per channel

Forward hooks on the member's Conv2d modules of the loaded `Ensemble` itself (BatchNorm is
folded into those convs there, and the layout is channels-last), recorded in the order the
forward pass calls them. Every conv of the members is followed by BatchNorm and ReLU, so
ReLU(conv output) is what the next layer receives: that is what is returned. The hooks record
only calls from the calling thread, so a server may vote with the same nets meanwhile.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

# viridis at 5 stops: dark blue (0) -> yellow (1); readable for weak and strong responses alike
_STOPS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], np.float32)


@dataclass
class FeatureMap:
    name: str                   # "conv1", "conv2", ... in call order
    module: str                 # where it lives in the net, e.g. "features.0.0"
    kernel: tuple[int, int]
    maps: np.ndarray            # float32 (C, H, W), >= 0: ReLU of the (BatchNorm-folded) conv output


def conv_feature_maps(ensemble, member: str | int, image, layers: int = 2) -> list[FeatureMap]:
    """The first `layers` convolutions' feature maps of one member for one 28x28 image.

    image: uint8 (28, 28) (or anything `Ensemble.predict_proba` accepts for one image).
    member: a member name (ensemble.member_names) or index. Raises KeyError for an unknown name.
    """
    if isinstance(member, str):
        if member not in ensemble.member_names:
            raise KeyError(f"unknown member {member!r}; members: {ensemble.member_names}")
        member = ensemble.member_names.index(member)
    net: nn.Module = ensemble.nets[member]
    x = ensemble._as_batch(np.asarray(image)[None] if isinstance(image, np.ndarray) and image.ndim == 2
                           else image)[:1]                                    # (1, C, H, W)
    me, seen, handles = threading.get_ident(), [], []

    def hook(name):
        def record(module, _inp, out):
            if threading.get_ident() == me and len(seen) < layers:
                seen.append((name, module, out.detach().float().relu().contiguous()[0].cpu().numpy()))
        return record

    for name, mod in net.named_modules():
        if isinstance(mod, nn.Conv2d):
            handles.append(mod.register_forward_hook(hook(name)))
    try:
        with torch.inference_mode():
            net(x.to(ensemble.device).contiguous(memory_format=ensemble.memory_format))
    finally:
        for h in handles:
            h.remove()
    return [FeatureMap(f"conv{k + 1}", name, tuple(mod.kernel_size), maps)
            for k, (name, mod, maps) in enumerate(seen)]


def colorize(x: np.ndarray) -> np.ndarray:
    """float values in [0, 1] (any shape) -> uint8 RGB (..., 3) on the viridis scale."""
    t = np.clip(x, 0, 1) * (len(_STOPS) - 1)
    lo = np.minimum(t.astype(np.int64), len(_STOPS) - 2)
    f = (t - lo)[..., None]
    return np.rint(_STOPS[lo] * (1 - f) + _STOPS[lo + 1] * f).astype(np.uint8)


def feature_grid(maps: np.ndarray, scale: int = 2, columns: int | None = None):
    """(C, H, W) maps -> one PIL RGB picture, a tile per channel on a shared scale.

    All tiles share the layer's maximum, so weak channels look weak and dead ones black.
    """
    from PIL import Image
    from torchvision.utils import make_grid
    C, H, W = maps.shape
    top = float(maps.max()) or 1.0
    rgb = torch.from_numpy(colorize(maps / top)).permute(0, 3, 1, 2)              # (C, 3, H, W)
    rgb = rgb.repeat_interleave(scale, 2).repeat_interleave(scale, 3)            # nearest upscale
    if columns is None:                       # about twice as wide as tall, full rows where possible
        c0 = max(1, min(C, math.ceil(math.sqrt(2 * C))))
        columns = next((c for c in range(c0, min(C, 2 * c0) + 1) if C % c == 0), c0)
    grid = make_grid(rgb, nrow=columns, padding=2, pad_value=255)               # (3, H', W')
    return Image.fromarray(grid.permute(1, 2, 0).numpy())
