"""Report sections of the analysis stage (gradients, logits, features, dynamics), built from a
run folder written from real evaluation output, and their "not run" fallbacks."""

from __future__ import annotations

import csv
import json

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure

from tempcheck.analysis import features, gradients, logits
from tempcheck.analysis.dynamics import run_dynamics_study, write_dynamics
from tempcheck.eval.base import EvalContext
from tempcheck.registry import create_model
from tempcheck.report import section_dynamics, section_features, section_gradients, section_logits
from tempcheck.report.rundata import RunData

matplotlib.use("Agg")

EVALS = {"gradients": (gradients.run, {"check_examples": 8}),
         "logits": (logits.run, {}),
         "features": (features.run, {"points": 30, "probe_examples": 100, "probe_iter": 10})}
SECTIONS = [section_gradients, section_logits, section_features, section_dynamics]


def write_run(root, digits, groups):
    """A run folder laid out as the sweep does: results.csv, groups/<g>/eval.json, arrays.npz."""
    rows = []
    for name, taus, seed in groups:
        model = create_model("mlp", members=len(taus), seeds=[seed + k for k in range(len(taus))],
                             hidden=(16,), **digits.model_kwargs()).eval()
        info, arrays, columns = {}, {}, {}
        for ev, (fn, options) in EVALS.items():
            ctx = EvalContext(model=model, data=digits, temperatures=torch.tensor(taus),
                              device=torch.device("cpu"), seed=seed, options=options)
            result = fn(ctx)
            info[ev] = result.info
            arrays.update({f"{ev}/{k}": v for k, v in result.arrays.items()})
            columns.update(result.columns)
        gdir = root / "groups" / name
        gdir.mkdir(parents=True)
        (gdir / "eval.json").write_text(json.dumps(info))
        np.savez(gdir / "arrays.npz", **arrays)
        for k, tau in enumerate(taus):
            row = {"group": name, "member": k, "temperature": tau, "seed": seed, "status": "ok"}
            row.update({c: v[k] for c, v in columns.items()})
            rows.append(row)
    with open(root / "results.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_sections_from_a_run_folder(tmp_path, digits):
    write_run(tmp_path, digits, [("g0", [0.5, 1.0, 4.0], 0), ("g1", [0.5, 1.0, 4.0], 1)])
    study = run_dynamics_study("linear", digits, n_examples=12, betas=(0.5, 2.0), steps=6,
                               scan_steps=5, scan_refine=2)
    write_dynamics(tmp_path, study)
    run = RunData.load(tmp_path)
    for module in SECTIONS:
        section = module.build(run)
        assert section.ran, (module.__name__, section.markdown)
        assert section.figures and all(isinstance(f, Figure) for _, f in section.figures)
        assert all(caption for caption, _ in section.figures)
    grad = section_gradients.build(run)
    assert grad.markdown.count("\n| ") == 4  # header + τ = 0.5, 1, 4
    assert "| 0.5 | 2 |" in grad.markdown and "largest relative discrepancy" in grad.markdown
    assert len(grad.figures) == 3
    feats = section_features.build(run)
    grid = feats.figures[0][1]
    assert len(grid.axes) == 2 * 3  # t-SNE and PCA rows, one column per τ
    dyn = section_dynamics.build(run)
    assert len(dyn.figures) == 4
    assert "fitted exponent" in dyn.markdown and "| 0.5 |" in dyn.markdown


def test_sections_say_not_run(tmp_path):
    (tmp_path / "results.csv").write_text("group,member,temperature,seed,status\n")
    run = RunData.load(tmp_path)
    for module in SECTIONS:
        section = module.build(run)
        assert not section.ran and section.markdown.startswith("*Not run:*")
        assert section.figures == []
