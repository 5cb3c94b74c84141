"""Generic contract tests, parametrised over the registries: a new model family, dataset or
evaluation gets them by registering / declaring itself, without editing a list here.

- every model family (``registry.names("model")``, built from its registered ``tiny`` options):
  logits (B, K, C) and features (B, K, D) for shared and per-member inputs; member k of a bank
  equals the family built alone with seed k; an unknown option is a one-line ConfigError.
- every dataset: an unknown ``data.options`` key is a ConfigError naming it, before any file is
  read.
- every evaluation (``tempcheck.evaluations.available()``): its options parse with defaults and
  refuse an unknown key; a group evaluation returns only the columns it declares, one value per
  member, JSON-ready info; its report section renders from a real run folder.
"""

from __future__ import annotations

import importlib
import json

import pytest
import torch

from support import digits_subset
from tempcheck import recipe
from tempcheck.atomic import to_json
from tempcheck.config import load_config, parse_options
from tempcheck.errors import ConfigError
from tempcheck.eval.base import EvalContext
from tempcheck.evaluations import available, run_function
from tempcheck.registry import create_model, metadata, names

MODELS = names("model")
DATASETS = names("dataset")
EVALUATIONS = available()
GROUP_EVALUATIONS = [ev for ev in EVALUATIONS if ev.scope == "group"]
SEEDS = [3, 8, 13]
VOCAB, MAX_LEN = 30, 10


def _inputs(name: str, members: int | None = None) -> tuple[dict, torch.Tensor]:
    """(data keywords, inputs (4, ...) or (4, K, ...)) for family ``name``."""
    g = torch.Generator().manual_seed(0)
    lead = (4,) if members is None else (4, members)
    if metadata("model", name).get("inputs") == "text":
        return ({"num_classes": 3, "vocab_size": VOCAB, "max_len": MAX_LEN, "pad_id": 0},
                torch.randint(1, VOCAB, (*lead, MAX_LEN), generator=g))
    return ({"num_classes": 3, "in_channels": 3, "image_size": 8},
            torch.rand((*lead, 3, 8, 8), generator=g))


def _build(name: str, seeds) -> torch.nn.Module:
    kwargs, _ = _inputs(name)
    return create_model(name, members=len(seeds), seeds=seeds,
                        **metadata("model", name)["tiny"], **kwargs).eval()


def test_every_family_declares_its_inputs_and_tiny_options():
    for name in MODELS:
        meta = metadata("model", name)
        assert meta.get("inputs") in ("image", "text"), name
        assert isinstance(meta.get("tiny"), dict), name


@pytest.mark.parametrize("name", MODELS)
def test_model_shapes_for_shared_and_per_member_inputs(name):
    model = _build(name, SEEDS)
    for members in (None, len(SEEDS)):
        _, x = _inputs(name, members)
        with torch.no_grad():
            feats, logits = model(x, return_features=True)
        assert logits.shape == (4, len(SEEDS), 3)
        assert feats.shape[:2] == (4, len(SEEDS)) and feats.dim() == 3
        assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", MODELS)
def test_model_member_equals_the_family_built_alone(name):
    bank = _build(name, SEEDS)
    _, x = _inputs(name)
    with torch.no_grad():
        out = bank(x)
        for k, seed in enumerate(SEEDS):
            alone = _build(name, [seed])(x)[:, 0]
            torch.testing.assert_close(out[:, k], alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", MODELS)
def test_model_unknown_option_is_a_config_error(name):
    config = load_config(None, [f"model.name={name}", "model.options.no_such_option=1",
                                "eval.run=[clean]"])
    with pytest.raises(ConfigError, match="model.options.no_such_option"):
        recipe.check(config)


@pytest.mark.parametrize("name", DATASETS)
def test_dataset_unknown_option_is_a_config_error(name, tmp_path):
    config = load_config(None, [f"data.name={name}", f"data.data_dir={tmp_path}",
                                "data.options.no_such_option=1", "eval.run=[clean]"])
    with pytest.raises(ConfigError, match="data.options.no_such_option"):
        recipe.check(config)


def test_evaluations_have_unique_names_orders_and_declared_sections():
    assert EVALUATIONS[0].name == "clean"
    assert len({ev.name for ev in EVALUATIONS}) == len(EVALUATIONS)
    assert len({ev.order for ev in EVALUATIONS}) == len(EVALUATIONS)
    for ev in EVALUATIONS:
        assert ev.scope in ("group", "sweep") and ev.module
        if ev.section is not None:
            importlib.import_module(f"tempcheck.report.{ev.section[1]}").build  # noqa: B018


@pytest.mark.parametrize("ev", [ev for ev in EVALUATIONS if ev.options], ids=lambda e: e.name)
def test_evaluation_options_parse_and_refuse_unknown_keys(ev):
    parse_options(ev.options, {}, f"eval.{ev.name}")
    with pytest.raises(ConfigError, match=f"eval.{ev.name}.no_such_option"):
        parse_options(ev.options, {"no_such_option": 1}, f"eval.{ev.name}")
    config = load_config(None, [f"eval.{ev.name}.no_such_option=1"])
    with pytest.raises(ConfigError, match=f"eval.{ev.name}.no_such_option"):
        recipe.check(config)


# small enough for a 2-core CPU; every other option at its default
FAST_OPTIONS = {
    "corruption": {"corruptions": ["gaussian_noise", "defocus_blur"], "severities": [1, 3],
                   "n_images": 16},
    "adversarial": {"suite": "quick", "n_examples": 16, "steps": 3, "more_steps": 4,
                    "diag_examples": 8},
    "features": {"points": 40, "tsne_iter": 250, "probe_examples": 40, "probe_iter": 20},
    "gradients": {"check_examples": 16},
    "dynamics": {"n_examples": 8, "betas": [0.5, 2.0], "steps": 4, "scan_steps": 3,
                 "scan_refine": 1},
}


@pytest.fixture(scope="module")
def bank_context():
    data = digits_subset(128, 48, 48)
    model = create_model("mlp", members=2, seeds=[0, 1], hidden=(16,),
                         **data.model_kwargs()).eval()
    return model, data


@pytest.mark.parametrize("ev", GROUP_EVALUATIONS, ids=lambda e: e.name)
def test_group_evaluation_returns_only_its_declared_columns(ev, bank_context):
    model, data = bank_context
    ctx = EvalContext(model=model, data=data, temperatures=torch.tensor([0.5, 2.0]),
                      device=torch.device("cpu"), seed=0, batch_size=64,
                      options=dict(FAST_OPTIONS.get(ev.name, {})))
    result = run_function(ev)(ctx)
    assert result.columns, f"{ev.name} returned no results.csv columns"
    for column, values in result.columns.items():
        assert ev.owns_column(column), f"{ev.name} returned undeclared column {column}"
        assert len(values) == 2, column
    json.loads(to_json(result.info))  # eval.json-ready
    for key in result.arrays:
        assert "/" not in key, key  # the sweep prefixes "<evaluation>/"


@pytest.fixture(scope="module")
def all_evaluations_run(tmp_path_factory):
    from tempcheck.app import run_sweep

    out = tmp_path_factory.mktemp("contract") / "run"
    overrides = ["model.name=mlp", "model.options.hidden=[16]", "train.epochs=1",
                 "sweep.temperatures=[0.5, 2.0]", "sweep.seeds=[0]", "eval.run=[all]",
                 "train.batch_size=128"]
    for name, options in FAST_OPTIONS.items():
        for key, value in options.items():
            overrides.append(f"eval.{name}.{key}={json.dumps(value)}")
    _, root = run_sweep(load_config(None, overrides), out)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("ev", [ev for ev in EVALUATIONS if ev.section], ids=lambda e: e.name)
def test_evaluation_section_renders_from_a_run_folder(ev, all_evaluations_run):
    from tempcheck.report.rundata import RunData

    module = importlib.import_module(f"tempcheck.report.{ev.section[1]}")
    section = module.build(RunData.load(all_evaluations_run))
    assert section.ran, f"{ev.name}: {section.markdown[:200]}"
    assert section.markdown.strip()
    report = (all_evaluations_run / "report.md").read_text(encoding="utf-8")
    assert f"## {section.title}" in report


def test_the_data_cache_is_bounded(monkeypatch):
    """The recipe keeps the last DATA_CACHE_SIZE datasets, not every one a process loaded."""
    recipe.clear_data_cache()
    loads = []
    real = recipe.load_dataset

    def counting(name, **kwargs):
        loads.append(kwargs["split_seed"])
        return real(name, **kwargs)

    monkeypatch.setattr(recipe, "load_dataset", counting)
    configs = [load_config(None, [f"data.split_seed={s}"]) for s in range(recipe.DATA_CACHE_SIZE
                                                                          + 1)]
    first = recipe.load_data(configs[0])
    assert recipe.load_data(configs[0]) is first and loads == [0]  # cached
    for cfg in configs[1:]:
        recipe.load_data(cfg)
    assert len(recipe._DATA_CACHE) == recipe.DATA_CACHE_SIZE
    recipe.load_data(configs[0])  # evicted: loaded again
    assert loads == [*range(recipe.DATA_CACHE_SIZE + 1), 0]
    recipe.clear_data_cache()
