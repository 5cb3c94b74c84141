"""The tangent kernel and the linearised early-learning dynamics of softmax-cross-entropy with
inverse temperature β (Agarwala, Pennington, Dauphin, Schoenholz, "Temperature check",
arXiv 2010.07344, TMLR 2023; docs/theory.md §3), next to the real gradient descent they predict.

Setting and conventions (everything here works on one model, K = 1, in float64):
- n examples, C classes; logits z(θ) ∈ R^{n×C}, flattened example-major (row i·C + c).
- Loss: the *mean* over examples, L(θ) = (1/n) Σ_i CE(β z_i(θ), y_i) — the loss ``fit`` uses.
- Full-batch gradient descent with step η: θ ← θ − η ∇L(θ).
- Tangent kernel Θ = J Jᵀ ∈ R^{nC×nC}, J = ∂z/∂θ at initialisation, over *all* parameters.
- Linearising z around θ₀ turns one GD step into a map on u = βz (the softmax input):

      u_{t+1} = u_t − (η β² / n) · Θ · (softmax(u_t) − Y),    u₀ = β z₀,

  the forward-Euler discretisation (time t·η) of du/dt = −η β² Θ (softmax(u) − y)/n. For a
  model whose logits are linear in its parameters (z = W f + b on fixed features f) J does not
  depend on θ and the map is exact, step for step.
- The model runs in eval mode throughout (kernel and GD alike), so BatchNorm uses its running
  statistics: the function trained is exactly the one whose kernel was computed. (Train-mode
  BatchNorm would make each logit depend on the whole batch and update buffers on every call.)
- Stability (docs/theory.md §3): the Gauss–Newton Hessian of L in θ is (β²/n) Jᵀ H J with
  H = blockdiag(diag p_i − p_i p_iᵀ), so GD is locally stable for
  η < η_edge = 2n / (β² λ_max(H^{1/2} Θ H^{1/2})) — the 1/β² law when Θ and p are held fixed.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..models.layers import BankLinear, InputNormalize


class LinearLogits(nn.Module):
    """Logits linear in the parameters: z = W f + b on fixed features f = normalised, flattened
    input. Its tangent kernel is constant, Θ_(ic),(jc') = (f_i·f_j + 1)·δ_cc', so the
    linearised dynamics are exact. Output ``(B, 1, C)`` like a K = 1 bank; the map is a
    ``BankLinear`` named ``head`` (init scale ``head_init_scale`` on weight and bias)."""

    def __init__(self, *, in_features: int, num_classes: int, in_channels: int = 1,
                 mean=None, std=None, head_init_scale: float = 1.0, seed: int = 0) -> None:
        super().__init__()
        mean = tuple(mean) if mean is not None else (0.5,) * in_channels
        std = tuple(std) if std is not None else (0.25,) * in_channels
        self.normalize = InputNormalize(mean, std)
        self.head = BankLinear(in_features, num_classes, members=1, init_scale=head_init_scale)
        self.head.init_member(0, torch.Generator().manual_seed(int(seed)))

    def forward(self, x: torch.Tensor, return_features: bool = False):
        f = self.normalize(x).flatten(1) if x.dim() == 4 else x.flatten(1)  # (B, D)
        z = self.head(f)  # (B, 1, C)
        return (f.unsqueeze(1), z) if return_features else z


def model_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits ``(n, C)`` of a K = 1 model (bank output ``(n, 1, C)`` is squeezed)."""
    z = model(x)
    if z.dim() == 3:
        if z.shape[1] != 1:
            raise ValueError(f"dynamics needs a single model (K = 1), got {z.shape[1]} members")
        z = z[:, 0]
    return z


def jacobian(model: nn.Module, x: torch.Tensor, *, chunk_size: int | None = None
             ) -> torch.Tensor:
    """J = ∂z/∂θ ``(n·C, P)`` at the current parameters in eval mode; rows example-major
    (i·C + c), columns every trainable parameter flattened in ``named_parameters`` order.

    Computed per example (``vmap`` over examples of ``jacrev`` over the C logits of one
    example): in eval mode example i's logits depend on example i only, so this costs about C
    backward passes instead of n·C — about 10× faster than one ``jacrev`` over all n·C
    outputs on the digits cnn. ``chunk_size`` bounds how many examples are vectorised at once.
    """
    from torch.func import functional_call, jacrev, vmap

    model.eval()
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}

    def one(p, xi):
        z = functional_call(model, p, (xi.unsqueeze(0),))
        return (z[0, 0] if z.dim() == 3 else z[0])  # (C,)

    jac = vmap(jacrev(one), in_dims=(None, 0), chunk_size=chunk_size)(params, x)
    n = x.shape[0]
    return torch.cat([jac[name].reshape(n * jac[name].shape[1], -1) for name in params], dim=1)


def tangent_kernel(model: nn.Module, x: torch.Tensor, *, chunk_size: int | None = None
                   ) -> torch.Tensor:
    """Empirical tangent kernel Θ = J Jᵀ ``(n·C, n·C)`` at the current parameters (eval mode;
    see :func:`jacobian`). Memory: J holds n·C·P numbers (64 digits examples × 10 classes ×
    26k mlp parameters ≈ 130 MB in float64)."""
    j = jacobian(model, x, chunk_size=chunk_size)
    return j @ j.T


def _mean_ce(u: torch.Tensor, labels: torch.Tensor) -> float:
    return float(F.cross_entropy(u, labels, reduction="mean"))


def _accuracy(u: torch.Tensor, labels: torch.Tensor) -> float:
    return float((u.argmax(-1) == labels).double().mean())


def linearised_trajectory(theta: torch.Tensor, u0: torch.Tensor, labels: torch.Tensor, *,
                          eta: float, beta: float, steps: int) -> dict[str, list[float]]:
    """Iterate u_{t+1} = u_t − (η β²/n) Θ (softmax(u_t) − Y) from ``u0`` ``(n, C)``.

    Returns ``{"loss": [...], "acc": [...]}`` of length ``steps + 1`` (t = 0 … steps): the mean
    cross-entropy of softmax(u_t) — the tempered loss, since CE_τ(z) = CE(βz) — and accuracy.
    """
    n, c = u0.shape
    y = labels.long()
    target = F.one_hot(y, c).to(u0.dtype)
    scale = eta * beta**2 / n
    u = u0.clone()
    loss, acc = [], []
    for t in range(steps + 1):
        loss.append(_mean_ce(u, y))
        acc.append(_accuracy(u, y))
        if t == steps or not math.isfinite(loss[-1]):
            break
        u = u - scale * (theta @ (u.softmax(-1) - target).reshape(-1)).reshape(n, c)
    return _pad({"loss": loss, "acc": acc}, steps + 1)


def _pad(curves: dict[str, list[float]], length: int) -> dict[str, list[float]]:
    return {k: v + [math.nan] * (length - len(v)) for k, v in curves.items()}


def gradient_descent_trajectory(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, *,
                                eta: float, beta: float, steps: int,
                                stop_above: float | None = None) -> dict[str, list[float]]:
    """Real full-batch gradient descent on the mean tempered loss (1/n) Σ CE(β z_i, y_i), on a
    copy of ``model`` in eval mode (the model itself is untouched).

    Returns ``{"loss", "acc"}`` at t = 0 … steps (length steps + 1). It stops early — the rest
    NaN — when the loss is not finite or exceeds ``stop_above`` (used by stability scans).
    """
    m = copy.deepcopy(model).eval()
    params = [p for p in m.parameters() if p.requires_grad]
    y = labels.long()
    loss_curve, acc_curve = [], []
    for t in range(steps + 1):
        u = beta * model_logits(m, x)
        loss = F.cross_entropy(u, y, reduction="mean")
        loss_curve.append(float(loss.detach()))
        acc_curve.append(_accuracy(u.detach(), y))
        bad = not math.isfinite(loss_curve[-1]) or (
            stop_above is not None and loss_curve[-1] > stop_above)
        if t == steps or bad:
            break
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads):
                p.sub_(eta * g)
    return _pad({"loss": loss_curve, "acc": acc_curve}, steps + 1)


def curvature_edge(theta: torch.Tensor, u0: torch.Tensor, beta: float) -> float:
    """Predicted largest stable step at the start, η_edge = 2n / (β² λ_max(H^{1/2} Θ H^{1/2})),
    H = blockdiag(diag p_i − p_i p_iᵀ), p = softmax(u0) (module doc). inf when λ_max = 0."""
    n, c = u0.shape
    p = u0.softmax(-1)
    blocks = torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)  # (n, C, C)
    evals, evecs = torch.linalg.eigh(blocks)
    half = evecs @ torch.diag_embed(evals.clamp_min(0).sqrt()) @ evecs.transpose(-1, -2)
    h_half = torch.block_diag(*half)  # (nC, nC)
    lam = float(torch.linalg.eigvalsh(h_half @ theta @ h_half).max())
    return 2.0 * n / (beta**2 * lam) if lam > 0 else math.inf


def max_relative_error(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """max_t |pred_t − meas_t| / |meas_t| over steps where both are finite (NaN if none)."""
    errs = [abs(p - m) / abs(m) for p, m in zip(predicted, measured)
            if math.isfinite(p) and math.isfinite(m) and m != 0]
    return max(errs) if errs else math.nan


def compare_early_curves(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, *,
                         eta: float, beta: float, steps: int,
                         theta: torch.Tensor | None = None) -> dict:
    """Linearised prediction against measured GD from the same start.

    Returns ``pred_loss``, ``pred_acc``, ``meas_loss``, ``meas_acc`` (lists, steps + 1),
    ``max_rel_loss_error`` (:func:`max_relative_error` of the losses), ``max_acc_error``
    (max |Δ accuracy|), ``u0_norm`` (mean ‖βz₀,i‖), ``eta_edge`` (:func:`curvature_edge`) and
    ``kernel_trace`` (tr Θ / n).
    """
    model.eval()
    theta = tangent_kernel(model, x) if theta is None else theta
    with torch.no_grad():
        u0 = beta * model_logits(model, x)
    pred = linearised_trajectory(theta, u0, labels, eta=eta, beta=beta, steps=steps)
    meas = gradient_descent_trajectory(model, x, labels, eta=eta, beta=beta, steps=steps)
    acc_err = [abs(a - b) for a, b in zip(pred["acc"], meas["acc"])
               if math.isfinite(a) and math.isfinite(b)]
    return {
        "pred_loss": pred["loss"], "pred_acc": pred["acc"],
        "meas_loss": meas["loss"], "meas_acc": meas["acc"],
        "max_rel_loss_error": max_relative_error(pred["loss"], meas["loss"]),
        "max_acc_error": max(acc_err) if acc_err else math.nan,
        "u0_norm": float(u0.norm(dim=-1).mean()),
        "eta_edge": curvature_edge(theta, u0, beta),
        "kernel_trace": float(theta.diagonal().sum()) / x.shape[0],
    }


def hessian_edge(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, beta: float, *,
                 tol: float = 1e-6) -> float:
    """2/λ_max of the *full* Hessian of the mean tempered loss at the current parameters (eval
    mode), λ_max the largest algebraic eigenvalue found by Lanczos (scipy ``eigsh``) on
    Hessian-vector products. Beside the Gauss–Newton term (β²/n) Jᵀ H J of
    :func:`curvature_edge` it has the term (β/n) Σ_i (p_i − y_i)·∇²z_i, which grows only like
    β, is zero for a linear model, and is large at init where the residuals p − y are O(1).
    inf when λ_max ≤ 0."""
    import numpy as np
    from scipy.sparse.linalg import LinearOperator, eigsh

    m = copy.deepcopy(model).eval()
    params = [p for p in m.parameters() if p.requires_grad]
    loss = F.cross_entropy(beta * model_logits(m, x), labels.long(), reduction="mean")
    grad = torch.cat([g.reshape(-1) for g in
                      torch.autograd.grad(loss, params, create_graph=True)])

    def hvp(v):
        v = torch.as_tensor(np.asarray(v, dtype=np.float64).reshape(-1), dtype=grad.dtype)
        hv = torch.autograd.grad(grad @ v, params, retain_graph=True)
        return torch.cat([h.reshape(-1) for h in hv]).detach().numpy()

    n = grad.numel()
    op = LinearOperator((n, n), matvec=hvp, dtype=np.float64)
    lam = float(eigsh(op, k=1, which="LA", tol=tol, return_eigenvectors=False)[0])
    return 2.0 / lam if lam > 0 else math.inf
