"""The ``lr_schedule`` parameter: a cosine decay over the trial's epochs that a continued trial goes on with."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from hpsearch.search import training
from hpsearch.search.starting_points import model_state, restore_state
from hpsearch.spaces import get_space

SPACE = get_space("digits_mlp")


def _model(schedule: str, learning_rate: float = 0.01) -> keras.Model:
    values = {**SPACE.default_values(), "lr_schedule": schedule, "learning_rate": learning_rate}
    return training.build_model(SPACE.load_builder(), values, (8, 8, 1), 10, seed=0), values


def _data(size: int = 40) -> training.TrainingData:
    rng = np.random.default_rng(0)
    return training.TrainingData(rng.random((size, 8, 8, 1), dtype="float32"), rng.integers(0, 10, size))


def _rate(model: keras.Model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


def test_cosine_decays_from_the_set_rate_to_zero_over_the_trial_s_epochs():
    model, values = _model("cosine")
    data = _data()  # 40 samples, batch 10: 4 steps an epoch
    training.schedule_learning_rate(model, values, epochs=4, steps_per_epoch=training.steps_per_epoch(40, 10))
    assert _rate(model) == pytest.approx(0.01)
    training.fit(model, data, 10, 2, shuffle_seed=0)
    assert _rate(model) == pytest.approx(0.005, rel=1e-4)  # half way: half the rate
    training.fit(model, data, 10, 4, initial_epoch=2, shuffle_seed=0)
    assert _rate(model) == pytest.approx(0.0, abs=1e-9)


def test_constant_keeps_the_rate_and_an_unknown_schedule_is_refused():
    model, values = _model("constant")
    training.schedule_learning_rate(model, values, epochs=4, steps_per_epoch=4)
    training.fit(model, _data(), 10, 2, shuffle_seed=0)
    assert _rate(model) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="lr_schedule must be one of cosine, constant, but got 'step'"):
        training.schedule_learning_rate(model, {**values, "lr_schedule": "step"}, epochs=4, steps_per_epoch=4)


def test_a_continued_trial_goes_on_along_its_schedule_from_the_saved_state():
    model, values = _model("cosine")
    training.schedule_learning_rate(model, values, epochs=4, steps_per_epoch=4)
    training.fit(model, _data(), 10, 1, shuffle_seed=0)
    state = model_state(model)
    # A fresh model of the same configuration (a re-run after a kill) has the same variables ...
    resumed, _ = _model("cosine")
    training.schedule_learning_rate(resumed, values, epochs=4, steps_per_epoch=4)
    restore_state(resumed, state)
    # ... and its rate is where the first one's schedule was after 1 of 4 epochs, not back at the start.
    assert _rate(resumed) == pytest.approx(_rate(model)) == pytest.approx(0.01 * 0.5 * (1 + np.cos(np.pi / 4)), rel=1e-4)
    # A Hyperband promotion to 8 epochs from that state goes on along the longer schedule.
    promoted, _ = _model("cosine")
    training.schedule_learning_rate(promoted, values, epochs=8, steps_per_epoch=4)
    restore_state(promoted, state)
    assert _rate(promoted) == pytest.approx(0.01 * 0.5 * (1 + np.cos(np.pi / 8)), rel=1e-4)
