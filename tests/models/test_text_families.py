"""Banked text models (bow, gru, text_transformer): shapes, padding, the GRU equations, and
bank equivalence (a K = 3 bank equals three K = 1 models, before and after training)."""

from __future__ import annotations

import pytest
import torch

import tempcheck.models.text_families  # noqa: F401 - registers the text families
from tempcheck.data.base import DatasetSplits, Split
from tempcheck.models.gru import BankGRULayer
from tempcheck.models.text_layers import BankEmbedding
from tempcheck.registry import create_model
from tempcheck.train.loop import FitOptions, fit

VOCAB, MAX_LEN = 40, 12
FAMILIES = {
    "bow": {"embed_dim": 16, "hidden": (16,)},
    "gru": {"embed_dim": 8, "hidden_size": 12},
    "text_transformer": {"dim": 16, "depth": 1, "heads": 2, "mlp_ratio": 2.0},
}


def _make(family: str, members: int, seeds, **extra):
    return create_model(family, num_classes=3, vocab_size=VOCAB, max_len=MAX_LEN, pad_id=0,
                        members=members, seeds=seeds, head_init_scale=1.0,
                        **{**FAMILIES[family], **extra})


def _ids(n: int, seed: int) -> torch.Tensor:
    """Random right-padded sequences with lengths 1..MAX_LEN (ids 2..VOCAB-1)."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(2, VOCAB, (n, MAX_LEN), generator=g)
    lengths = torch.randint(1, MAX_LEN + 1, (n,), generator=g)
    return ids.masked_fill(torch.arange(MAX_LEN) >= lengths.unsqueeze(1), 0)


def tiny_text_splits(n_train: int = 96) -> DatasetSplits:
    """3 classes: the class is which of the tokens 2, 3, 4 occurs most often."""
    def split(n: int, seed: int) -> Split:
        ids = _ids(n, seed)
        y = torch.stack([(ids == t).sum(1) for t in (2, 3, 4)], 1).argmax(1)
        return Split(ids, y)

    return DatasetSplits("tiny_text", split(n_train, 0), split(32, 1), split(32, 2), 3, 0, 0,
                         (), (), ["a", "b", "c"], kind="text",
                         extra={"model_kwargs": {"vocab_size": VOCAB, "max_len": MAX_LEN,
                                                 "pad_id": 0}})


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_shapes_and_per_member_inputs(family):
    model = _make(family, 3, [0, 1, 2]).eval()
    ids = _ids(5, 3)
    with torch.no_grad():
        feats, logits = model(ids, return_features=True)
        per_member = model(ids.unsqueeze(1).expand(-1, 3, -1))
        other = model(torch.stack([ids, _ids(5, 4), ids], dim=1))
    assert logits.shape == (5, 3, 3) and feats.shape[:2] == (5, 3)
    assert feats.shape[2] == model.feature_dim
    assert torch.allclose(per_member, logits, atol=1e-6)
    assert torch.allclose(other[:, [0, 2]], logits[:, [0, 2]], atol=1e-6)  # only member 1 moved
    assert not torch.allclose(other[:, 1], logits[:, 1])
    with pytest.raises(ValueError, match="integer token ids"):
        model(ids.float())


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_extra_padding_changes_nothing(family):
    model = _make(family, 2, [5, 6]).eval()
    ids = _ids(6, 7)[:, :8]
    padded = torch.cat([ids, torch.zeros(6, 4, dtype=torch.long)], dim=1)
    with torch.no_grad():
        assert torch.allclose(model(ids), model(padded), atol=1e-5)
        empty = model(torch.zeros(2, MAX_LEN, dtype=torch.long))
    assert torch.isfinite(empty).all()  # an all-padding sequence is still defined


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_bank_member_equals_standalone_in_eval_mode(family):
    seeds = [11, 3, 7]
    bank = _make(family, 3, seeds).eval()
    ids = _ids(8, 9)
    with torch.no_grad():
        out = bank(ids)
        for k, seed in enumerate(seeds):
            alone = _make(family, 1, [seed]).eval()
            assert torch.allclose(alone(ids)[:, 0], out[:, k], atol=1e-6)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_bank_member_equals_standalone_after_training(family):
    data = tiny_text_splits()
    seeds, taus, lrs = [1, 2, 3], [0.5, 1.0, 4.0], [3e-3, 1e-3, 2e-3]
    opts = FitOptions(epochs=2, batch_size=32, optimizer="adamw", weight_decay=0.01)
    bank = _make(family, 3, seeds)
    fit(bank, data, temperatures=taus, lrs=lrs, options=opts, seed=5)
    x = data.test.x
    with torch.no_grad():
        out = bank.eval()(x)
        untrained = _make(family, 3, seeds).eval()(x)
    assert (out - untrained).abs().max() > 1e-3  # training moved every family
    for k in range(3):
        alone = _make(family, 1, [seeds[k]])
        fit(alone, data, temperatures=[taus[k]], lrs=[lrs[k]], options=opts, seed=5)
        with torch.no_grad():
            diff = (alone.eval()(x)[:, 0] - out[:, k]).abs().max().item()
        assert diff < 1e-4, f"{family} member {k} differs from its standalone twin by {diff}"


def test_gru_layer_matches_torch_gru_on_packed_sequences():
    torch.manual_seed(0)
    layer = BankGRULayer(5, 7, members=2)
    layer.init_member(0, torch.Generator().manual_seed(0))
    layer.init_member(1, torch.Generator().manual_seed(1))
    x = torch.randn(4, 2, 6, 5)
    lengths = torch.tensor([6, 3, 1, 5])
    mask = (torch.arange(6) < lengths.unsqueeze(1)).unsqueeze(1).expand(-1, 2, -1)
    states, final, total = layer(x, mask, keep_states=True)
    for k in range(2):
        ref = torch.nn.GRU(5, 7, batch_first=True)
        with torch.no_grad():
            ref.weight_ih_l0.copy_(layer.w_ih[k].T)
            ref.weight_hh_l0.copy_(layer.w_hh[k].T)
            ref.bias_ih_l0.copy_(layer.b_ih[k])
            ref.bias_hh_l0.copy_(layer.b_hh[k])
        packed = torch.nn.utils.rnn.pack_padded_sequence(x[:, k], lengths, batch_first=True,
                                                         enforce_sorted=False)
        out, h_n = ref(packed)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=6)
        assert torch.allclose(final[:, k], h_n[0], atol=1e-5)
        valid = mask[:, k].unsqueeze(-1)
        assert torch.allclose(states[:, k] * valid, out * valid, atol=1e-5)
        assert torch.allclose(total[:, k], (out * valid).sum(1), atol=1e-5)


def test_bank_embedding_padding_row_and_bag_mean():
    emb = BankEmbedding(10, 4, members=2, pad_id=0)
    for k in range(2):
        emb.init_member(k, torch.Generator().manual_seed(k))
    assert torch.equal(emb.weight[:, 0], torch.zeros(2, 4))
    ids = torch.tensor([[3, 5, 0, 0], [0, 0, 0, 0], [9, 9, 1, 2]])
    dense = emb(ids)  # (B, K, L, D)
    keep = (ids != 0).float()[:, None, :, None]
    expected = dense.sum(2) / keep.sum(2).clamp_min(1)
    assert torch.allclose(emb.bag_mean(ids), expected, atol=1e-6)
    assert torch.allclose(dense[:, 1, 0], emb.weight[1, ids[:, 0]] * (ids[:, :1] != 0))
    (emb(ids).sum() + emb.bag_mean(ids).sum()).backward()
    assert torch.equal(emb.weight.grad[:, 0], torch.zeros(2, 4))  # padding gets no gradient
    with pytest.raises(ValueError, match="outside the vocabulary"):
        emb(torch.tensor([[10]]))
