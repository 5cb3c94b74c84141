"""Corruption robustness of every member: accuracy on 19 corruptions x 5 severities.

Hendrycks & Dietterich, ICLR 2019 (arXiv 1903.12261). The same corrupted
batch goes through the whole bank (one forward gives ``(B, K, C)`` logits), so every member
sees identical images. Images are either generated in memory from the test split by
``data.corruptions`` (seeded with ``options.seed``, identical across groups and to
``tempcheck corrupt`` output for the same seed) or read from released files
(``corruptions_dir``: the CIFAR-10-C ``.npy`` layout or Tiny-ImageNet-C folders).

Options (``eval.corruption``):

- ``corruptions``: "all" (default; the 19, minus those the channel count does not support —
  saturate on grey images), "benchmark", "extras", a family, or a list of names.
- ``severities``: subset of 1..5 (default all).
- ``n_images``: test images per corruption x severity (default 64, which keeps the digits demo
  at a few seconds per 7-member group on a 2-core CPU; 0 = the whole test split / every
  released image, the setting for CIFAR / Tiny-ImageNet results). A seeded subset, the same
  for every corruption, severity and group.
- ``corruptions_dir``: released data instead of generated images.
- ``seed``: corruption seed (default 0).
- ``pixel_scale``: override of the pixel-size scale of ``data.corruptions.corrupt``.
- ``table``: the parameter table of generated corruptions: ``auto`` (default: the standard size
  nearest to the images' shorter side; a note says which and why), ``32`` / ``cifar``, ``64`` /
  ``tiny``, ``224`` / ``imagenet``. Recorded in eval.json (``table``: size, dataset, whether
  picked automatically, why). Released data carry
  their own parameters, so an explicit table with ``corruptions_dir`` is an error.

results.csv columns (one value per member):

- ``corr_acc_mean``: mean accuracy over the benchmark corruptions evaluated (over all evaluated
  corruptions when no benchmark corruption is), each averaged over the severities;
- ``corr_acc_noise`` / ``_blur`` / ``_weather`` / ``_digital`` / ``_extra``: the same per family
  (NaN when none of the family was evaluated);
- ``corr_mce``: mean corruption error relative to the baseline member, the member whose
  training temperature is closest in log scale to ``ctx.baseline_temperature``:
  ``CE_c = sum_s err(member, c, s) / sum_s err(baseline, c, s)``, averaged over the same
  corruptions as ``corr_acc_mean`` (those where the baseline makes errors). A ratio: the
  baseline scores 1, lower is more robust (x100 gives the paper's percent).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data import corruptions as C
from ..data.base import as_float
from ..errors import ConfigError, DataError
from .base import EvalContext, EvalResult, parse_options, predict

NAME = "corruption"
EXAMPLE_MAX_SIDE = 64  # example images are shrunk to at most this many pixels a side
FLUSH_ELEMENTS = 1 << 24  # predict once this many input values (64 MB float32) are pending


@dataclass(frozen=True)
class CorruptionOptions:
    corruptions: Any = "all"
    severities: Any = (1, 2, 3, 4, 5)
    n_images: int = 64
    corruptions_dir: str | None = None
    seed: int = 0
    pixel_scale: float | None = None
    table: Any = "auto"

    def __post_init__(self) -> None:
        try:
            asked = C.parse_table(self.table)
        except ConfigError:
            raise ConfigError(f"eval.corruption.table must be one of "
                              f"{', '.join(C.TABLE_CHOICES)}, got {self.table!r}") from None
        if asked is not None and self.corruptions_dir:
            raise ConfigError("eval.corruption.table does not apply to released data "
                              "(corruptions_dir): their parameters are fixed; leave it auto")


def run(ctx: EvalContext) -> EvalResult:
    """Evaluate every member on every corruption x severity; see the module docstring."""
    started = time.perf_counter()
    opts = parse_options(CorruptionOptions, dict(ctx.options), NAME)
    _whole(opts.n_images, "n_images")
    _whole(opts.seed, "seed")
    severities = _severities(opts.severities)
    source = _source(ctx, opts)
    names = source.names
    if not names:
        raise DataError("no corruption to evaluate (none selected is available for "
                        f"{ctx.data.in_channels}-channel images)")
    k = ctx.members
    hits = np.zeros((k, len(names), len(severities)))
    counts = np.zeros((len(names), len(severities)))
    examples = None
    pending: list[tuple[int, int, torch.Tensor, torch.Tensor]] = []

    def flush() -> None:
        # one predict over several small batches (digits would otherwise pay the per-call cost
        # of the banked forward 90 times); large ones go one chunk at a time
        logits = predict(ctx.model, torch.cat([p[2] for p in pending]),
                         batch_size=ctx.batch_size, device=ctx.device)
        correct = (logits.argmax(-1) == torch.cat([p[3] for p in pending]).view(-1, 1)).double()
        lo = 0
        for ci, si, x, _ in pending:
            hits[:, ci, si] += correct[lo : lo + x.shape[0]].sum(0).numpy()
            counts[ci, si] += x.shape[0]
            lo += x.shape[0]
        pending.clear()

    if source.table is not None:
        ctx.progress.log(source.table.note)
    task = ctx.progress.task(NAME, total=len(names) * len(severities))
    try:
        for ci, name in enumerate(names):
            for si, severity in enumerate(severities):
                for x, y in source.batches(name, severity):
                    if counts[ci, si] == 0 and not any(p[:2] == (ci, si) for p in pending):
                        first = _example(x[:1])
                        if examples is None:
                            examples = np.zeros((len(names), len(severities),
                                                 *first.shape[1:]), dtype=np.uint8)
                        examples[ci, si] = first[0]
                    pending.append((ci, si, x, y))
                    if sum(p[2].numel() for p in pending) >= FLUSH_ELEMENTS:
                        flush()
                task.update(1, corruption=name, severity=severity)
        if pending:
            flush()
    finally:
        task.close()
    acc = np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)  # (K, corr., sev.)
    baseline = _baseline_member(ctx.temperatures, ctx.baseline_temperature)
    mean_set = [n for n in names if n in C.BENCHMARK] or list(names)
    result = EvalResult()
    result.columns = _columns(acc, names, mean_set, baseline)
    result.tables = {"corruptions": [
        {"member": m, "corruption": name, "family": C.FAMILIES[name], "severity": s,
         "accuracy": float(acc[m, ci, si])}
        for m in range(k) for ci, name in enumerate(names) for si, s in enumerate(severities)
    ]}
    result.arrays = {
        "accuracy": acc.astype(np.float32),  # (K, corruptions, severities)
        "examples": examples,  # (corruptions, severities, C, h, w) uint8
        "clean_example": _example(source.clean_first()),  # (1, C, h, w) uint8
        "corruptions": np.array(names),
        "severities": np.array(severities, dtype=np.int64),
    }
    result.info = {
        "corruptions": list(names), "severities": severities, "n_images": source.n_images,
        "source": source.description, "seed": opts.seed, "profile": source.profile,
        "table": None if source.table is None else source.table.to_dict(),
        "pixel_scale": source.pixel_scale, "skipped": source.skipped,
        "baseline_member": baseline,
        "baseline_temperature": float(ctx.temperatures[baseline]),
        "mean_over": mean_set, "seconds": round(time.perf_counter() - started, 3),
    }
    return result


# ---------------------------------------------------------------------------------------------
# Summaries
# ---------------------------------------------------------------------------------------------
def _columns(acc: np.ndarray, names: tuple[str, ...], mean_set: list[str], baseline: int):
    """results.csv columns from ``acc (K, corruptions, severities)``."""
    k = acc.shape[0]
    per_corruption = acc.mean(axis=2)  # (K, corruptions)
    index = {name: i for i, name in enumerate(names)}

    def mean_over(subset: list[str]) -> list[float]:
        if not subset:
            return [math.nan] * k
        return per_corruption[:, [index[n] for n in subset]].mean(axis=1).tolist()

    columns = {"corr_acc_mean": mean_over(mean_set)}
    for family in C.FAMILY_NAMES:
        columns[f"corr_acc_{family}"] = mean_over([n for n in names if C.FAMILIES[n] == family])
    err = (1.0 - acc[:, [index[n] for n in mean_set]]).sum(axis=2)  # (K, set) summed errors
    usable = err[baseline] > 0
    if usable.any():
        columns["corr_mce"] = (err[:, usable] / err[baseline, usable]).mean(axis=1).tolist()
    else:
        columns["corr_mce"] = [math.nan] * k
    return columns


def _baseline_member(temperatures: torch.Tensor, baseline_temperature: float) -> int:
    """Index of the member whose τ is closest to the baseline τ in log scale (first on ties)."""
    if not baseline_temperature > 0:
        raise ConfigError(f"baseline_temperature must be > 0, got {baseline_temperature!r}")
    gap = (torch.log(temperatures.double().cpu()) - math.log(baseline_temperature)).abs()
    return int(torch.argmin(gap))


def _severities(spec: Any) -> list[int]:
    values = [spec] if isinstance(spec, int) and not isinstance(spec, bool) else spec
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    try:
        out = sorted({int(v) for v in values})
    except (TypeError, ValueError):
        out = []
    if not out or out[0] < 1 or out[-1] > 5:
        raise ConfigError(f"eval.corruption.severities must be integers 1..5, got {spec!r}")
    return out


def _example(x: torch.Tensor) -> np.ndarray:
    """``(1, C, h, w)`` uint8, shrunk to at most EXAMPLE_MAX_SIDE pixels a side."""
    x = as_float(x.detach()).float().cpu()
    side = max(x.shape[-2:])
    if side > EXAMPLE_MAX_SIDE:
        h = max(1, round(x.shape[-2] * EXAMPLE_MAX_SIDE / side))
        w = max(1, round(x.shape[-1] * EXAMPLE_MAX_SIDE / side))
        x = F.interpolate(x, size=(h, w), mode="area")
    return C.quantize_uint8(x).numpy()


# ---------------------------------------------------------------------------------------------
# Image sources
# ---------------------------------------------------------------------------------------------
def _whole(value: Any, option: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"eval.corruption.{option} must be an integer >= {minimum}, "
                          f"got {value!r}")
    return int(value)


def _subset(total: int, n_images: int, seed: int) -> np.ndarray:
    """Sorted seeded subset of ``n_images`` of ``total`` indices (all when n_images is 0)."""
    if n_images == 0 or n_images >= total:
        return np.arange(total)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(total, size=n_images, replace=False))


def _source(ctx: EvalContext, opts: CorruptionOptions):
    explicit = opts.corruptions not in ("all", None)
    wanted = C.resolve(opts.corruptions)
    channels = ctx.data.in_channels
    skipped = [n for n in wanted if not C.supported(n, channels)]
    if explicit and skipped:
        raise ConfigError(f"corruption {skipped[0]} needs colour images; "
                          f"{ctx.data.name} has {channels} channel(s)")
    wanted = tuple(n for n in wanted if n not in skipped)
    if opts.corruptions_dir:
        return _ReleasedSource(ctx, opts, wanted, explicit, skipped)
    return _GeneratedSource(ctx, opts, wanted, skipped)


class _GeneratedSource:
    """Corrupt a seeded subset of the test split chunk by chunk (``data.corruptions``)."""

    def __init__(self, ctx: EvalContext, opts: CorruptionOptions, names, skipped):
        test = ctx.data.test
        if len(test) == 0:
            raise DataError(f"{ctx.data.name} has an empty test split: nothing to corrupt")
        idx = torch.from_numpy(_subset(len(test), opts.n_images, opts.seed))
        self.x, self.y = test.x[idx], test.y[idx].cpu()  # kept as stored (uint8 stays uint8)
        self.device = ctx.device
        self.names, self.skipped = names, skipped
        self.seed, self.pixel_scale = opts.seed, opts.pixel_scale
        self.n_images = int(idx.numel())
        self.table = C.choose_table(*self.x.shape[-2:], opts.table)
        self.profile = self.table.size
        self.description = "generated"

    def batches(self, name: str, severity: int):
        for lo, chunk in C.iter_corrupted(self.x, name, severity, seed=self.seed,
                                          device=self.device, profile=self.profile,
                                          pixel_scale=self.pixel_scale):
            yield chunk, self.y[lo : lo + chunk.shape[0]]

    def clean_first(self) -> torch.Tensor:
        return self.x[:1]


class _ReleasedSource:
    """Released CIFAR-10-C-style ``.npy`` files or Tiny-ImageNet-C-style folders, read in
    chunks of ``CHUNK_SIZE`` images (a seeded subset of ``n_images`` per severity)."""

    def __init__(self, ctx: EvalContext, opts: CorruptionOptions, wanted, explicit, skipped):
        from ..data import cifar_c

        self.cifar_c, self.root, self.ctx = cifar_c, opts.corruptions_dir, ctx
        self.layout = cifar_c.detect_layout(self.root)
        present = (cifar_c.cifar_c_corruptions(self.root) if self.layout == "cifar"
                   else cifar_c.folder_corruptions(self.root))
        missing = [n for n in wanted if n not in present]
        if explicit and missing:
            where = f"{missing[0]}.npy" if self.layout == "cifar" else f"{missing[0]}/"
            raise DataError(f"{self.root} has no {where}")
        self.names = tuple(n for n in wanted if n in present)
        self.skipped = skipped + missing
        self.n_option, self.seed = opts.n_images, opts.seed
        self.pixel_scale, self.profile, self.table = None, None, None
        self.description = f"released {self.layout}: {self.root}"
        self.classes = (list(ctx.data.class_names) or None) if self.layout == "folders" else None
        self.indices: np.ndarray | None = None
        self.n_images = 0

    def _subset(self, total: int) -> np.ndarray:
        if self.indices is None:
            self.indices = _subset(total, self.n_option, self.seed)
            self.n_images = int(self.indices.size)
        elif self.indices.size and self.indices.max() >= total:
            raise DataError(f"{self.root}: a {total}-image corruption is smaller than the "
                            "first one read; every corruption and severity needs the same images")
        return self.indices

    def batches(self, name: str, severity: int):
        cc = self.cifar_c
        if self.layout == "cifar":
            idx = self._subset(cc.cifar_c_size(self.root, name))
            for lo in range(0, idx.size, C.CHUNK_SIZE):
                split = cc.load_cifar_c(self.root, name, severity, idx[lo : lo + C.CHUNK_SIZE])
                yield self._checked(split.x, name, severity), split.y
            return
        paths, labels = cc.list_image_folder_c(self.root, name, severity, self.classes)
        idx = self._subset(len(paths))
        for lo in range(0, idx.size, C.CHUNK_SIZE):
            part = idx[lo : lo + C.CHUNK_SIZE]
            x = cc.read_images([paths[i] for i in part], channels=self.ctx.data.in_channels)
            yield self._checked(x, name, severity), torch.from_numpy(labels[part])

    def _checked(self, x: torch.Tensor, name: str, severity: int) -> torch.Tensor:
        data = self.ctx.data
        want = (data.in_channels, data.image_size, data.image_size)
        if tuple(x.shape[1:]) != want:
            raise DataError(f"{self.root}: {name} severity {severity} images are "
                            f"{tuple(x.shape[1:])} (C, H, W) but the model takes {want}")
        return as_float(x.to(self.ctx.device))

    def clean_first(self) -> torch.Tensor:
        # released data hold no clean copy: when the release has one image per test image
        # (CIFAR-10-C follows the test order) the matching test image, else the first
        test = self.ctx.data.test
        if self.layout == "cifar" and self.indices is not None and self.indices.size:
            per = self.cifar_c.cifar_c_size(self.root, self.names[0])
            if len(test) == per:
                return test.x[int(self.indices[0]) :][:1]
        return test.x[:1]
