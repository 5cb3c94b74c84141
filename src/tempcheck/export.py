"""Take one trained member out of a run folder as a standalone PyTorch module.

- :func:`load_member` rebuilds member (τ, seed) of a run alone and wraps it as a
  :class:`StandaloneMember`: images ``(B, C, H, W)`` in [0, 1] in, logits ``(B, C)`` out,
  input normalisation inside (the bank's own ``InputNormalize``, or the plain module of a
  ``python:`` model behind it), optionally returning ``z / τ`` (the member's own predictive
  logits: softmax of them is the distribution its accuracy, NLL and ECE were measured on).
- :func:`export_member` writes it as a TorchScript archive (``torch.jit.trace`` in eval mode;
  ``torch.jit.load(path)``) or, with ``format="export"``, a ``torch.export`` program with a
  dynamic batch dimension (``torch.export.load(path).module()``): either runs with plain
  torch, without tempcheck installed. The file carries ``tempcheck.json`` as an extra file
  (and the same JSON is written beside it as ``<out>.json``): training τ, seed, group and
  member index, what the output is, the input shape and normalisation, class names, the
  run's test accuracy of this member, the resolved config and the versions of the run and of
  the export.

Reading the metadata with plain torch::

    files = {"tempcheck.json": ""}
    model = torch.jit.load("member.pt", _extra_files=files)
    info = json.loads(files["tempcheck.json"])
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import json
import math
import warnings
from pathlib import Path

import torch
from torch import nn

from .errors import RunFolderError, TempcheckError

FORMAT = "tempcheck-member/1"
METADATA_FILE = "tempcheck.json"


class StandaloneMember(nn.Module):
    """One member alone: ``forward(x (B, C, H, W) in [0, 1]) -> (B, num_classes)``.

    Args:
        body: a module mapping images in [0, 1] to ``(B, C)`` logits (normalisation inside).
        temperature: the member's training τ; with ``tempered`` the output is ``z / τ``.
    """

    def __init__(self, body: nn.Module, temperature: float, *, tempered: bool = False,
                 info: dict | None = None):
        super().__init__()
        self.body = body
        self.temperature = float(temperature)
        self.tempered = bool(tempered)
        self.info = dict(info or {})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.body(x)
        return z / self.temperature if self.tempered else z


class _FirstMember(nn.Module):
    """A K = 1 native bank as a (B, C) model: its (B, 1, C) logits without the member axis."""

    def __init__(self, bank: nn.Module):
        super().__init__()
        self.bank = bank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bank(x)[:, 0]


def _member_body(model: nn.Module) -> nn.Module:
    """The plain module behind a K = 1 bank: for a ``python:`` model the user's own module
    (after the bank's normalisation, if any); for a native family the bank without its K axis."""
    from .models.functional_bank import FunctionalBank

    if isinstance(model, FunctionalBank):
        plain = model.member(0)
        return nn.Sequential(model.normalize, plain) if model.normalize is not None else plain
    return _FirstMember(model)


def _results_row(run: Path, group: str, member: int) -> dict:
    path = run / "results.csv"
    if not path.is_file():
        return {}
    with path.open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if row.get("group") == group and str(row.get("member")) == str(member):
                return row
    return {}


def _float_or_none(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _load_data(config, data_dir: str | None):
    from dataclasses import replace

    from .recipe import load_data

    data = replace(config.data, data_dir=str(data_dir) if data_dir else config.data.data_dir,
                   download=False)
    return load_data(config.replace(data=data))


def _run_versions(run: Path) -> dict:
    try:
        return json.loads((run / "sweep.json").read_text(encoding="utf-8")).get("versions", {})
    except (OSError, json.JSONDecodeError):
        return {}


def load_member(run: str | Path, *, temperature: float | None = None, seed: int | None = None,
                group: str | None = None, tempered: bool = False,
                data_dir: str | None = None) -> StandaloneMember:
    """Member (``temperature``, ``seed``) of the run folder ``run`` as a standalone module in
    eval mode, on the CPU. Either selector may be left out when one member matches.

    The run's dataset is loaded from its config (the input shape and normalisation come from
    it; ``data_dir`` overrides where it lives). The module's ``info`` holds the metadata
    :func:`export_member` saves."""
    return _load(run, temperature, seed, group, tempered, data_dir)[0]


def _load(run, temperature, seed, group, tempered, data_dir):
    from .recipe import build_model
    from .sweep.run import versions
    from .train.distill import find_teacher, load_teacher_model

    run = Path(run)
    ref = find_teacher(run, temperature=temperature, seed=seed, group=group)
    data = _load_data(ref.config, data_dir)
    if data.kind != "image":
        raise TempcheckError(f"export takes image models; {run} was trained on "
                             f"{data.kind} data ({data.name})")
    model = load_teacher_model(ref, build_model(ref.config, data, [ref.seed]))
    row = _results_row(run, ref.group, ref.member)
    info = {
        "format": FORMAT, "temperature": ref.temperature, "seed": ref.seed, "group": ref.group,
        "member": ref.member, "members_in_bank": ref.members,
        "output": "z / temperature" if tempered else "logits z",
        "input": {"shape": [data.in_channels, data.image_size, data.image_size],
                  "dtype": "float32", "range": [0.0, 1.0], "layout": "(B, C, H, W)"},
        "normalisation": {"mean": list(data.mean), "std": list(data.std),
                          "inside": True},
        "num_classes": data.num_classes, "class_names": list(data.class_names),
        "dataset": data.name, "model": ref.config.model.name,
        "test_acc": _float_or_none(row.get("test_acc")),
        "status": row.get("status") or None,
        "run": str(run.resolve()), "config": ref.config.to_dict(),
        "versions": {"run": _run_versions(run), "export": versions()},
    }
    member = StandaloneMember(_member_body(model), ref.temperature, tempered=tempered, info=info)
    return member.eval(), data


FORMATS = ("torchscript", "export")


def export_member(run: str | Path, out: str | Path, *, temperature: float | None = None,
                  seed: int | None = None, group: str | None = None, tempered: bool = False,
                  data_dir: str | None = None, format: str = "torchscript") -> dict:
    """Write member (τ, seed) of ``run`` to ``out`` plus ``<out>.json``.

    ``format``: ``"torchscript"`` (``torch.jit.trace``; load with ``torch.jit.load``) or
    ``"export"`` (``torch.export`` with a dynamic batch dimension; load with
    ``torch.export.load(path).module()``). The compiled module is checked against the eager
    one on 8 test images (it was built from 2, so the batch size is not baked in) before
    anything is written; returns the metadata (with ``check_max_abs_diff``)."""
    from .atomic import atomic_write_json
    from .data.base import as_float

    if format not in FORMATS:
        raise TempcheckError(f"unknown export format {format!r}; use {' or '.join(FORMATS)}")
    out = Path(out)
    if out.exists() and out.is_dir():
        raise TempcheckError(f"--out {out} is a folder; give a file name such as member.pt")
    member, data = _load(run, temperature, seed, group, tempered, data_dir)
    example = as_float(data.test.x[:8]).float()
    with torch.no_grad(), _quiet_torchscript():
        if format == "torchscript":
            compiled = torch.jit.trace(member, example[:2], check_trace=False)
            run_compiled, loader = compiled, "torch.jit.load(path)"
        else:
            batch = torch.export.Dim("batch", min=1)
            compiled = torch.export.export(member, (example[:2],),
                                           dynamic_shapes={"x": {0: batch}})
            run_compiled, loader = compiled.module(), "torch.export.load(path).module()"
        eager_out, compiled_out = member(example), run_compiled(example)
    diff = float((eager_out - compiled_out).abs().max())
    if not torch.allclose(eager_out, compiled_out, rtol=0, atol=1e-6):
        raise TempcheckError(f"the {format} member differs from the eager one by {diff:.3g}; "
                             "its forward depends on more than the input shape")
    info = dict(member.info, check_max_abs_diff=diff, format=format, loader=loader,
                exported=_dt.datetime.now().isoformat(timespec="seconds"))
    text = json.dumps(info, indent=1, default=str)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    with _quiet_torchscript():
        if format == "torchscript":
            torch.jit.save(compiled, str(tmp), _extra_files={METADATA_FILE: text})
        else:
            torch.export.save(compiled, str(tmp), extra_files={METADATA_FILE: text})
    tmp.replace(out)
    atomic_write_json(sidecar_path(out), info)
    return info


@contextlib.contextmanager
def _quiet_torchscript():
    """torch 2.13 marks TorchScript deprecated (the archives still load with plain torch) and
    warns about shape checks it traces as constants (the channel count, fixed per model)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yield


def sidecar_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".json")


def load_file(path: str | Path):
    """``(module, metadata)`` of a TorchScript archive or a ``torch.export`` program (what
    :func:`export_member` writes, or any ``torch.jit.save`` / ``torch.export.save`` file);
    metadata is ``{}`` for a file without ``tempcheck.json``. TorchScript loads in eval mode.
    Anything else is a :class:`RunFolderError`."""
    files = {METADATA_FILE: ""}
    try:
        with _quiet_torchscript():
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=files).eval()
    except RuntimeError:
        files = {METADATA_FILE: ""}
        try:
            module = torch.export.load(str(path), extra_files=files).module()
        except Exception as exc:  # noqa: BLE001 - neither format: one line for the user
            raise RunFolderError(f"cannot load {path} as TorchScript or torch.export "
                                 f"({type(exc).__name__})") from None
    raw = files[METADATA_FILE]
    return module, (json.loads(raw) if raw else {})


def read_metadata(path: str | Path) -> dict:
    """The ``tempcheck.json`` of an exported member ({} for a file without it)."""
    return load_file(path)[1]


def add_export_parser(sub) -> None:
    """``tempcheck export RUN --temperature T [--seed S] --out member.pt``."""
    p = sub.add_parser("export", help="write one member of a run as a standalone TorchScript "
                                      "module (loads with plain torch, no tempcheck needed)")
    p.add_argument("run", help="run folder of a sweep")
    p.add_argument("--temperature", type=float, help="the member's training τ")
    p.add_argument("--seed", type=int, help="the member's init seed")
    p.add_argument("--group", help="the member's group (when τ and seed are not enough)")
    p.add_argument("--tempered", action="store_true",
                   help="output z / τ (the member's own predictive logits) instead of z")
    p.add_argument("--data-dir", help="where the run's dataset lives now")
    p.add_argument("--format", choices=FORMATS, default="torchscript",
                   help="torchscript (torch.jit.load) or export (torch.export.load)")
    p.add_argument("--out", required=True, help="file to write, e.g. member.pt")


def cmd_export(args) -> int:
    info = export_member(args.run, args.out, temperature=args.temperature, seed=args.seed,
                         group=args.group, tempered=args.tempered, data_dir=args.data_dir,
                         format=args.format)
    acc = info.get("test_acc")
    print(f"member τ={info['temperature']:g} seed {info['seed']} ({info['group']}, member "
          f"{info['member']}) of {info['model']} on {info['dataset']}"
          + (f": test accuracy {100 * acc:.2f}%" if acc is not None else ""))
    print(f"output: {info['output']} (B, {info['num_classes']}); input (B, "
          f"{', '.join(str(s) for s in info['input']['shape'])}) in [0, 1], normalised inside")
    print(f"wrote {args.out} (load: {info['loader']}) and {sidecar_path(args.out)}")
    return 0
