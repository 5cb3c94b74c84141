"""Report section "Corruption robustness", built from a run folder of real evaluation output."""

from __future__ import annotations

import csv
import json

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from tempcheck.eval.base import EvalContext
from tempcheck.eval.corruption import run as run_corruption
from tempcheck.registry import create_model, load_dataset
from tempcheck.report.rundata import RunData
from tempcheck.report.section_corruption import (
    build,
    plot_accuracy_vs_severity,
    plot_accuracy_vs_temperature,
    plot_example_grid,
)

matplotlib.use("Agg")
TAUS = [0.5, 1.0, 4.0]


def _write_csv(path, rows):
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """Two groups (seeds) of a 3-member digits cnn bank, laid out as the sweep does."""
    root = tmp_path_factory.mktemp("run")
    data = load_dataset("digits")
    results, table = [], []
    for seed in (0, 1):
        group = f"g{seed}"
        model = create_model("cnn", members=3, seeds=[3 * seed + k for k in range(3)],
                             widths=(4, 8, 8),
                             **data.model_kwargs()).eval()
        ctx = EvalContext(model=model, data=data, temperatures=torch.tensor(TAUS),
                          device=torch.device("cpu"),
                          options={"corruptions": ["gaussian_noise", "fog", "contrast",
                                                   "spatter"], "n_images": 16})
        result = run_corruption(ctx)
        gdir = root / "groups" / group
        gdir.mkdir(parents=True)
        (gdir / "eval.json").write_text(json.dumps({"corruption": result.info}))
        np.savez(gdir / "arrays.npz", **{f"corruption/{k}": v for k, v in result.arrays.items()})
        for k, tau in enumerate(TAUS):
            row = {"group": group, "member": k, "temperature": tau, "seed": seed,
                   "status": "diverged" if (seed, k) == (1, 2) else "ok", "test_acc": 0.5}
            row.update({c: v[k] for c, v in result.columns.items()})
            results.append(row)
        table += [{"group": group, "temperature": TAUS[r["member"]], "seed": seed, **r}
                  for r in result.tables["corruptions"]]
    _write_csv(root / "results.csv", results)
    _write_csv(root / "corruptions.csv", table)
    return root


def test_section_from_a_run_folder(run_folder):
    section = build(RunData.load(run_folder))
    assert section.ran and section.title == "Corruption robustness"
    assert len(section.figures) == 3
    assert all(isinstance(fig, Figure) and caption for caption, fig in section.figures)
    md = section.markdown
    assert ("| τ | clean | corruptions (mean) | noise | weather | digital | extra | mCE |"
            in md.splitlines())
    assert "| 0.5 |" in md and "| 4 |" in md
    for name in ("gaussian_noise", "fog", "contrast", "spatter"):
        assert f"| {name} |" in md
    assert "member with τ = 1 in each group" in md and "16 test images" in md
    grid = section.figures[2][1]
    assert len(grid.axes) == 4 * 6  # 4 corruptions x (clean + 5 severities)


def test_diverged_members_are_left_out(run_folder):
    run = RunData.load(run_folder)
    section = build(run)
    # τ = 4 has one trained member (seed 0) and one diverged (seed 1): a single value, no ± sd
    line = next(ln for ln in section.markdown.splitlines() if ln.startswith("| 4 |"))
    assert "±" not in line.split("|")[3]
    line = next(ln for ln in section.markdown.splitlines() if ln.startswith("| 0.5 |"))
    assert "±" in line.split("|")[3]


def test_severity_curves_fall_back_to_the_table(run_folder, tmp_path):
    run = RunData.load(run_folder)
    run._arrays = {g: {} for g in run.evals}  # as if arrays.npz were missing
    section = build(run)
    captions = [c for c, _ in section.figures]
    assert len(section.figures) == 2 and "severity" in captions[1]
    assert "| fog |" in section.markdown


def test_not_run_without_data(tmp_path):
    section = build(RunData.load(tmp_path))
    assert not section.ran and section.markdown.startswith("*Not run:*")
    run = RunData(root=tmp_path, results=[{"group": "g", "member": 0, "temperature": 1.0,
                                           "status": "ok", "corr_acc_mean": ""}],
                  evals={"g": {"corruption": {}}})
    assert not build(run).ran


def test_plot_functions_are_pure():
    overall = {0.5: [0.6, 0.62], 1.0: [0.7], 4.0: [0.5, 0.55]}
    fig = plot_accuracy_vs_temperature(overall, {"noise": overall}, clean=overall)
    assert isinstance(fig, Figure) and fig.axes[0].get_xscale() == "log"
    fig = plot_accuracy_vs_severity({1.0: {1: [0.9], 5: [0.4, 0.5]}}, clean={1.0: [0.95]})
    assert [round(x) for x in fig.axes[0].lines[0].get_xdata()] == [0, 1, 5]
    colour = (np.random.default_rng(0).random((2, 5, 3, 8, 8)) * 255).astype(np.uint8)
    assert len(plot_example_grid(colour, ["a", "b"], [1, 2, 3, 4, 5]).axes) == 10
    grey = colour[:, :, :1]
    assert len(plot_example_grid(grey, ["a", "b"], [1, 2, 3, 4, 5], grey[0, 0]).axes) == 12


def test_settings_text_says_which_parameter_table():
    from tempcheck.data.corruptions import choose_table
    from tempcheck.report.section_corruption import _settings_text

    base = {"corruptions": ["fog"], "severities": [1], "n_images": 4, "source": "generated"}
    auto = _settings_text({**base, "table": choose_table(100, 150).to_dict()})
    assert "the 64 px (Tiny-ImageNet-C) table, picked automatically" in auto
    forced = _settings_text({**base, "table": choose_table(100, 150, 224).to_dict()})
    assert "the 224 px (ImageNet-C) table, as asked" in forced
    assert "the 32 px table" in _settings_text({**base, "profile": 32})  # older runs
    released = _settings_text({**base, "source": "released cifar: /x", "table": None})
    assert "released files" in released
