"""Config loading: YAML, dotted overrides, validation errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tempcheck.config import load_config, log_range, parse_temperatures
from tempcheck.errors import ConfigError


def test_defaults_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  lr: 0.1\nsweep:\n  temperatures: '0.1:100:4'\n")
    cfg = load_config(path, ["train.epochs=3", "--sweep.seeds=0,1", "eval.adversarial.eps=0.2"])
    assert cfg.train.lr == 0.1 and cfg.train.epochs == 3
    assert cfg.sweep.temperatures == (0.1, 1.0, 10.0, 100.0)  # frozen: tuples
    assert cfg.sweep.seeds == (0, 1)
    assert cfg.eval.adversarial == {"eps": 0.2}


def test_parse_temperatures_forms():
    assert parse_temperatures("0.1,1,10") == [0.1, 1.0, 10.0]
    assert parse_temperatures(2) == [2.0]
    assert log_range(0.1, 100, 7)[3] == pytest.approx(3.162)
    for bad in ["0,1", "-1", "nan", "inf", "1:0:3", "a,b", ""]:
        with pytest.raises(ConfigError):
            parse_temperatures(bad)


def test_unknown_key_and_section(tmp_path):
    with pytest.raises(ConfigError, match="train.lrr"):
        load_config(None, ["train.lrr=0.1"])
    with pytest.raises(ConfigError, match="unknown config section"):
        load_config(None, ["trian.lr=0.1"])


def test_wrong_types_are_named(tmp_path):
    with pytest.raises(ConfigError, match="train.epochs"):
        load_config(None, ["train.epochs=many"])
    with pytest.raises(ConfigError, match="train.nesterov"):
        load_config(None, ["train.nesterov=maybe"])


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  lr: [0.1\n")
    with pytest.raises(ConfigError, match="malformed YAML.*line"):
        load_config(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_shipped_default_recipe_loads():
    from pathlib import Path

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "digits_cnn.yaml")
    assert cfg.data.name == "digits" and cfg.model.name == "cnn"
    assert len(cfg.sweep.temperatures) == 7 and cfg.sweep.seeds == (0, 1, 2)


CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_recipe_round_trips_and_is_frozen_and_hashable(path):
    import dataclasses
    import json

    from tempcheck.config import from_dict

    cfg = load_config(path)
    assert from_dict(cfg.to_dict()) == cfg
    assert from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg  # what sweep.json holds
    assert hash(cfg) == hash(from_dict(cfg.to_dict()))
    assert {cfg: 1}[load_config(path)] == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.lr = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.model.options["anything"] = 1
    with pytest.raises(AttributeError):
        cfg.sweep.seeds.append(9)  # a tuple


def test_changing_one_value_changes_equality_and_hash():
    a = load_config(None, ["model.options.widths=[8, 8, 8]"])
    b = load_config(None, ["model.options.widths=[8, 8, 16]"])
    assert a != b and hash(a) != hash(b)
    assert load_config(None, ["eval.adversarial.eps=0.2"]).eval.options_for("adversarial") \
        == {"eps": 0.2}


def test_enumerations_agree_with_the_library():
    from tempcheck import config
    from tempcheck.data.augment import POLICIES
    from tempcheck.train import optim, schedules, temperature

    assert config.OPTIMIZERS == optim.OPTIMIZERS
    assert config.SCHEDULES == schedules.SCHEDULES
    assert config.AUGMENTS == POLICIES
    assert set(config.TEMPERATURE_SCHEDULES) == set(temperature.SCHEDULES)


def test_flag_values_are_taken_literally(tmp_path):
    """--data-dir with an apostrophe or a colon stays that path (no YAML quoting)."""
    import argparse

    from tempcheck.cli import build_parser, config_from_args

    weird = str(tmp_path / "it's: here")
    args = build_parser().parse_args(["sweep", "--data-dir", weird, "--seeds", "3"])
    assert isinstance(args, argparse.Namespace)
    cfg = config_from_args(args, [], "sweep")
    assert cfg.data.data_dir == weird and cfg.sweep.seeds == (3,)
