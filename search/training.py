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


LR_SCHEDULE = "lr_schedule"  # a configuration parameter training reads itself, as it reads ``batch_size``
LR_SCHEDULES = ("cosine", "constant")


def schedule_learning_rate(model: keras.Model, params: dict[str, Any], epochs: int, steps_per_epoch: int) -> None:
    """Apply the configuration's ``lr_schedule`` to ``model``'s optimizer, before it trains or loads a state.

    ``cosine``: the learning rate the builder set decays along a half cosine to 0 over ``epochs``
    epochs of ``steps_per_epoch`` optimizer steps. The schedule follows the optimizer's step count, so
    a trial that continues a saved state (a re-run, a Hyperband promotion) goes on from where that state
    was on its own schedule. ``constant`` (or no such parameter): the builder's learning rate throughout.
    """
    schedule = params.get(LR_SCHEDULE, "constant")
    if schedule == "constant":
        return
    if schedule != "cosine":
        raise ValueError(f"{LR_SCHEDULE} must be one of {', '.join(LR_SCHEDULES)}, but got {schedule!r}.")
    optimizer = model.optimizer
    initial = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    optimizer.learning_rate = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=initial, decay_steps=max(1, epochs * steps_per_epoch), alpha=0.0)


def steps_per_epoch(train_size: int, batch_size: int) -> int:
    return math.ceil(train_size / batch_size)


def trial_seed(seed: int | None, trial_number: int) -> int | None:
    """The weight-initialization seed of one trial (``None``: not seeded)."""
    return None if seed is None else seed + trial_number


def build_model(
    builder: Builder, params: dict[str, Any], input_shape: tuple[int, ...], num_classes: int, seed: int | None,
    resolve: Callable[[Any], Any] | None = None, sample: np.ndarray | None = None,
) -> keras.Model:
    """Seed Python, NumPy and the backend (when ``seed`` is given), then build the compiled model.

    ``resolve`` answers a hypermodel's parameters beyond ``params`` (``Proposal.resolve``). A model
    built without an input shape (a ``Sequential`` with no ``Input``) is built on ``sample`` (one batch
    of the data), as its first ``fit`` would, so that it can be counted and saved.
    """
    if seed is not None:
        keras.utils.set_random_seed(seed)
    model = builder(dict(params), input_shape, num_classes, resolve) if resolve is not None else \
        builder(dict(params), input_shape, num_classes)
    if not model.built and sample is not None:
        model(sample[:1], training=False)
    return model


def uses_lr_schedule(space: Space) -> bool:
    """Whether training applies the ``lr_schedule`` parameter (the built-in spaces'; a hypermodel's own
    parameters are its own business)."""
    return not space.is_hypermodel


def fit_hypermodel(
    hypermodel: Any, hp: Any, model: keras.Model, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
    epochs: int, initial_epoch: int = 0, callbacks: Sequence[keras.callbacks.Callback] = (),
) -> Any:
    """Train through the hypermodel's own ``fit(hp, model, *args, **kwargs)``, as Keras Tuner calls it:
    the data as arrays, ``validation_data``, ``epochs``, ``initial_epoch``, ``callbacks`` (hpsearch's
    epoch recording: an override must pass ``**kwargs`` on to ``model.fit``), ``verbose=0``; it chooses
    ``batch_size`` itself (Keras' 32 by default). Returns what it returns (a History, a dict or a number)."""
    return hypermodel.fit(hp, model, x, y, validation_data=(x_val, y_val), epochs=epochs,
                          initial_epoch=initial_epoch, callbacks=list(callbacks), verbose=0)


class TrainingData:
    """A dataset's training and validation arrays as tensors, made once and shared by every trial.

    ``model.fit`` on NumPy arrays converts them and builds a new input pipeline on every call; here
    the conversion happens once per process and each fit gets a ``tf.data`` pipeline over the same
    tensors, shuffled each epoch as Keras shuffles arrays (``shuffle=True``), with a seed per trial
    so a trial's batches do not depend on what the process trained before.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, x_val: np.ndarray | None = None,
                 y_val: np.ndarray | None = None) -> None:
        import tensorflow as tf

        with tf.device("/CPU:0"):
            self._train = (tf.convert_to_tensor(x), tf.convert_to_tensor(y))
            self._val = None if x_val is None else (tf.convert_to_tensor(x_val), tf.convert_to_tensor(y_val))
        self.train_size = len(x)
        self.validation_size = 0 if x_val is None else len(x_val)

    def train_batches(self, batch_size: int, seed: int | None) -> Any:
        """The training set in shuffled batches, reshuffled every epoch (``seed``: reproducible)."""
        import tensorflow as tf

        return (tf.data.Dataset.from_tensor_slices(self._train)
                .shuffle(self.train_size, seed=seed, reshuffle_each_iteration=True)
                .batch(batch_size).prefetch(tf.data.AUTOTUNE))

    def validation_batches(self, batch_size: int) -> Any:
        """The validation set in batches, in order; ``None`` without one."""
        import tensorflow as tf

        if self._val is None:
            return None
        return tf.data.Dataset.from_tensor_slices(self._val).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def fit(
    model: keras.Model,
    data: TrainingData,
    batch_size: int,
    epochs: int,
    initial_epoch: int = 0,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    shuffle_seed: int | None = None,
) -> keras.callbacks.History:
    """Train from ``initial_epoch`` epochs done up to ``epochs`` epochs done, silently, validating on
    ``data``'s validation set (if it has one) after each epoch."""
    return model.fit(
        data.train_batches(batch_size, shuffle_seed),
        epochs=epochs,
        initial_epoch=initial_epoch,
        validation_data=data.validation_batches(batch_size),
        callbacks=list(callbacks),
        shuffle=False,  # the pipeline shuffles, seeded
        verbose=0,
    )


def evaluate(model: keras.Model, x: np.ndarray, y: np.ndarray, batch_size: int) -> dict[str, float]:
    """The compiled loss and metrics of ``model`` on ``(x, y)``, by name (``loss``, ``accuracy``...)."""
    return {name: float(value) for name, value in model.evaluate(x, y, batch_size=batch_size, verbose=0,
                                                                  return_dict=True).items()}


def epoch_cost_in_batches(train_size: int, validation_size: int, batch_size: int) -> int:
    """An epoch's training batches plus its validation, counted in training-batch units."""
    return math.ceil(train_size / batch_size) + math.ceil(validation_size / batch_size / VALIDATION_BATCH_COST_RATIO)
