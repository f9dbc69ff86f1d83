"""Batched inference of one net over an in-memory uint8 image tensor."""
from __future__ import annotations

import torch


@torch.inference_mode()
def predict_logits(net, images_u8: torch.Tensor, device=None, batch_size: int = 1000) -> torch.Tensor:
    """uint8 (N, H, W) -> float32 logits (N, C) on the CPU; fp32, eval mode."""
    device = device or next(net.parameters()).device
    outs = []
    for i in range(0, len(images_u8), batch_size):
        x = images_u8[i:i + batch_size].to(device).unsqueeze(1).float().div_(255)   # (B, 1, H, W)
        outs.append(net(x).float().cpu())
    return torch.cat(outs)
