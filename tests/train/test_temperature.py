"""Learnable and scheduled temperatures, and the objectives fit() trains them with."""

from __future__ import annotations

import math

import pytest
import torch

from support import digits_subset
from tempcheck.data.base import DatasetSplits
from tempcheck.errors import ConfigError, TemperatureError
from tempcheck.registry import create_model
from tempcheck.train.loop import FitOptions, fit
from tempcheck.train.objectives_extra import (
    LearnableTemperatureObjective,
    ScheduledTemperatureObjective,
)
from tempcheck.train.temperature import SCHEDULES, LearnableTemperature, scheduled_temperature

BOUND_CASES = [
    (None, "smooth"), ((0.05, 20.0), "smooth"), ((0.05, None), "smooth"),
    ((None, 20.0), "smooth"), ((0.05, 20.0), "hard"),
]


@pytest.mark.parametrize("bounds,clamp", BOUND_CASES)
def test_learnable_temperature_starts_at_init_and_gradient_matches_finite_differences(
        bounds, clamp):
    init = torch.tensor([0.1, 1.0, 7.0])
    lt = LearnableTemperature(init, bounds=bounds, clamp=clamp).double()
    assert torch.allclose(lt(), init.double(), rtol=1e-6)
    with torch.no_grad():
        lt.offset.copy_(torch.tensor([0.3, -0.7, 0.2], dtype=torch.float64))
    w = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    (lt() * w).sum().backward()
    eps = 1e-6
    for k in range(3):
        with torch.no_grad():
            lt.offset[k] += eps
            up = float((lt() * w).sum())
            lt.offset[k] -= 2 * eps
            down = float((lt() * w).sum())
            lt.offset[k] += eps
        assert lt.offset.grad[k].item() == pytest.approx((up - down) / (2 * eps), rel=1e-5,
                                                         abs=1e-9)


def test_unbounded_offset_is_log_temperature_shift():
    lt = LearnableTemperature(2.0, members=2)
    with torch.no_grad():
        lt.offset.copy_(torch.tensor([math.log(3.0), -math.log(2.0)]))
    assert torch.allclose(lt(), torch.tensor([6.0, 1.0]))
    assert torch.allclose(lt.log_temperature(), torch.log(lt()))
    z = torch.ones(4, 2, 5)
    assert torch.allclose(lt.scale_logits(z)[:, 0], z[:, 0] / 6.0)


@pytest.mark.parametrize("clamp", ["smooth", "hard"])
def test_bounds_are_respected_under_large_steps(clamp):
    lt = LearnableTemperature([0.5, 2.0], bounds=(0.1, 10.0), clamp=clamp)
    for value in (-50.0, 50.0):
        with torch.no_grad():
            lt.offset.fill_(value)
        tau = lt()
        assert bool((tau >= 0.1 * (1 - 1e-6)).all()) and bool((tau <= 10.0 * (1 + 1e-6)).all())
    if clamp == "hard":  # on a bound the hard clamp has exactly zero gradient
        lt().sum().backward()
        assert torch.equal(lt.offset.grad, torch.zeros(2))
    with pytest.raises(TemperatureError):
        LearnableTemperature(20.0, members=1, bounds=(0.1, 10.0), clamp=clamp)
    with pytest.raises(TemperatureError):
        LearnableTemperature(1.0, members=1, bounds=(5.0, 1.0))


def test_schedules_endpoints_and_monotonicity():
    start, end = torch.tensor([0.1, 10.0]), torch.tensor([5.0, 0.5])
    grid = [i / 20 for i in range(21)]
    for kind in ("linear", "cosine", "exponential"):
        assert torch.allclose(scheduled_temperature(0.0, start, end, kind), start.double())
        assert torch.allclose(scheduled_temperature(1.0, start, end, kind), end.double())
        values = torch.stack([scheduled_temperature(p, start, end, kind) for p in grid])
        assert bool((values[1:, 0] >= values[:-1, 0]).all())  # rising member
        assert bool((values[1:, 1] <= values[:-1, 1]).all())  # falling member
    assert scheduled_temperature(0.5, 1.0, 100.0, "exponential").item() == pytest.approx(10.0)
    assert scheduled_temperature(0.5, 1.0, 3.0, "linear").item() == pytest.approx(2.0)
    assert scheduled_temperature(0.25, 1.0, 3.0, "cosine").item() == pytest.approx(
        3.0 - 2.0 * (1 + math.cos(math.pi / 4)) / 2)
    assert torch.equal(scheduled_temperature(0.7, start, end, "constant"), start.double())
    assert scheduled_temperature(2.0, 1.0, 3.0, "linear").item() == 3.0  # clipped
    assert set(SCHEDULES) == {"constant", "linear", "cosine", "exponential"}
    with pytest.raises(ConfigError):
        scheduled_temperature(0.5, 1.0, 2.0, "sawtooth")


@pytest.fixture(scope="module")
def tiny_digits() -> DatasetSplits:
    return digits_subset(192, 64, 64)


def _mlp(data, k, seeds=None):
    return create_model("mlp", members=k, seeds=seeds or list(range(k)), hidden=(16,),
                        **data.model_kwargs())


def test_learnable_temperature_trains_and_is_logged(tiny_digits):
    model = _mlp(tiny_digits, 2)
    objective = LearnableTemperatureObjective([0.5, 4.0], bounds=(0.05, 50.0))
    opts = FitOptions(epochs=2, batch_size=32, optimizer="adamw", weight_decay=0.0)
    history = fit(model, tiny_digits, temperatures=[0.5, 4.0], lrs=[0.01, 0.01], options=opts,
                  objective=objective)
    logged = [r["temperature"] for r in history.records]
    assert len(logged) == 2 and all(len(t) == 2 for t in logged)
    assert logged[-1] != pytest.approx([0.5, 4.0])  # τ moved
    assert logged[-1] == pytest.approx(objective.temperatures().tolist())
    state = objective.state_dict()
    fresh = LearnableTemperatureObjective([0.5, 4.0], bounds=(0.05, 50.0))
    fresh.load_state_dict(state)
    assert torch.allclose(fresh.temperatures(), objective.temperatures())


def test_learnable_member_equals_standalone(tiny_digits):
    opts = FitOptions(epochs=2, batch_size=32, optimizer="sgd")
    bank, obj = _mlp(tiny_digits, 2, [3, 4]), LearnableTemperatureObjective([0.5, 3.0])
    fit(bank, tiny_digits, temperatures=[0.5, 3.0], lrs=[0.05, 0.02], options=opts,
        objective=obj, seed=1)
    alone, obj1 = _mlp(tiny_digits, 1, [4]), LearnableTemperatureObjective([3.0])
    fit(alone, tiny_digits, temperatures=[3.0], lrs=[0.02], options=opts, objective=obj1, seed=1)
    assert obj.temperatures()[1].item() == pytest.approx(obj1.temperatures()[0].item(), rel=1e-5)
    x = tiny_digits.test.x
    with torch.no_grad():
        assert torch.allclose(bank.eval()(x)[:, 1], alone.eval()(x)[:, 0], atol=1e-4)


def test_scheduled_temperature_is_followed_and_logged(tiny_digits):
    objective = ScheduledTemperatureObjective([1.0, 10.0], [4.0, 1.0], kind="linear")
    opts = FitOptions(epochs=2, batch_size=32)
    history = fit(_mlp(tiny_digits, 2), tiny_digits, temperatures=[1.0, 10.0], lrs=[0.05, 0.05],
                  options=opts, objective=objective)
    assert history.records[0]["temperature"] == pytest.approx([2.5, 5.5])
    assert history.records[1]["temperature"] == pytest.approx([4.0, 1.0])
