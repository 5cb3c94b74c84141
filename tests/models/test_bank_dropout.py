"""BankDropout draws per-member masks: member k of a K-bank drops exactly what the K = 1 model
with its seed drops, so bank equivalence holds with dropout on (the equivalence tests in
test_bank_equivalence.py train without dropout and stay as they are)."""

from __future__ import annotations

import pytest
import torch

import tempcheck.models.text_families  # noqa: F401 - registers the text families
from tempcheck.data.base import DatasetSplits, Split
from tempcheck.models.layers import BankDropout
from tempcheck.registry import create_model
from tempcheck.train.loop import FitOptions, fit

SEEDS = [3, 5, 7]


def _layer(p: float, seeds: list[int]) -> BankDropout:
    layer = BankDropout(p, members=len(seeds))
    for k, seed in enumerate(seeds):
        layer.init_member(k, torch.Generator().manual_seed(seed))
    return layer


@pytest.mark.parametrize("rest", [(6,), (4, 5), (2, 3, 3)], ids=["BKD", "BKLD", "BKCHW"])
def test_member_masks_do_not_depend_on_k_or_the_other_members(rest):
    x = torch.randn(8, len(SEEDS), *rest) + 3.0
    flat = x.reshape(8, -1, *rest[1:]) if len(rest) == 3 else x  # conv layout (B, K*C, H, W)
    torch.manual_seed(123)
    bank = _layer(0.4, SEEDS)(flat).reshape(x.shape)
    others = [11, SEEDS[1], 13]  # member 1 keeps its seed, its neighbours change
    torch.manual_seed(123)
    shuffled = _layer(0.4, others)(flat).reshape(x.shape)
    for k, seed in enumerate(SEEDS):
        torch.manual_seed(123)
        alone = _layer(0.4, [seed])(x[:, k : k + 1].reshape(8, -1, *rest[1:]) if len(rest) == 3
                                    else x[:, k : k + 1])
        assert torch.equal(bank[:, k], alone.reshape(8, *rest)), f"member {k}"
    assert torch.equal(shuffled[:, 1], bank[:, 1])


def test_masks_are_inverted_dropout_independent_across_members_and_calls():
    layer = _layer(0.3, SEEDS).train()
    torch.manual_seed(0)
    x = torch.ones(2000, 3, 10)
    first, second = layer(x), layer(x)
    kept = first != 0
    assert torch.allclose(first[kept], torch.tensor(1 / 0.7))  # kept units scaled by 1/(1−p)
    assert abs(kept.float().mean().item() - 0.7) < 0.01
    assert not torch.equal(kept[:, 0], kept[:, 1])  # members draw independent masks
    assert not torch.equal(first, second)  # and each call a new one
    # independence: P(both kept) ≈ P(kept)²
    both = (kept[:, 0] & kept[:, 1]).float().mean().item()
    assert abs(both - 0.49) < 0.01
    layer.eval()
    assert torch.equal(layer(x), x)


def test_dropout_zero_and_eval_draw_nothing_from_the_global_generator():
    torch.manual_seed(0)
    expected = torch.rand(1)
    torch.manual_seed(0)
    _layer(0.0, SEEDS).train()(torch.ones(4, 3, 2))
    _layer(0.5, SEEDS).eval()(torch.ones(4, 3, 2))
    assert torch.equal(torch.rand(1), expected)


def test_bad_layout_and_probability_are_refused():
    with pytest.raises(ValueError, match="\\(B, K, ...\\)"):
        _layer(0.5, SEEDS).train()(torch.ones(4, 4, 2))
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        BankDropout(1.5, members=2)


def test_wide_resnet_train_mode_forward_and_gradients_equal_standalone_in_float64():
    """Conv layout (B, K*C, H, W) inside a real family, with BatchNorm in training mode."""
    kwargs = dict(num_classes=10, in_channels=1, image_size=8, widen_factor=1, base_width=4,
                  dropout=0.3)
    x = torch.rand(16, 1, 8, 8, dtype=torch.float64)
    bank = create_model("wrn16_4", members=3, seeds=SEEDS, **kwargs).double().train()
    torch.manual_seed(7)
    out = bank(x)
    out.square().sum().backward()
    for k, seed in enumerate(SEEDS):
        alone = create_model("wrn16_4", members=1, seeds=[seed], **kwargs).double().train()
        torch.manual_seed(7)
        ref = alone(x)
        ref.square().sum().backward()
        assert torch.allclose(out[:, k], ref[:, 0], atol=1e-10), f"member {k}"
        assert torch.allclose(bank.head.weight.grad[k], alone.head.weight.grad[0], atol=1e-10)


def _text_splits() -> DatasetSplits:
    """Two classes: whether token 2 occurs more often than token 3 (ids 2..19, length 10)."""
    def split(n: int, seed: int) -> Split:
        ids = torch.randint(2, 20, (n, 10), generator=torch.Generator().manual_seed(seed))
        return Split(ids, ((ids == 2).sum(1) > (ids == 3).sum(1)).long())

    return DatasetSplits("two_tokens", split(96, 0), split(32, 1), split(32, 2), 2, 0, 0, (), (),
                         ["fewer", "more"], kind="text",
                         extra={"model_kwargs": {"vocab_size": 20, "max_len": 10, "pad_id": 0}})


TEXT_FAMILIES = {
    "bow": {"embed_dim": 16, "hidden": (16,)},
    "gru": {"embed_dim": 8, "hidden_size": 12},
    "text_transformer": {"dim": 16, "depth": 1, "heads": 2, "mlp_ratio": 2.0},
}


@pytest.mark.parametrize("family", sorted(TEXT_FAMILIES))
def test_bank_member_equals_standalone_after_training_with_dropout(family):
    data = _text_splits()
    kwargs = dict(TEXT_FAMILIES[family], dropout=0.3, head_init_scale=1.0, num_classes=2,
                  vocab_size=20, max_len=10, pad_id=0)
    taus, lrs = [0.5, 1.0, 4.0], [0.05, 0.1, 0.02]
    opts = FitOptions(epochs=3, batch_size=32)
    bank = create_model(family, members=3, seeds=SEEDS, **kwargs)
    fit(bank, data, temperatures=taus, lrs=lrs, options=opts, seed=5)
    bank.eval()
    with torch.no_grad():
        bank_logits = bank(data.test.x)
    for k, seed in enumerate(SEEDS):
        alone = create_model(family, members=1, seeds=[seed], **kwargs)
        fit(alone, data, temperatures=[taus[k]], lrs=[lrs[k]], options=opts, seed=5)
        alone.eval()
        with torch.no_grad():
            diff = (alone(data.test.x)[:, 0] - bank_logits[:, k]).abs().max().item()
        assert diff < 1e-4, f"member {k} of {family} differs from its twin by {diff}"
    # dropout was really on: the same bank trained without it ends elsewhere
    plain = create_model(family, members=3, seeds=SEEDS, **{**kwargs, "dropout": 0.0})
    fit(plain, data, temperatures=taus, lrs=lrs, options=opts, seed=5)
    plain.eval()
    with torch.no_grad():
        assert (plain(data.test.x) - bank_logits).abs().max().item() > 1e-3

