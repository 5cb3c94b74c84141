"""The CPU fast path of the cnn: members run through the trunk in chunks (channels-last on
large maps). In float32 a chunked bank must equal both the whole-bank computation and each
member trained alone."""

from __future__ import annotations

import pytest
import torch

from tempcheck.data.base import DatasetSplits, Split
from tempcheck.registry import create_model
from tempcheck.train.loop import FitOptions, fit

SEEDS, TAUS, LRS = [3, 5, 7], [0.5, 1.0, 5.0], [0.05, 0.02, 0.1]
WIDTHS = (8, 16, 16)


@pytest.fixture(scope="module")
def images28() -> DatasetSplits:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(320, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (320,), generator=g)
    train, val = Split(x[:256], y[:256]), Split(x[256:], y[256:])
    return DatasetSplits("synthetic28", train, val, val, 10, 1, 28, (0.5,), (0.25,))


def _trained(data, members_chunk, seeds=SEEDS, taus=TAUS, lrs=LRS):
    model = create_model("cnn", members=len(seeds), seeds=seeds, widths=WIDTHS,
                         member_chunk=members_chunk, **data.model_kwargs())
    fit(model, data, temperatures=taus, lrs=lrs, seed=1,
        options=FitOptions(epochs=2, batch_size=128, eval_every=10))
    return model.eval()


def test_auto_chunks_large_cpu_maps_and_not_small_ones(images28):
    model = create_model("cnn", members=3, seeds=SEEDS, widths=WIDTHS, **images28.model_kwargs())
    assert model._chunk_size(torch.zeros(128, 1, 28, 28)) == 1
    assert model._chunk_size(torch.zeros(64, 1, 8, 8)) == 3


@pytest.mark.parametrize("chunk", ["auto", 2])
def test_chunked_bank_equals_whole_bank_and_standalone_members(images28, chunk):
    x = images28.val.x
    chunked_model, whole_model = _trained(images28, chunk), _trained(images28, 3)
    with torch.no_grad():
        chunked, whole = chunked_model(x), whole_model(x)
    assert (chunked - whole).abs().max().item() < 1e-4
    for k in range(3):
        alone = _trained(images28, "auto", [SEEDS[k]], [TAUS[k]], [LRS[k]])
        with torch.no_grad():
            diff = (alone(x)[:, 0] - chunked[:, k]).abs().max().item()
        assert diff < 1e-4, f"member {k} differs from its standalone twin by {diff}"


def test_per_member_inputs_reach_only_their_member_in_chunks(images28):
    model = create_model("cnn", members=3, seeds=SEEDS, widths=WIDTHS, member_chunk=1,
                         **images28.model_kwargs()).eval()
    x = images28.val.x[:8]
    xs = torch.stack([x, x.flip(-1), x.flip(-2)], dim=1)
    with torch.no_grad():
        out = model(xs)
        assert torch.allclose(out[:, 1], model(x.flip(-1))[:, 1], atol=1e-5)
        assert torch.allclose(out[:, 2], model(x.flip(-2))[:, 2], atol=1e-5)


def test_bad_member_chunk_is_refused():
    with pytest.raises(ValueError, match="member_chunk"):
        create_model("cnn", members=2, member_chunk=0, num_classes=3, in_channels=1,
                     image_size=8)


def test_chunked_cnn_runs_under_vmap(images28):
    # functorch transforms (the dynamics study's vmap/jacrev) cannot switch memory formats
    model = create_model("cnn", members=2, seeds=[0, 1], widths=WIDTHS,
                         **images28.model_kwargs()).eval()
    x = images28.val.x[:3]
    with torch.no_grad():
        per_example = torch.func.vmap(lambda xi: model(xi[None])[0])(x)
        torch.testing.assert_close(per_example, model(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("size", [8, 28])
def test_cnn_is_the_textbook_conv_bn_relu_pool_stack_bit_for_bit(size):
    """The trunk pools before its ReLU (cheaper); values and every gradient must be exactly
    those of conv → BN → ReLU → max-pool written out with the member's own weights."""
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(2)
    x = torch.rand(16, 1, size, size, generator=g)
    y = torch.randint(0, 10, (16,), generator=g)
    model = create_model("cnn", members=1, seeds=[4], widths=(4, 6, 8), num_classes=10,
                         in_channels=1, image_size=size).train()
    loss = F.cross_entropy(model(x)[:, 0], y)
    grads = torch.autograd.grad(loss, list(model.parameters()))

    def textbook(x):
        fmt = torch.channels_last if size >= 16 else torch.contiguous_format  # as the cnn
        h = model.normalize(x)
        convs = [model.first, *model.convs]
        for i, (conv, norm) in enumerate(zip(convs, model.norms)):
            h = F.conv2d(h, conv.weight[0], None, 1, 1)
            if i == 0:
                h = h.contiguous(memory_format=fmt)
            h = F.relu(F.batch_norm(h, None, None, norm.weight[0], norm.bias[0], True))
            if model.pool_after[i]:
                h = F.max_pool2d(h, 2)
        return model.head(h.mean(dim=(2, 3)).unsqueeze(1))[:, 0]

    ref_loss = F.cross_entropy(textbook(x), y)
    ref_grads = torch.autograd.grad(ref_loss, list(model.parameters()), allow_unused=True)
    assert torch.equal(loss, ref_loss)
    for (name, _), a, b in zip(model.named_parameters(), grads, ref_grads):
        assert torch.equal(a, b), name
