"""Parameters and multiply-adds per image of a member (forward hooks on Conv2d and Linear)."""
from __future__ import annotations

import torch
import torch.nn as nn


def count_params(net: nn.Module, include_aux: bool = False) -> int:
    return sum(p.numel() for n, p in net.named_parameters() if include_aux or not n.startswith("aux_heads."))


@torch.no_grad()
def count_macs(net: nn.Module, in_channels: int = 1, size: int = 28) -> int:
    """Multiply-adds of one inference forward pass (main head only) for a single image."""
    macs = []

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
            macs.append(out.numel() * k)
        elif isinstance(m, nn.Linear):
            macs.append(out.numel() * m.in_features)

    hooks = [m.register_forward_hook(hook) for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = net.training
    net.eval()
    try:
        net(torch.zeros(1, in_channels, size, size, device=next(net.parameters()).device))
    finally:
        for h in hooks:
            h.remove()
        net.train(was_training)
    return int(sum(macs))
