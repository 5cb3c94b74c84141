"""Batched augmentations: seeded determinism, shapes and dtypes, exact flips, crops that equal
pad-then-slice per sample, cutout holes, identity when disabled."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tempcheck.data.augment import (
    POLICIES,
    make_augment,
    random_crop,
    random_cutout,
    random_flip,
)
from tempcheck.errors import ConfigError


def batch(b=6, c=3, h=8, w=8, seed=0, dtype=torch.float32):
    x = torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(seed))
    return (x * 255).to(torch.uint8) if dtype == torch.uint8 else x


def gen(seed=1):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.uint8])
def test_policies_keep_shape_dtype_and_are_seeded(policy, dtype):
    f = make_augment(policy, image_size=8, padding=2, cutout=3)
    x = batch(dtype=dtype)
    a, b, c = f(x, gen(5)), f(x, gen(5)), f(x, gen(6))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b)
    assert torch.equal(a, x) == (policy == "none")
    if policy != "none":
        assert not torch.equal(a, c)


def test_none_is_the_identity_object():
    x = batch()
    assert make_augment("none", image_size=8)(x, gen()) is x
    assert random_crop(x, gen(), padding=0) is x
    assert random_cutout(x, gen(), size=0) is x


def _draws(seed, b):
    g = gen(seed)
    return torch.randint(0, 5, (b, 2), generator=g)  # padding 2: offsets in [0, 4]


@pytest.mark.parametrize("mode, pad_mode", [("zero", "constant"), ("reflect", "reflect")])
def test_crop_equals_pad_then_slice_per_sample(mode, pad_mode):
    x = batch(h=7, w=9)
    out = random_crop(x, gen(3), padding=2, mode=mode)
    padded = F.pad(x, (2, 2, 2, 2), mode=pad_mode)
    offsets = _draws(3, x.shape[0])  # the same draw the crop made
    for i, (dy, dx) in enumerate(offsets.tolist()):
        assert torch.equal(out[i], padded[i, :, dy : dy + 7, dx : dx + 9])
    assert len({tuple(o) for o in offsets.tolist()}) > 1  # offsets differ between samples


def test_zero_padded_crop_shifts_content():
    x = torch.arange(1, 17, dtype=torch.float32).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    out = random_crop(x, gen(0), padding=1, mode="zero")
    offsets = torch.randint(0, 3, (64, 2), generator=gen(0))  # the crop's draw, padding 1
    for i, (dy, dx) in enumerate(offsets.tolist()):
        sy, sx = dy - 1, dx - 1  # output (r, c) reads input (r + sy, c + sx), zero outside
        for r in range(4):
            for c in range(4):
                inside = 0 <= r + sy < 4 and 0 <= c + sx < 4
                expected = x[i, 0, r + sy, c + sx] if inside else 0.0
                assert out[i, 0, r, c] == expected
    # with padding 1 every one of the 9 shifts occurs in 64 draws
    assert len({tuple(o) for o in offsets.tolist()}) == 9


def test_flip_is_an_exact_mirror_for_about_half():
    x = batch(b=200)
    out = random_flip(x, gen(2))
    flipped = torch.tensor([torch.equal(o, i.flip(-1)) for o, i in zip(out, x)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x)])
    assert bool((flipped | kept).all()) and not bool((flipped & kept).any())
    assert 60 < int(flipped.sum()) < 140


def test_cutout_zeroes_one_clipped_square_per_image():
    x = torch.ones(50, 2, 10, 10)
    out = random_cutout(x, gen(4), size=4)
    holes = (out == 0).all(dim=1)  # (B, H, W), the same hole in every channel
    assert torch.equal((out == 0).any(dim=1), holes)
    for hole in holes:
        rows, cols = hole.any(dim=1).nonzero().flatten(), hole.any(dim=0).nonzero().flatten()
        assert 1 <= len(rows) <= 4 and 1 <= len(cols) <= 4
        assert int(hole.sum()) == len(rows) * len(cols)  # a rectangle (clipped square)
        assert rows.tolist() == list(range(rows[0], rows[0] + len(rows)))
    assert (holes.sum(dim=(1, 2)) == 16).any() and (holes.sum(dim=(1, 2)) < 16).any()


def test_channels_last_input_gives_the_same_result():
    x = batch()
    f = make_augment("crop_flip_cutout", image_size=8, padding=2, cutout=3, pad_mode="reflect")
    torch.testing.assert_close(f(x.contiguous(memory_format=torch.channels_last), gen(9)),
                               f(x, gen(9)))


@pytest.mark.parametrize(
    "kwargs",
    [{"policy": "autoaugment"}, {"policy": "crop_flip", "padding": 9},
     {"policy": "crop_flip", "pad_mode": "wrap"}, {"policy": "crop_flip_cutout", "cutout": -1}],
)
def test_bad_settings_are_config_errors(kwargs):
    policy = kwargs.pop("policy")
    with pytest.raises(ConfigError):
        make_augment(policy, image_size=8, **kwargs)
