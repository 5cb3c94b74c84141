"""The restricted unpickler refuses code-running pickles before they run and loads CIFAR's
numpy-array dicts (Python 2 layout with bytes keys, and Python 3 re-pickles)."""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from helpers_cifar import py2_dumps

from tempcheck.data.safe_pickle import SafeUnpickler, as_str_keys, safe_load
from tempcheck.errors import DataError


def _global_call(module: str, name: str, *args: str, protocol: int = 2) -> bytes:
    """A pickle that calls ``module.name(*args)`` when loaded (what an attacker writes),
    built opcode by opcode so any target can be named."""
    parts = [pickle.PROTO + bytes([protocol])]
    parts.append(pickle.GLOBAL + f"{module}\n{name}\n".encode())
    for arg in args:
        raw = arg.encode()
        parts.append(pickle.BINUNICODE + len(raw).to_bytes(4, "little") + raw)
    parts.append({0: pickle.EMPTY_TUPLE, 1: pickle.TUPLE1, 2: pickle.TUPLE2,
                  3: pickle.TUPLE3}[len(args)])
    parts.append(pickle.REDUCE + pickle.STOP)
    return b"".join(parts)


def _stack_global_call(module: str, name: str, arg: str) -> bytes:
    """The same at protocol 4, where the name arrives through STACK_GLOBAL."""
    def uni(s: str) -> bytes:
        raw = s.encode()
        return pickle.SHORT_BINUNICODE + bytes([len(raw)]) + raw

    return (pickle.PROTO + b"\x04" + uni(module) + uni(name) + pickle.STACK_GLOBAL + uni(arg)
            + pickle.TUPLE1 + pickle.REDUCE + pickle.STOP)


def _payloads(marker: Path) -> dict[str, bytes]:
    touch = f"open({str(marker)!r}, 'w').close()"
    shell = f"touch {marker}"
    return {
        "os.system": _global_call("os", "system", shell),
        "posix.system": _global_call("posix", "system", shell),
        "subprocess.getoutput": _global_call("subprocess", "getoutput", shell),
        "builtins.exec": _global_call("builtins", "exec", touch),
        "builtins.eval": _global_call("builtins", "eval", touch),
        "__builtin__.eval (Python 2 name)": _global_call("__builtin__", "eval", touch),
        "builtins.exec via STACK_GLOBAL": _stack_global_call("builtins", "exec", touch),
        "numpy.testing runstring": _global_call(
            "numpy.testing._private.utils", "runstring", touch, "{}"
        ),
    }


def test_payload_is_live_under_the_standard_unpickler(tmp_path):
    # the attack works against pickle.loads, so refusing it below is meaningful
    marker = tmp_path / "pwned-standard"
    pickle.loads(_payloads(marker)["builtins.exec"])
    assert marker.exists()


@pytest.mark.parametrize("kind", list(_payloads(Path("x"))))
def test_code_running_pickles_are_refused_before_running(tmp_path, kind):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    path.write_bytes(_payloads(marker)[kind])
    with pytest.raises(DataError) as info:
        safe_load(path)
    message = str(info.value)
    assert str(path) in message and "refused" in message
    assert "\n" not in message
    assert not marker.exists()


def test_refused_global_is_named():
    data = _global_call("os", "system", "true")
    with pytest.raises(DataError, match=r"os\.system"):
        SafeUnpickler(io.BytesIO(data), source="evil.pkl").load()


def test_codecs_encode_is_limited_to_latin1(tmp_path):
    path = tmp_path / "rot"
    path.write_bytes(_global_call("_codecs", "encode", "abc", "rot13"))
    with pytest.raises(DataError, match="rot"):
        safe_load(path)


def test_python2_cifar_dict_loads_with_bytes_keys(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, size=(7, 3072), dtype=np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_dumps({"data": data, "labels": [1, 2, 3, 4, 5, 6, 7],
                                "batch_label": "training batch 1 of 5"}))
    loaded = safe_load(path)
    assert set(loaded) == {b"data", b"labels", b"batch_label"}
    np.testing.assert_array_equal(loaded[b"data"], data)
    assert loaded[b"labels"] == [1, 2, 3, 4, 5, 6, 7]
    assert as_str_keys(loaded, str(path))["batch_label"] == b"training batch 1 of 5"


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_python3_repickles_load_with_str_keys(tmp_path, protocol):
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    payload = {"data": data, "labels": np.array([3, 4], dtype=np.int64), "scalar": np.int64(9),
               "names": [b"cat", "dog"], "shape": (2, 3072)}
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps(payload, protocol=protocol))
    loaded = as_str_keys(safe_load(path), str(path))
    np.testing.assert_array_equal(loaded["data"], data)
    np.testing.assert_array_equal(loaded["labels"], [3, 4])
    assert loaded["scalar"] == 9 and loaded["names"] == [b"cat", "dog"]


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "objects"
    path.write_bytes(pickle.dumps({"data": np.array([1, "a"], dtype=object)}, protocol=2))
    with pytest.raises(DataError, match="objects"):
        safe_load(path)


@pytest.mark.parametrize("cut", [0, 1, 40, -1])
def test_truncated_or_missing_pickles_are_data_errors(tmp_path, cut):
    whole = py2_dumps({"data": np.zeros((3, 3072), np.uint8), "labels": [0, 1, 2]})
    path = tmp_path / "test_batch"
    path.write_bytes(whole[:cut] if cut else b"")
    with pytest.raises(DataError, match="test_batch"):
        safe_load(path)
    with pytest.raises(DataError, match="nothere"):
        safe_load(tmp_path / "nothere")


def test_marker_directory_untouched(tmp_path):
    # no payload left anything behind in the working directory either
    before = set(os.listdir(tmp_path))
    for data in _payloads(tmp_path / "m").values():
        with pytest.raises(DataError):
            SafeUnpickler(io.BytesIO(data), source="s").load()
    assert set(os.listdir(tmp_path)) == before
