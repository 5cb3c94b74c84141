"""Released corruption layouts (CIFAR-10-C .npy, Tiny-ImageNet-C folders) and the writer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tempcheck.data import cifar_c
from tempcheck.data import corruptions as C
from tempcheck.errors import ConfigError, DataError


def write_cifar_layout(root, names=("gaussian_noise", "fog"), n=50, size=8, channels=3,
                       labels_len=None, dtype=np.uint8):
    """Files exactly as the release: (N, H, W, C) uint8 per corruption + labels (N,) uint8."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        arr = rng.integers(0, 256, (n, size, size, channels)).astype(dtype)
        np.save(root / f"{name}.npy", arr)
    per = n // 5 if n % 5 == 0 else n
    labels = np.tile(rng.integers(0, 10, per), 5)[: labels_len or n].astype(np.uint8)
    np.save(root / "labels.npy", labels)
    return labels


def test_cifar_layout_rows_per_severity(tmp_path):
    labels = write_cifar_layout(tmp_path)
    assert cifar_c.detect_layout(tmp_path) == "cifar"
    assert cifar_c.cifar_c_corruptions(tmp_path) == ["gaussian_noise", "fog"]
    assert cifar_c.cifar_c_size(tmp_path, "fog") == 10
    raw = np.load(tmp_path / "fog.npy")
    for s in C.SEVERITIES:
        split = cifar_c.load_cifar_c(tmp_path, "fog", s)
        assert split.x.dtype == torch.uint8 and split.x.shape == (10, 3, 8, 8)
        assert np.array_equal(split.x.permute(0, 2, 3, 1).numpy(), raw[(s - 1) * 10 : s * 10])
        assert split.y.dtype == torch.int64
        assert np.array_equal(split.y.numpy(), labels[(s - 1) * 10 : s * 10])
    sub = cifar_c.load_cifar_c(tmp_path, "fog", 3, indices=[1, 7])
    assert np.array_equal(sub.x.permute(0, 2, 3, 1).numpy(), raw[[21, 27]])


def test_single_copy_of_labels_is_accepted(tmp_path):
    labels = write_cifar_layout(tmp_path, labels_len=10)
    split = cifar_c.load_cifar_c(tmp_path, "gaussian_noise", 4)
    assert np.array_equal(split.y.numpy(), labels)


@pytest.mark.parametrize("case,match", [
    ("float", "uint8"), ("ndim", "shape"), ("channels", "shape"), ("not5", "multiple of 5"),
    ("nolabels", "labels.npy"), ("labelshape", "labels.npy"), ("labeldtype", "integer"),
    ("garbage", "cannot read"), ("missing", "gaussian_noise.npy"),
])
def test_bad_cifar_layouts_are_data_errors(tmp_path, case, match):
    write_cifar_layout(tmp_path)
    path = tmp_path / "gaussian_noise.npy"
    if case == "float":
        np.save(path, np.zeros((50, 8, 8, 3), np.float32))
    elif case == "ndim":
        np.save(path, np.zeros((50, 8, 8), np.uint8))
    elif case == "channels":
        np.save(path, np.zeros((50, 8, 8, 4), np.uint8))
    elif case == "not5":
        np.save(path, np.zeros((12, 8, 8, 3), np.uint8))
    elif case == "nolabels":
        (tmp_path / "labels.npy").unlink()
    elif case == "labelshape":
        np.save(tmp_path / "labels.npy", np.zeros(7, np.uint8))
    elif case == "labeldtype":
        np.save(tmp_path / "labels.npy", np.zeros(50, np.float32))
    elif case == "garbage":
        path.write_bytes(b"not a numpy file at all")
    elif case == "missing":
        path.unlink()
    with pytest.raises(DataError, match=match) as err:
        cifar_c.load_cifar_c(tmp_path, "gaussian_noise", 1)
    assert "\n" not in str(err.value)


def test_bad_root_and_indices(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        cifar_c.load_cifar_c(tmp_path / "nope", "fog", 1)
    with pytest.raises(DataError, match="neither"):
        cifar_c.detect_layout(tmp_path)
    write_cifar_layout(tmp_path)
    with pytest.raises(DataError, match="out of range"):
        cifar_c.load_cifar_c(tmp_path, "fog", 1, indices=[10])
    with pytest.raises(DataError, match="severity"):
        cifar_c.load_cifar_c(tmp_path, "fog", 6)


def write_folders(root, names=("snow",), severities=(1, 2), wnids=("n02", "n01", "n03"),
                  per_class=2, size=8, suffix=".JPEG", fmt="PNG"):
    """root/<corruption>/<severity>/<wnid>/<file>, lossless PNG bytes under a .JPEG name."""
    rng = np.random.default_rng(1)
    for name in names:
        for s in severities:
            for w in wnids:
                folder = root / name / str(s) / w
                folder.mkdir(parents=True)
                for i in range(per_class):
                    arr = rng.integers(0, 256, (size, size, 3)).astype(np.uint8)
                    Image.fromarray(arr).save(folder / f"val_{i}{suffix}", format=fmt)


def test_folder_layout_labels_follow_sorted_or_given_classes(tmp_path):
    write_folders(tmp_path)
    assert cifar_c.detect_layout(tmp_path) == "folders"
    assert cifar_c.folder_corruptions(tmp_path) == ["snow"]
    paths, labels = cifar_c.list_image_folder_c(tmp_path, "snow", 2)
    assert [p.parent.name for p in paths] == ["n01", "n01", "n02", "n02", "n03", "n03"]
    assert labels.tolist() == [0, 0, 1, 1, 2, 2]
    _, given = cifar_c.list_image_folder_c(tmp_path, "snow", 2, classes=["n03", "n01", "n02"])
    assert given.tolist() == [1, 1, 2, 2, 0, 0]
    split = cifar_c.load_image_folder_c(tmp_path, "snow", 2, indices=[0, 5])
    assert split.x.shape == (2, 3, 8, 8) and split.x.dtype == torch.uint8
    assert np.array_equal(split.x[1].permute(1, 2, 0).numpy(), np.asarray(Image.open(paths[5])))
    assert split.y.tolist() == [0, 2]
    grey = cifar_c.load_image_folder_c(tmp_path, "snow", 1, channels=1)
    assert grey.x.shape == (6, 1, 8, 8)


def test_bad_folder_layouts_are_data_errors(tmp_path):
    write_folders(tmp_path)
    with pytest.raises(DataError, match=r"missing severity folder .*snow.3"):
        cifar_c.list_image_folder_c(tmp_path, "snow", 3)
    with pytest.raises(DataError, match="'n02' is not among"):
        cifar_c.list_image_folder_c(tmp_path, "snow", 1, classes=["n01", "n03"])
    odd = tmp_path / "snow" / "1" / "n01" / "val_9.JPEG"
    Image.fromarray(np.zeros((9, 8, 3), np.uint8)).save(odd, format="PNG")
    with pytest.raises(DataError, match="val_9"):
        cifar_c.load_image_folder_c(tmp_path, "snow", 1)
    odd.write_bytes(b"broken")
    with pytest.raises(DataError, match="cannot read image"):
        cifar_c.load_image_folder_c(tmp_path, "snow", 1)
    (tmp_path / "fog" / "1").mkdir(parents=True)
    with pytest.raises(DataError, match="no class folders"):
        cifar_c.list_image_folder_c(tmp_path, "fog", 1)


# -- writer ----------------------------------------------------------------------------------
def _images(n=7, channels=3, size=8):
    g = torch.Generator().manual_seed(0)
    return (torch.rand(n, channels, size, size, generator=g) * 255).round().to(torch.uint8)


def test_writer_produces_the_released_layout(tmp_path):
    x, y = _images(), torch.arange(7) % 3
    paths = cifar_c.write_cifar_c_layout(x, y, tmp_path, ["gaussian_noise", "contrast"], seed=3)
    assert [p.name for p in paths] == ["gaussian_noise.npy", "contrast.npy", "labels.npy"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    arr = np.load(tmp_path / "gaussian_noise.npy")
    assert arr.dtype == np.uint8 and arr.shape == (35, 8, 8, 3)
    labels = np.load(tmp_path / "labels.npy")
    assert labels.dtype == np.uint8 and labels.tolist() == np.tile(y.numpy(), 5).tolist()
    for s in C.SEVERITIES:  # the loader reads back exactly what iter_corrupted makes
        split = cifar_c.load_cifar_c(tmp_path, "gaussian_noise", s)
        ref = torch.cat([c for _, c in C.iter_corrupted(x, "gaussian_noise", s, seed=3)])
        assert torch.equal(split.x, C.quantize_uint8(ref))
        assert torch.equal(split.y, y)
    again = tmp_path / "again"
    cifar_c.write_cifar_c_layout(x.float() / 255, y, again, ["gaussian_noise", "contrast"], 3)
    assert np.array_equal(np.load(again / "gaussian_noise.npy"), arr)
    other = tmp_path / "other"
    cifar_c.write_cifar_c_layout(x, y, other, ["gaussian_noise", "contrast"], seed=4)
    assert not np.array_equal(np.load(other / "gaussian_noise.npy"), arr)
    assert np.array_equal(np.load(other / "contrast.npy"), np.load(tmp_path / "contrast.npy"))


def test_writer_grey_images_and_unsupported(tmp_path):
    x, y = _images(channels=1), torch.zeros(7, dtype=torch.int64)
    paths = cifar_c.write_cifar_c_layout(x, y, tmp_path, "digital")
    assert [p.name for p in paths] == ["contrast.npy", "elastic_transform.npy", "pixelate.npy",
                                       "jpeg_compression.npy", "labels.npy"]
    assert np.load(tmp_path / "pixelate.npy").shape == (35, 8, 8, 1)
    assert cifar_c.load_cifar_c(tmp_path, "pixelate", 2).x.shape == (7, 1, 8, 8)
    with pytest.raises(ConfigError, match="saturate"):
        cifar_c.write_cifar_c_layout(x, y, tmp_path, ["saturate"])
    with pytest.raises(DataError, match="labels"):
        cifar_c.write_cifar_c_layout(x, y[:3], tmp_path, ["contrast"])
    big = torch.full((7,), 300)
    cifar_c.write_cifar_c_layout(x, big, tmp_path / "big", ["contrast"])
    assert np.load(tmp_path / "big" / "labels.npy").dtype == np.int64


def test_writer_is_atomic(tmp_path, monkeypatch):
    x, y = _images(), torch.zeros(7, dtype=torch.int64)
    cifar_c.write_cifar_c_layout(x, y, tmp_path, ["contrast"])
    before = (tmp_path / "contrast.npy").read_bytes()

    def boom(*args, **kwargs):
        yield 0, torch.zeros(3, 3, 8, 8)  # part of the file is written, then the run dies
        raise RuntimeError("killed")

    monkeypatch.setattr(cifar_c, "iter_corrupted", boom)
    with pytest.raises(RuntimeError, match="killed"):
        cifar_c.write_cifar_c_layout(x, y, tmp_path, ["contrast"])
    assert (tmp_path / "contrast.npy").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contrast.npy", "labels.npy"]
