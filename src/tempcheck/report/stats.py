"""The report's one summary statistic over runs: mean ± sample standard deviation.

Every table cell and every figure band of the report that summarises several runs at one τ
(seeds, learning rates) goes through this module, so all sections agree:

- the spread is the *sample* standard deviation, s = sqrt(Σ (x_i − x̄)² / (n − 1)) (ddof = 1,
  Bessel's correction), the usual estimate of the seed-to-seed spread from n runs;
- n is always shown: in a table's "runs" column, or in the cell as "(n = 3)" when the table has
  no such column or the cell's count differs from its row's (a metric some runs did not
  produce);
- with one run there is no spread to estimate: the cell reads "0.912 (n = 1)" (or just "0.912"
  in a row whose "runs" column says 1), never "0.912 ± 0.000", and a figure draws no band;
- NaN values (a metric a member did not produce) are dropped before counting.

``SPREAD_NOTE`` is the sentence a caption or table note uses to say so.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

SPREAD_NOTE = ("± is the sample standard deviation over runs (ddof = 1); n is the number of "
               "runs, and a single run (n = 1) is shown without a spread.")
BAND_NOTE = "band: ±1 sample s.d. over runs (ddof = 1; none where n = 1)"


@dataclass(frozen=True)
class MeanSD:
    """Mean, sample s.d. (NaN when n < 2) and count of the finite values of one cell."""

    mean: float
    sd: float
    n: int

    @property
    def band_sd(self) -> float:
        """The half-width of a ±1 s.d. band: 0 when there is no spread to draw."""
        return 0.0 if math.isnan(self.sd) else self.sd

    def text(self, *, fmt: str = ".4g", sd_fmt: str = ".2g", scale: float = 1.0,
             unit: str = "", runs: int | None = None) -> str:
        """One table cell: "mean ± s.d." (both times ``scale``, followed by ``unit``).

        ``runs`` is the count the table already shows for the cell's row (its "runs" column);
        the cell adds "(n = k)" when its own count differs or when there is no such column
        (None). A single value has no spread: "0.912 (n = 1)", never "0.912 ± 0". "–" when
        there is no value."""
        if self.n == 0:
            return "–"
        text = format(scale * self.mean, fmt)
        if self.n > 1:
            text += f" ± {format(scale * self.sd, sd_fmt)}"
        text += unit
        if runs is None or self.n != runs:
            text += f" (n = {self.n})"
        return text


def mean_sd(values: Iterable[float] | None) -> MeanSD:
    """Mean and sample s.d. (ddof = 1) of the finite entries of ``values``."""
    arr = np.asarray(list(values) if values is not None else [], dtype=float).ravel()
    arr = arr[np.isfinite(arr)]
    if arr.size == 0:
        return MeanSD(math.nan, math.nan, 0)
    sd = float(arr.std(ddof=1)) if arr.size > 1 else math.nan
    return MeanSD(float(arr.mean()), sd, int(arr.size))


def mean_sd_curves(runs: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pointwise mean, sample s.d. and count over ``axis`` of an array of runs (e.g. one accuracy
    curve per seed, shape (runs, points)), ignoring NaN. The s.d. is 0 where fewer than two runs
    have a value, so it can be drawn as a band directly."""
    arr = np.asarray(runs, dtype=float)
    finite = np.isfinite(arr)
    n = finite.sum(axis=axis)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN points stay NaN
        mean = np.nanmean(arr, axis=axis)
        sd = np.nanstd(arr, axis=axis, ddof=1)
    return mean, np.where(n > 1, sd, 0.0), n


def format_mean_sd(values: Iterable[float] | None, *, fmt: str = ".4g", sd_fmt: str = ".2g",
                   scale: float = 1.0, unit: str = "", runs: int | None = None) -> str:
    """One table cell: "mean ± s.d." of ``values`` (see :meth:`MeanSD.text`); "–" for none."""
    return mean_sd(values).text(fmt=fmt, sd_fmt=sd_fmt, scale=scale, unit=unit, runs=runs)
