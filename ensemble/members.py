"""The member architectures: plain nn.Modules (no Lightning), built by name from configs.

Every member maps a float batch (B, C, H, W) in [0, 1] (light ink on dark, as MNIST) to
class logits (B, num_classes). Input standardization happens inside the net, so a weight
file alone fully defines the model. `forward(x, return_aux=True)` also returns the
auxiliary heads' logits (only the multi-supervised net has any; they are for training).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .registry import register_member


def conv_bn_relu(cin: int, cout: int, k: int, padding: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=padding, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class Member(nn.Module):
    """Shared plumbing: input standardization and the (logits, aux) protocol."""

    def __init__(self, num_classes: int, in_channels: int, input_size: int,
                 input_mean: float, input_std: float):
        super().__init__()
        self.num_classes, self.in_channels, self.input_size = num_classes, in_channels, input_size
        self.register_buffer("input_mean", torch.tensor(float(input_mean)), persistent=False)
        self.register_buffer("input_std", torch.tensor(float(input_std)), persistent=False)

    def standardize(self, x):
        return (x - self.input_mean) / self.input_std

    def forward(self, x, return_aux: bool = False):
        logits, aux = self.features_and_heads(self.standardize(x), return_aux)
        return (logits, aux) if return_aux else logits


@register_member("convpool")
class ConvPoolNet(Member):
    """Ciresan-style column: stages of k x k convs (BN-ReLU), max-pool after each, MLP head.

    channels[i] is the width of stage i, convs_per_stage convs each; 'same' padding.
    """

    def __init__(self, channels=(32, 64), kernel_size=5, convs_per_stage=1, hidden=200,
                 dropout=0.5, num_classes=10, in_channels=1, input_size=28,
                 input_mean=0.1307, input_std=0.3081):
        super().__init__(num_classes, in_channels, input_size, input_mean, input_std)
        layers, cin, size = [], in_channels, input_size
        for c in channels:
            for _ in range(convs_per_stage):
                layers.append(conv_bn_relu(cin, c, kernel_size, kernel_size // 2))
                cin = c
            layers.append(nn.MaxPool2d(2))
            size //= 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(cin * size * size, hidden), nn.ReLU(inplace=True),
                                  nn.Dropout(dropout), nn.Linear(hidden, num_classes))

    def features_and_heads(self, x, return_aux):
        return self.head(self.features(x)), []


@register_member("nopool")
class NoPoolNet(Member):
    """An et al. 2020 style: a stack of unpadded k x k BN-ReLU convs, no pooling at all.

    Each conv shrinks the map by k-1 pixels (28 -> 24 -> ... for k=5); then flatten, BN, FC.
    """

    def __init__(self, channels=(16, 24, 32, 48, 64), kernel_size=5, dropout=0.3,
                 num_classes=10, in_channels=1, input_size=28,
                 input_mean=0.1307, input_std=0.3081):
        super().__init__(num_classes, in_channels, input_size, input_mean, input_std)
        layers, cin, size = [], in_channels, input_size
        for c in channels:
            layers.append(conv_bn_relu(cin, c, kernel_size, 0))
            cin, size = c, size - (kernel_size - 1)
        if size < 1:
            raise ValueError(f"nopool: {len(channels)} unpadded {kernel_size}x{kernel_size} convs "
                             f"do not fit a {input_size}px input")
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(cin * size * size, num_classes, bias=False),
                                  nn.BatchNorm1d(num_classes))

    def features_and_heads(self, x, return_aux):
        return self.head(self.features(x)), []


class AuxHead(nn.Sequential):
    """Auxiliary classifier on an intermediate map: 1x1 conv, BN-ReLU, global pool, dropout, FC."""

    def __init__(self, cin, width, num_classes, dropout):
        super().__init__(nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width),
                         nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Dropout(dropout), nn.Linear(width, num_classes))


@register_member("msn")
class MultiSupervisedNet(Member):
    """Deep multi-supervised net (Chen et al. 2015 / deeply-supervised nets).

    len(channels) stages of `convs_per_stage` 3x3 BN-ReLU convs, 2x2 max-pool between
    stages; auxiliary heads after the stages listed in `aux_after` (training-only: the
    training loss adds sum_i w_i * aux_i, weights from the config). Main head: global
    average pool, dropout, FC.
    """

    def __init__(self, channels=(16, 24, 48), convs_per_stage=4, aux_after=(0, 1), aux_width=64,
                 dropout=0.3, num_classes=10, in_channels=1, input_size=28,
                 input_mean=0.1307, input_std=0.3081):
        super().__init__(num_classes, in_channels, input_size, input_mean, input_std)
        self.aux_after = tuple(int(i) for i in aux_after)
        if any(not 0 <= i < len(channels) - 1 for i in self.aux_after):
            raise ValueError(f"msn: aux_after {aux_after} must name stages 0..{len(channels) - 2}")
        self.stages = nn.ModuleList()
        cin = in_channels
        for i, c in enumerate(channels):
            convs = []
            for _ in range(convs_per_stage):
                convs.append(conv_bn_relu(cin, c, 3, 1))
                cin = c
            self.stages.append(nn.Sequential(*convs))
        self.aux_heads = nn.ModuleDict({str(i): AuxHead(channels[i], aux_width, num_classes, dropout)
                                        for i in self.aux_after})
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
                                  nn.Linear(cin, num_classes))

    def features_and_heads(self, x, return_aux):
        aux = []
        for i, stage in enumerate(self.stages):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = stage(x)
            if return_aux and str(i) in self.aux_heads:
                aux.append(self.aux_heads[str(i)](x))
        return self.head(x), aux
