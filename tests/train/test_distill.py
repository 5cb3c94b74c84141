"""Distillation end to end: a tiny teacher sweep on digits, one member extracted from its bank
checkpoint, a student bank distilled at two temperatures, the output folder and its report."""

from __future__ import annotations

import csv

import pytest
import torch

from tempcheck.app.distill import run_distill
from tempcheck.config import load_config
from tempcheck.errors import RunFolderError
from tempcheck.recipe import build_model, fit_options, model_kwargs
from tempcheck.report.base import Section
from tempcheck.report.rundata import RunData
from tempcheck.report.section_distill import build
from tempcheck.train.distill import FrozenTeacher, distill, find_teacher, load_teacher_model
from tempcheck.train.loop import fit

TEACHER = ["model.name=mlp", "model.options.hidden=[32]", "train.epochs=3", "eval.run=[clean]",
           "sweep.temperatures=[1.0, 3.0]", "sweep.seeds=[0]", "train.lr=0.05"]


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    from tempcheck.sweep.run import run_sweep

    out = tmp_path_factory.mktemp("teacher") / "run"
    run_sweep(load_config(None, TEACHER), out)
    return out


@pytest.fixture(scope="module")
def distilled(teacher_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("distill") / "students"
    return run_distill(teacher_run, out=out, teacher_temperature=3.0, teacher_seed=0,
                       temperatures=[1.0, 4.0], alpha=0.1, epochs=2, device="cpu")


def _csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_teacher_member_is_extracted_from_the_bank_checkpoint(teacher_run):
    from tempcheck.registry import create_model, load_dataset
    from tempcheck.sweep.store import load_checkpoint

    ref = find_teacher(teacher_run, temperature=3.0, seed=0)
    assert (ref.group, ref.member, ref.members) == ("seed0", 1, 2)
    data = load_dataset("digits")
    teacher = load_teacher_model(ref, build_model(ref.config, data, [ref.seed]))
    bank = create_model("mlp", members=2, seeds=[0, 0], **model_kwargs(ref.config, data))
    bank.load_state_dict(load_checkpoint(teacher_run / "groups" / "seed0" / "checkpoint.pt")
                         ["model"])
    x = data.test.x[:32]
    with torch.no_grad():
        assert torch.allclose(teacher(x)[:, 0], bank.eval()(x)[:, 1], atol=1e-6)
    assert not any(p.requires_grad for p in teacher.parameters())


def test_teacher_selection_errors(teacher_run, tmp_path):
    with pytest.raises(RunFolderError, match="2 members"):
        find_teacher(teacher_run)
    with pytest.raises(RunFolderError, match="no member.*τ=1/seed 0"):
        find_teacher(teacher_run, temperature=7.0)
    with pytest.raises(RunFolderError, match="no trained group"):
        find_teacher(tmp_path)
    (tmp_path / "junk.txt").write_text("x")
    with pytest.raises(RunFolderError, match="not empty"):
        run_distill(teacher_run, out=tmp_path, teacher_temperature=3.0)


def test_distill_output_folder(distilled, teacher_run):
    for name in ("distill.csv", "results.csv", "metrics.jsonl", "checkpoint.pt",
                 "distill.json", "report.md", "report.html"):
        assert (distilled / name).is_file(), name
    assert list(distilled.glob("figures/*-distillation-0.png"))
    assert list(distilled.glob("figures/*-distillation-0.svg"))
    rows = _csv(distilled / "distill.csv")
    assert [r["role"] for r in rows] == ["student", "student", "baseline", "teacher"]
    assert [r["distill_temperature"] for r in rows[:2]] == ["1.0", "4.0"]
    assert all(0.0 <= float(r["test_acc"]) <= 1.0 for r in rows)
    assert all(0.0 <= float(r["agreement"]) <= 1.0 for r in rows)
    results = _csv(distilled / "results.csv")
    assert [float(r["temperature"]) for r in results] == [1.0, 4.0]
    assert {r["teacher_temperature"] for r in results} == {"3.0"}
    # the teacher's metrics match what the sweep measured for that member (z / τ at τ = 3)
    sweep_row = next(r for r in _csv(teacher_run / "results.csv")
                     if float(r["temperature"]) == 3.0)
    teacher = rows[-1]
    assert float(teacher["test_acc"]) == pytest.approx(float(sweep_row["test_acc"]))
    assert float(teacher["test_nll"]) == pytest.approx(float(sweep_row["test_nll"]), rel=1e-4)
    assert "# Distillation" in (distilled / "report.md").read_text(encoding="utf-8")


def test_baseline_member_equals_plain_cross_entropy_training(teacher_run):
    from tempcheck.registry import create_model, load_dataset

    ref = find_teacher(teacher_run, temperature=1.0, seed=0)
    data = load_dataset("digits")
    options = fit_options(ref.config, torch.device("cpu"), epochs=2)
    kwargs = model_kwargs(ref.config, data)
    teacher = load_teacher_model(ref, build_model(ref.config, data, [ref.seed]))
    outcome = distill(FrozenTeacher(teacher, 1.0), data,
                      model_name="mlp", model_options=kwargs, temperatures=[2.0], alpha=0.0,
                      lr=0.05, options=options, student_seed=4, data_seed=9)
    alone = create_model("mlp", members=1, seeds=[4], **kwargs)
    fit(alone, data, temperatures=[1.0], lrs=[0.05], options=options, seed=9)
    x = data.test.x
    with torch.no_grad():
        bank_out = outcome.student.eval()(x)
        assert torch.allclose(bank_out[:, 1], alone.eval()(x)[:, 0], atol=1e-4)
        assert not torch.allclose(bank_out[:, 0], bank_out[:, 1], atol=1e-2)  # KD differs


def test_section(distilled, tmp_path):
    section = build(RunData.load(distilled))
    assert section.ran and section.figures
    assert "| 1 |" in section.markdown and "| 4 |" in section.markdown
    assert "teacher accuracy" in section.markdown
    empty = build(RunData.load(tmp_path))
    assert isinstance(empty, Section) and not empty.ran


def test_distill_report_has_its_own_setup_summary_and_curves(distilled, teacher_run):
    """The folder's report describes a distillation, not a sweep: a real title and setup, the
    teacher and the baseline in the summary, curves labelled by distillation T (not τ)."""
    md = (distilled / "report.md").read_text(encoding="utf-8")
    title = md.splitlines()[0]
    assert title == "# tempcheck distillation report — digits / mlp", title
    assert "?" not in title and "None" not in md and "not found" not in md
    assert f"`{teacher_run}`" in md and "τ = 3, seed 0" in md  # the teacher, named
    assert "**Distillation temperatures T**: 1, 4; α = 0.1" in md
    summary = md.split("## Summary", 1)[1].split("## ", 1)[0]
    assert "| teacher (τ = 3) |" in summary and "| baseline (labels only) |" in summary
    assert summary.count("| student |") == 2
    curves = md.split("## Learning curves", 1)[1].split("## ", 1)[0]
    assert "distillation T" in curves and "Not run" not in curves
    assert "training temperature τ" not in md  # no sweep section reads T as a training τ
