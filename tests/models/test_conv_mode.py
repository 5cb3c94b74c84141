"""The grouped-convolution mode is an explicit option of a model, not global state."""

from __future__ import annotations

import pytest
import torch

from tempcheck.models.layers import BankConv2d
from tempcheck.registry import create_model

KW = dict(members=3, seeds=[0, 1, 2], num_classes=4, in_channels=3, image_size=16, width=4)


def _convs(model):
    return [m for m in model.modules() if isinstance(m, BankConv2d)]


@pytest.mark.parametrize("mode", ["grouped", "loop"])
def test_every_mode_computes_the_same_function(mode):
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0)).double()
    ref = create_model("resnet18", **KW).double().eval()
    other = create_model("resnet18", conv_mode=mode, **KW).double().eval()
    assert {c.conv_mode for c in _convs(other)} == {mode}
    assert {c.conv_mode for c in _convs(ref)} == {"auto"}
    torch.testing.assert_close(other(x), ref(x), atol=1e-10, rtol=1e-10)


def test_modes_are_per_model():
    a = create_model("resnet18", conv_mode="loop", **KW)
    b = create_model("resnet18", **KW)
    a.set_conv_mode("grouped")
    assert {c.conv_mode for c in _convs(a)} == {"grouped"}
    assert {c.conv_mode for c in _convs(b)} == {"auto"}


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="conv_mode"):
        create_model("resnet18", conv_mode="fast", **KW)
    with pytest.raises(ValueError, match="conv_mode"):
        BankConv2d(3, 4, 3, members=2, conv_mode="fast")
