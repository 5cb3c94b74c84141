"""The one-way import rule of docs/DESIGN.md: no module imports from a layer above its own.

Every ``import`` / ``from ... import`` of every module under src/tempcheck — at the top or inside
a function (a lazy import is still a dependency) — is parsed; a dependency on a higher layer
fails with the module, the line and the two layers. There are no exceptions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "tempcheck"

# bottom to top; a module may import its own layer and the ones before it
LAYERS = [
    ("core", ["__init__", "errors", "softmax", "sampling", "contrastive", "losses", "metrics", "atomic",
              "progress", "provenance", "trackers", "config", "registry"]),
    ("data", ["data"]),
    ("models", ["models"]),
    ("attacks", ["attacks"]),
    ("train", ["train"]),
    ("eval", ["eval"]),
    ("analysis", ["analysis"]),
    ("recipe", ["recipe", "evaluations"]),
    ("sweep", ["sweep", "tune"]),
    ("report", ["report"]),
    ("app", ["app", "export", "external"]),
    ("cli", ["cli", "__main__"]),
]
RANK = {name: i for i, (_, names) in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> int:
    """Layer of ``tempcheck.<top>...`` (the top-level name after ``tempcheck.``)."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if top not in RANK:
        raise AssertionError(f"{module}: its top-level name {top!r} is in no layer of "
                             "tests/test_layers.py (add it where docs/DESIGN.md puts it)")
    return RANK[top]


def _is_module(name: str) -> bool:
    rel = Path(*name.split(".")[1:])
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, imported tempcheck module) for every import in the file, lazy ones included."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:  # ``from pkg import mod`` depends on pkg.mod, else on pkg
                sub = f"{target}.{a.name}"
                found.append((node.lineno, sub if _is_module(sub) else target))
    return [(line, name) for line, name in found if name.split(".")[0] == "tempcheck"]


MODULES = sorted(SRC.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_no_module_imports_a_layer_above_its_own(path):
    here = layer_of(module_name(path))
    upward = [f"line {line}: {name} ({LAYERS[layer_of(name)][0]} is above "
              f"{LAYERS[here][0]})" for line, name in imports_of(path)
              if layer_of(name) > here]
    assert not upward, f"{module_name(path)} imports upward: " + "; ".join(upward)


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    """The parser is not fooled by the forms an upward import can take."""
    calibrate = SRC / "app" / "calibrate.py"
    names = [name for _, name in imports_of(calibrate)]
    assert "tempcheck.report.section_calibration" in names  # relative, two dots
    group = SRC / "sweep" / "group.py"
    assert "tempcheck.recipe" in [name for _, name in imports_of(group)]  # from .. import recipe
    # a function-level import counts: run_sweep's study import sits inside a function
    assert "tempcheck.sweep.study" in [name for _, name in imports_of(SRC / "sweep" / "run.py")]


def test_every_layer_named_in_the_design_exists():
    tops = {p.name.removesuffix(".py") for p in SRC.iterdir()
            if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").is_file())}
    assert tops <= set(RANK), tops - set(RANK)
    design = (SRC.parents[1] / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    assert "no exceptions" in design.lower()
