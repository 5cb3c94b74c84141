"""--max-bank: parsing, and the "auto" rule that sizes banks for the device."""

from __future__ import annotations

import pytest
import torch

from tempcheck.config import load_config, parse_max_bank
from tempcheck.data.base import DatasetSplits, Split
from tempcheck.errors import ConfigError
from tempcheck.registry import create_model
from tempcheck.sweep.bank_size import BANK_FLOATS, largest_member_activation, plan_bank_size
from tempcheck.sweep.plan import plan_groups

CPU = torch.device("cpu")


def _images(size: int, channels: int = 3, n: int = 96) -> DatasetSplits:
    x = torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(0))
    y = torch.arange(n) % 10
    s = Split(x, y)
    return DatasetSplits(f"synthetic{size}", s, s, s, 10, channels, size, (0.5,) * channels,
                         (0.25,) * channels)


@pytest.mark.parametrize("value, parsed", [("auto", "auto"), ("AUTO", "auto"), ("all", "all"),
                                           (None, "all"), (4, 4), ("4", 4), (2.0, 2)])
def test_max_bank_values(value, parsed):
    assert parse_max_bank(value) == parsed


@pytest.mark.parametrize("value", [0, -1, "0", "fast", 1.5, True])
def test_bad_max_bank_is_a_config_error(value):
    with pytest.raises(ConfigError, match="max_bank"):
        parse_max_bank(value)
    with pytest.raises(ConfigError, match="max_bank"):
        load_config(None, [f"sweep.max_bank={value!r}" if isinstance(value, str)
                           else f"sweep.max_bank={value}"])


def test_auto_is_the_default_and_plans_like_all_without_a_size():
    cfg = load_config(None, ["sweep.temperatures=[0.1, 1, 10]", "sweep.seeds=[0]"])
    assert cfg.sweep.max_bank == "auto"
    assert [len(g.members) for g in plan_groups(cfg)] == [3]
    assert [len(g.members) for g in plan_groups(cfg, 2)] == [2, 1]


def test_largest_member_activation_is_the_widest_map():
    model = create_model("cnn", members=1, seeds=[0], widths=(4, 8, 8), num_classes=10,
                         in_channels=1, image_size=8)
    # the first conv's output, kept by its BatchNorm: 5 images x 4 channels x 8 x 8
    assert largest_member_activation(model, torch.rand(5, 1, 8, 8)) == 5 * 4 * 64


def test_auto_on_cpu_keeps_one_bank_for_the_cnn_and_splits_a_wide_resnet():
    cnn = load_config(None, ["model.name=cnn", "train.batch_size=64"])
    plan = plan_bank_size(cnn, _images(28, channels=1), CPU)
    assert plan.max_bank is None and "chunks" in plan.rule
    res = load_config(None, ["model.name=resnet18", "model.options={width: 16}",
                             "train.batch_size=64"])
    plan = plan_bank_size(res, _images(32), CPU)
    per_member = 64 * 16 * 32 * 32  # the stem's output map
    assert plan.member_activation == per_member
    assert plan.max_bank == BANK_FLOATS // per_member
    assert plan.to_dict()["requested"] == "auto"


def test_explicit_sizes_and_other_devices_are_taken_as_given():
    res = load_config(None, ["model.name=resnet18", "model.options={width: 4}",
                             "sweep.max_bank=3"])
    assert plan_bank_size(res, _images(8), CPU).max_bank == 3
    everything = load_config(None, ["model.name=resnet18", "sweep.max_bank=all"])
    assert plan_bank_size(everything, _images(8), CPU).max_bank is None
    auto = load_config(None, ["model.name=resnet18", "model.options={width: 4}"])
    assert plan_bank_size(auto, _images(8), torch.device("cuda")).max_bank is None
