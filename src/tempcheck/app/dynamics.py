"""``tempcheck dynamics``: the early-learning study (theory vs measurement) on its own, into a
new folder or joined to a sweep's run folder (its report gains the section)."""

from __future__ import annotations

from pathlib import Path

from .. import atomic, recipe
from ..analysis.study import DynamicsOptions
from ..config import from_dict, parse_options
from ..errors import ConfigError
from ..progress import ConsoleProgress
from ..registry import lookup
from ..report.build import build_report
from ..sweep.study import run_dynamics
from . import EXIT_OK


def format_dynamics(info: dict) -> str:
    """A short human summary of a dynamics study (the details are in dynamics.json)."""
    a, c, st = info.get("agreement", {}), info.get("collapse", {}), info.get("stability", {})
    fit = st.get("fit", {})

    def num(v, fmt=".3g"):
        return "–" if v is None else format(v, fmt)

    return "\n".join([
        f"dynamics study: {info.get('model')} on {info.get('dataset')}, "
        f"{info.get('n_examples')} examples, {info.get('steps')} steps, "
        f"η·β² = {num(info.get('eta_beta2'))}",
        f"  linearised vs measured loss: max relative error {num(a.get('max_rel_loss_error'))}; "
        f"within 1% for the first {a.get('min_horizon_1pct')} steps (every β)",
        f"  collapse (loss spread across β, first {c.get('early_steps')} steps): matched "
        f"{num(c.get('matched_spread_early'))} vs control {num(c.get('control_spread_early'))}",
        f"  stable lr edge η_max ∝ β^s: s = {num(fit.get('slope'))} ± {num(fit.get('slope_se'))}"
        f" (linearised theory: −2)",
        f"  {num((info.get('seconds') or {}).get('total'), '.1f')} s; "
        "details in dynamics.json / dynamics.npz",
    ])


def dynamics_command(*, out: str, model: str, dataset: str, data_dir: str | None,
                     n_examples: int, betas: str, steps: int, head_init_scale: float,
                     seed: int) -> int:
    out_dir = Path(out)
    atomic.check_writable_folder(out_dir)
    in_sweep = (out_dir / "results.csv").is_file()
    if out_dir.exists() and any(out_dir.iterdir()) and not in_sweep:
        raise ConfigError(f"{out_dir} is neither a sweep's run folder nor empty; "
                          "choose another --out")
    options = parse_options(DynamicsOptions, {
        "n_examples": n_examples, "betas": betas, "steps": steps, "seed": seed,
        "model": model}, "dynamics")
    config = from_dict({"model": {"name": model if model != "linear" else "mlp",
                                  "head_init_scale": head_init_scale},
                        "data": {"name": dataset, "data_dir": data_dir}})
    if model != "linear":
        lookup("model", model)
    data = recipe.load_data(config)
    if data.kind != "image":
        raise ConfigError(f"--dataset {dataset}: the dynamics study needs an image dataset")
    if options.n_examples > len(data.train):
        raise ConfigError(f"--n-examples={n_examples} is out of range; allowed: 2 ... "
                          f"{min(len(data.train), DynamicsOptions.MAX_EXAMPLES)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    info = run_dynamics(out_dir, config, data, {
        "n_examples": options.n_examples, "betas": options.betas, "steps": options.steps,
        "seed": options.seed, "model": model}, ConsoleProgress())
    print(format_dynamics(info))
    html_path, _ = build_report(out_dir)
    print(f"report:  {html_path.resolve()}")
    return EXIT_OK
