"""Tiny-ImageNet and ImageNet-style folders on real image files written with Pillow: layout,
labels, splits, resizing, the decode cache, and one-line errors naming the bad file."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

import tempcheck.data.sources  # noqa: F401 - registers the datasets by name
from tempcheck.data import image_cache
from tempcheck.data.imagefolder import load_imagefolder, load_tinyimagenet
from tempcheck.errors import ConfigError, DataError
from tempcheck.registry import load_dataset

WNIDS = ["n03000000", "n01000000", "n02000000"]  # deliberately unsorted in wnids.txt
COLOURS = {"n01000000": (200, 30, 30), "n02000000": (30, 200, 30), "n03000000": (30, 30, 200)}
SIDE = 16


def _jpeg(path, colour, side=SIDE):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (side, side), colour).save(path, format="JPEG", quality=95)


def make_tiny(root, per_class=4, val=(("n03000000", 2), ("n01000000", 1), ("n02000000", 2))):
    """A miniature ``tiny-imagenet-200`` tree; returns the validation labels in file order."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "wnids.txt").write_text("\n".join(WNIDS) + "\n")
    (root / "words.txt").write_text(
        "n01000000\tred thing\nn02000000\tgreen thing\nn03000000\tblue thing\nn09\tunused\n"
    )
    for wnid in WNIDS:
        for i in range(per_class):
            _jpeg(root / "train" / wnid / "images" / f"{wnid}_{i}.JPEG", COLOURS[wnid])
        (root / "train" / wnid / f"{wnid}_boxes.txt").write_text("ignored\n")
    lines, expected = [], []
    for wnid, count in val:
        for _ in range(count):
            name = f"val_{len(lines)}.JPEG"
            _jpeg(root / "val" / "images" / name, COLOURS[wnid])
            lines.append(f"{name}\t{wnid}\t0\t0\t{SIDE}\t{SIDE}")
            expected.append(wnid)
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines) + "\n")
    return expected


@pytest.fixture
def tiny(tmp_path):
    root = tmp_path / "tiny-imagenet-200"
    return root, make_tiny(root)


def _mean_colour(x: torch.Tensor) -> np.ndarray:
    return x.double().mean(dim=(2, 3)).numpy()  # (N, 3)


def test_tiny_imagenet_layout_labels_and_splits(tiny):
    root, val_wnids = tiny
    ds = load_tinyimagenet(data_dir=root.parent, image_size=SIDE, workers=1)
    classes = sorted(WNIDS)
    assert ds.class_names == classes and ds.num_classes == 3
    assert ds.image_size == SIDE and ds.train.x.dtype == torch.uint8
    assert len(ds.train) + len(ds.val) == 12 and len(ds.val) == 1
    # Tiny's val set is the test split, labelled through val_annotations.txt, in file order
    assert ds.test.y.tolist() == [classes.index(w) for w in val_wnids]
    for split in (ds.train, ds.val, ds.test):
        colours = np.array([COLOURS[classes[y]] for y in split.y.tolist()])
        np.testing.assert_allclose(_mean_colour(split.x), colours, atol=4)  # JPEG rounding
    assert ds.extra["descriptions"] == {
        "n01000000": "red thing", "n02000000": "green thing", "n03000000": "blue thing"
    }


def test_tiny_imagenet_resizes_to_image_size(tiny):
    root, _ = tiny
    ds = load_dataset("tinyimagenet", data_dir=root, image_size=8)  # thread pool
    assert ds.train.x.shape[1:] == (3, 8, 8) and ds.image_size == 8


def test_cache_is_written_reused_and_invalidated(tiny, monkeypatch):
    root, _ = tiny
    first = load_tinyimagenet(data_dir=root, image_size=SIDE, workers=1)
    cached = sorted((root / ".tempcheck_cache").glob("*.npy"))
    assert [p.name.split("-")[1] for p in cached] == ["train", "val"]

    def refuse(path, size):
        raise AssertionError(f"decoded {path} although the cache holds it")

    monkeypatch.setattr(image_cache, "decode_image", refuse)
    second = load_tinyimagenet(data_dir=root, image_size=SIDE, workers=1)
    assert torch.equal(first.train.x, second.train.x) and torch.equal(first.test.x, second.test.x)
    monkeypatch.undo()
    # a new training image changes the file list: a new cache entry, the old one untouched
    _jpeg(root / "train" / "n01000000" / "images" / "extra.JPEG", COLOURS["n01000000"])
    third = load_tinyimagenet(data_dir=root, image_size=SIDE, workers=1)
    assert len(third.train) + len(third.val) == 13
    assert len(list((root / ".tempcheck_cache").glob("*train*.npy"))) == 2


def test_cache_options(tiny, tmp_path):
    root, _ = tiny
    load_tinyimagenet(data_dir=root, image_size=SIDE, cache=False, workers=1)
    assert not (root / ".tempcheck_cache").exists()
    elsewhere = tmp_path / "my-cache"
    load_tinyimagenet(data_dir=root, image_size=SIDE, cache_dir=str(elsewhere), workers=1)
    assert len(list(elsewhere.glob("*.npy"))) == 2
    assert not (root / ".tempcheck_cache").exists()


def test_a_corrupt_cache_file_is_rebuilt(tiny):
    root, _ = tiny
    first = load_tinyimagenet(data_dir=root, image_size=SIDE, workers=1)
    for path in (root / ".tempcheck_cache").glob("*.npy"):
        path.write_bytes(b"\x93NUMPY garbage")
    again = load_tinyimagenet(data_dir=root, image_size=SIDE, workers=1)
    assert torch.equal(first.train.x, again.train.x)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores modes")
def test_read_only_data_dir_loads_without_a_cache(tiny):
    root, _ = tiny
    os.chmod(root, 0o555)
    try:
        ds = load_tinyimagenet(data_dir=root, image_size=SIDE, workers=1)
    finally:
        os.chmod(root, 0o755)
    assert len(ds.test) == 5 and not (root / ".tempcheck_cache").exists()


def _break(root, what):
    if what == "unreadable":
        (root / "train" / "n02000000" / "images" / "n02000000_1.JPEG").write_bytes(b"not a jpeg")
        return "n02000000_1.JPEG"
    if what == "no-annotations":
        (root / "val" / "val_annotations.txt").unlink()
        return "val_annotations.txt"
    if what == "empty-class":
        for p in (root / "train" / "n03000000" / "images").iterdir():
            p.unlink()
        return "n03000000/images holds no images"
    if what == "missing-class":
        for p in (root / "train" / "n01000000" / "images").iterdir():
            p.unlink()
        (root / "train" / "n01000000" / "images").rmdir()
        return "n01000000/images"
    if what == "unknown-wnid":
        with open(root / "val" / "val_annotations.txt", "a") as f:
            f.write("val_0.JPEG\tn99\t0\t0\t1\t1\n")
        return r"val_annotations.txt:6: class 'n99'"
    if what == "missing-val-image":
        (root / "val" / "images" / "val_3.JPEG").unlink()
        return "val_3.JPEG does not exist"
    raise AssertionError(what)


@pytest.mark.parametrize(
    "what", ["unreadable", "no-annotations", "empty-class", "missing-class", "unknown-wnid",
             "missing-val-image"],
)
def test_malformed_trees_are_one_line_data_errors(tiny, what):
    root, _ = tiny
    message = _break(root, what)
    with pytest.raises(DataError, match=message) as info:
        load_tinyimagenet(data_dir=root, image_size=SIDE, workers=1)
    assert "\n" not in str(info.value)


def test_missing_tiny_imagenet_names_the_folder_and_flag(tmp_path):
    with pytest.raises(DataError, match="wnids.txt"):
        load_tinyimagenet(data_dir=tmp_path)
    with pytest.raises(DataError, match="data_dir"):
        load_dataset("tinyimagenet")
    with pytest.raises(ConfigError, match="data.options.size"):
        load_tinyimagenet(data_dir=tmp_path, size=3)


# -- generic ImageNet-style folders ----------------------------------------------------------
def _png(path, seed, size=(8, 8)):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3))
    Image.fromarray(pixels.astype(np.uint8)).save(path, format="PNG")
    return pixels.astype(np.uint8).transpose(2, 0, 1)


def test_flat_folder_is_split_and_decoded_exactly(tmp_path):
    written = {}
    for c, name in enumerate(["cat", "dog", "emu"]):
        for i in range(5):
            written[(c, i)] = _png(tmp_path / name / f"{i}.png", 10 * c + i)
    ds = load_imagefolder(data_dir=tmp_path, workers=1)
    assert ds.class_names == ["cat", "dog", "emu"] and ds.image_size == 8
    assert len(ds.test) == 3 and len(ds.train) + len(ds.val) == 12
    pool = {arr.tobytes(): c for (c, _), arr in written.items()}
    for split in (ds.train, ds.val, ds.test):
        for x, y in zip(split.x.numpy(), split.y.tolist()):
            assert pool[x.tobytes()] == y  # PNG is lossless: exact pixels, right label
    # the cache folder written by the first load is not taken for a class the second time
    assert load_imagefolder(data_dir=tmp_path, workers=1).class_names == ["cat", "dog", "emu"]


def test_train_val_test_folders_and_resizing(tmp_path):
    for split, n in (("train", 3), ("val", 2), ("test", 1)):
        for c in ("a", "b"):
            for i in range(n):
                _png(tmp_path / split / c / f"{i}.png", i, size=(12, 10))
    with pytest.raises(DataError, match="not square.*image_size"):
        load_imagefolder(data_dir=tmp_path, workers=1)
    ds = load_imagefolder(data_dir=tmp_path, image_size=6, workers=1)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (6, 4, 2)
    assert ds.train.x.shape[1:] == (3, 6, 6)
    (tmp_path / "test" / "b" / "0.png").unlink()
    (tmp_path / "test" / "b").rmdir()
    for p in (tmp_path / "val").rglob("*.png"):
        p.unlink()
    ds = load_imagefolder(data_dir=tmp_path, image_size=6, workers=1, cache=False)
    assert len(ds.test) == 1 and len(ds.val) == 1  # empty val/ classes: carved from train


def test_generic_folder_errors(tmp_path):
    (tmp_path / "train" / "a").mkdir(parents=True)
    _png(tmp_path / "train" / "a" / "0.png", 0)
    with pytest.raises(DataError, match="neither val/ nor test/"):
        load_imagefolder(data_dir=tmp_path)
    (tmp_path / "val" / "zebra").mkdir(parents=True)
    with pytest.raises(DataError, match="zebra"):
        load_imagefolder(data_dir=tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_imagefolder(data_dir=tmp_path / "nope")
