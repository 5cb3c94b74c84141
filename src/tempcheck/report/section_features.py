"""Report section "Feature geometry": t-SNE and PCA maps of the penultimate features per τ
(one seed), and class-separation numbers against τ (Xuan, Yang, Li 2025 show such t-SNE maps;
docs/theory.md §2). Built from results.csv and the ``features/*`` arrays only."""

from __future__ import annotations

import numpy as np

from .analysis_helpers import representative_members, table_by_temperature
from .base import Section
from .plots_analysis import embedding_grid, panels_vs_temperature
from .rundata import RunData
from .stats import BAND_NOTE

TITLE = "Feature geometry"
EVALUATION = "features"
TABLE = [("silhouette", "feat_silhouette"), ("tr S_W / tr S_B", "feat_within_between"),
         ("linear probe acc", "feat_probe_acc")]
MAX_COLUMNS = 8


def _spread(taus: list[float], n: int) -> list[float]:
    """At most n temperatures, evenly spread over the sorted list (ends included)."""
    if len(taus) <= n:
        return taus
    picks = np.unique(np.round(np.linspace(0, len(taus) - 1, n)).astype(int))
    return [taus[i] for i in picks]


def map_rows(reps: dict) -> list[tuple]:
    """Rows for :func:`embedding_grid`: t-SNE (when stored) and PCA, one column per τ."""
    taus = _spread(sorted(reps), MAX_COLUMNS)
    rows = []
    for method, label in (("tsne", "t-SNE"), ("pca", "PCA")):
        maps = []
        for t in taus:
            row, k, a = reps[t]
            key = f"{EVALUATION}/{method}"
            if key in a:
                maps.append((f"τ = {t:g}", a[key][k], a[f"{EVALUATION}/labels"]))
        if maps:
            rows.append((label, maps))
    return rows


def build(run: RunData) -> Section:
    """The feature-geometry section (``Section.not_run`` when the evaluation did not run)."""
    if not run.evaluation_ran(EVALUATION):
        return Section.not_run(TITLE, "the features evaluation did not run "
                                      "(include `features` in eval.run)")
    rows = run.ok_rows()
    col = {c: run.column_by_temperature(c, rows) for _, c in TABLE}
    if not col["feat_within_between"]:
        return Section(TITLE, "No trained member has feature statistics (all diverged or "
                              "failed).", anchor="features")
    figures = []
    reps = representative_members(run, rows, f"{EVALUATION}/pca")
    grid = map_rows(reps)
    if grid:
        seeds = sorted({str(r.get("seed")) for r, _, _ in reps.values()})
        figures.append((
            f"Penultimate features of test points, one member per τ (seed {', '.join(seeds)}),"
            " coloured by class: t-SNE (scikit-learn, PCA init, fixed seed) and the first two "
            "principal components.", embedding_grid(grid)))
    figures.append((
        f"Class separation of the penultimate features against τ (mean over runs; {BAND_NOTE}): "
        "silhouette on the mapped subsample, within- over between-class scatter on the whole "
        "test split (lower = better separated), and the test accuracy of a logistic-regression "
        "probe fitted on train features.",
        panels_vs_temperature([
            {"series": col["feat_silhouette"], "ylabel": "silhouette"},
            {"series": col["feat_within_between"], "ylabel": "tr S_W / tr S_B", "log_y": True},
            {"series": col["feat_probe_acc"], "ylabel": "linear-probe accuracy"},
        ])))
    info = next((i[EVALUATION] for i in run.evals.values() if EVALUATION in i), {})
    text = "\n\n".join([
        f"Maps and silhouette use {info.get('points', '?')} seeded test points per group "
        f"(t-SNE perplexity {info.get('perplexity', '?')}); the probe was fitted on "
        f"{info.get('probe_examples', '?')} train examples. A t-SNE map shows neighbourhoods, "
        "not distances: compare the numbers, not the cluster sizes.",
        table_by_temperature(run, rows, TABLE)])
    return Section(TITLE, text, figures, anchor="features")
