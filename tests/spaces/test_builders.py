"""Builders give the architecture the values describe: parameter counts worked out by hand."""
from __future__ import annotations

import numpy as np
import pytest

from hpsearch.spaces import get_space

CNN = {
    "conv_blocks": 2, "filters_1": 16, "pooling_1": "max", "filters_2": 32, "pooling_2": "none",
    "kernel_size": 3, "batch_norm": False, "activation": "relu", "dense_layers": 1, "units_1": 64,
    "dropout": 0.2, "learning_rate": 1e-3, "lr_schedule": "constant", "batch_size": 64,
}


def expected_cnn_params() -> int:
    conv1 = 3 * 3 * 1 * 16 + 16          # 28x28x1 -> 28x28x16, pooled to 14x14
    conv2 = 3 * 3 * 16 * 32 + 32         # 14x14x16 -> 14x14x32, no pooling
    dense = 14 * 14 * 32 * 64 + 64       # flatten 6272 -> 64
    head = 64 * 10 + 10
    return conv1 + conv2 + dense + head


def test_cnn_parameter_count_matches_the_architecture():
    space = get_space("mnist_cnn")
    space.validate(CNN)
    model = space.load_builder()(CNN, (28, 28, 1), 10)
    assert model.count_params() == expected_cnn_params() == 406_922
    assert model.optimizer.learning_rate.numpy() == pytest.approx(1e-3)
    assert model.loss == "sparse_categorical_crossentropy"


def test_batch_norm_removes_biases_and_adds_four_values_per_channel():
    values = {**CNN, "batch_norm": True}
    model = get_space("mnist_cnn").load_builder()(values, (28, 28, 1), 10)
    without_bias = expected_cnn_params() - 16 - 32 - 64
    assert model.count_params() == without_bias + 4 * (16 + 32 + 64)


def test_mlp_parameter_count_and_prediction_shape():
    space = get_space("digits_mlp")
    values = {"dense_layers": 2, "units_1": 128, "units_2": 32, "activation": "tanh", "batch_norm": False,
              "dropout": 0.0, "learning_rate": 0.01, "lr_schedule": "cosine", "batch_size": 32}
    space.validate(values)
    model = space.load_builder()(values, (8, 8, 1), 10)
    assert model.count_params() == (64 * 128 + 128) + (128 * 32 + 32) + (32 * 10 + 10)
    predictions = model.predict(np.zeros((3, 8, 8, 1), dtype="float32"), verbose=0)
    assert predictions.shape == (3, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)


def test_pooling_on_a_one_pixel_map_keeps_the_model_buildable():
    values = {"conv_blocks": 2, "filters_1": 16, "pooling_1": "max", "filters_2": 16, "pooling_2": "avg",
              "kernel_size": 5, "batch_norm": False, "activation": "leaky_relu", "dense_layers": 0,
              "dropout": 0.0, "learning_rate": 1e-3, "batch_size": 32}
    model = get_space("digits_cnn").load_builder()(values, (2, 2, 1), 10)
    assert model.output_shape == (None, 10)
