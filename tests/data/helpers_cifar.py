"""Write fake CIFAR files in the exact on-disk format of the real ones.

The real files were pickled by Python 2 (protocol 2): their ``str`` keys and values are
``BINSTRING`` opcodes (read back as ``bytes`` with ``encoding="bytes"``) and numpy arrays refer
to ``numpy.core.multiarray._reconstruct``. :func:`py2_dumps` writes the same opcodes from
Python 3, so the loader is tested against that format and not against Python 3's own.

Each fake image carries its index in its first two red pixels (``i % 256``, ``i // 256``), so a
test can find any loaded image's source row.
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler, to control the opcodes
    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        data = obj.encode("latin1") if isinstance(obj, str) else bytes(obj)
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str

    def save_global(self, obj, name=None):
        module = getattr(obj, "__module__", None) or "builtins"
        module = {"numpy._core.multiarray": "numpy.core.multiarray"}.get(module, module)
        self.write(pickle.GLOBAL + f"{module}\n{name or obj.__qualname__}\n".encode("ascii"))
        self.memoize(obj)


def py2_dumps(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def fake_rows(n: int, start: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).integers(0, 256, size=(n, 3072), dtype=np.uint8)
    idx = np.arange(start, start + n)
    rows[:, 0], rows[:, 1] = idx % 256, idx // 256
    return rows


def write_cifar10(root: Path, per_batch: int = 40, n_test: int = 50) -> dict:
    """``root/cifar-10-batches-py`` with 5 training batches and a test batch; returns the rows
    and labels written (train rows in batch order)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows, labels = [], []
    for b in range(5):
        data = fake_rows(per_batch, b * per_batch, seed=b + 1)
        lab = rng.integers(0, 10, size=per_batch).tolist()
        batch = {
            "batch_label": f"training batch {b + 1} of 5", "labels": lab, "data": data,
            "filenames": [f"img_{b}_{i}.png" for i in range(per_batch)],
        }
        (folder / f"data_batch_{b + 1}").write_bytes(py2_dumps(batch))
        rows.append(data)
        labels += lab
    test = fake_rows(n_test, 0, seed=99)
    test_labels = rng.integers(0, 10, size=n_test).tolist()
    (folder / "test_batch").write_bytes(py2_dumps(
        {"batch_label": "testing batch 1 of 1", "labels": test_labels, "data": test,
         "filenames": [f"test_{i}.png" for i in range(n_test)]}
    ))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]
    (folder / "batches.meta").write_bytes(py2_dumps(
        {"label_names": names, "num_cases_per_batch": per_batch, "num_vis": 3072}
    ))
    return {"folder": folder, "train": np.concatenate(rows), "train_labels": np.array(labels),
            "test": test, "test_labels": np.array(test_labels), "names": names}


def write_cifar100(root: Path, n_train: int = 300, n_test: int = 60) -> dict:
    """``root/cifar-100-python`` with ``train``, ``test`` and ``meta``."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    out = {"folder": folder}
    for split, n, seed in (("train", n_train, 5), ("test", n_test, 6)):
        data = fake_rows(n, 0, seed=seed)
        fine = rng.integers(0, 100, size=n).tolist()
        coarse = [f // 5 for f in fine]
        (folder / split).write_bytes(py2_dumps(
            {"filenames": [f"{split}_{i}.png" for i in range(n)], "batch_label": split,
             "fine_labels": fine, "coarse_labels": coarse, "data": data}
        ))
        out[split], out[f"{split}_fine"], out[f"{split}_coarse"] = data, np.array(fine), \
            np.array(coarse)
    (folder / "meta").write_bytes(py2_dumps(
        {"fine_label_names": [f"fine{i}" for i in range(100)],
         "coarse_label_names": [f"coarse{i}" for i in range(20)]}
    ))
    return out
