"""``tempcheck export`` / ``tempcheck.load_member``: one member out of a run as plain PyTorch.

The exported TorchScript file reproduces the run's test accuracy of that member exactly and its
logits (those of the member inside the trained bank) to float rounding, carries its metadata,
and loads in a fresh interpreter that never imports tempcheck (it cannot: a ``sys.meta_path``
blocker refuses it and ``python -I -S`` skips the editable install's ``.pth``).
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import tempcheck
from tempcheck.cli import main
from tempcheck.config import load_config
from tempcheck.data.base import as_float
from tempcheck.export import METADATA_FILE, load_file, load_member, read_metadata
from tempcheck.registry import create_model, load_dataset
from tempcheck.sweep.run import run_sweep

USER_MODELS = Path(__file__).parent / "models" / "user_models.py"
TRAIN = ["train.epochs=2", "sweep.temperatures=[0.5, 4.0]", "sweep.seeds=[0]",
         "eval.run=[clean]"]

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # TorchScript in 2.13


@pytest.fixture(scope="module")
def native_run(tmp_path_factory) -> Path:
    cfg = load_config(None, [*TRAIN, "model.name=cnn", "model.options.widths=[8, 8, 8]"])
    _, root = run_sweep(cfg, tmp_path_factory.mktemp("native") / "run", report=False)
    return root


@pytest.fixture(scope="module")
def python_run(tmp_path_factory) -> Path:
    cfg = load_config(None, [*TRAIN, f"model.name=python:{USER_MODELS}:small_cnn",
                             "model.options.width=4"])
    _, root = run_sweep(cfg, tmp_path_factory.mktemp("python") / "run", report=False)
    return root


def _row(run: Path, temperature: float) -> dict:
    rows = list(csv.DictReader((run / "results.csv").open()))
    return next(r for r in rows if float(r["temperature"]) == temperature)


def _bank_logits(run: Path, x: torch.Tensor) -> torch.Tensor:
    """The trained bank's logits (B, K, C), rebuilt from the group's checkpoint."""
    group = run / "groups" / "seed0"
    saved = json.loads((group / "config.json").read_text())
    data = load_dataset("digits")
    model = create_model(saved["config"]["model"]["name"], members=2, seeds=[0, 0],
                         **saved["config"]["model"]["options"], **data.model_kwargs())
    model.load_state_dict(torch.load(group / "checkpoint.pt", weights_only=True)["model"])
    with torch.no_grad():
        return model.eval()(x)


@pytest.mark.parametrize("which", ["native_run", "python_run"])
def test_exported_member_reproduces_the_run(which, request, tmp_path, capsys):
    run = request.getfixturevalue(which)
    out = tmp_path / "member.pt"
    assert main(["export", str(run), "--temperature", "4", "--seed", "0",
                 "--out", str(out)]) == 0, capsys.readouterr().err
    data = load_dataset("digits")
    x, y = as_float(data.test.x).float(), data.test.y
    module = torch.jit.load(str(out))
    with torch.no_grad():
        z = module(x)
    assert z.shape == (len(y), 10)
    row = _row(run, 4.0)
    assert (z.argmax(1) == y).sum().item() == round(float(row["test_acc"]) * len(y))
    inside = _bank_logits(run, x)[:, int(row["member"])]
    # the bank ran grouped kernels, the member alone dense ones: equal up to float rounding
    assert torch.allclose(z, inside, rtol=1e-5, atol=1e-5)
    eager = load_member(run, temperature=4.0, seed=0)
    with torch.no_grad():
        assert torch.equal(eager(x), z)  # the archive is the eager member, traced
    info = json.loads(out.with_name("member.pt.json").read_text())
    assert info == read_metadata(out)
    assert info["temperature"] == 4.0 and info["seed"] == 0 and info["group"] == "seed0"
    assert info["normalisation"]["mean"] == list(data.mean)
    assert info["input"]["shape"] == [1, 8, 8] and info["num_classes"] == 10
    assert info["test_acc"] == pytest.approx(float(row["test_acc"]))
    assert info["config"]["model"]["name"] == json.loads(
        (run / "sweep.json").read_text())["config"]["model"]["name"]
    assert info["versions"]["export"]["torch"] == torch.__version__
    assert info["versions"]["run"]["tempcheck"] == tempcheck.__version__


def test_tempered_output_is_logits_over_tau(native_run, tmp_path):
    x = as_float(load_dataset("digits").test.x[:32]).float()
    raw = load_member(native_run, temperature=0.5)
    tempered = load_member(native_run, temperature=0.5, tempered=True)
    with torch.no_grad():
        assert torch.allclose(tempered(x), raw(x) / 0.5, rtol=0, atol=0)
    assert tempered.info["output"] == "z / temperature"
    assert tempcheck.load_member is load_member


FRESH = textwrap.dedent("""
    import json, sys
    site, model_path, x_path, out_path, fmt = sys.argv[1:6]

    class RefuseTempcheck:
        def find_spec(self, name, path=None, target=None):
            if name == "tempcheck" or name.startswith("tempcheck."):
                raise ImportError("tempcheck is blocked in this interpreter")
            return None

    sys.meta_path.insert(0, RefuseTempcheck())
    sys.path.append(site)
    import warnings
    warnings.simplefilter("ignore", DeprecationWarning)
    import torch
    files = {"tempcheck.json": ""}
    if fmt == "torchscript":
        model = torch.jit.load(model_path, _extra_files=files)
    else:
        model = torch.export.load(model_path, extra_files=files).module()
    with torch.no_grad():
        torch.save(model(torch.load(x_path)), out_path)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "tempcheck")
    try:
        import tempcheck  # noqa: F401
        importable = True
    except ImportError:
        importable = False
    print(json.dumps({"tempcheck_modules": loaded, "importable": importable,
                      "temperature": json.loads(files["tempcheck.json"])["temperature"]}))
""")


@pytest.mark.parametrize("fmt", ["torchscript", "export"])
def test_exported_member_loads_where_tempcheck_is_not_importable(python_run, tmp_path, fmt):
    out = tmp_path / "member.pt"
    assert main(["export", str(python_run), "--temperature", "0.5", "--out", str(out),
                 "--format", fmt]) == 0
    x = as_float(load_dataset("digits").test.x[:64]).float()
    torch.save(x, tmp_path / "x.pt")
    script = tmp_path / "fresh.py"
    script.write_text(FRESH)
    site = str(Path(torch.__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run(
        [sys.executable, "-I", "-S", str(script), site, str(out), str(tmp_path / "x.pt"),
         str(tmp_path / "z.pt"), fmt], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"tempcheck_modules": [], "importable": False, "temperature": 0.5}
    here, info = load_file(out)
    assert info["format"] == fmt
    with torch.no_grad():
        assert torch.equal(torch.load(tmp_path / "z.pt"), here(x))
        assert torch.equal(here(x), load_member(python_run, temperature=0.5)(x))


def test_metadata_rides_inside_the_archive(native_run, tmp_path):
    out = tmp_path / "m.pt"
    assert main(["export", str(native_run), "--temperature", "0.5", "--out", str(out)]) == 0
    out.with_name("m.pt.json").unlink()  # the sidecar is a convenience, the archive has it all
    files = {METADATA_FILE: ""}
    torch.jit.load(str(out), _extra_files=files)
    assert json.loads(files[METADATA_FILE])["temperature"] == 0.5


@pytest.mark.parametrize("argv, says", [
    (["--temperature", "3"], "no member"),
    (["--seed", "0"], "2 members"),
])
def test_export_selection_errors_are_one_line(native_run, tmp_path, capsys, argv, says):
    out = tmp_path / "m.pt"
    assert main(["export", str(native_run), *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and err.count("\n") == 1
    assert not out.exists()


def test_export_to_a_folder_is_refused(native_run, tmp_path, capsys):
    assert main(["export", str(native_run), "--temperature", "0.5", "--out",
                 str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
