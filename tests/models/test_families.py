"""The papers' architectures as banks: shapes, bank ≡ standalone members (eval and after SGD),
per-member BatchNorm, channels_last / bf16 inputs, parameter counts of the published models."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tempcheck.errors import ConfigError
from tempcheck.models.base import BankModel
from tempcheck.models.families import FAMILIES
from tempcheck.registry import create_model, names

NUM_CLASSES = 5
TINY = {  # (options, image size): small enough for a 2-core CPU
    "resnet18": ({"width": 4}, 8),
    "resnet50": ({"width": 2}, 8),
    "wrn16_4": ({"widen_factor": 1, "base_width": 4}, 8),
    "wrn28_10": ({"widen_factor": 1, "base_width": 2}, 8),
    "vit_small": ({"dim": 16, "depth": 2, "heads": 2}, 8),
}
SEEDS = [5, 11, 17]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny kernels: on a loaded 2-core machine OpenMP hand-offs cost more than the maths
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def build(name: str, members: int, seeds, **extra) -> BankModel:
    options, size = TINY[name]
    return create_model(
        name, num_classes=NUM_CLASSES, in_channels=3, image_size=size, members=members,
        seeds=seeds, **{**options, **extra},
    )


def images(n: int, size: int, seed: int, members: int | None = None) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    shape = (n, 3, size, size) if members is None else (n, members, 3, size, size)
    return torch.rand(shape, generator=g)


def test_all_families_are_registered():
    assert set(FAMILIES) <= set(names("model"))
    assert set(TINY) == set(FAMILIES)


@pytest.mark.parametrize("name", sorted(TINY))
def test_shapes_shared_and_per_member(name):
    model = build(name, 3, SEEDS).eval()
    size = TINY[name][1]
    for x in (images(4, size, 0), images(4, size, 0, members=3)):
        feats, logits = model(x, return_features=True)
        assert logits.shape == (4, 3, NUM_CLASSES)
        assert feats.shape == (4, 3, model.feature_dim)
        assert torch.isfinite(logits).all()
    assert model.family == name


@pytest.mark.parametrize("name", sorted(TINY))
def test_per_member_copies_of_one_batch_equal_the_shared_batch(name):
    model = build(name, 3, SEEDS).eval()
    x = images(4, TINY[name][1], 1)
    per_member = x[:, None].expand(-1, 3, -1, -1, -1)
    torch.testing.assert_close(model(per_member), model(x), atol=1e-5, rtol=1e-5)


def _sgd_steps(model, batches, members):
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    model.train()
    for x, y in batches:
        logits = model(x)  # (B, K, C)
        # members' parameters are disjoint, so the sum of per-member mean losses gives each
        # member exactly its standalone gradient
        loss = sum(F.cross_entropy(logits[:, k], y) for k in range(members))
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("name", sorted(TINY))
def test_bank_member_equals_standalone_model(name):
    # float64: a fused (grouped) and a standalone (dense) convolution round differently, and a
    # tiny untrained net in train-mode BatchNorm amplifies float32 rounding to ~1e-2 within two
    # SGD steps; in float64 any real cross-member leak still shows as an O(1) difference
    size = TINY[name][1]
    bank = build(name, 3, SEEDS).double()
    singles = [build(name, 1, [s]).double() for s in SEEDS]
    x_eval = images(6, size, 2).double()
    bank.eval()
    for k, single in enumerate(singles):
        torch.testing.assert_close(
            bank(x_eval)[:, k], single.eval()(x_eval)[:, 0], atol=1e-6, rtol=1e-6
        )
    g = torch.Generator().manual_seed(3)
    batches = [
        (images(8, size, 10 + i).double(), torch.randint(0, NUM_CLASSES, (8,), generator=g))
        for i in range(2)
    ]
    _sgd_steps(bank, batches, 3)
    for single in singles:
        _sgd_steps(single, batches, 1)
    bank.eval()
    bank_logits = bank(x_eval)
    for k, single in enumerate(singles):
        single.eval()
        torch.testing.assert_close(bank_logits[:, k], single(x_eval)[:, 0], atol=1e-6, rtol=1e-6)
        state, ref = bank.member_state(k), single.state_dict()
        assert state.keys() == ref.keys()
        for key in ref:
            torch.testing.assert_close(state[key], ref[key], atol=1e-8, rtol=1e-6)
    # training moved the members apart from their initialisation and from each other
    assert not torch.allclose(bank_logits[:, 0], bank_logits[:, 1], atol=1e-3)


@pytest.mark.parametrize("name", ["resnet18", "wrn16_4"])
def test_batchnorm_statistics_are_per_member(name):
    size = TINY[name][1]
    bank = build(name, 2, SEEDS[:2]).double().train()
    singles = [build(name, 1, [s]).double().train() for s in SEEDS[:2]]
    x = images(8, size, 4, members=2).double()
    x[:, 1] = x[:, 1] * 0.5 + 0.4  # member 1 sees brighter, lower-contrast images
    bank(x)
    for k, single in enumerate(singles):
        single(x[:, k])
    bn_bank = [m for m in bank.modules() if hasattr(m, "running_mean")]
    for k, single in enumerate(singles):
        bn_single = [m for m in single.modules() if hasattr(m, "running_mean")]
        for a, b in zip(bn_bank, bn_single):
            torch.testing.assert_close(a.running_mean[k], b.running_mean[0], atol=1e-9, rtol=1e-7)
            torch.testing.assert_close(a.running_var[k], b.running_var[0], atol=1e-9, rtol=1e-7)
    first = bn_bank[0]
    assert not torch.allclose(first.running_mean[0], first.running_mean[1])


@pytest.mark.parametrize("name", sorted(TINY))
def test_channels_last_input_gives_the_same_logits(name):
    model = build(name, 2, SEEDS[:2]).eval()
    x = images(4, TINY[name][1], 5)
    expected = model(x)
    got = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["resnet18", "vit_small"])
def test_cpu_bf16_autocast_forward_and_backward(name):
    model = build(name, 2, SEEDS[:2]).train()
    x = images(4, TINY[name][1], 6).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        feats, logits = model(x, return_features=True)
    assert logits.shape == (4, 2, NUM_CLASSES) and feats.shape[:2] == (4, 2)
    logits.float().sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def _count_without_init(monkeypatch, name, **kwargs) -> int:
    # only the architecture matters here: skip drawing 20-40 M random numbers
    monkeypatch.setattr(BankModel, "reset_parameters", lambda self, seeds: None)
    model = create_model(name, in_channels=3, **kwargs)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name, expected",
    # the published CIFAR-10 parameter counts (ResNet-18/50 in the CIFAR form of
    # kuangliu/pytorch-cifar; WRN-28-10 "36.5M" and WRN-16-4 "2.7M" in Zagoruyko & Komodakis)
    [("resnet18", 11_173_962), ("resnet50", 23_520_842), ("wrn28_10", 36_479_194),
     ("wrn16_4", 2_748_890)],
)
def test_full_size_parameter_counts(monkeypatch, name, expected):
    assert _count_without_init(monkeypatch, name, num_classes=10, image_size=32) == expected


def test_vit_parameter_count_closed_form(monkeypatch):
    d, depth, p, size, c = 24, 3, 4, 16, 7
    tokens = (size // p) ** 2 + 1
    per_block = 12 * d * d + 13 * d  # 2 LN, qkv, proj, MLP ×4
    expected = (3 * p * p * d + d) + d + tokens * d + depth * per_block + 2 * d + d * c + c
    got = _count_without_init(
        monkeypatch, "vit_small", num_classes=c, image_size=size, dim=d, depth=depth, heads=4,
        patch_size=p,
    )
    assert got == expected


def test_vit_default_patch_gives_64_tokens():
    for size in (32, 64):
        model = create_model(
            "vit_small", num_classes=3, in_channels=3, image_size=size, dim=8, depth=1, heads=2
        )
        assert model.patch_size == size // 8
        assert model.pos_embed.value.shape == (1, 65, 8)


def test_resnet_stems_set_the_feature_map_size():
    x = images(2, 16, 7)
    for stem, expected in (("conv3", 16), ("conv3_s2", 8), ("patch4", 4), ("imagenet", 4)):
        model = create_model(
            "resnet18", num_classes=3, in_channels=3, image_size=16, width=2, stem=stem
        )
        assert model.stem_kind == stem
        seen = {}

        def record(module, inputs, output, seen=seen):
            seen["h"] = output.shape[-1]

        model.stages[0].register_forward_hook(record)
        model(x)
        assert seen["h"] == expected
    auto = create_model("resnet18", num_classes=3, in_channels=3, image_size=64, width=2)
    assert auto.stem_kind == "conv3_s2"


@pytest.mark.parametrize(
    "name, options",
    [("resnet18", {"stem": "bogus"}), ("wrn16_4", {"depth": 20}),
     ("vit_small", {"dim": 10, "heads": 3}), ("vit_small", {"pool": "max"}),
     ("vit_small", {"patch_size": 3})],
)
def test_bad_family_options_are_config_errors(name, options):
    with pytest.raises(ConfigError):
        create_model(name, num_classes=3, in_channels=3, image_size=8, **options)
