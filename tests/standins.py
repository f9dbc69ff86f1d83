"""Tiny stand-in weight files for the reading tests: known answers, no training.

- `save_oracles`: members that ignore the image ('a' and 'b' say 3, 'c' says 7).
- `save_ink_members` + `ink_digits`: members whose answer DEPENDS on the image, through the
  amount of ink: `ink_digits()[k]` is read as class k by members 'a' and 'b' and as (k + 1) % 10
  by 'c', so the vote is k with agreement 2/3. A row written to the wrong image shows up.
"""
from __future__ import annotations

import numpy as np
import torch

from ensemble import create_member
from ensemble.export import save_member

CLASSES = [str(i) for i in range(10)]
INPUT = {"size": 28, "channels": 1, "range": [0, 1], "polarity": "light-on-dark"}
ORACLES = {"a": ("convpool", {"channels": [4, 8], "hidden": 16}, 3),
           "b": ("nopool", {"channels": [4, 4, 4]}, 3),
           "c": ("msn", {"channels": [4, 8], "convs_per_stage": 1, "aux_after": [0], "aux_width": 8}, 7)}


def meta(name, arch, args, **over):
    return {"member": name, "arch": arch, "arch_args": args, "num_classes": 10,
            "class_names": CLASSES, "input": INPUT, **over}


def oracle(arch, args, cls):
    """A member whose logits are 10 for `cls`, 0 elsewhere, whatever the input."""
    net = create_member(arch, **args).eval()
    last = net.head[-1]                                   # Linear, or BatchNorm1d for nopool
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
        last.bias[cls] = 10.0
    return net


def save_oracles(folder, **override):
    for name, (arch, args, cls) in ORACLES.items():
        save_member(folder / f"{name}.safetensors", oracle(arch, args, cls),
                    {**meta(name, arch, args), **override.get(name, {})})
    return folder


# ---- members whose answer depends on the ink --------------------------------------------
INK_ARGS = {"channels": [1, 1], "convs_per_stage": 1, "aux_after": [], "aux_width": 1, "dropout": 0.0}


def ink_digits() -> np.ndarray:
    """uint8 (10, 28, 28), MNIST-style (a light bar on black, off the border, under half the
    field, so normalization passes them through unchanged); the ink grows with k."""
    out = np.zeros((10, 28, 28), np.uint8)
    for k in range(10):
        w = 2 + 2 * k                                     # 2 .. 20 px wide, 18 px tall
        x0 = (28 - w) // 2 & ~1                           # even offsets: the 2x2 max-pool keeps w/2
        out[k, 4:22, x0:x0 + w] = 255
    return out


def _ink_net(centres: torch.Tensor):
    """msn with identity 3x3 convs: feature = mean of relu(standardized ink) after a max-pool;
    head logits_k = 2 c_k f - c_k^2, i.e. the class whose centre c_k is nearest to f."""
    net = create_member("msn", **INK_ARGS).eval()
    with torch.no_grad():
        for stage in net.stages:
            conv, bn = stage[0][0], stage[0][1]
            conv.weight.zero_()
            conv.weight[0, 0, 1, 1] = 1.0
            bn.weight.fill_(1.0), bn.bias.zero_(), bn.running_mean.zero_(), bn.running_var.fill_(1.0)
        head = net.head[-1]
        head.weight.copy_(2 * centres[:, None])
        head.bias.copy_(-centres ** 2)
    return net


def ink_features() -> torch.Tensor:
    """The feature f of each ink digit (what the head sees), in class order."""
    net = _ink_net(torch.zeros(10))
    x = torch.from_numpy(ink_digits()).float().div(255).unsqueeze(1)     # (10, 1, 28, 28)
    with torch.no_grad():
        h = net.standardize(x)
        for i, stage in enumerate(net.stages):
            h = stage(torch.nn.functional.max_pool2d(h, 2) if i else h)
        return h.mean((1, 2, 3))                                         # (10,)


def save_ink_members(folder):
    f = ink_features()
    assert (f.diff() > 0).all(), "ink digits must have distinct features"
    shifted = torch.roll(f, 1)                      # class (k + 1) % 10 sits at digit k's feature
    for name, centres in (("a", f), ("b", f), ("c", shifted)):
        save_member(folder / f"{name}.safetensors", _ink_net(centres), meta(name, "msn", INK_ARGS))
    return folder
