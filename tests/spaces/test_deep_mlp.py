"""The deep_mlp space: its 12-point grid, the builder's architecture, and the per-layer gradient norms
its model records (checked against an independent recomputation), on real TensorFlow with tiny data."""
from __future__ import annotations

import dataclasses
import itertools
import math

import keras
import numpy as np
import optuna
import pytest
import tensorflow as tf

from hpsearch.search.runner import RunBudget
from hpsearch.search.session import SearchPlan, SearchSession, StartRequest, plan_start
from hpsearch.spaces import Choice, deep_mlp, get_space
from hpsearch.storage import record
from tests.search.contract import make_backend, run

SHAPE = (8, 8, 1)
CONFIGURATIONS = set(itertools.product((5, 20, 40), ("relu", "tanh", "sigmoid", "lecun_tanh")))


def build(depth: int, activation: str, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return deep_mlp.build_deep_mlp({"depth": depth, "activation": activation}, SHAPE, 10)


def random_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, *SHAPE), dtype=np.float32), rng.integers(0, 10, n)


def dense_layers(model: keras.Model) -> list:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


class CallLikeTheRunner(keras.callbacks.Callback):
    """Calls ``trial_attrs_after_epoch`` at each epoch end, as ``TrialMonitor`` does (after validation)."""

    def __init__(self) -> None:
        super().__init__()
        self.attrs: dict[int, dict] = {}
        self.logs: dict[int, dict] = {}

    def on_epoch_end(self, epoch, logs=None):
        self.logs[epoch + 1] = dict(logs or {})
        self.attrs[epoch + 1] = self.model.trial_attrs_after_epoch(epoch + 1)


def test_the_space_is_the_12_point_depth_x_activation_grid():
    space = get_space("deep_mlp")
    assert [p.name for p in space.params] == ["depth", "activation"]
    assert all(isinstance(p, Choice) and p.condition is None for p in space.params)
    grid = set(itertools.product(space.param("depth").values, space.param("activation").values))
    assert grid == CONFIGURATIONS
    for depth, activation in grid:
        space.validate({"depth": depth, "activation": activation})
    assert (space.dataset, space.builder) == ("mnist", "hpsearch.spaces.deep_mlp:build_deep_mlp")
    assert (space.budget.trials, space.budget.timeout, space.budget.epoch_timeout) == (12, None, None)


def test_the_grid_backend_proposes_each_configuration_once_then_stops(tmp_path):
    backend, study = make_backend("grid", get_space("deep_mlp"), tmp_path, max_epochs=1)
    proposals = run(backend, study, trials=20)
    assert len(proposals) == 12
    assert {(p.params["depth"], p.params["activation"]) for p in proposals} == CONFIGURATIONS


@pytest.mark.parametrize(("depth", "activation"), sorted(CONFIGURATIONS))
def test_the_builder_gives_a_plain_glorot_sgd_network(depth, activation):
    model = build(depth, activation)
    dense = dense_layers(model)
    assert len(dense) == depth + 1 and model.gradient_norm_layers == tuple(layer.name for layer in dense)
    assert [layer.units for layer in dense] == [deep_mlp.WIDTH] * depth + [10]
    for layer in dense:
        assert isinstance(layer.kernel_initializer, keras.initializers.GlorotUniform)
        assert isinstance(layer.bias_initializer, keras.initializers.Zeros)
    hidden = {layer.activation.__name__ for layer in dense[:-1]}
    assert hidden == {activation} and dense[-1].activation.__name__ == "softmax"
    kinds = {type(layer).__name__ for layer in model.layers}
    assert kinds == {"InputLayer", "Flatten", "Dense"}  # no batch norm, no dropout
    optimizer = model.optimizer
    assert type(optimizer) is keras.optimizers.SGD and optimizer.momentum == 0 and not optimizer.nesterov
    assert float(optimizer.learning_rate.numpy()) == pytest.approx(deep_mlp.LEARNING_RATE)
    width = deep_mlp.WIDTH
    assert model.count_params() == (64 * width + width) + (depth - 1) * (width * width + width) + (width * 10 + 10)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"depth": 0, "activation": "relu"}, "'depth' as an int >= 1, but got 0"),
        ({"depth": "5", "activation": "relu"}, "'depth' as an int >= 1, but got '5'"),
        ({"depth": 5, "activation": "elu"},
         "'activation' in ['relu', 'tanh', 'sigmoid', 'lecun_tanh'], but got 'elu'"),
    ],
)
def test_bad_values_name_the_rule_and_the_value(values, message):
    with pytest.raises(ValueError) as error:
        deep_mlp.build_deep_mlp(values, SHAPE, 10)
    assert message in str(error.value)


def test_lecun_tanh_is_the_scaled_tanh():
    x = np.linspace(-6, 6, 101).astype("float32")
    got = keras.ops.convert_to_numpy(deep_mlp.lecun_tanh(x))
    np.testing.assert_allclose(got, 1.7159 * np.tanh(2 * x / 3), rtol=1e-6, atol=1e-6)
    assert got[50] == 0 and got[-1] == pytest.approx(1.7159 * math.tanh(4.0), rel=1e-6)


def independent_norms(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int) -> np.ndarray:
    """Per-batch kernel-gradient norms of one SGD epoch over ``(x, y)`` in order, by hand: ``[batch, layer]``."""
    kernels = [layer.kernel for layer in dense_layers(model)]
    weights = model.trainable_weights
    norms = []
    for start in range(0, len(x), batch_size):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(yb, model(xb, training=True)))
        gradients = dict(zip((id(w) for w in weights), tape.gradient(loss, weights)))
        norms.append([float(tf.sqrt(tf.reduce_sum(gradients[id(k)] ** 2))) for k in kernels])
        for weight in weights:
            weight.assign(weight - deep_mlp.LEARNING_RATE * gradients[id(weight)])
    return np.array(norms)


def test_the_first_epoch_norms_equal_an_independent_recomputation_and_stay_out_of_the_logs():
    x, y = random_data(150)  # batches of 32: four full and one of 22
    model = build(3, "tanh", seed=7)
    reference = build(3, "tanh", seed=99)
    reference.set_weights(model.get_weights())
    expected_per_batch = independent_norms(reference, x, y, batch_size=32)
    expected = expected_per_batch.mean(axis=0)
    # The check can fail: batches differ (a first-batch-only or a last-batch value would not match), and
    # layers differ (so would a reordering).
    assert np.ptp(expected_per_batch, axis=0).min() > 0.01 * expected.max()
    assert len({round(v, 2) for v in expected}) == len(expected)

    watcher = CallLikeTheRunner()
    history = model.fit(x, y, batch_size=32, epochs=2, shuffle=False, validation_data=(x[:40], y[:40]),
                        callbacks=[watcher], verbose=0)

    recorded = watcher.attrs[1][record.GRADIENT_NORMS]
    assert len(recorded) == 4 and all(v > 0 and math.isfinite(v) for v in recorded)
    assert recorded == [record.json_float(v, 3) for v in recorded]  # 3 significant digits
    np.testing.assert_allclose(recorded, expected, rtol=6e-3)  # rounding to 3 digits: at most 0.5e-2 off
    assert watcher.attrs[2] == {} and model.trial_attrs_after_epoch(2) == {}
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(set(logs) == {"loss", "accuracy", "val_loss", "val_accuracy"} for logs in watcher.logs.values())


def test_unrounded_means_match_the_recomputation_closely():
    x, y = random_data(100, seed=1)
    model = build(2, "relu", seed=3)
    reference = build(2, "relu", seed=4)
    reference.set_weights(model.get_weights())
    expected = independent_norms(reference, x, y, batch_size=25).mean(axis=0)
    model.fit(x, y, batch_size=25, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(model.gradient_norms(), expected, rtol=1e-4)


def test_training_matches_keras_own_train_step():
    """Same weights, same batches: the custom step trains exactly as a plain ``keras.Model`` does."""
    x, y = random_data(100, seed=2)  # a last batch of 4: the logged loss weighs batches by size
    model = build(3, "lecun_tanh", seed=5)
    plain = keras.Model.from_config(model.get_config())  # the same layers, in a plain functional model
    assert type(plain) is not type(model)
    plain.set_weights(model.get_weights())
    plain.compile(optimizer=keras.optimizers.SGD(learning_rate=deep_mlp.LEARNING_RATE),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ours = model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0).history
    theirs = plain.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0).history
    for name in ("loss", "accuracy"):
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-5)
    for mine, other in zip(model.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(mine, other, rtol=1e-5, atol=1e-6)


def test_a_deep_sigmoid_net_shows_the_vanishing_gradient():
    x, y = random_data(128, seed=0)
    ratios = {}
    for activation in ("sigmoid", "tanh"):
        model = build(8, activation, seed=0)
        model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        norms = model.trial_attrs_after_epoch(1)[record.GRADIENT_NORMS]
        assert len(norms) == 9
        ratios[activation] = norms[0] / norms[-1]
    assert ratios["sigmoid"] < 1e-3  # measured: about 1e-5 with these seeds
    assert ratios["tanh"] > 0.1  # the same depth with tanh keeps its first layer's gradient


def test_keras_file_round_trip_keeps_the_model_and_its_activation(tmp_path):
    x, y = random_data(64)
    model = build(3, "lecun_tanh")
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is deep_mlp.GradientNormModel
    assert dense_layers(loaded)[0].activation is deep_mlp.lecun_tanh
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-7)
    loaded.fit(x, y, batch_size=32, epochs=1, verbose=0)  # still trains and measures
    assert len(loaded.trial_attrs_after_epoch(1)[record.GRADIENT_NORMS]) == 4


def test_weights_files_hold_only_the_network_and_optimizer(tmp_path):
    x, y = random_data(64)
    model = build(4, "relu", seed=1)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    path = tmp_path / "w.weights.h5"
    model.save_weights(path)
    fresh = build(4, "relu", seed=2)
    fresh.optimizer.build(fresh.trainable_variables)  # as the runner's checkpoint loading does
    fresh.load_weights(path)
    np.testing.assert_allclose(fresh.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-7)
    assert fresh.gradient_norms() == []  # nothing measured yet: the sums are not in the file


def test_the_runner_records_gradient_norms_for_each_grid_trial(sqlite_url):
    plan = plan_start(StartRequest(space="digits_mlp", backend="grid", storage=sqlite_url, study="s",
                                   max_epochs=1, seed=0))
    space = dataclasses.replace(get_space("deep_mlp"), dataset="digits")  # MNIST is too big for a test
    meta = dataclasses.replace(plan.meta, space_name=space.name, space=space.to_dict(), trials=2)
    plan = SearchPlan(space, plan.backend_cls, meta, plan.study_name, plan.storage_url, plan.dataset)
    session = SearchSession.create(plan)
    summary = session.runner.run(RunBudget(trials=2))
    assert summary.trials_run == 2
    trials = optuna.load_study(study_name="s", storage=sqlite_url).trials
    assert len(trials) == 2
    for trial in trials:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        norms = trial.user_attrs[record.GRADIENT_NORMS]
        assert len(norms) == trial.params["depth"] + 1
        assert all(isinstance(v, float) and v > 0 for v in norms)
        assert set(trial.system_attrs[record.TRIAL_HISTORY]) == {"loss", "accuracy", "val_loss", "val_accuracy"}
