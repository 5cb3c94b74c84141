"""Evaluate a model trained anywhere: calibration, corruptions, attacks and the report, at one
or several test-time temperatures.

:func:`evaluate_model` takes any callable ``f(x) -> (B, C)`` logits on images ``(B, C, H, W)``
in [0, 1] (an exported member, a TorchScript or ``torch.export`` file, a model of your own) and
a list of test-time temperatures T_1 … T_K. It presents the model as a bank of K members that
share one set of weights, member k scored on softmax(f(x) / T_k), so the sweep's evaluations
run unchanged: each row of ``results.csv`` is the same model at one T. Post-hoc T changes only
confidence (accuracy and every argmax are the same for all T), which is what sets it apart
from the training τ of a sweep (which changes what is learned): compare the two run folders.

The output folder has the run-folder layout (``sweep.json``, ``results.csv``, ``groups/
evaluate/eval.json`` + ``arrays.npz``, long-format tables, ``report.html``/``report.md``); in it
``temperature`` is the test-time T, and ``training_temperature`` / ``seed`` are the member's
when the file carries tempcheck metadata (``tempcheck export``).
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from .errors import ConfigError, ModelError, RunFolderError

# evaluations that need only logits (features need the penultimate layer, dynamics retrains)
LOGIT_EVALUATIONS = ("clean", "calibration", "corruption", "adversarial", "gradients", "logits")
GROUP = "evaluate"


class SharedWeightsBank(nn.Module):
    """A ``(B, C)``-logits callable as a K-member bank whose members share the weights.

    Input ``(B, C, H, W)`` (all members) or ``(B, K, C, H, W)`` (one image per member, e.g.
    adversarial examples; run as one batch of B·K images); output ``(B, K, num_classes)``.
    ``train()`` / ``eval()`` never reach the wrapped model: it is evaluated as given.
    """

    def __init__(self, model: Callable[[torch.Tensor], torch.Tensor], members: int,
                 num_classes: int):
        super().__init__()
        self.members, self.num_classes = int(members), int(num_classes)
        self._model = [model]  # not a submodule: its mode stays as the caller left it

    def forward(self, x: torch.Tensor, return_features: bool = False):
        if return_features:
            raise ModelError("this evaluation needs penultimate features; a model evaluated "
                             "from its logits alone cannot give them")
        if x.dim() == 4:
            z = self._model[0](x)
            return z.unsqueeze(1).repeat(1, self.members, 1)  # (B, K, C)
        if x.dim() == 5 and x.shape[1] == self.members:
            b, k = x.shape[:2]
            return self._model[0](x.flatten(0, 1)).view(b, k, -1)  # (B, K, C)
        raise ValueError(f"expected (B, C, H, W) or (B, {self.members}, C, H, W), "
                         f"got {tuple(x.shape)}")


def load_model_file(path: str | Path) -> tuple[Callable, dict]:
    """A TorchScript archive (``tempcheck export``, ``torch.jit.save``) or a ``torch.export``
    program (``torch.export.save``) as a callable, and its tempcheck metadata."""
    from .export import load_file

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file {str(path)!r} does not exist")
    try:
        return load_file(path)
    except RunFolderError as exc:
        raise ModelError(f"{exc}; a state dict needs its model code: build the module and "
                         "call tempcheck.evaluate_model on it") from None


def _probe(model: Callable, data) -> None:
    from .data.base import as_float

    x = as_float(data.test.x[:2]).float()
    try:
        with torch.no_grad():
            z = model(x)
    except Exception as exc:  # noqa: BLE001 - the user's model refused the data
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"the model fails on {data.name} images {tuple(x.shape)}: "
                         f"{first}") from None
    if not isinstance(z, torch.Tensor) or z.shape != (2, data.num_classes):
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ModelError(f"the model must return (B, {data.num_classes}) logits for "
                         f"{data.name}; it returned {shape} for 2 images")


def select_evaluations(names: Sequence[str] | None):
    """``None`` / ``["all"]``: every logits-only evaluation; others must be among them."""
    from .sweep.evaluations import select

    wanted = list(names or ["all"])
    if "all" in wanted:
        wanted = [n for n in wanted if n != "all"] + list(LOGIT_EVALUATIONS)
    refused = [n for n in wanted if n not in LOGIT_EVALUATIONS and n != "none"]
    if refused:
        raise ConfigError(f"evaluation {refused[0]!r} cannot run on a model known only by its "
                          f"logits; choose from {', '.join(LOGIT_EVALUATIONS)}")
    return select(wanted)


def evaluate_model(model: Callable[[torch.Tensor], torch.Tensor], *, dataset="digits",
                   temperatures: Sequence[float] = (1.0,), out: str | Path,
                   evaluations: Sequence[str] | None = None, eval_options: dict | None = None,
                   data_dir: str | None = None, device: str = "cpu", seed: int = 0,
                   name: str | None = None, metadata: dict | None = None, report: bool = True,
                   progress=None) -> list[dict]:
    """Evaluate ``model`` (images in [0, 1] → ``(B, C)`` logits) on ``dataset`` (a name or a
    ``DatasetSplits``) at each test-time temperature; write the run folder ``out``.

    Args:
        evaluations: names among ``LOGIT_EVALUATIONS`` (default all of them).
        eval_options: the ``eval`` section of a config (``{"adversarial": {"eps": 0.1}}``).
        metadata: what is known about the model (``tempcheck export``'s JSON); its training
            ``temperature`` and ``seed`` join every row.
    Returns the results.csv rows, one per temperature.
    """
    from .atomic import atomic_write_json
    from .config import from_dict, parse_temperatures
    from .progress import NullProgress
    from .sweep import store
    from .sweep.group import GroupOutcome, resolve_device
    from .sweep.run import collect, validate_evaluation_options, versions

    progress = progress or NullProgress()
    taus = parse_temperatures(list(temperatures))
    metadata = dict(metadata or {})
    label = name or metadata.get("model") or getattr(model, "original_name", None) \
        or type(model).__name__
    data_name = dataset if isinstance(dataset, str) else dataset.name
    config = from_dict({"data": {"name": data_name, "data_dir": data_dir},
                        "model": {"name": str(label)},
                        "sweep": {"temperatures": taus, "seeds": [seed]},
                        "eval": {"run": list(evaluations or ["all"]), **(eval_options or {})}})
    chosen = select_evaluations(evaluations)
    validate_evaluation_options(config, [ev.name for ev in chosen])
    root = Path(out)
    if root.exists() and any(root.iterdir()):
        raise RunFolderError(f"{root} is not empty; choose a new --out (nothing was written)")
    dev = resolve_device(device)
    if isinstance(dataset, str):
        from .registry import load_dataset

        data = load_dataset(dataset, data_dir=data_dir)
    else:
        data = dataset
    if data.kind != "image":
        raise ConfigError(f"evaluate takes image models; dataset {data.name} is {data.kind}")
    if isinstance(model, nn.Module):
        model = model.to(dev)
    _probe(model, data.to(dev))
    bank = SharedWeightsBank(model, len(taus), data.num_classes).to(dev)
    tau_tensor = torch.tensor(taus, dtype=torch.float32)
    root.mkdir(parents=True, exist_ok=True)
    started = time.time()
    with store.SweepLock(root):
        sweep = {"kind": "evaluate", "config": config.to_dict(), "model_metadata": metadata,
                 "groups": [{"name": GROUP, "members": [{"temperature": t} for t in taus]}],
                 "grid": {"temperatures": taus, "seeds": [seed], "test_time": True},
                 "evaluations": [ev.name for ev in chosen], "versions": versions(),
                 "started": _dt.datetime.now().isoformat(timespec="seconds")}
        atomic_write_json(root / "sweep.json", sweep)
        from .sweep.evaluate import evaluate_bank

        evaluated = evaluate_bank(bank, data.to(dev), tau_tensor, chosen, config, device=dev,
                                  seed=seed, progress=progress)
        rows = []
        for k, t in enumerate(taus):
            row = {"group": GROUP, "member": k, "dataset": data.name, "model": str(label),
                   "temperature": t, "test_temperature": t,
                   "training_temperature": metadata.get("temperature", ""),
                   "seed": metadata.get("seed", ""), "status": "ok"}
            row.update({col: values[k] for col, values in evaluated.columns.items()})
            rows.append(row)
        for trows in evaluated.tables.values():
            for r in trows:
                r.update(group=GROUP, temperature=taus[int(r["member"])],
                         seed=metadata.get("seed", ""))
        gdir = root / "groups" / GROUP
        atomic_write_json(gdir / "config.json", {"group": sweep["groups"][0],
                                                 "config": config.to_dict()})
        atomic_write_json(gdir / "eval.json", evaluated.info)
        store.atomic_write_npz(gdir / "arrays.npz", evaluated.arrays)
        atomic_write_json(gdir / "rows.json", rows)
        atomic_write_json(gdir / "tables.json", evaluated.tables)
        collect(root, [GroupOutcome(GROUP, rows, evaluated.tables)])
        atomic_write_json(gdir / "done.json",
                          {"finished": _dt.datetime.now().isoformat(timespec="seconds")})
        sweep.update(finished=_dt.datetime.now().isoformat(timespec="seconds"),
                     wall_seconds=round(time.time() - started, 2))
        atomic_write_json(root / "sweep.json", sweep)
    if report:
        from .report.build import build_report

        build_report(root)
    return rows


def add_evaluate_parser(sub) -> None:
    """``tempcheck evaluate --model member.pt --dataset digits --temperatures 0.5,1,2``."""
    p = sub.add_parser("evaluate", help="evaluate a trained model file (TorchScript, "
                                        "torch.export) at test-time temperatures")
    p.add_argument("--model", required=True, help="a .pt from `tempcheck export`, "
                                                  "torch.jit.save or torch.export.save")
    p.add_argument("--dataset", default="digits")
    p.add_argument("--data-dir")
    p.add_argument("--temperatures", default="1", help="test-time T list '0.5,1,2' or "
                                                       "log range '0.1:10:5'")
    p.add_argument("--eval", help=f"evaluations (default all: {', '.join(LOGIT_EVALUATIONS)})")
    p.add_argument("--config", help="YAML whose eval section sets evaluation options")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    p.add_argument("--seed", type=int, default=0, help="seed of subsamples and attack draws")
    p.add_argument("--no-report", action="store_true")
    p.add_argument("--out", required=True, help="new run folder")
    p.add_argument("overrides", nargs="*", help="evaluation options: eval.adversarial.eps=0.05")


def cmd_evaluate(args, overrides: list[str]) -> int:
    from .config import load_config, parse_temperatures
    from .progress import ConsoleProgress

    overrides = [*overrides, *args.overrides]
    bad = [o for o in overrides if not o.removeprefix("--").startswith("eval.")]
    if bad:
        raise ConfigError(f"evaluate takes eval.* overrides only, got {bad[0]}")
    eval_section = load_config(args.config, overrides).to_dict()["eval"]
    eval_section.pop("run", None)
    taus = parse_temperatures(args.temperatures)
    names = [n.strip() for n in args.eval.split(",")] if args.eval else None
    select_evaluations(names)  # a bad name fails before the model loads
    model, metadata = load_model_file(args.model)
    rows = evaluate_model(model, dataset=args.dataset, temperatures=taus, out=args.out,
                          evaluations=names, eval_options=eval_section, data_dir=args.data_dir,
                          device=args.device, seed=args.seed, name=Path(args.model).name,
                          metadata=metadata, report=not args.no_report,
                          progress=ConsoleProgress())
    trained = metadata.get("temperature")
    print(f"{Path(args.model).name}" + (f" (trained at τ={trained:g})" if trained else "")
          + f" on {args.dataset}:")
    cols = [("test_acc", "acc"), ("test_nll", "NLL"), ("test_ece", "ECE"),
            ("corr_acc_mean", "corr acc"), ("robust_acc_worst", "worst robust")]
    print(f"{'T':>7} " + " ".join(f"{title:>12}" for _, title in cols))
    for r in rows:
        cells = [r.get(c) for c, _ in cols]
        print(f"{r['temperature']:>7g} " + " ".join(
            f"{v:>12.4f}" if isinstance(v, float) else f"{'–':>12}" for v in cells))
    print(f"\nresults: {Path(args.out) / 'results.csv'}")
    if not args.no_report:
        print(f"report:  {(Path(args.out) / 'report.html').resolve()}")
    return 0
