"""Turn a temperature study's run folder into the Markdown the README's study section shows.

    python scripts/study_table.py runs/fashion-20261201-1145 > /tmp/study.md
    python scripts/study_table.py RUN --copy-figures docs --prefix fashion   # + the figures

Prints, from the run folder's files alone (sweep.json, results.csv, groups/*/eval.json):

1. one line of provenance: dataset, model, grid, machine, wall time;
2. the table per τ: test accuracy mean ± s.d. over seeds (sample s.d., n shown), NLL, ECE
   before and after temperature scaling, mean corruption accuracy, robust accuracy under
   untargeted PGD on CE at the member's τ, the worst case over every attack, and the members'
   masking verdicts;
3. the facts each of the papers' claims is judged on (best τ by accuracy; corruption and robust
   accuracy at the coldest, τ = 1 and the hottest member), so writing the verdicts is a matter
   of reading them off.

With ``--copy-figures DIR`` it also copies the report's first accuracy/NLL/ECE, corruption and
adversarial figures (``RUN/figures/*.png``) to ``DIR/<prefix>_{accuracy,corruption,adversarial}.png``.

Only ``ok`` and ``stalled`` members enter the means (as in the report); the others are counted
in the last column.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from collections import Counter
from pathlib import Path

from tempcheck.report.rundata import RunData
from tempcheck.report.stats import format_mean_sd

COLUMNS = [
    ("test_acc", "test acc", True), ("test_nll", "NLL", False), ("test_ece", "ECE", True),
    ("test_ece_ts", "ECE after TS", True), ("corr_acc_mean", "corruption acc", True),
    ("robust_acc_pgd_ce_tau", "PGD-CE_τ robust acc", True),
    ("robust_acc_worst", "worst-case robust acc", True),
]


def _values(rows: list[dict], key: str) -> list[float]:
    return [float(r[key]) for r in rows
            if isinstance(r.get(key), float) and not math.isnan(r[key])]


def cell(values: list[float], percent: bool, runs: int | None = None) -> str:
    """``m ± s`` through the report's one mean ± s.d. helper (sample s.d., ddof = 1): percent
    with 2 decimals, or 4 decimals; "(n = k)" when k differs from ``runs``; "–" for none."""
    if percent:
        return format_mean_sd(values, fmt=".2f", sd_fmt=".2f", scale=100.0, unit="%", runs=runs)
    return format_mean_sd(values, fmt=".4f", sd_fmt=".4f", runs=runs)


def by_temperature(run: RunData) -> dict[float, list[dict]]:
    rows: dict[float, list[dict]] = {}
    for r in run.results:
        rows.setdefault(float(r["temperature"]), []).append(r)
    return dict(sorted(rows.items()))


def table(run: RunData) -> str:
    seeds = len({r.get("seed") for r in run.results})
    header = ["τ", *(f"{title} (mean ± sd, n = {seeds})" if key == "test_acc" else title
                     for key, title, _ in COLUMNS), "masking verdicts", "members"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for tau, rows in by_temperature(run).items():
        used = [r for r in rows if r.get("status") in ("ok", "stalled")]
        cells = [f"{tau:g}"]
        cells += [cell(_values(used, key), pct, seeds) for key, _, pct in COLUMNS]
        found = Counter(str(r.get("robust_verdict") or "–") for r in rows)
        cells.append(", ".join(f"{v} × {n}" for v, n in sorted(found.items())))
        status = Counter(str(r.get("status")) for r in rows)
        cells.append(", ".join(f"{s} × {n}" for s, n in sorted(status.items())))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _mean(rows: list[dict], key: str) -> float:
    values = _values([r for r in rows if r.get("status") in ("ok", "stalled")], key)
    return sum(values) / len(values) if values else math.nan


def claim_facts(run: RunData) -> str:
    """The numbers each claim is judged on, in words."""
    per_tau = by_temperature(run)
    if not per_tau:
        return ""
    taus = list(per_tau)
    acc = {t: _mean(rows, "test_acc") for t, rows in per_tau.items()}
    finite = {t: a for t, a in acc.items() if not math.isnan(a)}
    lines = []
    if finite:
        best = max(finite, key=finite.get)
        lines.append(f"- best mean test accuracy at τ = {best:g} ({100 * finite[best]:.2f}%); "
                     f"τ = {taus[0]:g}: {100 * acc[taus[0]]:.2f}%, τ = {taus[-1]:g}: "
                     f"{100 * acc[taus[-1]]:.2f}%")
    for key, what in (("corr_acc_mean", "corruption accuracy"),
                      ("robust_acc_pgd_ce_tau", "PGD-CE_τ robust accuracy"),
                      ("robust_acc_worst", "worst-case robust accuracy")):
        values = {t: _mean(rows, key) for t, rows in per_tau.items()}
        if all(math.isnan(v) for v in values.values()):
            lines.append(f"- {what}: not measured")
            continue
        trend = ", ".join(f"τ = {t:g}: {100 * v:.2f}%" for t, v in values.items())
        lines.append(f"- {what}: {trend}")
    return "\n".join(lines)


def provenance(run: RunData) -> str:
    cfg = run.sweep.get("config", {})
    v = run.sweep.get("versions", {})
    grid = run.sweep.get("grid", {})
    temps = ", ".join(f"{t:g}" for t in grid.get("temperatures", []))
    return (f"`{cfg.get('data', {}).get('name')}`, `{cfg.get('model', {}).get('name')}` "
            f"{cfg.get('model', {}).get('options') or ''}, {cfg.get('train', {}).get('epochs')} "
            f"epochs; τ = {temps}; seeds {grid.get('seeds')}; machine: {v.get('platform')}, "
            f"{v.get('cpu_count')} CPUs, GPU {v.get('cuda_device') or 'none'}; wall time "
            f"{run.sweep.get('wall_seconds', '–')} s")


FIGURES = {"accuracy": "accuracy-nll-and-ece", "corruption": "corruption-robustness",
           "adversarial": "adversarial-robustness"}


def copy_figures(run_dir: Path, dest: Path, prefix: str) -> list[Path]:
    """Copy the first report figure of each topic in FIGURES; returns the files written."""
    written = []
    for topic, stem in FIGURES.items():
        found = sorted((run_dir / "figures").glob(f"*{stem}*.png"))
        if not found:
            print(f"warning: no figure matching *{stem}*.png in {run_dir / 'figures'}",
                  file=sys.stderr)
            continue
        dest.mkdir(parents=True, exist_ok=True)
        target = dest / f"{prefix}_{topic}.png"
        shutil.copyfile(found[0], target)
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="the study's run folder (holds results.csv)")
    parser.add_argument("--copy-figures", metavar="DIR", help="also copy 3 report figures here")
    parser.add_argument("--prefix", default="study", help="file name prefix of the figures")
    args = parser.parse_args(argv)
    run = RunData.load(args.run)
    if not run.results:
        print(f"error: {Path(args.run) / 'results.csv'} is missing or empty", file=sys.stderr)
        return 2
    print(provenance(run) + "\n\n" + table(run) + "\n\n" + claim_facts(run))
    if args.copy_figures:
        for path in copy_figures(Path(args.run), Path(args.copy_figures), args.prefix):
            print(f"\n![{path.stem}]({path.as_posix()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
