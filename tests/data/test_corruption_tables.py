"""Choosing the corruption parameter table (32 / 64 / 224 px): the option's values, the
automatic choice and its note, and ``tempcheck corrupt --table``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tempcheck.cli import main
from tempcheck.data import corruptions as C
from tempcheck.errors import ConfigError


@pytest.mark.parametrize("spec, size", [
    ("auto", None), (None, None), (32, 32), ("64", 64), (" 224 ", 224), ("cifar", 32),
    ("tiny", 64), ("ImageNet", 224)])
def test_parse_table(spec, size):
    assert C.parse_table(spec) == size


@pytest.mark.parametrize("spec", [100, "100", True, 3.5, "imagenet-c", "", [224]])
def test_parse_table_refuses_other_values(spec):
    with pytest.raises(ConfigError, match="auto, 32, 64, 224, cifar, tiny, imagenet"):
        C.parse_table(spec)


def test_auto_takes_the_nearest_standard_size_of_the_shorter_side():
    for side, size in ((8, 32), (45, 32), (46, 64), (100, 64), (119, 64), (120, 224), (512, 224)):
        choice = C.choose_table(side, 3 * side, "auto")
        assert (choice.size, choice.auto) == (size, True), side
    choice = C.choose_table(100, 150)
    assert choice.to_dict()["size"] == 64 and choice.dataset == "Tiny-ImageNet-C"
    # the note says which table, for what images, why, and how to choose another
    for part in ("64 px (Tiny-ImageNet-C) table", "100x150 images", "automatically",
                 "shorter side, 100 px", "table 32, 64 or 224"):
        assert part in choice.note
    forced = C.choose_table(100, 150, "imagenet")
    assert (forced.size, forced.auto) == (224, False)
    assert "224 px (ImageNet-C)" in forced.note and "automatically" not in forced.note


def test_a_forced_table_sets_the_parameters():
    """contrast is (x - mean) c + mean: at 100 x 150 px auto gives the 64 px table's c, a forced
    224 the ImageNet one (severity 1: 0.4 vs 0.75 at 32 px)."""
    x = torch.rand(2, 3, 100, 150, generator=torch.Generator().manual_seed(0))
    mean = x.mean(dim=(2, 3), keepdim=True)
    for profile in (32, 64, 224):
        c = C.parameters("contrast", 1, profile)
        want = ((x - mean) * c + mean).clamp(0, 1)
        got = C.corrupt(x, "contrast", 1, profile=C.choose_table(100, 150, profile).size)
        assert torch.allclose(got, want, atol=1e-6)
    assert torch.equal(C.corrupt(x, "contrast", 1), C.corrupt(x, "contrast", 1, profile=64))


def _closed_form_contrast(v: np.ndarray, c: float) -> np.ndarray:
    """Contrast of float (N, H, W, C) images as the writer stores it: uint8 floor(255 y)."""
    mean = v.mean(axis=(1, 2), keepdims=True)
    return np.floor(np.clip((v - mean) * c + mean, 0, 1) * 255 + 1e-3).astype(np.uint8)


def test_corrupt_command_table_option(tmp_path, capsys):
    from tempcheck.registry import load_dataset

    clean = load_dataset("digits").test.x.permute(0, 2, 3, 1).numpy()  # (N, 8, 8, 1)
    auto, forced = tmp_path / "auto", tmp_path / "forced"
    assert main(["corrupt", "--corruptions", "contrast", "--out", str(auto)]) == 0
    said = capsys.readouterr().out
    assert "32 px (CIFAR-10-C) table for 8x8 images" in said and "automatically" in said
    assert main(["corrupt", "--corruptions", "contrast", "--table", "imagenet",
                 "--out", str(forced)]) == 0
    said = capsys.readouterr().out
    assert "224 px (ImageNet-C) table" in said and "as asked" in said
    n = clean.shape[0]
    for folder, profile in ((auto, 32), (forced, 224)):
        stored = np.load(folder / "contrast.npy")
        want = _closed_form_contrast(clean, C.parameters("contrast", 5, profile))
        assert np.abs(stored[4 * n :].astype(int) - want.astype(int)).max() <= 1


def test_corrupt_command_refuses_a_bad_table(tmp_path, capsys):
    out = tmp_path / "bad"
    assert main(["corrupt", "--table", "100", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "table" in err[0]
    assert not out.exists()
