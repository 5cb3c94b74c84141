"""Config loading: YAML, dotted overrides, validation errors."""

from __future__ import annotations

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
