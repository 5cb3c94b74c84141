"""The corruption evaluation on a tiny digits cnn bank: columns, tables, arrays, mCE, sources."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from tempcheck.data import cifar_c
from tempcheck.data import corruptions as C
from tempcheck.errors import ConfigError, DataError
from tempcheck.eval.base import EvalContext, predict
from tempcheck.eval.corruption import _baseline_member, _columns, run
from tempcheck.registry import create_model, load_dataset

TAUS = torch.tensor([0.3, 1.0, 5.0])


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def bank(digits):
    torch.manual_seed(0)
    model = create_model("cnn", members=3, seeds=[0, 1, 2], widths=(4, 8, 8),
                         **digits.model_kwargs())
    return model.eval()


def context(bank, digits, **options):
    return EvalContext(model=bank, data=digits, temperatures=TAUS, device=torch.device("cpu"),
                       options=options, baseline_temperature=1.0)


def test_columns_tables_arrays(bank, digits):
    options = {"corruptions": ["gaussian_noise", "contrast", "speckle_noise"],
               "severities": [1, 5], "n_images": 24}
    result = run(context(bank, digits, **options))
    cols = result.columns
    assert set(cols) == {"corr_acc_mean", "corr_mce"} | {f"corr_acc_{f}" for f in
                                                         C.FAMILY_NAMES}
    assert all(len(v) == 3 for v in cols.values())
    assert all(math.isnan(v) for v in cols["corr_acc_blur"] + cols["corr_acc_weather"])
    acc = result.arrays["accuracy"]
    assert acc.shape == (3, 3, 2) and acc.dtype == np.float32
    assert ((acc >= 0) & (acc <= 1)).all()
    # the mean covers the benchmark corruptions only (speckle noise is an extra)
    assert np.allclose(cols["corr_acc_mean"], acc[:, :2].mean(axis=(1, 2)))
    assert np.allclose(cols["corr_acc_extra"], acc[:, 2].mean(axis=1))
    assert cols["corr_mce"][1] == pytest.approx(1.0) or math.isnan(cols["corr_mce"][1])
    rows = result.tables["corruptions"]
    assert len(rows) == 3 * 3 * 2
    assert set(rows[0]) == {"member", "corruption", "family", "severity", "accuracy"}
    assert {r["family"] for r in rows} == {"noise", "digital", "extra"}
    row = next(r for r in rows if r["member"] == 2 and r["corruption"] == "contrast"
               and r["severity"] == 5)
    assert row["accuracy"] == pytest.approx(float(acc[2, 1, 1]))
    assert result.arrays["examples"].shape == (3, 2, 1, 8, 8)
    assert result.arrays["examples"].dtype == np.uint8
    assert result.arrays["clean_example"].shape == (1, 1, 8, 8)
    assert result.arrays["corruptions"].tolist() == options["corruptions"]
    assert result.arrays["severities"].tolist() == [1, 5]
    info = result.info
    assert info["n_images"] == 24 and info["baseline_member"] == 1
    assert info["source"] == "generated" and info["mean_over"] == ["gaussian_noise", "contrast"]


def test_accuracy_is_the_banked_prediction_on_the_corrupted_images(bank, digits):
    result = run(context(bank, digits, corruptions="fog", severities=3, n_images=0, seed=7))
    x = digits.test.x
    corrupted = torch.cat([c for _, c in C.iter_corrupted(x, "fog", 3, seed=7)])
    logits = predict(bank, corrupted)
    want = (logits.argmax(-1) == digits.test.y.view(-1, 1)).double().mean(0).numpy()
    assert np.allclose(result.arrays["accuracy"][:, 0, 0], want)
    assert result.info["n_images"] == len(digits.test)
    same = run(context(bank, digits, corruptions="fog", severities=3, n_images=0, seed=7))
    assert np.array_equal(same.arrays["accuracy"], result.arrays["accuracy"])


def test_streaming_does_not_change_results(bank, digits, tmp_path, monkeypatch):
    """Predicting pair by pair or chunk by chunk gives the same accuracies as one batch."""
    from tempcheck.eval import corruption as module

    options = {"corruptions": ["shot_noise", "pixelate"], "severities": [2, 4], "n_images": 40}
    together = run(context(bank, digits, **options))
    monkeypatch.setattr(module, "FLUSH_ELEMENTS", 1)
    apart = run(context(bank, digits, **options))
    assert np.array_equal(together.arrays["accuracy"], apart.arrays["accuracy"])
    assert np.array_equal(together.arrays["examples"], apart.arrays["examples"])
    cifar_c.write_cifar_c_layout(digits.test.x, digits.test.y, tmp_path, ["pixelate"])
    whole = run(context(bank, digits, corruptions_dir=str(tmp_path), n_images=40))
    monkeypatch.setattr(C, "CHUNK_SIZE", 7)
    chunked = run(context(bank, digits, corruptions_dir=str(tmp_path), n_images=40))
    assert np.array_equal(whole.arrays["accuracy"], chunked.arrays["accuracy"])


def test_default_runs_every_grey_corruption(bank, digits):
    result = run(context(bank, digits, n_images=5))
    names = result.info["corruptions"]
    assert names == [n for n in C.CORRUPTIONS if n != "saturate"]
    assert result.info["skipped"] == ["saturate"]
    assert result.arrays["accuracy"].shape == (3, 18, 5)
    assert len(result.tables["corruptions"]) == 3 * 18 * 5
    assert all(not math.isnan(v) for v in result.columns["corr_acc_mean"])


def test_option_errors(bank, digits):
    with pytest.raises(ConfigError, match="saturate"):
        run(context(bank, digits, corruptions=["saturate"]))
    with pytest.raises(ConfigError, match="unknown option eval.corruption.typo"):
        run(context(bank, digits, typo=1))
    with pytest.raises(ConfigError, match="severities"):
        run(context(bank, digits, severities=[0, 6]))
    with pytest.raises(ConfigError, match="n_images"):
        run(context(bank, digits, n_images=-1))
    with pytest.raises(ConfigError, match="seed"):
        run(context(bank, digits, seed="x"))


def test_summary_columns_closed_form():
    names = ("gaussian_noise", "defocus_blur", "speckle_noise")
    acc = np.array([[[0.9, 0.7], [0.8, 0.6], [0.5, 0.5]],   # baseline
                    [[0.8, 0.6], [0.8, 0.6], [0.0, 0.0]],
                    [[1.0, 1.0], [0.9, 0.9], [1.0, 1.0]]])
    cols = _columns(acc, names, ["gaussian_noise", "defocus_blur"], baseline=0)
    assert cols["corr_acc_mean"] == pytest.approx([0.75, 0.7, 0.95])
    assert cols["corr_acc_noise"] == pytest.approx([0.8, 0.7, 1.0])
    assert cols["corr_acc_extra"] == pytest.approx([0.5, 0.0, 1.0])
    assert math.isnan(cols["corr_acc_weather"][0])
    # CE_c = sum_s err / sum_s err(baseline): noise 0.6/0.4, blur 0.6/0.6; member 2: 0, 0.2/0.6
    assert cols["corr_mce"] == pytest.approx([1.0, (1.5 + 1.0) / 2, (0.0 + 1 / 3) / 2])
    perfect = _columns(np.ones((2, 1, 2)), ("contrast",), ["contrast"], baseline=0)
    assert all(math.isnan(v) for v in perfect["corr_mce"])  # the baseline makes no error


def test_baseline_member_is_nearest_in_log_scale():
    assert _baseline_member(torch.tensor([0.1, 0.9, 10.0]), 1.0) == 1
    assert _baseline_member(torch.tensor([0.5, 2.0]), 1.0) == 0  # tie: the first
    # log distance: |log 3| = 1.10 < |log 0.2| = 1.61, though 0.2 is nearer linearly
    assert _baseline_member(torch.tensor([0.2, 3.0]), 1.0) == 1


def test_released_cifar_layout(bank, digits, tmp_path):
    names = ["gaussian_noise", "zoom_blur"]
    cifar_c.write_cifar_c_layout(digits.test.x, digits.test.y, tmp_path, names, seed=2)
    result = run(context(bank, digits, corruptions_dir=str(tmp_path), n_images=30, seed=5))
    assert result.info["corruptions"] == names  # "all": whatever files are there
    assert result.info["source"].startswith("released cifar")
    idx = np.sort(np.random.default_rng(5).choice(len(digits.test), 30, replace=False))
    split = cifar_c.load_cifar_c(tmp_path, "zoom_blur", 4, indices=idx)
    logits = predict(bank, split.x.float() / 255)
    want = (logits.argmax(-1) == split.y.view(-1, 1)).double().mean(0).numpy()
    assert np.allclose(result.arrays["accuracy"][:, 1, 3], want)
    assert np.array_equal(result.arrays["examples"][1, 3], split.x[0].numpy())
    with pytest.raises(DataError, match="fog.npy"):
        run(context(bank, digits, corruptions_dir=str(tmp_path), corruptions=["fog"]))


def test_released_folders(bank, digits, tmp_path):
    rng = np.random.default_rng(0)
    for s in (1, 2):
        for label in ("3", "7"):
            folder = tmp_path / "contrast" / str(s) / label
            folder.mkdir(parents=True)
            for i in range(3):
                img = (rng.random((8, 8)) * 255).astype(np.uint8)
                Image.fromarray(img, "L").save(folder / f"{i}.png")
    result = run(context(bank, digits, corruptions_dir=str(tmp_path), severities=[2],
                         n_images=0))
    assert result.info["corruptions"] == ["contrast"] and result.info["n_images"] == 6
    paths, labels = cifar_c.list_image_folder_c(tmp_path, "contrast", 2, digits.class_names)
    assert labels.tolist() == [3, 3, 3, 7, 7, 7]  # the digits class list, not folder order
    x = cifar_c.read_images(paths, channels=1).float() / 255
    want = (predict(bank, x).argmax(-1) == torch.from_numpy(labels).view(-1, 1)).double()
    assert np.allclose(result.arrays["accuracy"][:, 0, 0], want.mean(0).numpy())
    with pytest.raises(DataError, match="missing severity folder"):
        run(context(bank, digits, corruptions_dir=str(tmp_path), severities=[3]))


class _Log:
    """A Progress that keeps its log lines."""

    def __init__(self):
        self.lines = []

    def task(self, name, total=None):
        from tempcheck.progress import ProgressTask

        return ProgressTask()

    def log(self, message):
        self.lines.append(message)


def test_table_auto_is_recorded_and_said(bank, digits):
    ctx = context(bank, digits, corruptions="contrast", severities=5, n_images=8)
    ctx.progress = _Log()
    info = run(ctx).info
    assert info["table"]["size"] == 32 and info["table"]["auto"] is True
    assert info["table"]["dataset"] == "CIFAR-10-C" and "8 px" in info["table"]["reason"]
    assert len(ctx.progress.lines) == 1 and "32 px (CIFAR-10-C) table" in ctx.progress.lines[0]


@pytest.mark.parametrize("table", [224, "imagenet", "224"])
def test_table_option_sets_the_parameters(bank, digits, table):
    result = run(context(bank, digits, corruptions="contrast", severities=5, n_images=0,
                         table=table))
    assert result.info["table"]["size"] == 224 and result.info["table"]["auto"] is False
    x = digits.test.x
    corrupted = torch.cat([c for _, c in C.iter_corrupted(x, "contrast", 5, profile=224)])
    # the example image is the first test image under the ImageNet table (c = 0.05, not 0.15)
    assert np.array_equal(result.arrays["examples"][0, 0], C.quantize_uint8(corrupted[:1])[0])
    assert not np.array_equal(result.arrays["examples"][0, 0], C.quantize_uint8(
        C.corrupt(x[:1], "contrast", 5))[0])
    want = (predict(bank, corrupted).argmax(-1) == digits.test.y.view(-1, 1)).double().mean(0)
    assert np.allclose(result.arrays["accuracy"][:, 0, 0], want.numpy())


def test_table_option_errors(bank, digits, tmp_path):
    with pytest.raises(ConfigError, match="eval.corruption.table must be one of"):
        run(context(bank, digits, table="huge"))
    with pytest.raises(ConfigError, match="released data"):
        run(context(bank, digits, table=224, corruptions_dir=str(tmp_path)))
