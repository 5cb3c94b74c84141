"""``tempcheck.bank``: any nn.Module banked with torch.func keeps the bank contract.

Equivalence (DESIGN.md): member k of a K-bank trained with ``fit`` equals the same factory
banked alone (K = 1, same seed, τ, lr, data order) after 3 epochs, for an MLP, a small convnet
with BatchNorm and dropout, and a module with buffers; at init member k is exactly
``torch.manual_seed(seed); factory()``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import user_models  # tests/models/user_models.py (on pytest's pythonpath)

import tempcheck
from tempcheck.data.base import DatasetSplits, Split
from tempcheck.data.loader import BatchLoader
from tempcheck.errors import ModelError
from tempcheck.models.functional_bank import FunctionalBank, bank
from tempcheck.models.member_dropout import mix64, uniform_from_key
from tempcheck.models.python_model import resolve_factory
from tempcheck.registry import create_model, load_dataset
from tempcheck.train.loop import FitOptions, fit
from tempcheck.train.streams import RandomStreams

HERE = Path(__file__).parent

FACTORIES = {"mlp": user_models.mlp, "small_cnn": user_models.small_cnn,
             "projected": user_models.projected}


@pytest.fixture(scope="module")
def small_digits() -> DatasetSplits:
    d = load_dataset("digits")
    return DatasetSplits(d.name, Split(d.train.x[:256], d.train.y[:256]), d.val, d.test,
                         d.num_classes, d.in_channels, d.image_size, d.mean, d.std)


def _bank(name, seeds, data):
    return bank(FACTORIES[name], seeds=seeds, sample_shape=(1, 8, 8), mean=data.mean,
                std=data.std)


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_member_equals_module_trained_alone(name, small_digits):
    seeds, taus, lrs = [3, 5, 7], [0.3, 1.0, 5.0], [0.05, 0.02, 0.1]
    opts = FitOptions(epochs=3, batch_size=32, weight_decay=5e-4)
    model = _bank(name, seeds, small_digits)
    fit(model, small_digits, temperatures=taus, lrs=lrs, options=opts, seed=42)
    model.eval()
    x = small_digits.test.x[:64]
    with torch.no_grad():
        together = model(x)
    for k, seed in enumerate(seeds):
        alone = _bank(name, [seed], small_digits)
        fit(alone, small_digits, temperatures=[taus[k]], lrs=[lrs[k]], options=opts, seed=42)
        alone.eval()
        with torch.no_grad():
            diff = (alone(x)[:, 0] - together[:, k]).abs().max().item()
        assert diff < 1e-4, f"member {k} of {name} differs from its standalone twin by {diff}"
        for (n, a), b in zip(alone.net.named_buffers(), model.net.buffers()):
            assert torch.allclose(a[0].double(), b[k].double(), atol=1e-5), n  # BN stats too


def _train_plain(module, data, tau, lr, epochs, batch_size, seed):
    """The module alone, trained with plain PyTorch: torch.optim.SGD, F.cross_entropy(z / τ),
    the batches fit draws for data seed ``seed``."""
    mean = torch.tensor(data.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.std).view(1, -1, 1, 1)
    opt = torch.optim.SGD(module.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
    loader = BatchLoader(data.train, batch_size=batch_size, shuffle=True,
                         seed=RandomStreams(seed).order, drop_last=True)
    for epoch in range(epochs):
        module.train()
        for xb, yb in loader.epoch(epoch):
            loss = F.cross_entropy(module((xb - mean) / std) / tau, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return module.eval()


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_member_equals_plain_pytorch_training_of_the_module(name, small_digits):
    """Without dropout the twin needs no tempcheck at all: member k of the trained bank equals
    ``torch.manual_seed(seed); factory()`` trained with torch.optim.SGD on the same batches."""
    seeds, taus, lrs = [3, 5], [0.5, 4.0], [0.05, 0.1]
    options = {"dropout": 0.0} if name == "small_cnn" else {}
    opts = FitOptions(epochs=3, batch_size=32, weight_decay=5e-4, schedule="constant")
    model = bank(FACTORIES[name], seeds=seeds, options=options, sample_shape=(1, 8, 8),
                 mean=small_digits.mean, std=small_digits.std)
    fit(model, small_digits, temperatures=taus, lrs=lrs, options=opts, seed=42)
    model.eval()
    x = small_digits.test.x[:64]
    mean = torch.tensor(small_digits.mean).view(1, -1, 1, 1)
    std = torch.tensor(small_digits.std).view(1, -1, 1, 1)
    with torch.no_grad():
        together = model(x)
    for k, seed in enumerate(seeds):
        torch.manual_seed(seed)
        plain = _train_plain(FACTORIES[name](**options), small_digits, taus[k], lrs[k], 3, 32, 42)
        with torch.no_grad():
            diff = (plain((x - mean) / std) - together[:, k]).abs().max().item()
        assert diff < 1e-4, f"member {k} of {name} differs from plain PyTorch by {diff}"
        for (n, a), b in zip(plain.named_buffers(), model.net.buffers()):
            assert torch.allclose(a.double(), b[k].double(), atol=1e-5), n  # BN stats, counter


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_member_at_init_is_the_factory_under_its_seed(name, small_digits):
    model = _bank(name, [4, 9], small_digits).eval()
    x = small_digits.test.x[:16]
    torch.manual_seed(9)
    plain = FACTORIES[name]().eval()
    with torch.no_grad():
        mean = torch.tensor(small_digits.mean).view(1, -1, 1, 1)
        std = torch.tensor(small_digits.std).view(1, -1, 1, 1)
        normalised = (x - mean) / std
        assert torch.allclose(model(x)[:, 1], plain(normalised), atol=1e-6)
        extracted = model.member(1)
        assert type(extracted) is type(plain)
        assert torch.allclose(extracted(normalised), plain(normalised), atol=1e-6)


def test_building_a_bank_leaves_the_global_generator_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    bank(user_models.small_cnn, seeds=[0, 1], sample_shape=(1, 8, 8))
    assert torch.equal(torch.rand(3), expected)


def test_dropout_masks_differ_between_members_and_match_alone():
    seeds = [0, 1]
    model = bank(user_models.small_cnn, seeds=seeds, options={"dropout": 0.5},
                 sample_shape=(1, 8, 8)).train()
    same_weights = bank(user_models.small_cnn, seeds=[0, 0], options={"dropout": 0.5},
                        sample_shape=(1, 8, 8)).train()
    alone = bank(user_models.small_cnn, seeds=[1], options={"dropout": 0.5},
                 sample_shape=(1, 8, 8)).train()
    x = torch.rand(8, 1, 8, 8)
    torch.manual_seed(0)
    z = model(x)
    torch.manual_seed(0)
    z_alone = alone(x)
    torch.manual_seed(0)
    z_same = same_weights(x)
    assert torch.equal(z[:, 1], z_alone[:, 0])
    # identical weights and seeds: identical masks; the bank is deterministic given the seed
    assert torch.equal(z_same[:, 0], z_same[:, 1])
    # different seeds: different masks (members' own draws); and a new draw each forward
    assert not torch.allclose(model(x)[:, 1], z[:, 1])


def test_mask_hash_is_splitmix64_and_uniform():
    def splitmix(z):
        z &= (1 << 64) - 1
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & ((1 << 64) - 1)
        return z ^ (z >> 31)

    values = [0, 1, 12345, 2**62 + 17, -5]
    got = mix64(torch.tensor(values, dtype=torch.int64)).tolist()
    for v, g in zip(values, got):
        assert g % (1 << 64) == splitmix(v)
    u = uniform_from_key(torch.tensor(7), (200_000,), "cpu")
    assert 0.0 <= float(u.min()) and float(u.max()) < 1.0
    assert abs(float(u.mean()) - 0.5) < 0.005  # s.d. of the mean: 0.29/√2e5 ≈ 6.5e-4
    assert abs(float((u < 0.2).float().mean()) - 0.2) < 0.005


def test_per_member_inputs_reach_only_their_member(small_digits):
    model = _bank("small_cnn", [0, 1], small_digits).eval()
    x = small_digits.test.x[:8]
    with torch.no_grad():
        out = model(torch.stack([x, x.flip(-1)], dim=1))
        assert torch.allclose(out[:, 0], model(x)[:, 0], atol=1e-6)
        assert torch.allclose(out[:, 1], model(x.flip(-1))[:, 1], atol=1e-6)
        feats, logits = model(x, return_features=True)
    assert feats.shape == (8, 2, 16) and logits.shape == (8, 2, 10)


def test_member_state_loads_into_a_one_member_bank(small_digits):
    model = _bank("projected", [4, 5, 6], small_digits).eval()
    alone = _bank("projected", [0], small_digits).eval()
    alone.load_state_dict(model.member_state(2))
    x = small_digits.test.x[:8]
    with torch.no_grad():
        assert torch.equal(alone(x)[:, 0], model(x)[:, 2])


@pytest.mark.parametrize("cls, construct", [
    (user_models.DataDependent, "control flow on a tensor's value"),
    (user_models.ReadsItem, "Tensor.item()"),
    (user_models.InplaceOnInput, "changes its input in place"),
    (user_models.RandomNoise, "random operation other than an nn.Dropout"),
    (user_models.NotLogits, "must return (B, num_classes) logits"),
])
def test_what_vmap_cannot_batch_is_one_line_naming_it(cls, construct):
    with pytest.raises(ModelError) as info:
        bank(cls, seeds=[0, 1], sample_shape=(1, 8, 8), name="python:x.py:f")
    message = str(info.value)
    assert construct in message and "\n" not in message and message.startswith("python:x.py:f")


def test_python_model_names_resolve_file_and_module_forms(small_digits, monkeypatch):
    by_file = resolve_factory(f"python:{HERE / 'user_models.py'}:mlp")
    monkeypatch.syspath_prepend(str(HERE))
    by_module = resolve_factory("python:user_models:mlp")
    assert by_file().state_dict().keys() == by_module().state_dict().keys()
    model = create_model("python:user_models:small_cnn", members=2, seeds=[0, 1],
                         head_init_scale=0.5, width=4, **small_digits.model_kwargs())
    assert isinstance(model, FunctionalBank) and model.num_classes == 10
    assert model.net[0].weight.shape == (2, 4, 1, 3, 3)  # model.options reached the factory
    torch.manual_seed(1)
    plain = user_models.small_cnn(width=4)
    assert torch.allclose(model.net[-1].weight[1], 0.5 * plain[-1].weight)


def test_module_form_finds_modules_in_the_current_directory(tmp_path, monkeypatch):
    (tmp_path / "nets_here_xyz.py").write_text(
        "from torch import nn\n\ndef tiny(num_classes=10):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, num_classes))\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "nets_here_xyz", raising=False)
    factory = resolve_factory("python:nets_here_xyz:tiny")
    assert factory()(torch.rand(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("spec, says", [
    ("python:nowhere/missing.py:f", "does not exist"),
    ("python:no_such_package_xyz:f", "cannot import"),
    ("python:user_models:nothing_here", "no callable 'nothing_here'"),
    ("python:just_a_name", "must look like"),
])
def test_bad_python_model_names_are_one_line_errors(spec, says, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    with pytest.raises(ModelError, match=says):
        resolve_factory(spec)


def test_unknown_model_option_is_a_model_error(small_digits, monkeypatch):
    monkeypatch.syspath_prepend(str(HERE))
    with pytest.raises(ModelError, match="does not take"):
        create_model("python:user_models:mlp", members=1, seeds=[0], depth=3,
                     **small_digits.model_kwargs())


def test_bank_is_exported_at_top_level():
    assert tempcheck.bank is bank


def test_token_models_bank_with_the_text_keywords():
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 50, (96, 12), generator=g)
    labels = (tokens[:, 0] > 25).long()
    split = Split(tokens, labels)
    data = DatasetSplits("toy", split, Split(tokens[:32], labels[:32]),
                         Split(tokens[:32], labels[:32]), 2, 0, 0, (), (), kind="text")
    kwargs = {"num_classes": 2, "vocab_size": 50, "max_len": 12, "pad_id": 0}
    spec = f"python:{HERE / 'user_models.py'}:TokenBag"
    model = create_model(spec, members=2, seeds=[3, 4], dim=6, **kwargs)
    assert model.net.embed.weight.shape == (2, 50, 6) and model.num_classes == 2
    opts = FitOptions(epochs=2, batch_size=16)
    fit(model, data, temperatures=[0.5, 2.0], lrs=[0.1, 0.1], options=opts, seed=1)
    alone = create_model(spec, members=1, seeds=[4], dim=6, **kwargs)
    fit(alone, data, temperatures=[2.0], lrs=[0.1], options=opts, seed=1)
    model.eval()
    alone.eval()
    with torch.no_grad():
        shared = model(tokens[:8])
        assert torch.allclose(shared[:, 1], alone(tokens[:8])[:, 0], atol=1e-5)
        per_member = model(torch.stack([tokens[:8], tokens[8:16]], dim=1))  # (B, K, L)
        assert torch.allclose(per_member[:, 1], model(tokens[8:16])[:, 1], atol=1e-6)
