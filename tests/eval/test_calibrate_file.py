"""``calibrate_file``: the logic of ``tempcheck calibrate LOGITS`` on real .npz / .npy files."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from tempcheck.errors import DataError
from tempcheck.eval.calibrate_file import calibrate_file, load_logits_file

SHARPEN = 2.5


def calibrated(n: int, c: int = 10, seed: int = 0):
    """Logits sharpened by SHARPEN from a calibrated set, and labels drawn from the latter."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, c)) * 2
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    y = (p.cumsum(1) > rng.random((n, 1))).argmax(1)
    return z * SHARPEN, y


def test_npz_with_validation_arrays(tmp_path):
    z, y = calibrated(20_000, seed=1)
    zv, yv = calibrated(20_000, seed=2)
    path = tmp_path / "run.npz"
    np.savez(path, logits=z.astype(np.float32), labels=y, val_logits=zv, val_labels=yv)
    out = calibrate_file(path)
    assert out["fit_on"] == "val" and (out["n_fit"], out["n_eval"]) == (20_000, 20_000)
    assert out["temperature"] == pytest.approx(SHARPEN, rel=0.03)
    assert out["ece_after"] < 0.015 < out["ece_before"]
    assert out["nll_after"] < out["nll_before"]
    assert out["adaptive_ece_after"] < out["adaptive_ece_before"]
    assert abs(out["final_grad"]) < 1e-6 and out["bound_hit"] == ""
    json.dumps(out, allow_nan=False)


def test_npy_pair_fits_on_a_seeded_half(tmp_path):
    z, y = calibrated(4001, seed=3)
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y.astype(np.int32))
    a = calibrate_file(tmp_path / "z.npy", labels_path=tmp_path / "y.npy", seed=7)
    b = calibrate_file(tmp_path / "z.npy", labels_path=tmp_path / "y.npy", seed=7)
    c = calibrate_file(tmp_path / "z.npy", labels_path=tmp_path / "y.npy", seed=8)
    assert (a["fit_on"], a["n_fit"], a["n_eval"]) == ("half", 2000, 2001)
    assert a == b and a["temperature"] != c["temperature"]
    assert a["temperature"] == pytest.approx(SHARPEN, rel=0.1)


def test_float_labels_with_integer_values_are_accepted(tmp_path):
    z, y = calibrated(200, seed=4)
    np.savez(tmp_path / "f.npz", logits=z, labels=y.astype(np.float64))
    assert calibrate_file(tmp_path / "f.npz")["n_eval"] == 100


def test_probabilities_warn(tmp_path):
    z, y = calibrated(400, seed=5)
    p = np.exp(z - z.max(1, keepdims=True))
    np.savez(tmp_path / "p.npz", logits=p / p.sum(1, keepdims=True), labels=y)
    with pytest.warns(UserWarning, match="probabilities"):
        out = calibrate_file(tmp_path / "p.npz")
    assert out["warnings"] and "probabilities" in out["warnings"][0]


def test_png(tmp_path):
    z, y = calibrated(1000, seed=6)
    np.savez(tmp_path / "r.npz", logits=z, labels=y)
    from tempcheck.app.calibrate import calibrate_file as calibrate_with_png

    out = calibrate_with_png(tmp_path / "r.npz", png=tmp_path / "rel.png", n_bins=10)
    with Image.open(out["png"]) as im:
        assert im.format == "PNG" and im.size[0] > im.size[1] > 100
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _write(tmp_path, name, **arrays):
    np.savez(tmp_path / name, **arrays)
    return tmp_path / name


def _npz_cases(tmp_path):
    z, y = calibrated(50, seed=7)
    bad_z = z.copy()
    bad_z[3, 1] = np.nan
    inf_z = z.copy()
    inf_z[5, 0] = -np.inf
    return [
        (_write(tmp_path, "a.npz", logits=z), "no 'labels'"),
        (_write(tmp_path, "b.npz", labels=y), "no 'logits'"),
        (_write(tmp_path, "c.npz", logits=z, labels=y[:-1]), "49 entries"),
        (_write(tmp_path, "d.npz", logits=z[:, 0], labels=y), "2-D"),
        (_write(tmp_path, "e.npz", logits=z[None], labels=y), "2-D"),
        (_write(tmp_path, "f.npz", logits=bad_z, labels=y), "NaN"),
        (_write(tmp_path, "g.npz", logits=inf_z, labels=y), "NaN or inf"),
        (_write(tmp_path, "h.npz", logits=z, labels=y + 10), "must lie in"),
        (_write(tmp_path, "i.npz", logits=z, labels=y - 20), "must lie in"),
        (_write(tmp_path, "j.npz", logits=z, labels=y + 0.5), "integers"),
        (_write(tmp_path, "k.npz", logits=z, labels=y.astype(bool)), "integers"),
        (_write(tmp_path, "l.npz", logits=z, labels=y[:, None]), "1-D"),
        (_write(tmp_path, "m.npz", logits=z, labels=y, val_logits=z), "val_labels"),
        (_write(tmp_path, "n.npz", logits=z, labels=y, val_logits=z[:, :5], val_labels=y),
         "5 classes"),
        (_write(tmp_path, "o.npz", logits=z, labels=y, val_logits=z, val_labels=y[:10]),
         "val_labels has 10"),
        (_write(tmp_path, "p.npz", logits=z.astype(str), labels=y), "numeric"),
        (_write(tmp_path, "q.npz", logits=z[:1], labels=y[:1]), "≥ 2"),
        (_write(tmp_path, "r.npz", logits=z[:, :1], labels=np.zeros(50, int)), "C ≥ 2"),
        (_write(tmp_path, "s.npz", logits=np.array([z, z], dtype=object)[0], labels=y),
         "cannot read .*allow_pickle"),
    ]


def test_every_bad_npz_is_a_data_error(tmp_path):
    for path, match in _npz_cases(tmp_path):
        with pytest.raises(DataError, match=match) as info:
            calibrate_file(path)
        assert "\n" not in str(info.value), path.name


def test_bad_files_are_data_errors(tmp_path):
    z, y = calibrated(50, seed=8)
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", y)
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}] * 50, dtype=object), allow_pickle=True)
    (tmp_path / "junk.npz").write_bytes(b"this is not numpy")
    with zipfile.ZipFile(tmp_path / "broken.npz", "w") as zf:
        zf.writestr("logits.npy", b"\x93NUMPY garbage")
    np.savez(tmp_path / "both.npz", logits=z, labels=y)
    cases = [
        (dict(path=tmp_path / "missing.npz"), "not found"),
        (dict(path=tmp_path / "z.npy"), "labels file"),
        (dict(path=tmp_path / "z.npy", labels_path=tmp_path / "nope.npy"), "not found"),
        (dict(path=tmp_path / "obj.npy", labels_path=tmp_path / "y.npy"), "cannot read"),
        (dict(path=tmp_path / "z.npy", labels_path=tmp_path / "obj.npy"), "cannot read"),
        (dict(path=tmp_path / "junk.npz"), "cannot read"),
        (dict(path=tmp_path / "broken.npz"), "cannot read"),
        (dict(path=tmp_path / "both.npz", labels_path=tmp_path / "y.npy"), "labels"),
        (dict(path=tmp_path / "z.npy", labels_path=tmp_path / "both.npz"), ".npy array"),
        (dict(path=tmp_path), "not found"),
    ]
    for kwargs, match in cases:
        path = kwargs.pop("path")
        with pytest.raises(DataError, match=match) as info:
            load_logits_file(path, **kwargs)
        assert "\n" not in str(info.value)
