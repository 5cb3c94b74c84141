"""Sweep-level studies: evaluations that run once per sweep rather than once per bank.

``dynamics``: the early-learning study of Agarwala et al. (docs/theory.md §3,
``analysis/dynamics.py``) on the sweep's own model family and dataset — tangent kernel at init,
linearised prediction against measured full-batch gradient descent, the η β² collapse and the
stability-edge scan — written as ``dynamics.json`` / ``dynamics.npz`` into the run folder for
the report. Options come from ``eval.dynamics`` (``DynamicsOptions``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import Config
from ..data.base import DatasetSplits
from ..errors import ConfigError
from ..eval.base import parse_options
from ..progress import NullProgress, Progress
from .evaluations import Evaluation


@dataclass(frozen=True)
class DynamicsOptions:
    """Options of the dynamics study (see ``analysis.dynamics.run_dynamics_study``)."""

    n_examples: int = 64  # training examples the kernel and the full-batch runs use
    betas: tuple = (0.5, 1.0, 2.0, 4.0)  # β of the matched (equal η β², equal ‖β z₀‖) runs
    steps: int = 50  # early steps compared with the linearised prediction
    edge_fraction: float = 0.25  # η β² as a fraction of the smallest measured stable edge
    scan_steps: int = 20  # steps per trial of the stability scan
    scan_refine: int = 5  # bisection steps of the scan
    model: str | None = None  # family to study (default: the sweep's model)
    seed: int = 0

    def validate(self) -> None:
        if self.n_examples < 2 or self.steps < 1 or not self.betas:
            raise ConfigError("eval.dynamics needs n_examples >= 2, steps >= 1 and some betas")
        if any(float(b) <= 0 for b in self.betas):
            raise ConfigError(f"eval.dynamics.betas must be > 0, got {list(self.betas)}")


def model_factory(config: Config, data: DatasetSplits, name: str | None, seed: int):
    """``make(σ_w)``: a K = 1 float64 model of the sweep's family and options, eval mode."""
    from ..registry import create_model

    family = name or config.model.name
    options = dict(config.model.options) if family == config.model.name else {}

    def make(head_init_scale: float):
        if family == "linear":
            from ..analysis.dynamics import model_factory as analysis_factory

            return analysis_factory("linear", data, seed=seed)(head_init_scale)
        model = create_model(family, members=1, seeds=[seed], head_init_scale=head_init_scale,
                             **options, **data.model_kwargs())
        return model.double().eval()

    make.__name__ = family
    return make


def run_dynamics(root: Path, config: Config, data: DatasetSplits, options: dict,
                 progress: Progress | None = None) -> dict:
    """Run the study and write dynamics.json / dynamics.npz into ``root``; returns its info."""
    from ..analysis.dynamics import run_dynamics_study, write_dynamics

    opts = parse_options(DynamicsOptions, options, "dynamics")
    opts.validate()
    result = run_dynamics_study(
        model_factory(config, data, opts.model, opts.seed), data, n_examples=opts.n_examples,
        betas=tuple(float(b) for b in opts.betas), steps=opts.steps,
        edge_fraction=opts.edge_fraction, scan_steps=opts.scan_steps,
        scan_refine=opts.scan_refine, seed=opts.seed,
        head_init_scale=config.model.head_init_scale, progress=progress)
    result["info"]["options"] = asdict(opts)
    write_dynamics(root, result)
    return result["info"]


def run_study(ev: Evaluation, root: Path, config: Config, data: DatasetSplits,
              progress: Progress | None = None) -> None:
    """Run the sweep-level evaluation ``ev`` (only ``dynamics`` exists)."""
    progress = progress or NullProgress()
    if data.kind != "image":
        progress.log(f"{ev.name}: skipped (needs an image dataset; {data.name} is text)")
        return
    with progress.task("dynamics study", total=None):
        info = run_dynamics(root, config, data, dict(config.eval.dynamics or {}), progress)
    progress.log(f"dynamics: {(info.get('seconds') or {}).get('total', '?')} s")
