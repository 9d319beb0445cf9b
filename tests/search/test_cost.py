"""The epoch cost known from a model's shape (search/cost.py) and the runner's decision from it."""
from __future__ import annotations

import math

import keras
import optuna
import pytest
from optuna.trial import TrialState

from hpsearch.search import cost
from hpsearch.search.runner import RunBudget

from .test_runner import session_for


def test_forward_cost_counts_multiply_adds_of_convolutions_and_dense_layers_and_elements_of_the_rest():
    inputs = keras.Input(shape=(8, 8, 1))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)  # 8x8x8 outputs, 3x3x1 weights each
    x = keras.layers.Activation("relu")(x)  # 512 elements
    x = keras.layers.MaxPooling2D(2)(x)  # 128 elements
    x = keras.layers.Flatten()(x)  # 128 elements
    outputs = keras.layers.Dense(10)(x)  # 128 x 10
    forward = cost.forward_cost(keras.Model(inputs, outputs))
    assert forward.conv_flops == 2 * 8 * 8 * 8 * 9
    assert forward.dense_flops == 2 * 128 * 10
    assert forward.elements == 512 + 128 + 128
    assert forward.describe() == f"{(2 * 8 * 8 * 8 * 9 + 2 * 128 * 10) / 1e6:.1f} MFLOPs per sample"


def test_an_epoch_is_three_forward_passes_per_training_sample_one_per_validation_sample_and_a_cost_per_batch():
    speed = cost.MachineSpeed(batch_seconds=0.01, conv_flops_per_second=1e9, dense_flops_per_second=2e9,
                              elements_per_second=1e8)
    forward = cost.ForwardCost(conv_flops=1e6, dense_flops=2e6, elements=1e4)
    per_sample = 1e6 / 1e9 + 2e6 / 2e9 + 1e4 / 1e8
    expected = (10 + 2 / 3) * 0.01 + per_sample * (3 * 1000 + 200)
    seconds = speed.epoch_seconds(forward, train_size=1000, validation_size=200, batch_size=100)
    assert seconds == pytest.approx(cost.FIT_OVERHEAD_FACTOR * expected)


def test_the_machine_speed_is_measured_once_per_input_shape():
    cost.MachineSpeed.measure.cache_clear()
    first = cost.MachineSpeed.measure((8, 8, 1), 10)
    assert cost.MachineSpeed.measure((8, 8, 1), 10) is first
    for value in (first.batch_seconds, first.conv_flops_per_second, first.dense_flops_per_second,
                  first.elements_per_second):
        assert math.isfinite(value) and value > 0
    # Training a convolution-heavy model is slower than the fixed cost of a batch alone.
    model = cost._conv_model((8, 8, 1), 10)
    assert first.epoch_seconds(cost.forward_cost(model), 1000, 0, 128) > 8 * first.batch_seconds


def test_a_configuration_estimated_over_the_epoch_limit_fails_before_training_and_others_train(sqlite_url):
    from hpsearch.search import training

    session = session_for(sqlite_url, space="digits_cnn", trials=2, max_epochs=1, seed=0, options={"pruner": "none"})
    space, dataset = session.plan.space, session.plan.dataset
    big = {"conv_blocks": 2, "filters_1": 64, "pooling_1": "none", "filters_2": 64, "pooling_2": "none",
           "kernel_size": 5, "batch_norm": True, "activation": "relu", "dense_layers": 2, "units_1": 512,
           "units_2": 512, "dropout": 0.0, "learning_rate": 1e-3, "batch_size": 32}
    session.study.enqueue_trial(big)
    session.study.enqueue_trial(space.default_values())
    speed = cost.MachineSpeed.measure(dataset.input_shape, dataset.num_classes)
    estimates = []
    for values in (big, space.default_values()):
        model = training.build_model(space.load_builder(), values, dataset.input_shape, dataset.num_classes, 0)
        estimates.append(speed.epoch_seconds(cost.forward_cost(model), len(dataset.x_train), len(dataset.x_val),
                                             training.batch_size_of(space, values)))
    assert estimates[0] > 4 * estimates[1]
    limit = round(math.sqrt(estimates[0] * estimates[1]), 3)  # enough for the default one, not for the big one

    session.runner.run(RunBudget(trials=2, epoch_timeout=limit))

    too_big, default = optuna.load_study(study_name="s", storage=sqlite_url).trials
    assert too_big.state == TrialState.FAIL and not too_big.intermediate_values
    reason = too_big.user_attrs["fail_reason"]
    assert reason.startswith("too slow: estimated ") and "MFLOPs per sample, batch 32)" in reason
    assert reason.endswith(f"exceeds the epoch time limit of {limit:g} s (--epoch-timeout)")
    assert too_big.user_attrs["estimated_epoch_seconds"] == pytest.approx(estimates[0], rel=0.01)
    assert default.state == TrialState.COMPLETE and default.intermediate_values
    assert default.user_attrs["estimated_epoch_seconds"] == pytest.approx(estimates[1], rel=0.01)
