"""CIFAR-10/100 loaders on fake files in the real on-disk format (Python 2 protocol-2 pickles,
bytes keys): layout, splits, statistics, failure modes, opt-in download and safe extraction."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers_cifar import py2_dumps, write_cifar10, write_cifar100

from tempcheck.data import cifar, download
from tempcheck.data.sources import load_cifar10, load_cifar100
from tempcheck.errors import ConfigError, DataError
from tempcheck.registry import load_dataset


@pytest.fixture(scope="module")
def c10(tmp_path_factory):
    return write_cifar10(tmp_path_factory.mktemp("c10"))


@pytest.fixture(scope="module")
def c100(tmp_path_factory):
    return write_cifar100(tmp_path_factory.mktemp("c100"))


def _source_rows(x: torch.Tensor) -> np.ndarray:
    """The index each loaded image carries in its first two red pixels."""
    first = x[:, 0, 0, :2].numpy().astype(np.int64)
    return first[:, 0] + 256 * first[:, 1]


def test_cifar10_layout_splits_and_labels(c10):
    ds = load_dataset("cifar10", data_dir=c10["folder"].parent, split_seed=0)
    n_train = len(c10["train"])
    assert (ds.num_classes, ds.in_channels, ds.image_size) == (10, 3, 32)
    assert ds.class_names == c10["names"]
    assert ds.train.x.dtype == torch.uint8 and ds.train.x.shape[1:] == (3, 32, 32)
    assert len(ds.val) == round(0.1 * n_train) and len(ds.train) + len(ds.val) == n_train
    # train and val are disjoint and together are exactly the five training batches
    tr, va = _source_rows(ds.train.x), _source_rows(ds.val.x)
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(n_train))
    for split, rows in ((ds.train, tr), (ds.val, va)):
        np.testing.assert_array_equal(split.y.numpy(), c10["train_labels"][rows])
        source = c10["train"][rows]
        # the row holds the R, G, B planes of a row-major 32 x 32 image
        np.testing.assert_array_equal(split.x[:, 1, 2, 5].numpy(), source[:, 1024 + 2 * 32 + 5])
        np.testing.assert_array_equal(split.x[:, 2, 31, 0].numpy(), source[:, 2048 + 31 * 32])
        np.testing.assert_array_equal(split.x.reshape(len(rows), -1).numpy(), source)
    # the test split is the test batch, in order
    np.testing.assert_array_equal(ds.test.x.reshape(len(ds.test), -1).numpy(), c10["test"])
    np.testing.assert_array_equal(ds.test.y.numpy(), c10["test_labels"])


def test_statistics_come_from_the_train_split(c10):
    ds = load_cifar10(data_dir=c10["folder"])  # the extracted folder itself works too
    x = ds.train.x.double() / 255.0
    np.testing.assert_allclose(ds.mean, x.mean(dim=(0, 2, 3)).numpy(), atol=1e-9)
    np.testing.assert_allclose(ds.std, x.std(dim=(0, 2, 3), unbiased=False).numpy(), atol=1e-9)


def test_split_seed_and_val_size(c10):
    root = c10["folder"].parent
    a = load_cifar10(data_dir=root, split_seed=1)
    b = load_cifar10(data_dir=root, split_seed=1)
    c = load_cifar10(data_dir=root, split_seed=2)
    assert torch.equal(a.val.x, b.val.x)
    assert not torch.equal(a.val.x, c.val.x)
    d = load_cifar10(data_dir=root, val_size=7)
    assert len(d.val) == 7 and len(d.train) == len(c10["train"]) - 7
    with pytest.raises(ConfigError, match="val_size"):
        load_cifar10(data_dir=root, val_size=len(c10["train"]))
    with pytest.raises(ConfigError, match="data.options.bogus"):
        load_cifar10(data_dir=root, bogus=1)


def test_cifar100_fine_and_coarse(c100):
    fine = load_cifar100(data_dir=c100["folder"].parent)
    assert fine.num_classes == 100 and fine.class_names[3] == "fine3"
    rows = _source_rows(fine.train.x)
    np.testing.assert_array_equal(fine.train.y.numpy(), c100["train_fine"][rows])
    np.testing.assert_array_equal(fine.test.y.numpy(), c100["test_fine"])
    assert len(fine.val) == 30
    coarse = load_cifar100(data_dir=c100["folder"], labels="coarse")
    assert coarse.num_classes == 20 and coarse.class_names[0] == "coarse0"
    np.testing.assert_array_equal(coarse.test.y.numpy(), c100["test_coarse"])
    with pytest.raises(ConfigError, match="labels"):
        load_cifar100(data_dir=c100["folder"], labels="medium")


def _copy(c10, tmp_path) -> Path:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for f in c10["folder"].iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    return folder


def _batch(data, labels) -> bytes:
    return py2_dumps({"data": data, "labels": labels, "batch_label": "b"})


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: (f / "data_batch_3").write_bytes((f / "data_batch_3").read_bytes()[:500]),
         "data_batch_3"),
        (lambda f: (f / "data_batch_2").write_bytes(
            _batch(np.zeros((4, 3000), np.uint8), [0, 1, 2, 3])), "data_batch_2.*3072"),
        (lambda f: (f / "data_batch_2").write_bytes(
            _batch(np.zeros((4, 3072), np.float32), [0, 1, 2, 3])), "data_batch_2.*uint8"),
        (lambda f: (f / "data_batch_4").write_bytes(
            _batch(np.zeros((3, 3072), np.uint8), [0, 10, 2])), "data_batch_4.*label 10"),
        (lambda f: (f / "data_batch_4").write_bytes(
            _batch(np.zeros((3, 3072), np.uint8), [0, 1])), "data_batch_4.*3 integer labels"),
        (lambda f: (f / "data_batch_5").write_bytes(
            py2_dumps({"data": np.zeros((2, 3072), np.uint8)})), "data_batch_5.*'labels'"),
        (lambda f: (f / "test_batch").unlink(), "test_batch"),
        (lambda f: (f / "data_batch_1").write_bytes(
            b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R."), "data_batch_1.*refused"),
    ],
    ids=["truncated", "wrong-width", "wrong-dtype", "label-range", "label-count",
         "missing-key", "missing-split", "malicious"],
)
def test_malformed_files_are_one_line_data_errors(c10, tmp_path, damage, message):
    folder = _copy(c10, tmp_path)
    damage(folder)
    with pytest.raises(DataError, match=message) as info:
        load_cifar10(data_dir=tmp_path)
    assert "\n" not in str(info.value)


def test_missing_data_is_an_error_that_names_the_flag(tmp_path):
    with pytest.raises(DataError, match="--download"):
        load_cifar10(data_dir=tmp_path)
    with pytest.raises(DataError, match="data_dir"):
        load_cifar10()
    with pytest.raises(DataError, match="data_dir"):
        load_dataset("cifar100", data_dir=None)


# -- opt-in download ------------------------------------------------------------------------
def _tarball(c10, path: Path) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        tar.add(c10["folder"], arcname="cifar-10-batches-py")
    return path


def _serve(monkeypatch, archive: Path, calls: list):
    def fake_open(url, timeout):
        calls.append(url)
        return io.BytesIO(archive.read_bytes())

    monkeypatch.setattr(download, "_open_url", fake_open)


def test_download_fetches_checks_md5_and_extracts(c10, tmp_path, monkeypatch):
    archive = _tarball(c10, tmp_path / "served.tar.gz")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    spec = dataclasses.replace(cifar.SPECS["cifar10"], md5=md5)
    monkeypatch.setitem(cifar.SPECS, "cifar10", spec)
    calls: list = []
    _serve(monkeypatch, archive, calls)
    target = tmp_path / "data"
    ds = load_cifar10(data_dir=target, download=True)
    assert calls == [spec.url]
    assert (target / "cifar-10-batches-py" / "test_batch").is_file()
    assert len(ds.test) == len(c10["test"])
    load_cifar10(data_dir=target, download=True)  # present now: nothing fetched again
    assert len(calls) == 1
    assert not [p for p in target.iterdir() if p.name.startswith(".")]


def test_download_with_a_wrong_md5_keeps_nothing(c10, tmp_path, monkeypatch):
    archive = _tarball(c10, tmp_path / "served.tar.gz")
    _serve(monkeypatch, archive, [])
    target = tmp_path / "data"
    with pytest.raises(DataError, match="MD5"):
        load_cifar10(data_dir=target, download=True)
    assert list(target.iterdir()) == []


def test_the_published_checksums_are_used():
    assert cifar.SPECS["cifar10"].md5 == "c58f30108f718f92721af3b95e74349a"
    assert cifar.SPECS["cifar100"].md5 == "eb9058c3a382ffc7106e4002c42a8d85"
    assert cifar.SPECS["cifar10"].url.startswith("https://www.cs.toronto.edu/~kriz/")


def _evil_tar(path: Path, kind: str) -> Path:
    with tarfile.open(path, "w") as tar:
        ok = tarfile.TarInfo("cifar-10-batches-py/readme")
        ok.size = 2
        tar.addfile(ok, io.BytesIO(b"ok"))
        if kind == "symlink":
            bad = tarfile.TarInfo("cifar-10-batches-py/link")
            bad.type, bad.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(bad)
        else:
            bad = tarfile.TarInfo({"dotdot": "../escaped.txt", "absolute": "/tmp/abs.txt"}[kind])
            bad.size = 3
            tar.addfile(bad, io.BytesIO(b"bad"))
    return path


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink"])
def test_safe_extract_refuses_escaping_members(tmp_path, kind):
    archive = _evil_tar(tmp_path / "evil.tar", kind)
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match="refused"):
        download.safe_extract(archive, dest)
    assert list(dest.iterdir()) == []  # nothing extracted, not even the harmless member
    assert not (tmp_path / "escaped.txt").exists()
