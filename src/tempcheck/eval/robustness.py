"""Adversarial robustness that a temperature cannot fool (docs/theory.md §5).

A cold softmax (small τ, or large logits) makes the input gradient of cross-entropy vanish —
exactly zero in float32 once the true-class margin of z/τ passes ~100 — so a CE-based attack
stops moving and the member *looks* robust (Athalye, Carlini, Wagner 2018, "obfuscated
gradients"). This evaluation attacks every member of the bank with a suite of attacks
(``attacks.suite``: by default AutoAttack-like, APGD-CE and APGD-DLR on every example, then
APGD-T and Square on the pairs still robust), reports the per-example worst case, and checks for
gradient masking.

Suites (option ``suite``, see ``attacks.suite``): ``"auto"`` (default), ``"standard"`` (the same
attacks, each on every example) and the cheap ``"quick"`` (FGSM + PGD only), whose worst case is
marked as an upper bound (``worst_case_upper_bound``) and never gives the verdict
``robust``.

Defaults (digits vs larger images):
- ``eps``: 8/255 (L∞) for images larger than 16 px (CIFAR and up, Madry's convention). For small
  images (≤ 16 px: the 8×8 digits) 0.1, i.e. at most 1.6 of the digits' 17 grey levels (1/16
  apart) per pixel. Measured on an undefended digits CNN bank (τ = 0.1, 1, 10): PGD-20 leaves
  ~85–94% of test images robust at ε = 0.05, ~30–40% at 0.1, ~2–5% at 0.15 and 0 at 0.2 — so at
  0.1 a strong attack breaks the model substantially but not totally, and the ε-sweep
  (ε × 0.5, 1, 2, 4) spans the whole curve down to 0.
- ``n_examples``: 200 test images for small images, 1,000 otherwise (200 images give a standard
  error of at most 3.5 points per accuracy).
- ``square_queries``: 5,000 (AutoAttack's budget) for images larger than 16 px; 250 for small
  images. Square runs last, only on what every gradient attack left robust, and its queries are
  sequential forward passes, so on the digits demo 1,000 queries took 27–34% of the whole
  evaluation while breaking one example (0.5 points) more in 7 of 21 members and nothing in
  the others (the schedule is rescaled to the budget: at 250 queries the window is down to one
  pixel of the 64 after ~50 queries).

Masking diagnostics, per member (thresholds are the module constants below, fractions of the
sample). CE and margin/DLR losses are compared at *equal budget* — the same attack and step
count — so that a longer attack is never mistaken for a loss that sees through masking:
1. ``grad_zero_share`` / ``grad_zero_share_raw``: share of sampled inputs whose input gradient
   of CE at τ / of CE on the raw logits is exactly 0 in float32; fires above
   ZERO_GRADIENT_SHARE (0.05).
2. ``masking_ce_gap``: for each attack kind with both losses (PGD-``steps``: CE_τ against the
   better of margin and DLR; APGD: APGD-CE against APGD-DLR), the CE attack's robust accuracy
   minus the margin/DLR one; the largest gap fires above CE_GAP (0.10).
   ``masking_ce_raw_gap``: the same for CE on raw logits (PGD). A gap also catches the
   hot-softmax case: at large τ the CE gradient spreads over all negative classes
   (docs/theory.md §2), so CE attacks are weaker than margin/DLR without any zero gradient —
   CE-based robust accuracy overstates robustness all the same.
3. ``masking_fgsm_gap``: PGD(CE_τ) minus FGSM robust accuracy; one step beating ``steps`` fires
   above FGSM_GAP (0.05).
4. ``masking_blackbox_gap``: the share of examples that only the gradient-free Square attack
   breaks (worst case over the gradient attacks minus the worst case with Square); fires above
   BLACKBOX_GAP (0.05) (NaN without Square).
5. ``masking_steps_drop``: on ``diag_examples`` inputs, one PGD(CE_τ) run of ``more_steps``
   (100) read off per step (the steps sweep 1, 2, 5, 10, 20, 50, 100): robust accuracy after one
   step minus after ``more_steps``. An honest attack keeps breaking examples as it iterates
   (the curve falls, then flattens once converged), so it fires when iterating breaks almost
   nothing — a drop ≤ STEPS_FLAT (0.02) — while more than EPS_FLAT (0.10) stays robust.
6. ``masking_eps_large_acc``: PGD(CE_τ) robust accuracy at the largest ε of the ε-sweep
   (default 4ε); an honest attack drives it to ~0, so it fires above EPS_FLAT (0.10).

``masking_suspected`` is true when any fires (``masking_reason`` lists them in words).
``robust_verdict``: ``"masked"`` when masking is suspected; else, when the worst-case robust
accuracy keeps at least ROBUST_FRACTION (half) of the clean accuracy on the sample, ``"robust"``
— or ``"unverified"`` if a cheap suite produced the worst case; else ``"not robust"``.

Attacks run in float32 (autocast off): the diagnostics are about float32 gradients.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..attacks import PGD, Attack, eval_mode, per_member
from ..attacks.suite import (
    CHEAP_SUITES,
    SUITES,
    SuiteSettings,
    attack_batches,
    build_suite,
    run_suite,
)
from ..data.base import as_float
from ..errors import ConfigError
from .base import EvalContext, EvalResult, Evaluation, parse_options, predict

NAME = "adversarial"
# equal-budget pairs of the CE check: (CE attack, the margin/DLR attacks of the same kind)
CE_PAIRS = (("pgd_ce_tau", ("pgd_margin", "pgd_dlr")), ("apgd_ce", ("apgd_dlr",)))
CE_RAW_PAIRS = (("pgd_ce_raw", ("pgd_margin", "pgd_dlr")),)
STEPS_CURVE = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

ZERO_GRADIENT_SHARE = 0.05
CE_GAP = 0.10
FGSM_GAP = 0.05
BLACKBOX_GAP = 0.05
STEPS_FLAT = 0.02
EPS_FLAT = 0.10
ROBUST_FRACTION = 0.5


@dataclass(frozen=True)
class AdversarialOptions:
    """Options of ``eval.adversarial`` (see the module docstring for the defaults' reasons).

    suite: "auto" | "standard" | "quick". eps: L∞ radius (None: 0.1 for ≤ 16 px images, else
    8/255). n_examples: test images attacked (None: 200 for ≤ 16 px images, else 1,000).
    steps / alpha / restarts: PGD (20, ε/4, 1). more_steps: the steps check (100).
    eps_factors: the ε-sweep, multiples of eps (0.5, 1, 2, 4). diag_examples: inputs of the
    sweeps and of the logits figure (64). apgd_steps (100), apgd_restarts (1), apgd_targets
    (None: ``attacks.apgd.default_target_count(C)``, 5 for 10 classes), square_queries (None:
    250 for ≤ 16 px images, else 5,000). batch_size: images per attack batch (None:
    ``attack_batch_size``). seed: sample and attack draws, shared by all groups.
    """

    suite: str = "auto"
    eps: float | None = None
    n_examples: int | None = None
    steps: int = 20
    alpha: float | None = None
    restarts: int = 1
    more_steps: int = 100
    eps_factors: tuple = (0.5, 1.0, 2.0, 4.0)
    diag_examples: int = 64
    apgd_steps: int = 100
    apgd_restarts: int = 1
    apgd_targets: int | None = None
    square_queries: int | None = None
    batch_size: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.suite not in SUITES:
            raise ConfigError(f"eval.adversarial.suite must be one of {SUITES}, got {self.suite!r}")
        for name in ("eps", "alpha"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(float(value)) and float(value) > 0):
                raise ConfigError(f"eval.adversarial.{name} must be > 0, got {value!r}")
        for name in ("steps", "restarts", "more_steps", "diag_examples", "apgd_steps",
                     "apgd_restarts"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"eval.adversarial.{name} must be >= 1")
        for name in ("n_examples", "batch_size", "apgd_targets", "square_queries"):
            value = getattr(self, name)
            if value is not None and int(value) < 1:
                raise ConfigError(f"eval.adversarial.{name} must be >= 1")
        factors = tuple(float(f) for f in self.eps_factors)
        if not factors or any(not f > 0 for f in factors):
            raise ConfigError("eval.adversarial.eps_factors must be positive numbers")
        object.__setattr__(self, "eps_factors", tuple(sorted(set(factors) | {1.0})))


# Inputs (floats) an attack batch may hold over all K members when the images are small: one
# step of an attack on the 8×8 digits costs mostly per-call overhead, so 200 examples × 7
# members in one batch run about as fast per step as 73 examples in three.
SMALL_IMAGE_BATCH_FLOATS = 1 << 18


def attack_batch_size(eval_batch: int, members: int, data) -> int:
    """Examples per attack batch: ``eval_batch // K``, raised for small images until the
    batch's inputs over all K members reach ``SMALL_IMAGE_BATCH_FLOATS`` (the 8×8 digits: 585
    examples for K = 7; a 28×28 or 32×32 image stays at ``eval_batch // K``)."""
    per_example = members * data.in_channels * data.image_size * data.image_size
    return max(1, eval_batch // members, SMALL_IMAGE_BATCH_FLOATS // max(1, per_example))


def default_eps(data) -> tuple[float, str]:
    """(ε, why): the dataset's own convention when its loader states one (``extra``
    ``adversarial_eps``: the MNIST family), else 0.1 for small images (≤ 16 px, digits), else
    8/255."""
    stated = getattr(data, "extra", None) or {}
    if "adversarial_eps" in stated:
        return float(stated["adversarial_eps"]), str(stated["adversarial_eps_reason"])
    if data.image_size <= 16:
        return 0.1, "small images (<= 16 px, digits): 0.1"
    return 8.0 / 255.0, "images > 16 px: 8/255 (Madry et al. 2018)"


def zero_gradient(model, x, y, temperatures, batch: int, loss: str = "ce_tau") -> torch.Tensor:
    """``(N, K)`` bool: the input gradient of ``loss`` (CE at τ, or ``"ce_raw"``) is exactly
    zero (float32)."""
    probe = Attack(model, eps=1.0, loss=loss, temperatures=temperatures)
    out = []
    with eval_mode(model), torch.enable_grad():
        for lo in range(0, x.shape[0], batch):
            xb = per_member(x[lo : lo + batch], probe.member_count(x[:1]))
            _, _, grad = probe.loss_and_grad(xb, y[lo : lo + batch], None)
            out.append((grad.flatten(2) == 0).all(-1).cpu())
    return torch.cat(out)


def _mean(t: torch.Tensor) -> list[float]:
    return t.float().mean(0).tolist()


def run(ctx: EvalContext) -> EvalResult:
    """Attack every member; columns, arrays and info as described in the module docstring."""
    opts = parse_options(AdversarialOptions, dict(ctx.options), NAME)
    data = ctx.data
    if data.kind != "image":
        raise ConfigError("the adversarial evaluation needs image data")
    eps, eps_why = (float(opts.eps), "set in options") if opts.eps else default_eps(data)
    alpha = float(opts.alpha) if opts.alpha else eps / 4.0
    small = data.image_size <= 16
    n = min(int(opts.n_examples or (200 if small else 1000)), len(data.test))
    nd = min(opts.diag_examples, n)
    k = ctx.members
    batch = int(opts.batch_size or attack_batch_size(ctx.batch_size, k, data))
    idx = torch.randperm(len(data.test), generator=torch.Generator().manual_seed(opts.seed))[:n]
    x = as_float(data.test.x[idx]).to(ctx.device)
    y = data.test.y[idx].to(ctx.device)
    y_cpu = y.cpu()
    tau = ctx.temperatures.detach().float().cpu()
    model = ctx.model
    settings = SuiteSettings(
        eps=eps, alpha=alpha, steps=opts.steps, restarts=opts.restarts,
        apgd_steps=opts.apgd_steps, apgd_restarts=opts.apgd_restarts,
        apgd_targets=opts.apgd_targets,
        square_queries=int(opts.square_queries or (250 if small else 5000)), seed=opts.seed)
    cheap = opts.suite in CHEAP_SUITES

    with torch.autocast(device_type=torch.device(ctx.device).type, enabled=False):
        clean_logits = predict(model, x, batch_size=ctx.batch_size, device=ctx.device)
        correct = clean_logits.argmax(-1) == y_cpu[:, None]  # (N, K)
        plan = build_suite(opts.suite, model, settings, tau, data.num_classes)
        task = ctx.progress.task("adversarial", total=len(plan) + 3)
        found = run_suite(plan, model, x, y, correct, batch=batch, device=ctx.device,
                          keep_logits=("pgd_ce_tau",),
                          on_attack=lambda name: task.update(1, attack=name))
        seconds = dict(found.seconds)
        start = time.perf_counter()
        zero = zero_gradient(model, x, y, tau, batch)
        zero_raw = zero_gradient(model, x, y, tau, batch, loss="ce_raw")
        task.update(1, attack="zero-gradient check")
        sweep_eps, sweep_acc = _eps_sweep(opts, model, x[:nd], y[:nd], correct[:nd],
                                          found.robust["pgd_ce_tau"][:nd], eps, alpha, tau,
                                          batch, ctx)
        task.update(1, attack="eps sweep")
        steps_at, steps_acc = _steps_sweep(opts, model, x[:nd], y[:nd], correct[:nd], eps, alpha,
                                           tau, batch)
        task.update(1, attack="steps sweep")
        seconds["diagnostics"] = round(time.perf_counter() - start, 3)
        task.close()

    acc = {name: _mean(r) for name, r in found.robust.items()}
    diags = _diagnostics(acc, zero, zero_raw, found, sweep_eps, sweep_acc, steps_acc, opts,
                         eps, correct, cheap)
    columns = {f"robust_acc_{name}": v for name, v in acc.items()}
    columns["robust_acc_worst"] = _mean(found.worst)
    columns["worst_case_upper_bound"] = [cheap] * k
    columns["adv_suite"] = [opts.suite] * k
    for p in plan:
        if p.survivors_only:  # no accuracy of its own: the worst case once it has run
            columns[f"worst_upto_{p.name}"] = _mean(found.worst_upto[p.name])
    columns["clean_acc_adv_sample"] = _mean(correct)
    for key in ("grad_zero_share", "grad_zero_share_raw", "masking_ce_gap", "masking_ce_raw_gap",
                "masking_fgsm_gap", "masking_blackbox_gap", "masking_steps_drop",
                "masking_eps_large_acc", "masking_suspected", "masking_reason", "robust_verdict"):
        columns[key] = [d[key] for d in diags]

    arrays = {
        "logits_clean": clean_logits[:nd].numpy().astype(np.float32),
        "logits_adv": found.logits["pgd_ce_tau"][:nd].numpy().astype(np.float32),
        "labels": y_cpu[:nd].numpy().astype(np.int64),
        "eps_sweep_eps": np.asarray(sweep_eps, dtype=np.float32),
        "eps_sweep_acc": sweep_acc.numpy().astype(np.float32),
        "steps_sweep_steps": np.asarray(steps_at, dtype=np.int64),
        "steps_sweep_acc": steps_acc.numpy().astype(np.float32),
        # per example and member: robust to every attack (the worst case), (N, K)
        "robust_worst": found.worst.numpy(),
        "sample_index": idx.numpy().astype(np.int64),
    }
    info = {
        "suite": opts.suite, "worst_is_upper_bound": cheap, "norm": "linf", "eps": eps,
        "eps_default": eps_why, "alpha": alpha, "n_examples": n, "diag_examples": nd,
        "seed": opts.seed, "batch_size": batch,
        "attacks": {p.name: {**_settings(p.attack), "survivors_only": p.survivors_only}
                    for p in plan},
        "order": [p.name for p in plan],
        "seconds": seconds,
        "eps_factors": list(opts.eps_factors), "more_steps": opts.more_steps,
        "thresholds": {
            "zero_gradient_share": ZERO_GRADIENT_SHARE, "ce_gap": CE_GAP, "fgsm_gap": FGSM_GAP,
            "blackbox_gap": BLACKBOX_GAP, "steps_flat": STEPS_FLAT, "eps_flat": EPS_FLAT,
            "robust_fraction": ROBUST_FRACTION,
        },
        # NaN (no Square run) is written as null: eval.json stays strict JSON
        "diagnostics": [{k: None if isinstance(v, float) and math.isnan(v) else v
                         for k, v in d.items()} for d in diags],
    }
    return EvalResult(columns=columns, arrays=arrays, info=info)


def _settings(attack: Attack) -> dict:
    keys = ("eps", "norm", "alpha", "steps", "restarts", "queries", "p_init", "n_target_classes",
            "rho", "momentum")
    return {"loss": attack.loss_name, **{k: getattr(attack, k) for k in keys if hasattr(attack, k)}}


def _eps_sweep(opts, model, x, y, correct, robust_at_eps, eps, alpha, tau, batch, ctx):
    """PGD(CE_τ) robust accuracy at ε × each factor: (eps values, (F, K))."""
    values, rows = [], []
    for i, f in enumerate(opts.eps_factors):
        values.append(eps * f)
        if f == 1.0:
            rows.append(_mean(robust_at_eps))
            continue
        attack = PGD(model, eps=eps * f, alpha=alpha * f, steps=opts.steps, loss="ce_tau",
                     temperatures=tau, seed=opts.seed + 100 + i)
        ok, _ = attack_batches(attack, model, x, y, batch, ctx.device)
        rows.append(_mean(correct & ok))
    return values, torch.tensor(rows)


def _steps_sweep(opts, model, x, y, correct, eps, alpha, tau, batch):
    """One PGD(CE_τ) run of ``more_steps``; robust accuracy after t steps: (steps, (T, K))."""
    attack = PGD(model, eps=eps, alpha=alpha, steps=opts.more_steps, loss="ce_tau",
                 temperatures=tau, seed=opts.seed + 200)
    broken = []
    for lo in range(0, x.shape[0], batch):
        attack(x[lo : lo + batch], y[lo : lo + batch])
        broken.append(attack.history.cpu())  # (T + 1, b, K)
    broken = torch.cat(broken, dim=1)
    at = sorted({t for t in STEPS_CURVE if t <= opts.more_steps} | {opts.more_steps}
                | ({opts.steps} if opts.steps <= opts.more_steps else set()))
    acc = torch.stack([(correct & ~broken[t]).float().mean(0) for t in at])
    return at, acc


def _equal_budget_gap(acc, pairs, m: int) -> tuple[float, str]:
    """The largest (CE attack − best margin/DLR attack of the same kind and budget) robust
    accuracy gap for member ``m`` over ``pairs`` present in ``acc``, and its words."""
    best, words = float("-inf"), ""
    for ce, others in pairs:
        present = [o for o in others if o in acc]
        if ce not in acc or not present:
            continue
        rival = min(present, key=lambda o: acc[o][m])
        gap = acc[ce][m] - acc[rival][m]
        if gap > best:
            best, words = gap, f"{ce} leaves {acc[ce][m]:.0%} robust, {rival} {acc[rival][m]:.0%}"
    return (best if words else float("nan")), words


def _diagnostics(acc, zero, zero_raw, found, sweep_eps, sweep_acc, steps_acc, opts, eps,
                 correct, cheap: bool) -> list[dict]:
    """Per member: the diagnostic values, which fired, the verdict (module docstring)."""
    k = zero.shape[1]
    zero_share, zero_raw_share, clean = _mean(zero), _mean(zero_raw), _mean(correct)
    worst_all = _mean(found.worst)
    blackbox = "square" in found.worst_upto
    only_square = _mean(found.white_box & ~found.worst) if blackbox else [float("nan")] * k
    out = []
    for m in range(k):
        ce_gap, ce_words = _equal_budget_gap(acc, CE_PAIRS, m)
        raw_gap, raw_words = _equal_budget_gap(acc, CE_RAW_PAIRS, m)
        d = {
            "member": m,
            "grad_zero_share": zero_share[m],
            "grad_zero_share_raw": zero_raw_share[m],
            "masking_ce_gap": ce_gap,
            "masking_ce_raw_gap": raw_gap,
            "masking_fgsm_gap": acc["pgd_ce_tau"][m] - acc["fgsm"][m],
            "masking_blackbox_gap": only_square[m],
            "masking_steps_drop": float(steps_acc[0, m] - steps_acc[-1, m]),
            "masking_eps_large_acc": float(sweep_acc[-1, m]),
        }
        reasons = []
        if d["grad_zero_share"] > ZERO_GRADIENT_SHARE:
            reasons.append(f"zero input gradients of CE_τ on {d['grad_zero_share']:.0%} of inputs")
        if d["grad_zero_share_raw"] > ZERO_GRADIENT_SHARE:
            reasons.append(f"zero input gradients of raw-logit CE on "
                           f"{d['grad_zero_share_raw']:.0%} of inputs")
        if ce_gap > CE_GAP:
            reasons.append(f"CE_τ vs margin/DLR at equal budget: {ce_words}")
        if raw_gap > CE_GAP:
            reasons.append(f"raw-logit CE vs margin/DLR at equal budget: {raw_words}")
        if d["masking_fgsm_gap"] > FGSM_GAP:
            reasons.append(f"one FGSM step beats PGD-{opts.steps} by {d['masking_fgsm_gap']:.0%}")
        if d["masking_blackbox_gap"] > BLACKBOX_GAP:
            reasons.append(f"black-box Square breaks {d['masking_blackbox_gap']:.0%} that no "
                           f"gradient attack broke")
        if d["masking_steps_drop"] <= STEPS_FLAT and float(steps_acc[-1, m]) > EPS_FLAT:
            reasons.append(f"PGD-{opts.more_steps} no better than one step")
        if sweep_eps[-1] > eps and d["masking_eps_large_acc"] > EPS_FLAT:
            reasons.append(f"{d['masking_eps_large_acc']:.0%} robust at ε = {sweep_eps[-1]:.3g}")
        d["masking_suspected"] = bool(reasons)
        d["masking_reason"] = "; ".join(reasons)
        if reasons:
            verdict = "masked"
        elif clean[m] > 0 and worst_all[m] >= ROBUST_FRACTION * clean[m]:
            verdict = "unverified" if cheap else "robust"
        else:
            verdict = "not robust"
        d["robust_verdict"] = verdict
        out.append(d)
    return out


EVALUATION = Evaluation(
    name="adversarial", order=30, summary="FGSM / PGD / APGD / Square, masking diagnostics",
    options=AdversarialOptions,
    columns=("robust_acc_*", "worst_case_upper_bound", "adv_suite", "worst_upto_*",
             "clean_acc_adv_sample", "grad_zero_share", "grad_zero_share_raw", "masking_*",
             "robust_verdict"),
    section=("Adversarial robustness", "section_adversarial"),
    image_only=True,
)
