"""``tempcheck calibrate LOGITS``: fit temperature scaling to saved logits, print before/after,
optionally write the results as JSON and a reliability diagram (before / after) as PNG."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .. import atomic
from ..eval.calibrate_file import calibrate_file as calibrate_logits
from ..report.plots import figure_png
from ..report.section_calibration import reliability_figure
from . import EXIT_OK


def reliability_png(out: str | Path, before: dict, after: dict | None = None, *,
                    title: str = "", dpi: int = 120) -> Path:
    """Write a reliability diagram PNG (before / after scaling, side by side) atomically.

    ``before`` / ``after`` are :func:`tempcheck.metrics.reliability_bins` dicts of one model.
    """
    out = Path(out)
    atomic.atomic_write_bytes(out, figure_png(reliability_figure(before, after, title=title),
                                              dpi=dpi))
    return out


def calibrate_file(path: str | Path, *, labels_path: str | Path | None = None, seed: int = 0,
                   n_bins: int = 15, png: str | Path | None = None) -> dict:
    """:func:`tempcheck.eval.calibrate_file.calibrate_file`, and with ``png`` the reliability
    diagram written there (``result["png"]``: its path, or None)."""
    if png is not None:
        atomic.check_writable_file(png, "--png")
    result = calibrate_logits(path, labels_path=labels_path, seed=seed, n_bins=n_bins,
                              reliability=png is not None)
    bins = result.pop("reliability", None)
    result["png"] = None
    if png is not None:
        title = (f"{Path(path).name}: T = {result['temperature']:.3g} "
                 f"(fit on {result['fit_on']})")
        result["png"] = str(reliability_png(png, bins["before"], bins["after"], title=title))
    return result


def calibrate_command(logits: str, *, labels: str | None, seed: int, bins: int,
                      json_out: str | None, png: str | None, temperature: float | None = None,
                      member_seed: int | None = None) -> int:
    """``logits`` is a logits file, or a sweep's run folder (then ``temperature`` /
    ``member_seed`` pick the member whose saved test + validation logits are scaled)."""
    from ..errors import ConfigError

    if json_out:
        atomic.check_writable_file(json_out, "--json")
    if Path(logits).is_dir():  # a run folder: that member's saved test + validation logits
        from ..sweep.logits_files import find_member_logits

        logits = find_member_logits(logits, temperature=temperature, seed=member_seed)
        print(f"member logits: {logits}")
    elif temperature is not None or member_seed is not None:
        raise ConfigError("--temperature / --member-seed pick a member of a run folder; "
                          f"{logits} is a file")
    result = calibrate_file(logits, labels_path=labels, seed=seed, n_bins=bins, png=png)
    for w in result.get("warnings", []):
        print(f"warning: {w}", file=sys.stderr)
    print(f"fitted on {result['n_fit']} samples ({result['fit_on']}), evaluated on "
          f"{result['n_eval']}: temperature T = {result['temperature']:.4f}")
    print(f"accuracy {100 * result['accuracy']:.2f}% (unchanged by scaling)")
    for name in ("nll", "ece", "adaptive_ece", "brier"):
        if f"{name}_before" in result:
            b, a = result[f"{name}_before"], result[f"{name}_after"]
            print(f"{name:>13}: {b:.4f} -> {a:.4f}")
    if json_out:
        atomic.atomic_write_json(Path(json_out), result)
        print(f"json: {json_out}")
    if png:
        print(f"reliability diagram: {png}")
    if not json_out:
        print(json.dumps({k: result[k] for k in (
            "temperature", "nll_before", "nll_after", "ece_before", "ece_after",
            "adaptive_ece_before", "adaptive_ece_after", "accuracy")}))
    return EXIT_OK
