"""Training one configuration: seed, build, fit with callbacks, evaluate.

The one place a model is built and trained, used by a search trial (``SearchRunner``), by
``hpsearch retrain`` and by the benchmarks, so they train exactly the same way.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from hpsearch.spaces.space import Space

# A validation batch (forward pass only) costs about this many times less than a training batch.
VALIDATION_BATCH_COST_RATIO = 3

Builder = Callable[[dict[str, Any], tuple[int, ...], int], keras.Model]


def batch_size_of(space: Space, params: dict[str, Any]) -> int:
    """The configuration's ``batch_size`` parameter, else the space's default."""
    return int(params.get("batch_size", space.default_batch_size))


def trial_seed(seed: int | None, trial_number: int) -> int | None:
    """The weight-initialization seed of one trial (``None``: not seeded)."""
    return None if seed is None else seed + trial_number


def build_model(
    builder: Builder, params: dict[str, Any], input_shape: tuple[int, ...], num_classes: int, seed: int | None
) -> keras.Model:
    """Seed Python, NumPy and the backend (when ``seed`` is given), then build the compiled model."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    return builder(dict(params), input_shape, num_classes)


def fit(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    epochs: int,
    initial_epoch: int = 0,
    validation_data: tuple[np.ndarray, np.ndarray] | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> keras.callbacks.History:
    """Train from ``initial_epoch`` epochs done up to ``epochs`` epochs done, silently."""
    return model.fit(
        x,
        y,
        batch_size=batch_size,
        epochs=epochs,
        initial_epoch=initial_epoch,
        validation_data=validation_data,
        callbacks=list(callbacks),
        verbose=0,
    )


def evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int) -> dict[str, float]:
    """The compiled loss and metrics of ``model`` on ``(x, y)``, by name (``loss``, ``accuracy``...)."""
    return {name: float(value) for name, value in model.evaluate(x, y, batch_size=batch_size, verbose=0,
                                                                  return_dict=True).items()}


def epoch_cost_in_batches(train_size: int, validation_size: int, batch_size: int) -> int:
    """An epoch's training batches plus its validation, counted in training-batch units."""
    return math.ceil(train_size / batch_size) + math.ceil(validation_size / batch_size / VALIDATION_BATCH_COST_RATIO)
