"""Core report sections: setup and provenance, summary table, metrics vs τ, learning curves."""

from __future__ import annotations

import math

from . import plots
from .base import Section, md_table
from .rundata import RunData
from .stats import BAND_NOTE, SPREAD_NOTE, MeanSD, mean_sd


def summary_rows(run: RunData) -> list[dict]:
    """One row per (τ, base lr): test accuracy over seeds (``acc_mean``, ``acc_std`` the sample
    s.d., NaN for one seed, ``acc_n``), mean NLL, ECE,
    ECE after TS, corruption and worst-case robust accuracy, counts by status."""
    keyed: dict[tuple, list[dict]] = {}
    for r in run.results:
        keyed.setdefault((float(r["temperature"]), float(r.get("base_lr") or 0.0)), []).append(r)
    out = []
    for (tau, lr), rows in sorted(keyed.items()):
        ok = [r for r in rows if r.get("status") in ("ok", "stalled")]

        def col(name, ok=ok):
            return [r[name] for r in ok if isinstance(r.get(name), float)
                    and not math.isnan(r[name])]

        acc = mean_sd(col("test_acc"))
        statuses = [str(r.get("status")) for r in rows]
        out.append({
            "temperature": tau, "base_lr": lr, "n": len(rows),
            "acc_mean": acc.mean, "acc_std": acc.sd, "acc_n": acc.n,
            "nll": mean_sd(col("test_nll")).mean, "ece": mean_sd(col("test_ece")).mean,
            "ece_ts": mean_sd(col("test_ece_ts")).mean,
            "corr_acc": mean_sd(col("corr_acc_mean")).mean,
            "robust_worst": mean_sd(col("robust_acc_worst")).mean,
            "status": ", ".join(f"{s}×{statuses.count(s)}" for s in sorted(set(statuses))),
        })
    return out


def format_summary_table(rows: list[dict], markdown: bool = True,
                         percent: bool | None = None) -> str:
    """The τ table printed by ``tempcheck sweep`` and shown in the report.

    Accuracies and ECE are fractions in [0, 1] in the report (``markdown``), like every other
    section's; the terminal table (``markdown=False``) prints them in percent with a "%" sign.
    ``percent`` overrides that choice."""
    percent = (not markdown) if percent is None else percent
    multi_lr = len({r["base_lr"] for r in rows}) > 1
    header = ["τ"] + (["lr"] if multi_lr else []) + [
        "test acc (mean ± s.d., n)", "NLL", "ECE", "ECE after TS", "corruption acc",
        "worst-case robust acc", "status"]

    def f(v, pct=False):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "–"
        return f"{100 * v:.2f}%" if pct and percent else f"{v:.4f}"

    body = []
    for r in rows:
        acc = MeanSD(r["acc_mean"], r["acc_std"], r["acc_n"]).text(
            **(dict(fmt=".2f", sd_fmt=".2f", scale=100, unit="%") if percent
               else dict(fmt=".4f", sd_fmt=".4f")))
        body.append([f"{r['temperature']:g}"] + ([f"{r['base_lr']:g}"] if multi_lr else []) + [
            acc, f(r["nll"]), f(r["ece"], True), f(r["ece_ts"], True), f(r["corr_acc"], True),
            f(r["robust_worst"], True), r["status"]])
    if markdown:
        return md_table(header, body)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    sep = "  ".join("-" * w for w in widths)
    rows_txt = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in body]
    return "\n".join([line, sep, *rows_txt])


def _dirty(flag) -> str:
    return {True: ", uncommitted changes", False: ", clean"}.get(flag, "")


def _data_details(info: dict) -> str:
    """``: 55,000 / 5,000 / 10,000 train / val / test, 10 classes (T-shirt/top, …) from DIR``,
    from sweep.json's ``data`` (empty for runs written before it was recorded)."""
    if not info:
        return ""
    sizes = info.get("sizes") or {}
    text = ": " + " / ".join(f"{sizes.get(k, 0):,}" for k in ("train", "val", "test"))
    text += f" train / val / test, {info.get('num_classes')} classes"
    names = info.get("class_names") or []
    if names and names != [str(i) for i in range(len(names))]:
        text += " (" + ", ".join(names) + ")"
    if info.get("source"):
        text += f", read from `{info['source']}`"
    return text


def build_setup(run: RunData) -> Section:
    cfg = run.sweep.get("config", {})
    v = run.sweep.get("versions", {})
    d, m, t, s = (cfg.get(k, {}) for k in ("data", "model", "train", "sweep"))
    lines = [
        f"- **Data**: `{d.get('name')}` (split seed {d.get('split_seed')}, augment "
        f"{d.get('augment')}){_data_details(run.sweep.get('data') or {})}",
        f"- **Model**: `{m.get('name')}` {m.get('options') or ''} (head init scale "
        f"{m.get('head_init_scale')})",
        f"- **Training**: {t.get('optimizer')} lr {t.get('lr')} × τ^{t.get('lr_temperature_exponent')}"
        f", momentum {t.get('momentum')}, weight decay {t.get('weight_decay')}, "
        f"{t.get('schedule')} schedule, {t.get('epochs')} epochs, batch {t.get('batch_size')}, "
        f"label smoothing {t.get('label_smoothing')}, adversarial training {t.get('adv_train')}",
        f"- **Grid**: τ = {', '.join(f'{x:g}' for x in s.get('temperatures', []))}; seeds "
        f"{s.get('seeds')}; lrs {s.get('lrs') or [t.get('lr')]}; "
        f"{len(run.sweep.get('groups', []))} banks",
        f"- **Evaluations**: {', '.join(run.sweep.get('evaluations', []))}",
        f"- **Software**: tempcheck {v.get('tempcheck')} (git {str(v.get('git'))[:10]}"
        f"{_dirty(v.get('git_dirty'))}), torch {v.get('torch')}, CUDA {v.get('cuda')}, Python "
        f"{v.get('python')}, numpy {v.get('numpy')}, scikit-learn {v.get('scikit_learn', '–')}, "
        f"matplotlib {v.get('matplotlib', '–')}",
        f"- **Machine**: {v.get('platform')}, {v.get('cpu_count')} CPUs, GPU "
        f"{v.get('cuda_device') or 'none'}",
        f"- **Numerics**: torch threads {v.get('torch_threads', '–')} (inter-op "
        f"{v.get('torch_interop_threads', '–')}), deterministic algorithms "
        f"{v.get('deterministic_algorithms', '–')}, cuDNN deterministic "
        f"{v.get('cudnn_deterministic', '–')} / benchmark {v.get('cudnn_benchmark', '–')}, "
        f"float32 matmul precision {v.get('float32_matmul_precision', '–')}",
        f"- **Wall time**: {run.sweep.get('wall_seconds', '–')} s (started "
        f"{run.sweep.get('started', '–')}"
        + (f"; {len(run.sweep['sessions'])} sessions (resumed)"
           if len(run.sweep.get("sessions") or []) > 1 else "") + ")",
    ]
    if run.sweep.get("kind") == "evaluate":  # `tempcheck evaluate`: a model trained elsewhere
        meta = run.sweep.get("model_metadata") or {}
        trained = (f"trained at τ = {meta['temperature']:g}, seed {meta.get('seed')}"
                   if meta.get("temperature") is not None else "its training τ is not known")
        lines[2] = ("- **Training**: none here: a trained model evaluated as given "
                    f"({trained}); τ in this report is the test-time temperature T of its logits")
        lines[3] = (f"- **Grid**: test-time T = "
                    f"{', '.join(f'{x:g}' for x in s.get('temperatures', []))}")
    return Section("Setup and provenance", "\n".join(lines))


def build_summary(run: RunData) -> Section:
    if not run.results:
        return Section.not_run("Summary", "results.csv is missing or empty")
    rows = summary_rows(run)
    text = format_summary_table(rows) + (
        "\n\nNLL, ECE and the robustness columns are means over the trained runs at each τ. "
        + SPREAD_NOTE)
    bad = [r for r in run.results if r.get("status") not in ("ok",)]
    if bad:
        notes = []
        for r in bad:
            extra = ""
            if r.get("status") == "diverged":
                ep = r.get("diverged_epoch")
                extra = f" at epoch {int(ep)}" if isinstance(ep, (int, float)) else ""
            elif r.get("status") == "stalled":
                extra = f" (final train accuracy {r.get('final_train_acc')!s})"
            elif r.get("status") == "failed":
                extra = f": {r.get('error', '')}"
            notes.append(f"- τ = {float(r['temperature']):g}, seed {r.get('seed')!s}: "
                         f"**{r.get('status')}**{extra}")
        text += "\n\nMembers that did not train normally (excluded from means):\n\n" + \
            "\n".join(notes)
    return Section("Summary", text)


def build_vs_temperature(run: RunData) -> Section:
    rows = run.ok_rows()
    if not rows:
        return Section.not_run("Accuracy, NLL and ECE against τ", "no member trained")
    figs = [
        (f"Test accuracy (fraction) against training τ (mean over seeds, dots the seeds; {BAND_NOTE}).",
         plots.metric_vs_temperature({"test": run.column_by_temperature("test_acc", rows),
                                      "validation": run.column_by_temperature("val_acc", rows)},
                                     ylabel="accuracy")),
        (f"Test NLL (nats) against training τ (mean over seeds; {BAND_NOTE}).",
         plots.metric_vs_temperature({"test NLL": run.column_by_temperature("test_nll", rows)},
                                     ylabel="NLL")),
        (f"Test ECE (fraction, 15 bins) against training τ (mean over seeds; {BAND_NOTE}).",
         plots.metric_vs_temperature({"test ECE": run.column_by_temperature("test_ece", rows)},
                                     ylabel="ECE")),
    ]
    return Section("Accuracy, NLL and ECE against τ", "", figs)


def learning_curves(run: RunData, key: str, transform=lambda v: v) -> dict[float, list[list]]:
    """{τ: [per-seed curve of ``key``]} from every group's metrics.jsonl."""
    groups = {g["name"]: g for g in run.sweep.get("groups", [])}
    curves: dict[float, list[list]] = {}
    for gname, records in run.metrics.items():
        members = groups.get(gname, {}).get("members", [])
        for k, m in enumerate(members):
            curve = []
            for rec in records:
                vals = rec.get(key)
                v = vals[k] if vals and k < len(vals) else None
                curve.append(math.nan if v is None else transform(v))
            curves.setdefault(float(m["temperature"]), []).append(curve)
    return curves


def build_learning_curves(run: RunData) -> Section:
    if not run.metrics:
        return Section.not_run("Learning curves", "no metrics.jsonl found")
    figs = [
        (f"Test error (fraction) during training per τ (mean over seeds; {BAND_NOTE}).",
         plots.curves_by_temperature(learning_curves(run, "test_acc", lambda a: 1 - a),
                                     ylabel="test error")),
        (f"Training loss (at the training temperature, log axis) per τ (mean over seeds; {BAND_NOTE}).",
         plots.curves_by_temperature(learning_curves(run, "train_loss"), ylabel="train loss",
                                     log_y=True)),
        (f"Mean logit norm ‖z‖ on validation inputs per τ (log axis; mean over seeds; {BAND_NOTE}).",
         plots.curves_by_temperature(learning_curves(run, "logit_norm"), ylabel="‖z‖",
                                     log_y=True)),
    ]
    taus = learning_curves(run, "temperature")
    moving = any(len({round(v, 9) for v in c if not math.isnan(v)}) > 1
                 for curves in taus.values() for c in curves)
    if moving:
        mode = run.sweep.get("config", {}).get("train", {}).get("temperature_mode", "")
        figs.append((f"Temperature during training ({mode} τ), per starting τ (mean over "
                     f"seeds; {BAND_NOTE}).",
                     plots.curves_by_temperature(taus, ylabel="τ", log_y=True)))
    return Section("Learning curves", "", figs)
