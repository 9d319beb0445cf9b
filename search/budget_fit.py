"""Fitting a schedule in epochs (Hyperband's ``max_epochs``) to a time budget on this machine.

A fixed ``max_epochs`` is right for one machine only: on a slower one Hyperband's schedule outlasts
the timeout and its last brackets (the ones that train full-length trials) never run; on a faster one
the schedule ends early with time left. Here the epochs the timeout affords are estimated from the
space's configurations' shapes (``search/cost.py``): the default configuration's epoch time and the
mean estimated epoch time of a sample of configurations (those over the epoch limit left out, since
they are refused before training), and the backend picks the largest ``max_epochs`` whose schedule
(Hyperband: its full-length run of the default configuration, then its first bracket) fits.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from hpsearch.search import cost, training
from hpsearch.search.backends._base import Backend
from hpsearch.spaces.data import Dataset
from hpsearch.spaces.space import Space

SAMPLED_CONFIGURATIONS = 24
# Of the timeout, the share spent training epochs: the rest goes to building models, tracing graphs,
# checkpoints and the calibration.
TRAINING_SHARE = 0.85


@dataclass(frozen=True)
class BudgetFit:
    """How ``max_epochs`` was chosen: the training seconds available, the seconds the schedule's part
    that must fit is planned to take, and the epoch-time estimates behind them."""

    max_epochs: int
    available_seconds: float
    planned_seconds: float
    default_epoch_seconds: float
    mean_epoch_seconds: float
    settings: dict[str, Any]  # backend settings fitted with it (Hyperband: its reference trial's epochs)

    def to_dict(self) -> dict[str, Any]:
        return {key: round(value, 2) if isinstance(value, float) else value for key, value in asdict(self).items()}


def fit_max_epochs(space: Space, dataset: Dataset, backend_cls: type[Backend], settings: dict[str, Any],
                   timeout: float, epoch_timeout: float | None, bounds: tuple[int, int]) -> BudgetFit | None:
    """The ``max_epochs`` in ``bounds`` whose schedule fits ``timeout`` seconds; ``None`` when the
    backend's schedule is not in epochs."""
    import keras

    speed = cost.MachineSpeed.measure(dataset.input_shape, dataset.num_classes)
    builder = space.load_builder()
    rng = random.Random(0)
    configurations = [space.default_values()] + [space.random_values(rng) for _ in range(SAMPLED_CONFIGURATIONS)]
    seconds = []
    for values in configurations:
        model = training.build_model(builder, values, dataset.input_shape, dataset.num_classes, seed=None)
        estimate = speed.epoch_seconds(cost.forward_cost(model), len(dataset.x_train), len(dataset.x_val),
                                       training.batch_size_of(space, values))
        seconds.append(0.0 if epoch_timeout is not None and estimate > epoch_timeout else estimate)
        del model
        keras.backend.clear_session(free_memory=False)  # its full gc walk costs ~0.2 s a model
    keras.backend.clear_session()
    trained = [s for s in seconds[1:] if s > 0] or [seconds[0]]
    mean = sum(trained) / len(trained)
    default = seconds[0] or mean  # a default configuration over the limit is refused: it costs nothing
    available = TRAINING_SHARE * timeout
    low, high = bounds
    fitted = backend_cls.fit_schedule(settings, available, default, mean, low, high)
    if fitted is None:
        return None
    return BudgetFit(fitted.max_epochs, available, fitted.planned_seconds, seconds[0], mean, fitted.settings)


__all__ = ["BudgetFit", "fit_max_epochs"]
