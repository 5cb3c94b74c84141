"""``tempcheck distill``: distil one member of a sweep into a student bank (one member per
distillation temperature T) and write an output folder with its report section.

The student uses the teacher's recipe — family, options, data, training options, augmentation —
built by :mod:`tempcheck.recipe` from the teacher's saved config; the library part (finding and
loading the teacher, the distillation itself) is :mod:`tempcheck.train.distill`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .. import atomic, recipe
from ..errors import ConfigError, RunFolderError
from ..progress import ConsoleProgress, NullProgress, Progress
from ..report.build import build_report
from ..report.rundata import read_csv
from ..sweep.group import RESULT_COLUMNS as SWEEP_COLUMNS
from ..train.distill import FrozenTeacher, distill, find_teacher, load_teacher_model
from . import EXIT_OK

DISTILL_COLUMNS = [
    "role", "member", "distill_temperature", "alpha", "test_acc", "test_nll", "test_ece",
    "test_brier", "agreement", "status", "final_train_acc", "dataset", "model", "epochs", "lr",
    "student_seed", "teacher_group", "teacher_member", "teacher_temperature", "teacher_seed",
    "train_seconds",
]
# the sweep's identity and clean-test columns (group ... test_brier), then distillation's own
RESULT_COLUMNS = [
    *SWEEP_COLUMNS[:SWEEP_COLUMNS.index("test_brier") + 1], "alpha", "agreement",
    "teacher_temperature", "teacher_seed", "teacher_test_acc", "final_train_acc",
    "train_seconds",
]


def check_out(out: Path, teacher_dir: Path) -> None:
    """``--out`` must be a new or empty writable folder other than the teacher's."""
    atomic.check_writable_folder(out)
    if out.resolve() == teacher_dir.resolve():
        raise RunFolderError("--out must differ from the teacher's run folder")
    if out.exists() and any(out.iterdir()):
        raise RunFolderError(f"{out} is not empty; choose another --out")


def run_distill(
    teacher: str | Path, *, out: str | Path, teacher_temperature: float | None = None,
    teacher_seed: int | None = None, teacher_group: str | None = None,
    temperatures: Sequence[float] = (1.0, 2.0, 4.0, 8.0), alpha: float = 0.1,
    epochs: int | None = None, lr: float | None = None, student_seed: int = 0,
    baseline: bool = True, device: str = "auto", data_dir: str | None = None,
    teacher_logits: str = "tempered", progress: Progress | None = None,
) -> Path:
    """Distil one member of the run folder ``teacher`` into a student bank (same family,
    options, data and training recipe as the teacher's sweep, one member per T in
    ``temperatures``) and write the results into ``out``. Returns ``out``.

    ``lr`` defaults to the teacher's base learning rate; ``epochs`` to its epoch count;
    ``data_dir`` overrides the data folder recorded in the teacher's config (moved data).
    ``teacher_logits``: ``"tempered"`` distils the teacher's predictive distribution (z_t / τ_t,
    the default), ``"raw"`` its raw logits z_t (τ_t ignored).
    Files in ``out``: ``distill.csv`` (one row per student / baseline / teacher, columns
    ``DISTILL_COLUMNS``), ``results.csv`` (students only, sweep-style ``RESULT_COLUMNS`` with
    ``temperature`` = distillation T), ``metrics.jsonl``, ``checkpoint.pt`` (student bank),
    ``distill.json`` (teacher, settings), ``report.md`` and ``figures/``.
    """
    progress = progress or NullProgress()
    out_dir, teacher_dir = Path(out), Path(teacher)
    check_out(out_dir, teacher_dir)
    temperatures = [float(t) for t in temperatures]
    if not temperatures:
        raise ConfigError("--temperatures: give at least one distillation temperature")
    for t in temperatures:
        if not (math.isfinite(t) and t > 0):
            raise ConfigError(f"--temperatures: distillation temperature must be finite and "
                              f"> 0, got {t!r}")
    if len(set(temperatures)) != len(temperatures):
        raise ConfigError(f"--temperatures lists a temperature twice: {temperatures}")
    if not (math.isfinite(alpha) and 0.0 <= alpha <= 1.0):
        raise ConfigError(f"--alpha={alpha!r} is out of range; allowed: [0, 1]")
    if lr is not None and not (math.isfinite(lr) and lr > 0):
        raise ConfigError(f"--lr={lr!r} is out of range; allowed: finite numbers > 0")
    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs={epochs!r} is out of range; allowed: integers >= 1")
    if teacher_logits not in ("tempered", "raw"):
        raise ConfigError(f"--teacher-logits={teacher_logits!r} is not allowed; allowed: "
                          "tempered, raw")
    dev = recipe.resolve_device(device)
    ref = find_teacher(teacher_dir, temperature=teacher_temperature, seed=teacher_seed,
                       group=teacher_group)
    config = ref.config
    if data_dir is not None:
        config = config.replace(data=replace(config.data, data_dir=str(data_dir)))
    if config.data.download:
        config = config.replace(data=replace(config.data, download=False))
    data = recipe.load_data(config)
    teacher_model = load_teacher_model(ref, recipe.build_model(config, data, [ref.seed]), dev)
    options = recipe.fit_options(config, dev, epochs=epochs)
    # adversarial training is the teacher's recipe, not the students'
    options = replace(options, adv_train="none", adv_options={})
    progress.log(f"distilling τ={ref.temperature:g}/seed {ref.seed} ({ref.group}) into "
                 f"{len(temperatures)} students, T = {', '.join(f'{t:g}' for t in temperatures)}")
    started = time.time()
    teacher_tau = ref.temperature if teacher_logits == "tempered" else 1.0
    outcome = distill(
        FrozenTeacher(teacher_model, teacher_tau), data, model_name=config.model.name,
        model_options=recipe.model_kwargs(config, data), temperatures=temperatures,
        alpha=alpha, lr=float(lr) if lr is not None else ref.base_lr, options=options,
        head_init_scale=config.model.head_init_scale, student_seed=student_seed,
        data_seed=ref.seed, baseline=baseline, augment=recipe.make_augment(config, data),
        device=dev, progress=progress,
    )
    d = config.data
    common = {"dataset": d.name, "model": config.model.name, "teacher_group": ref.group,
              "teacher_member": ref.member, "teacher_temperature": ref.temperature,
              "teacher_seed": ref.seed}
    rows = [{**r, **common} for r in outcome.rows]
    results = [{**r, "group": "distill", "temperature": r["distill_temperature"],
                "seed": r["student_seed"], "teacher_test_acc": outcome.teacher_metrics["acc"]}
               for r in rows if r["role"] == "student"]
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic.atomic_write_csv(out_dir / "distill.csv", rows, DISTILL_COLUMNS)
    atomic.atomic_write_csv(out_dir / "results.csv", results, RESULT_COLUMNS)
    atomic.atomic_write_jsonl(out_dir / "metrics.jsonl", outcome.history.records)
    atomic.atomic_torch_save(out_dir / "checkpoint.pt", {
        "model": outcome.student.state_dict(), "distill_temperatures": list(temperatures),
        "baseline": baseline})
    atomic.atomic_write_json(out_dir / "distill.json", {
        "teacher": {"run_dir": str(teacher_dir), "group": ref.group, "member": ref.member,
                    "temperature": ref.temperature, "seed": ref.seed},
        "temperatures": list(temperatures), "alpha": alpha, "baseline": baseline,
        "teacher_logits": teacher_logits,
        "student_seed": student_seed, "epochs": options.epochs,
        "lr": rows[0]["lr"], "device": str(dev), "config": config.to_dict(),
        "wall_seconds": round(time.time() - started, 2),
    })
    write_distill_report(out_dir)
    return out_dir


def write_distill_report(out_dir: Path) -> Path:
    """``report.html`` and ``report.md`` (+ ``figures/``) of a distillation folder: its own
    setup, summary, learning curves and distillation section (``report/section_distill``)."""
    return build_report(out_dir)[1]


def distill_command(**kwargs) -> int:
    """Run :func:`run_distill` (keyword arguments as its own), print the students' table and
    build the HTML report."""
    out = run_distill(progress=ConsoleProgress(), **kwargs)
    rows = read_csv(Path(out) / "distill.csv")
    print(f"{'role':<9} {'T':>6} {'test acc':>9} {'NLL':>7} {'ECE':>7}")
    for r in rows:
        t = r.get("distill_temperature")
        t = f"{t:g}" if isinstance(t, float) else "–"
        print(f"{r['role']:<9} {t:>6} {100 * r['test_acc']:>8.2f}% {r['test_nll']:>7.4f} "
              f"{100 * r['test_ece']:>6.2f}%")
    print(f"\nresults: {Path(out) / 'distill.csv'}\n"
          f"report:  {(Path(out) / 'report.html').resolve()}")
    return EXIT_OK
