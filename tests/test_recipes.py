"""The real-dataset recipes in configs/ load, name registered datasets and models, pass options
their owners accept, build their model at full size, and follow the published recipes."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import tempcheck.data.sources  # noqa: F401 - registers the datasets by name
import tempcheck.models.families  # noqa: F401 - registers the families by name
from tempcheck.config import load_config
from tempcheck.data.augment import POLICIES
from tempcheck.data.cifar import CifarOptions
from tempcheck.data.imagefolder import FolderOptions
from tempcheck.data.prepare import parse_loader_options
from tempcheck.models.base import BankModel
from tempcheck.registry import create_model, lookup

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
RECIPES = [
    "cifar10_resnet18", "cifar10_resnet50", "cifar10_vit", "cifar100_resnet50",
    "tinyimagenet_resnet50", "cifar10_wrn",
]
FILES = [f"{r}{suffix}.yaml" for r in RECIPES for suffix in ("", "_fast")]
OPTIONS = {"cifar10": CifarOptions, "cifar100": CifarOptions, "tinyimagenet": FolderOptions}
IMAGE = {"cifar10": (10, 32), "cifar100": (100, 32), "tinyimagenet": (200, 64)}


@pytest.mark.parametrize("name", FILES)
def test_recipe_loads_and_names_what_exists(name, monkeypatch):
    cfg = load_config(CONFIGS / name)
    lookup("dataset", cfg.data.name)
    parse_loader_options(OPTIONS[cfg.data.name], dict(cfg.data.options), cfg.data.name)
    assert cfg.data.augment in POLICIES
    assert cfg.data.download is False and cfg.data.data_dir is None  # the user supplies them
    factory = lookup("model", cfg.model.name)
    accepted = inspect.signature(factory).parameters
    assert set(cfg.model.options) <= set(accepted), cfg.model.options
    # building the full-size model checks option values too (heads | dim, stems ...);
    # drawing tens of millions of initial weights is not needed for that
    monkeypatch.setattr(BankModel, "reset_parameters", lambda self, seeds: None)
    classes, size = IMAGE[cfg.data.name]
    if cfg.data.name == "tinyimagenet":
        size = cfg.data.options.get("image_size", size)
    model = create_model(
        cfg.model.name, num_classes=classes, in_channels=3, image_size=size, members=1,
        head_init_scale=cfg.model.head_init_scale, **cfg.model.options,
    )
    assert model.family == cfg.model.name
    assert all(t > 0 for t in cfg.sweep.temperatures)


@pytest.mark.parametrize("recipe", RECIPES)
def test_full_and_fast_variants(recipe):
    full = load_config(CONFIGS / f"{recipe}.yaml")
    fast = load_config(CONFIGS / f"{recipe}_fast.yaml")
    assert full.data.name == fast.data.name
    assert full.train.epochs >= 100 and fast.train.epochs <= 20
    assert len(full.sweep.seeds) >= 3 and len(fast.sweep.seeds) == 1
    assert len(full.sweep.temperatures) >= 5 and min(full.sweep.temperatures) < 1
    assert max(full.sweep.temperatures) > 1 and 1.0 in full.sweep.temperatures
    assert fast.train.batch_size >= full.train.batch_size


@pytest.mark.parametrize("recipe", [r for r in RECIPES if "vit" not in r])
def test_convnets_use_the_standard_sgd_recipe(recipe):
    # docs/theory.md §9: SGD lr 0.1, momentum 0.9, wd 5e-4, batch 128, ~200 epochs
    t = load_config(CONFIGS / f"{recipe}.yaml").train
    assert (t.optimizer, t.lr, t.momentum, t.weight_decay, t.batch_size, t.epochs) == (
        "sgd", 0.1, 0.9, 5e-4, 128, 200
    )
    assert t.schedule == "cosine"


def test_vit_uses_the_adamw_recipe():
    t = load_config(CONFIGS / "cifar10_vit.yaml").train
    assert (t.optimizer, t.lr, t.weight_decay, t.label_smoothing) == ("adamw", 1e-3, 0.05, 0.1)
    assert t.warmup_epochs > 0 and t.epochs == 200
