"""What one epoch of a configuration costs on this machine, known before it trains.

A trial's epoch time decides whether it fits ``--epoch-timeout``. Measuring it by wall time while
it trains makes the decision depend on what else the machine runs (a busy machine fails good
configurations) and costs every hopeless configuration its graph tracing and first batches. Here
the cost is computed from the built model's shape instead:

- ``forward_cost(model)``: multiply-adds per sample of the dense work (``Dense``, ``Conv*``,
  ``DepthwiseConv*``, ``SeparableConv*``; counted as 2 FLOPs each) and the elements every other
  layer outputs (batch norm, activations, pooling, dropout: memory-bound work).
- ``MachineSpeed.measure(input_shape)``: a micro-benchmark of a few seconds, once per process and
  input shape, that times training steps of three reference models (a tiny one for the fixed cost of
  a batch, a convolutional and a dense one for FLOPs per second of each kind) on random data.
- ``MachineSpeed.epoch_seconds(cost, ...)``: training is about 3x the forward pass (forward,
  gradients of inputs, gradients of weights); validation is one forward pass.

``benchmarks/cost_estimate.py`` prints estimated against measured epoch times.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import keras
import numpy as np

# Training costs about this many forward passes (forward, backward through inputs and weights).
TRAINING_PASSES = 3.0
# Keras' fit (the input pipeline, callbacks, metrics, validation's own batches) on top of the reference
# models' bare steps; benchmarks/cost_estimate.py measured epochs at 1.0-2.3x the bare estimate
# on random mnist_cnn configurations, most of the spread in the validation pass.
FIT_OVERHEAD_FACTOR = 1.2
CALIBRATION_BATCH = 128
CALIBRATION_STEPS = 12  # timed steps per reference model, after WARMUP_STEPS (tracing, first allocation)
WARMUP_STEPS = 3


@dataclass(frozen=True)
class ForwardCost:
    """One sample's forward pass: FLOPs of convolutions, FLOPs of dense layers, elements of the rest."""

    conv_flops: float
    dense_flops: float
    elements: float

    @property
    def flops(self) -> float:
        return self.conv_flops + self.dense_flops

    def describe(self) -> str:
        return f"{self.flops / 1e6:.1f} MFLOPs per sample"


def forward_cost(model: keras.Model) -> ForwardCost:
    """The forward cost of one sample through ``model`` (a built Keras model, any nesting)."""
    conv = dense = elements = 0.0
    for layer in _leaf_layers(model):
        shapes = _io_shapes(layer)
        if shapes is None:
            continue
        inputs, outputs = shapes
        out_elements = float(np.prod(outputs))
        name = type(layer).__name__
        if isinstance(layer, keras.layers.Dense) or name == "EinsumDense":
            dense += 2.0 * float(np.prod(inputs)) * outputs[-1]
        elif name.startswith("DepthwiseConv"):
            conv += 2.0 * out_elements * _kernel_volume(layer)
        elif name.startswith("SeparableConv"):
            channels_in = inputs[-1]
            depthwise_out = out_elements / outputs[-1] * channels_in * getattr(layer, "depth_multiplier", 1)
            conv += 2.0 * depthwise_out * _kernel_volume(layer)
            conv += 2.0 * depthwise_out * outputs[-1]
        elif name.startswith("Conv") and hasattr(layer, "kernel_size"):
            groups = getattr(layer, "groups", 1) or 1
            conv += 2.0 * out_elements * _kernel_volume(layer) * inputs[-1] / groups
        elif not isinstance(layer, keras.layers.InputLayer):
            elements += out_elements
    return ForwardCost(conv, dense, elements)


def _leaf_layers(model: Any) -> list[Any]:
    layers: list[Any] = []
    for layer in getattr(model, "layers", []):
        if getattr(layer, "layers", None):
            layers.extend(_leaf_layers(layer))
        else:
            layers.append(layer)
    return layers


def _io_shapes(layer: Any) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """A layer's input and output shape without the batch axis; ``None`` when unknown."""
    try:
        inputs, outputs = layer.input, layer.output
    except (AttributeError, ValueError, RuntimeError):
        return None
    if isinstance(inputs, (list, tuple)):
        inputs = inputs[0] if inputs else None
    if isinstance(outputs, (list, tuple)):
        outputs = outputs[0] if outputs else None
    if inputs is None or outputs is None:
        return None
    in_shape, out_shape = tuple(inputs.shape[1:]), tuple(outputs.shape[1:])
    if not out_shape or any(d is None for d in in_shape + out_shape):
        return None
    return tuple(int(d) for d in in_shape), tuple(int(d) for d in out_shape)


def _kernel_volume(layer: Any) -> float:
    return float(np.prod(layer.kernel_size))


@dataclass(frozen=True)
class MachineSpeed:
    """Measured speeds of this machine: seconds per batch of fixed cost, FLOPs per second of
    convolutions and of dense layers, elements per second of memory-bound layers."""

    batch_seconds: float
    conv_flops_per_second: float
    dense_flops_per_second: float
    elements_per_second: float

    def sample_seconds(self, cost: ForwardCost) -> float:
        """Seconds of one sample's forward pass."""
        return (cost.conv_flops / self.conv_flops_per_second + cost.dense_flops / self.dense_flops_per_second
                + cost.elements / self.elements_per_second)

    def epoch_seconds(self, cost: ForwardCost, train_size: int, validation_size: int, batch_size: int) -> float:
        """Estimated seconds of one epoch: training on ``train_size`` samples, then validation."""
        batches = math.ceil(train_size / batch_size) + math.ceil(validation_size / batch_size) / TRAINING_PASSES
        forward = self.sample_seconds(cost)
        bare = batches * self.batch_seconds + forward * (TRAINING_PASSES * train_size + validation_size)
        return FIT_OVERHEAD_FACTOR * bare

    def to_dict(self) -> dict[str, float]:
        return {
            "batch_ms": round(self.batch_seconds * 1e3, 3),
            "conv_gflops": round(self.conv_flops_per_second / 1e9, 2),
            "dense_gflops": round(self.dense_flops_per_second / 1e9, 2),
            "elements_g_per_s": round(self.elements_per_second / 1e9, 3),
        }

    @staticmethod
    @lru_cache(maxsize=4)
    def measure(input_shape: tuple[int, ...], num_classes: int = 10) -> MachineSpeed:
        """Time training steps of reference models on ``input_shape`` (a few seconds, once per process)."""
        tiny = _step_seconds(_tiny_model(input_shape, num_classes), input_shape, num_classes)
        batch_seconds = max(tiny, 1e-5)
        measured = []  # (forward cost, seconds of one sample's forward pass) of each reference model
        for make in (_conv_model, _dense_model, _elementwise_model):
            model = make(input_shape, num_classes)
            seconds = max(_step_seconds(model, input_shape, num_classes) - batch_seconds, 1e-6)
            measured.append((forward_cost(model), seconds / (TRAINING_PASSES * CALIBRATION_BATCH)))
        # Each reference is dominated by one kind of work; the others' share is charged at the
        # other references' rates (one pass of refinement is plenty: the shares are small).
        (conv_cost, conv_sample), (dense_cost, dense_sample), (elem_cost, elem_sample) = measured
        elements_per_second = elem_cost.elements / elem_sample
        dense_rate = dense_cost.dense_flops / max(dense_sample - dense_cost.elements / elements_per_second, dense_sample / 4)
        elem_rest = elem_sample - elem_cost.flops / dense_rate
        elements_per_second = elem_cost.elements / max(elem_rest, elem_sample / 4)
        conv_rest = conv_sample - conv_cost.dense_flops / dense_rate - conv_cost.elements / elements_per_second
        conv_rate = conv_cost.conv_flops / max(conv_rest, conv_sample / 4)
        keras.backend.clear_session()
        return MachineSpeed(batch_seconds, conv_rate, dense_rate, elements_per_second)


def _step_seconds(model: keras.Model, input_shape: tuple[int, ...], num_classes: int) -> float:
    """Median seconds of one training step of ``model`` on a random batch."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((CALIBRATION_BATCH, *input_shape), dtype=np.float32))
    y = tf.constant(rng.integers(0, num_classes, CALIBRATION_BATCH))
    for _ in range(WARMUP_STEPS):
        model.train_on_batch(x, y)
    times = []
    for _ in range(CALIBRATION_STEPS):
        started = time.perf_counter()
        model.train_on_batch(x, y)  # returns the loss as a number: the step is done
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def _compiled(inputs: Any, outputs: Any) -> keras.Model:
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy")
    return model


def _tiny_model(input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    inputs = keras.Input(shape=input_shape)
    return _compiled(inputs, keras.layers.Dense(num_classes, activation="softmax")(keras.layers.Flatten()(inputs)))


def _image_input(input_shape: tuple[int, ...]) -> tuple[Any, Any]:
    inputs = keras.Input(shape=input_shape)
    x = inputs if len(input_shape) == 3 else keras.layers.Reshape((*input_shape, 1) if len(input_shape) == 2
                                                                  else (int(np.prod(input_shape)), 1, 1))(inputs)
    return inputs, x


def _conv_model(input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    inputs, x = _image_input(input_shape)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return _compiled(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def _dense_model(input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(1024, activation="relu")(x)
    x = keras.layers.Dense(1024, activation="relu")(x)
    return _compiled(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


def _elementwise_model(input_shape: tuple[int, ...], num_classes: int) -> keras.Model:
    inputs, x = _image_input(input_shape)
    x = keras.layers.Conv2D(16, 1, padding="same")(x)
    for _ in range(3):
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Activation("relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return _compiled(inputs, keras.layers.Dense(num_classes, activation="softmax")(x))


__all__ = ["ForwardCost", "MachineSpeed", "forward_cost"]
