"""Network architectures with an explicit feature / head split.

The ResNets follow He et al. (2016) with the CIFAR stem used by [A] (3x3 stem convolution,
stride 1, no max-pool). Every model exposes

* ``forward_features(x)``: the penultimate (head-input) features, shape (B, D): the pooled
  last stage passed through ``neck`` (identity, except for a CMF model, whose neck maps them
  to the centred, normalised features ẑ, see :mod:`illusion.cmf`);
* ``stage_features(x)``: globally average-pooled features of the stem and of each residual
  stage, as an ordered ``dict`` name -> (B, C_stage), the last entry equal to
  ``forward_features`` before the neck;
* ``forward_head(f)``: the classifier applied to features.

so probes and CKA never need forward hooks.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn
import torch.nn.functional as F

__all__ = ["ResNet", "available", "create_model", "memory_format", "register_model"]

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    """Decorator adding a model constructor to the registry under ``name``."""

    def wrap(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is already registered")
        _REGISTRY[name] = fn
        return fn

    return wrap


def available() -> list[str]:
    """Names accepted by :func:`create_model`."""
    return sorted(_REGISTRY)


# Narrowest convolution that trains in channels-last memory format on the CPU. With fewer
# output channels, this torch build (2.14.1, CPU) corrupts the heap in the backward pass of
# a channels-last convolution ("corrupted double-linked list", then abort), seen with
# ResNet-18 of width 2 and 4 on 8x8 images; widths 8 and up run.
MIN_CHANNELS_LAST_WIDTH = 8


def memory_format(model: nn.Module) -> torch.memory_format:
    """``torch.channels_last`` (faster convolutions) unless the model has a convolution with
    fewer than :data:`MIN_CHANNELS_LAST_WIDTH` output channels, then ``contiguous_format``."""
    widths = [m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)]
    narrow = widths and min(widths) < MIN_CHANNELS_LAST_WIDTH
    return torch.contiguous_format if narrow else torch.channels_last


def create_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model; unknown names raise ``KeyError`` listing the valid ones."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; choose from {', '.join(available())}")
    return _REGISTRY[name](**kwargs)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = _shortcut(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, c_in: int, c_mid: int, stride: int):
        super().__init__()
        c_out = c_mid * self.expansion
        self.conv1 = nn.Conv2d(c_in, c_mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_mid)
        self.conv2 = nn.Conv2d(c_mid, c_mid, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_mid)
        self.conv3 = nn.Conv2d(c_mid, c_out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c_out)
        self.shortcut = _shortcut(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


def _shortcut(c_in: int, c_out: int, stride: int) -> nn.Module:
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))


class ResNet(nn.Module):
    """ResNet with a CIFAR stem; ``width`` is the channel count of the first stage (64 in [A])."""

    def __init__(self, block: type, depths: tuple[int, ...], num_classes: int = 10,
                 width: int = 64, in_channels: int = 3):
        super().__init__()
        if width < 1 or in_channels < 1 or num_classes < 2:
            raise ValueError("width and in_channels must be >= 1 and num_classes >= 2")
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        stages, c_in = [], width
        for i, depth in enumerate(depths):
            c_mid = width * 2**i
            blocks = []
            for j in range(depth):
                blocks.append(block(c_in, c_mid, 2 if (i > 0 and j == 0) else 1))
                c_in = c_mid * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.feature_dim = c_in
        self.neck = nn.Identity()  # pooled features -> head input (illusion.cmf swaps it)
        self.fc = nn.Linear(c_in, num_classes)

    @property
    def stage_names(self) -> list[str]:
        return ["stem"] + [f"stage{i + 1}" for i in range(len(self.stages))]

    def stage_maps(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Feature maps after the stem and after every residual stage: name -> (B, C, H, W)
        (for modules attached to intermediate depths, e.g. EC's auxiliary heads)."""
        h = self.stem(x)
        out = {"stem": h}
        for name, stage in zip(self.stage_names[1:], self.stages):
            h = stage(h)
            out[name] = h
        return out

    def stage_features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Pooled features after the stem and after every residual stage: name -> (B, C)."""
        return {name: h.mean(dim=(2, 3)) for name, h in self.stage_maps(x).items()}

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for stage in self.stages:
            h = stage(h)
        return self.neck(h.mean(dim=(2, 3)))  # (B, feature_dim)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(features)  # (B, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_model("resnet18")
def resnet18(num_classes: int = 10, width: int = 64, in_channels: int = 3) -> ResNet:
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes, width, in_channels)


@register_model("resnet50")
def resnet50(num_classes: int = 10, width: int = 64, in_channels: int = 3) -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, width, in_channels)
