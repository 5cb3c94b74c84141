"""A fused member must behave exactly as the same model trained alone (DESIGN.md).

For each family: a K = 4 bank and four K = 1 runs with the same seeds, temperatures, learning
rates and data order give the same logits after 3 epochs of training (within 1e-4).
"""

from __future__ import annotations

import pytest
import torch

from tempcheck.data.base import DatasetSplits, Split
from tempcheck.registry import create_model, load_dataset
from tempcheck.train.loop import FitOptions, fit

# family -> small constructor options, so the test stays fast on a CPU
FAMILIES = {
    "mlp": {"hidden": (32, 32)},
    "cnn": {"widths": (8, 16, 16)},
}
# the deeper families, trained in float32 with their grouped convolutions run as per-member
# dense ones (conv_mode="loop", what CPUs use on large maps): the same kernels as a
# standalone model, so 3 epochs of training agree to float rounding. The grouped-kernel path is
# checked in float64 in test_families.py (in float32 grouped and dense kernels round
# differently, and tiny untrained deep nets amplify that over many steps).
DEEP_FAMILIES = {
    "resnet18": {"width": 4},
    "wrn16_4": {"widen_factor": 1, "base_width": 4},
    "vit_small": {"dim": 16, "depth": 2, "heads": 2},
}


@pytest.fixture(scope="module")
def small_digits() -> DatasetSplits:
    d = load_dataset("digits")
    return DatasetSplits(d.name, Split(d.train.x[:256], d.train.y[:256]), d.val, d.test,
                         d.num_classes, d.in_channels, d.image_size, d.mean, d.std)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_bank_member_equals_standalone_after_training(family, optimizer, small_digits):
    seeds = [3, 5, 7, 11]
    taus = [0.3, 1.0, 4.0, 20.0]
    lrs = [0.05, 0.02, 0.1, 0.03] if optimizer == "sgd" else [1e-3, 2e-3, 5e-4, 1e-3]
    opts = FitOptions(epochs=3, batch_size=32, optimizer=optimizer, weight_decay=5e-4,
                      nesterov=optimizer == "sgd")
    assert_members_match_standalone(family, FAMILIES[family], small_digits, seeds, taus, lrs, opts)


def assert_members_match_standalone(family, options, data, seeds, taus, lrs, opts):
    """Train a K-member bank and K standalone models (same seeds, τ, lr, data order) with
    ``fit``; every member's test logits must equal its twin's within 1e-4."""
    kwargs = dict(options, **data.model_kwargs())
    bank = create_model(family, members=len(seeds), seeds=seeds, **kwargs)
    fit(bank, data, temperatures=taus, lrs=lrs, options=opts, seed=42)
    bank.eval()
    x = data.test.x[:64]
    with torch.no_grad():
        bank_logits = bank(x)
    for k in range(len(seeds)):
        alone = create_model(family, members=1, seeds=[seeds[k]], **kwargs)
        fit(alone, data, temperatures=[taus[k]], lrs=[lrs[k]], options=opts, seed=42)
        alone.eval()
        with torch.no_grad():
            diff = (alone(x)[:, 0] - bank_logits[:, k]).abs().max().item()
        assert diff < 1e-4, f"member {k} of {family} differs from its standalone twin by {diff}"


@pytest.mark.parametrize("family", sorted(DEEP_FAMILIES))
def test_deep_family_member_equals_standalone_after_training(family, small_digits):
    opts = FitOptions(epochs=3, batch_size=64, weight_decay=5e-4)
    assert_members_match_standalone(family, dict(DEEP_FAMILIES[family], conv_mode="loop"),
                                    small_digits, [3, 5, 7],
                                    [0.5, 1.0, 5.0], [0.02, 0.05, 0.03], opts)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_per_member_input_equals_shared_input_when_copies(family, small_digits):
    model = create_model(family, members=3, seeds=[0, 1, 2],
                         **dict(FAMILIES[family], **small_digits.model_kwargs())).eval()
    x = small_digits.test.x[:16]
    with torch.no_grad():
        shared = model(x)
        per_member = model(x.unsqueeze(1).expand(-1, 3, -1, -1, -1))
        feats, logits = model(x, return_features=True)
    assert shared.shape == (16, 3, 10)
    assert feats.shape[:2] == (16, 3)
    assert torch.allclose(shared, per_member, atol=1e-5)
    assert torch.allclose(shared, logits)


def test_per_member_inputs_reach_only_their_member(small_digits):
    model = create_model("cnn", members=2, seeds=[0, 1], widths=(8, 8, 8),
                         **small_digits.model_kwargs()).eval()
    x = small_digits.test.x[:8]
    xs = torch.stack([x, x.flip(-1)], dim=1)  # member 1 sees mirrored digits
    with torch.no_grad():
        out = model(xs)
        assert torch.allclose(out[:, 0], model(x)[:, 0], atol=1e-5)
        assert torch.allclose(out[:, 1], model(x.flip(-1))[:, 1], atol=1e-5)


def test_head_init_scale_sets_initial_logit_norm(small_digits):
    kw = dict(widths=(8, 8, 8), **small_digits.model_kwargs())
    x = small_digits.test.x[:64]
    small = create_model("cnn", members=1, seeds=[0], head_init_scale=0.01, **kw).eval()
    big = create_model("cnn", members=1, seeds=[0], head_init_scale=1.0, **kw).eval()
    with torch.no_grad():
        ratio = small(x).norm(dim=-1).mean() / big(x).norm(dim=-1).mean()
    assert ratio.item() == pytest.approx(0.01, rel=1e-4)


def test_member_state_loads_into_a_standalone_model(small_digits):
    kw = dict(widths=(8, 8, 8), **small_digits.model_kwargs())
    bank = create_model("cnn", members=3, seeds=[4, 5, 6], **kw).eval()
    alone = create_model("cnn", members=1, seeds=[0], **kw).eval()
    alone.load_state_dict(bank.member_state(2))
    x = small_digits.test.x[:8]
    with torch.no_grad():
        assert torch.allclose(alone(x)[:, 0], bank(x)[:, 2], atol=1e-6)
