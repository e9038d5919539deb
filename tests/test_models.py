"""illusion.models: registry and the ResNet feature / head split."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from illusion import models
from illusion.models import available, create_model, register_model


def _model(width=4, in_channels=1, num_classes=7, name="resnet18", seed=0):
    torch.manual_seed(seed)
    return create_model(name, width=width, in_channels=in_channels, num_classes=num_classes).eval()


def _x(shape=(2, 1, 16, 16)):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0))


def test_registry():
    names = available()
    assert "resnet18" in names and "resnet50" in names
    assert names == sorted(names)
    with pytest.raises(KeyError) as info:
        create_model("resnet-nope")
    assert "resnet18" in info.value.args[0] and "resnet50" in info.value.args[0]


def test_duplicate_registration_raises():
    with pytest.raises(ValueError):
        register_model("resnet18")(lambda **kw: nn.Linear(1, 1))
    assert models._REGISTRY["resnet18"] is models.resnet18


def test_registration_adds_model(monkeypatch):
    monkeypatch.setattr(models, "_REGISTRY", dict(models._REGISTRY))
    register_model("tiny-linear")(lambda num_classes=2, **kw: nn.Linear(3, num_classes))
    assert "tiny-linear" in available()
    assert create_model("tiny-linear", num_classes=4).out_features == 4


def test_resnet18_shapes():
    m = _model()
    x = _x()
    with torch.no_grad():
        logits = m(x)
        feats = m.forward_features(x)
        stages = m.stage_features(x)
    assert logits.shape == (2, 7)
    assert feats.shape == (2, 32) and m.feature_dim == 32
    assert list(stages) == ["stem", "stage1", "stage2", "stage3", "stage4"]
    assert m.stage_names == list(stages)
    assert [v.shape[1] for v in stages.values()] == [4, 4, 8, 16, 32]
    assert all(v.shape[0] == 2 for v in stages.values())
    torch.testing.assert_close(stages["stage4"], feats, rtol=0, atol=0)
    torch.testing.assert_close(m.forward_head(feats), logits, rtol=0, atol=0)


def test_resnet18_rgb_default_input():
    m = _model(width=2, in_channels=3, num_classes=10)
    with torch.no_grad():
        assert m(_x((3, 3, 8, 8))).shape == (3, 10)
    with pytest.raises(RuntimeError):
        m(_x((1, 1, 8, 8)))  # wrong channel count


def test_cifar_stem_and_no_maxpool():
    m = _model()
    conv = m.stem[0]
    assert isinstance(conv, nn.Conv2d)
    assert conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.padding == (1, 1)
    assert conv.in_channels == 1 and conv.out_channels == 4
    pools = (nn.MaxPool2d, nn.MaxPool1d, nn.MaxPool3d, nn.AdaptiveMaxPool2d)
    assert not any(isinstance(mod, pools) for mod in m.modules())
    # spatial resolution is kept by the stem and stage1, halved by stages 2..4
    with torch.no_grad():
        h = m.stem(_x())
        assert h.shape[-2:] == (16, 16)
        sizes = []
        for stage in m.stages:
            h = stage(h)
            sizes.append(tuple(h.shape[-2:]))
    assert sizes == [(16, 16), (8, 8), (4, 4), (2, 2)]


def test_resnet18_block_counts():
    m = _model()
    assert [len(s) for s in m.stages] == [2, 2, 2, 2]
    assert all(isinstance(b, models.BasicBlock) for s in m.stages for b in s)


def test_resnet50_width2():
    m = _model(width=2, in_channels=3, num_classes=5, name="resnet50")
    assert m.feature_dim == 64
    assert [len(s) for s in m.stages] == [3, 4, 6, 3]
    with torch.no_grad():
        x = _x((2, 3, 8, 8))
        assert m.forward_features(x).shape == (2, 64)
        assert m(x).shape == (2, 5)
        stages = m.stage_features(x)
    assert [v.shape[1] for v in stages.values()] == [2, 8, 16, 32, 64]


@pytest.mark.parametrize("kwargs", [dict(width=0), dict(in_channels=0), dict(num_classes=1)])
def test_invalid_arguments(kwargs):
    with pytest.raises(ValueError):
        create_model("resnet18", **kwargs)


def test_train_mode_batchnorm_gradients_flow():
    m = _model(width=2).train()
    x = _x((4, 1, 8, 8))
    m(x).sum().backward()
    assert all(p.grad is not None for p in m.parameters())


def test_memory_format_avoids_channels_last_for_narrow_convolutions():
    """Narrow convolutions (width < 8) train in contiguous format: this torch build corrupts
    the heap in their channels-last backward; wider models keep channels-last."""
    from illusion.models import memory_format

    assert memory_format(create_model("resnet18", width=2, in_channels=1)) == torch.contiguous_format
    assert memory_format(create_model("resnet18", width=4, in_channels=1)) == torch.contiguous_format
    assert memory_format(create_model("resnet18", width=8, in_channels=1)) == torch.channels_last
    assert memory_format(torch.nn.Linear(3, 2)) == torch.channels_last
