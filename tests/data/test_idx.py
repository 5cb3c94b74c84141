"""The IDX reader and the MNIST family (mnist, fashion_mnist, kmnist) on files generated in the
exact published layout, raw and gzip: format, splits, search places, and every malformed case
as a one-line exit-2 error from the command line that names the file."""

from __future__ import annotations

import gzip
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from tempcheck.cli import main
from tempcheck.data import idx
from tempcheck.data.idx_sources import SPECS, search_places, stratified_take
from tempcheck.errors import ConfigError, DataError
from tempcheck.registry import load_dataset, names

sys.path.insert(0, str(Path(__file__).parent))
from helpers_idx import NAMES, idx_bytes, image_index, make_images, write_family  # noqa: E402

SMALL = {"val_size": 50}


# ---------------------------------------------------------------- the format


def test_encoder_writes_the_published_header():
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    labels = np.array([7, 1], dtype=np.uint8)
    # LeCun's layout: magic 0x00000803 / 0x00000801, big-endian uint32 sizes, then the data
    assert idx.encode_idx(images) == (b"\x00\x00\x08\x03" + struct.pack(">III", 2, 3, 4)
                                      + images.tobytes())
    assert idx.encode_idx(labels) == b"\x00\x00\x08\x01" + struct.pack(">I", 2) + b"\x07\x01"
    assert idx.encode_idx(images) == idx_bytes(images)
    with pytest.raises(ValueError, match="uint8"):
        idx.encode_idx(images.astype(np.int32))


@pytest.mark.parametrize("gz", [False, True])
def test_read_raw_and_gzip(tmp_path, gz):
    labels = np.arange(30, dtype=np.uint8) % 10
    images = make_images(labels)
    payloads = {"img": idx_bytes(images), "lab": idx_bytes(labels)}
    for key, payload in payloads.items():
        (tmp_path / key).write_bytes(gzip.compress(payload) if gz else payload)
    got = idx.read_images(tmp_path / "img", size=(28, 28))
    assert got.dtype == np.uint8 and got.shape == (30, 28, 28) and got.flags.writeable
    np.testing.assert_array_equal(got, images)
    np.testing.assert_array_equal(idx.read_labels(tmp_path / "lab", num_classes=10), labels)


def test_gzip_is_told_by_its_signature_not_its_name(tmp_path):
    labels = np.array([3, 4, 5], dtype=np.uint8)
    (tmp_path / "plain.gz").write_bytes(idx_bytes(labels))  # raw bytes under a .gz name
    (tmp_path / "packed").write_bytes(gzip.compress(idx_bytes(labels)))
    for name in ("plain.gz", "packed"):
        np.testing.assert_array_equal(idx.read_idx(tmp_path / name, idx.LABELS_MAGIC), labels)


def test_writer_round_trips_and_compresses_by_name(tmp_path):
    images = make_images(np.arange(12, dtype=np.uint8) % 10)
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        path = idx.write_idx(tmp_path / name, images)
        assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
        np.testing.assert_array_equal(idx.read_images(path), images)


@pytest.mark.parametrize("damage,message", [
    (lambda b: b[:3], "truncated IDX header"),
    (lambda b: b[:10], "truncated IDX header"),
    (lambda b: b[:-1], "truncated data"),
    (lambda b: b + b"\x00", "1 bytes after"),
    (lambda b: b"\x00\x00\x08\x01" + b[4:], "wrong magic number 0x00000801"),
    (lambda b: b"\x00\x00\x0d\x03" + b[4:], "wrong magic number 0x00000d03"),  # float32 type
])
def test_reader_rejects_malformed_files(tmp_path, damage, message):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(damage(idx_bytes(make_images(np.zeros(4, dtype=np.uint8)))))
    with pytest.raises(DataError, match=message) as err:
        idx.read_idx(path, idx.IMAGES_MAGIC)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_truncated_gzip_and_labels_out_of_range(tmp_path):
    cut = tmp_path / "cut.gz"
    cut.write_bytes(gzip.compress(idx_bytes(np.zeros(1000, dtype=np.uint8)))[:-12])
    with pytest.raises(DataError, match="truncated or corrupt gzip"):
        idx.read_idx(cut, idx.LABELS_MAGIC)
    bad = tmp_path / "labels"
    bad.write_bytes(idx_bytes(np.array([1, 2, 10, 12, 3], dtype=np.uint8)))
    with pytest.raises(DataError, match=r"label 10 at index 2 is outside 0\.\.9 \(2 such"):
        idx.read_labels(bad, num_classes=10)
    np.testing.assert_array_equal(idx.read_labels(bad), [1, 2, 10, 12, 3])  # no range asked


# ---------------------------------------------------------------- the datasets


def test_family_is_registered():
    assert {"mnist", "fashion_mnist", "kmnist"} <= set(names("dataset"))
    assert SPECS["fashion_mnist"].class_names[:3] == ("T-shirt/top", "Trouser", "Pullover")
    assert SPECS["fashion_mnist"].class_names[-1] == "Ankle boot"


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("layout", ["flat", "fashion_mnist", "fashion-mnist", "FashionMNIST/raw"])
def test_fashion_mnist_layouts_and_splits(tmp_path, gz, layout):
    folder = tmp_path if layout == "flat" else tmp_path / layout
    files = write_family(folder, gz=gz)
    ds = load_dataset("fashion_mnist", data_dir=tmp_path, split_seed=0, **SMALL)
    assert (ds.num_classes, ds.in_channels, ds.image_size) == (10, 1, 28)
    assert ds.class_names == list(SPECS["fashion_mnist"].class_names)
    assert ds.train.x.dtype.is_floating_point is False and ds.train.x.shape[1:] == (1, 28, 28)
    assert (len(ds.train), len(ds.val), len(ds.test)) == (550, 50, 100)
    # train and validation are disjoint and together are the training file
    tr, va = image_index(ds.train.x), image_index(ds.val.x)
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(600))
    for split, rows in ((ds.train, tr), (ds.val, va)):
        np.testing.assert_array_equal(split.x[:, 0].numpy(), files["train_images"][rows])
        np.testing.assert_array_equal(split.y.numpy(), files["train_labels"][rows])
    # stratified: 5 validation images per class out of 60
    assert np.bincount(ds.val.y.numpy(), minlength=10).tolist() == [5] * 10
    # the test split is the t10k file, in order
    np.testing.assert_array_equal(ds.test.x[:, 0].numpy(), files["test_images"])
    np.testing.assert_array_equal(ds.test.y.numpy(), files["test_labels"])
    assert ds.extra["source"] == str(folder) and ds.extra["adversarial_eps"] == 0.1
    # mean/std are those of the training split on the [0, 1] scale
    x = ds.train.x.double() / 255
    assert ds.mean[0] == pytest.approx(float(x.mean()), abs=1e-9)
    assert ds.std[0] == pytest.approx(float(x.std(unbiased=False)), abs=1e-9)


def test_split_is_fixed_by_the_seed_and_subset_keeps_validation(tmp_path):
    write_family(tmp_path)
    a = load_dataset("kmnist", data_dir=tmp_path, split_seed=0, **SMALL)
    b = load_dataset("kmnist", data_dir=tmp_path, split_seed=0, **SMALL)
    c = load_dataset("kmnist", data_dir=tmp_path, split_seed=1, **SMALL)
    assert image_index(a.val.x).tolist() == image_index(b.val.x).tolist()
    assert image_index(a.val.x).tolist() != image_index(c.val.x).tolist()
    sub = load_dataset("kmnist", data_dir=tmp_path, split_seed=0, train_size=100, **SMALL)
    assert image_index(sub.val.x).tolist() == image_index(a.val.x).tolist()
    assert len(sub.train) == 100 and np.bincount(sub.train.y.numpy()).tolist() == [10] * 10
    assert set(image_index(sub.train.x)) <= set(image_index(a.train.x))
    assert a.class_names[0] == "o" and a.extra["adversarial_eps"] == 0.1


def test_stratified_take_on_unequal_classes():
    y = np.repeat(np.arange(4), [50, 30, 15, 5])  # 100 items
    for n in (1, 7, 10, 33, 99):
        taken = stratified_take(y, n, seed=0)
        assert len(taken) == n and len(set(taken.tolist())) == n
        counts = np.bincount(y[taken], minlength=4)
        # each class within one item of its exact share n·n_c/N
        assert np.all(np.abs(counts - n * np.array([50, 30, 15, 5]) / 100) < 1)
    np.testing.assert_array_equal(stratified_take(y, 20, 3), stratified_take(y, 20, 3))


def test_mnist_default_eps_follows_madry(tmp_path):
    write_family(tmp_path / "mnist")
    ds = load_dataset("mnist", data_dir=tmp_path, **SMALL)
    assert ds.extra["adversarial_eps"] == 0.3 and ds.class_names == [str(i) for i in range(10)]
    from tempcheck.eval.robustness import default_eps

    assert default_eps(ds)[0] == 0.3


def test_search_places(tmp_path, monkeypatch):
    spec = SPECS["fashion_mnist"]
    given = search_places(spec, tmp_path)
    assert given == [tmp_path, tmp_path / "fashion_mnist", tmp_path / "fashion-mnist",
                     tmp_path / "FashionMNIST/raw"]
    monkeypatch.setenv("TEMPCHECK_DATA", str(tmp_path))
    assert search_places(spec, None) == [*given, Path("/usr/share/datasets/fashion-mnist")]
    monkeypatch.delenv("TEMPCHECK_DATA")
    assert search_places(spec, None) == [Path("/usr/share/datasets/fashion-mnist")]
    # TEMPCHECK_DATA is used when no data folder is given
    write_family(tmp_path / "kmnist")
    monkeypatch.setenv("TEMPCHECK_DATA", str(tmp_path))
    assert len(load_dataset("kmnist", **SMALL).test) == 100


def test_bad_options_are_config_errors(tmp_path):
    write_family(tmp_path)
    with pytest.raises(ConfigError, match="data.options.valsize"):
        load_dataset("mnist", data_dir=tmp_path, valsize=10)
    with pytest.raises(DataError, match="val_size must be in 1..599"):
        load_dataset("mnist", data_dir=tmp_path, val_size=600)
    with pytest.raises(DataError, match="train_size must be in 1..550"):
        load_dataset("mnist", data_dir=tmp_path, train_size=551, **SMALL)


# ---------------------------------------------------------------- from the command line


def _sweep(tmp_path, data_dir, dataset="fashion_mnist") -> list[str]:
    return ["sweep", "--dataset", dataset, "--data-dir", str(data_dir), "--out",
            str(tmp_path / "out"), "--epochs", "1", "--seeds", "0", "--temperatures", "1",
            "--eval", "clean", "--model.options.widths=[4,4,4]", "--data.options.val_size=50"]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    return err[0]


def _replace(path: Path, array: np.ndarray) -> None:
    path.write_bytes(idx_bytes(array))


MALFORMED = {
    "wrong magic": (
        lambda f: f["paths"]["train_images"].write_bytes(idx_bytes(f["train_labels"])),
        "train_images", "wrong magic number 0x00000801"),
    "truncated data": (
        lambda f: f["paths"]["test_images"].write_bytes(
            f["paths"]["test_images"].read_bytes()[:-100]),
        "test_images", "truncated data"),
    "counts disagree": (
        lambda f: _replace(f["paths"]["train_labels"], f["train_labels"][:-1]),
        "train_images", "600 images but"),
    "label outside 0..9": (
        lambda f: _replace(f["paths"]["test_labels"], np.where(
            np.arange(100) == 7, 10, f["test_labels"]).astype(np.uint8)),
        "test_labels", "label 10 at index 7 is outside 0..9"),
    "wrong image size": (
        lambda f: _replace(f["paths"]["test_images"], make_images(f["test_labels"], side=32)),
        "test_images", "images are 32 x 32, expected 28 x 28"),
    "missing file": (
        lambda f: f["paths"]["test_labels"].unlink(),
        "folder", "holds train-images-idx3-ubyte but not t10k-labels-idx1-ubyte[.gz]"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_are_one_line_exit_2(tmp_path, capsys, case):
    damage, culprit, message = MALFORMED[case]
    files = write_family(tmp_path / "data" / "fashion_mnist")
    damage(files)
    assert main(_sweep(tmp_path, tmp_path / "data")) == 2
    line = _one_error_line(capsys)
    assert message in line
    named = files["folder"] if culprit == "folder" else files["paths"][culprit]
    assert str(named) in line
    assert not (tmp_path / "out").exists()  # nothing written


def test_truncated_gzip_from_the_command_line(tmp_path, capsys):
    files = write_family(tmp_path / "d", gz=True)
    path = files["paths"]["train_images"]
    path.write_bytes(path.read_bytes()[:-500])
    assert main(_sweep(tmp_path, tmp_path / "d", "mnist")) == 2
    line = _one_error_line(capsys)
    assert "truncated or corrupt gzip" in line and str(path) in line


def test_not_found_says_where_it_looked(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TEMPCHECK_DATA", str(tmp_path / "nowhere"))
    out = tmp_path / "out"
    assert main(["sweep", "--dataset", "kmnist", "--out", str(out), "--epochs", "1"]) == 2
    line = _one_error_line(capsys)
    assert "kmnist not found" in line and "$TEMPCHECK_DATA" in line
    assert str(tmp_path / "nowhere" / "KMNIST/raw") in line
    assert "/usr/share/datasets/kmnist" in line and not out.exists()
    assert main(["sweep", "--dataset", "fashion_mnist", "--data-dir", str(tmp_path),
                 "--out", str(out)]) == 2
    line = _one_error_line(capsys)
    assert f"in {tmp_path}, {tmp_path / 'fashion_mnist'}" in line
    assert "apt-get install dataset-fashion-mnist" in line and "$TEMPCHECK_DATA" not in line


# ---------------------------------------------------------------- the real files


REAL = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not (REAL / f"{NAMES['train_images']}.gz").is_file(),
                    reason="Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_files():
    ds = load_dataset("fashion_mnist", data_dir=REAL)  # the documented default split
    assert (len(ds.train), len(ds.val), len(ds.test)) == (55_000, 5_000, 10_000)
    assert np.bincount(ds.train.y.numpy()).tolist() == [5_500] * 10
    assert np.bincount(ds.val.y.numpy()).tolist() == [500] * 10
    assert np.bincount(ds.test.y.numpy()).tolist() == [1_000] * 10
    # the published files begin with these labels (Ankle boot, T-shirt/top, ...)
    assert ds.test.y[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert idx.read_labels(REAL / f"{NAMES['train_labels']}.gz")[:6].tolist() == [9, 0, 0, 3, 0, 2]
    assert 0.28 < ds.mean[0] < 0.29 and 0.35 < ds.std[0] < 0.36
    assert int(ds.test.x.max()) == 255 and ds.test.x.dtype.itemsize == 1
