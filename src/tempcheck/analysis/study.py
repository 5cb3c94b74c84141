"""``dynamics``: the sweep-level early-learning study (Agarwala et al.; docs/theory.md,
``analysis/dynamics.py``) on the sweep's own model family and dataset — tangent kernel at init,
linearised prediction against measured full-batch gradient descent, the η β² collapse and the
stability-edge scan — written as ``dynamics.json`` / ``dynamics.npz`` into the run folder.

It runs once per sweep (``scope="sweep"``): :func:`run_study` gets a
:class:`~tempcheck.eval.base.StudyContext` whose ``model_factory`` builds K = 1 models of the
sweep's family (the recipe layer makes it), so this module needs no config.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import ConfigError
from ..eval.base import Evaluation, StudyContext, parse_options


@dataclass(frozen=True)
class DynamicsOptions:
    """Options of the dynamics study (see ``analysis.dynamics.run_dynamics_study``)."""

    n_examples: int = 64  # training examples the kernel and the full-batch runs use
    betas: tuple = (0.5, 1.0, 2.0, 4.0)  # β of the matched (equal η β², equal ‖β z₀‖) runs
    steps: int = 50  # early steps compared with the linearised prediction
    edge_fraction: float = 0.25  # η β² as a fraction of the smallest measured stable edge
    scan_steps: int = 20  # steps per trial of the stability scan
    scan_refine: int = 5  # bisection steps of the scan
    model: str | None = None  # family to study (default: the sweep's model), or "linear"
    seed: int = 0

    MAX_EXAMPLES = 512  # the kernel is (n·C)²: beyond this the study runs for hours

    def validate(self) -> None:
        if not 2 <= self.n_examples <= self.MAX_EXAMPLES:
            raise ConfigError(f"eval.dynamics.n_examples={self.n_examples} is out of range; "
                              f"allowed: 2 ... {self.MAX_EXAMPLES}")
        if self.n_examples < 2 or self.steps < 1 or not self.betas:
            raise ConfigError("eval.dynamics needs n_examples >= 2, steps >= 1 and some betas")
        if any(float(b) <= 0 for b in self.betas):
            raise ConfigError(f"eval.dynamics.betas must be > 0, got {list(self.betas)}")
        if self.scan_steps < 1 or self.scan_refine < 0 or not 0 < self.edge_fraction:
            raise ConfigError("eval.dynamics needs scan_steps >= 1, scan_refine >= 0 and "
                              "edge_fraction > 0")


def run_study(ctx: StudyContext) -> dict:
    """Run the study and write dynamics.json / dynamics.npz into ``ctx.root``; returns its info
    (``dynamics.json``'s content)."""
    from .dynamics import run_dynamics_study, write_dynamics

    opts = parse_options(DynamicsOptions, dict(ctx.options), "dynamics")
    if opts.n_examples > len(ctx.data.train):
        raise ConfigError(f"eval.dynamics.n_examples={opts.n_examples} is out of range; "
                          f"allowed: 2 ... {len(ctx.data.train)} (the training split's size)")
    result = run_dynamics_study(
        ctx.model_factory(opts.model, opts.seed), ctx.data, n_examples=opts.n_examples,
        betas=tuple(float(b) for b in opts.betas), steps=opts.steps,
        edge_fraction=opts.edge_fraction, scan_steps=opts.scan_steps,
        scan_refine=opts.scan_refine, seed=opts.seed,
        head_init_scale=ctx.head_init_scale, progress=ctx.progress)
    result["info"]["options"] = asdict(opts)
    write_dynamics(ctx.root, result)
    return result["info"]


EVALUATION = Evaluation(
    name="dynamics", order=70, summary="early-learning theory vs measurement (once per sweep)",
    options=DynamicsOptions, columns=(),
    section=("Early-learning theory against measurement", "section_dynamics"),
    image_only=True, scope="sweep",
)
