"""Translating hpsearch parameters to Optuna, and creating trials a backend has already decided on."""
from __future__ import annotations

import datetime as _dt
from typing import Any

from hpsearch.spaces.params import Boolean, Choice, Float, Int, Param
from hpsearch.spaces.space import Space


def to_distribution(param: Param) -> Any:
    """The Optuna distribution that records ``param`` in a study."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(param, Int):
        return IntDistribution(param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, Float):
        return FloatDistribution(param.low, param.high, log=param.log, step=param.step)
    if isinstance(param, Choice):
        return CategoricalDistribution(list(param.values))
    if isinstance(param, Boolean):
        return CategoricalDistribution([False, True])
    raise TypeError(f"Unsupported parameter kind {type(param).__name__}.")


def suggest(trial: Any, space: Space) -> dict[str, Any]:
    """Ask ``trial`` (an ``optuna.Trial``) for every active parameter of ``space``, in order."""
    values: dict[str, Any] = {}
    for param in space.params:
        if space.is_active(param, values):
            values[param.name] = suggest_param(trial, param)
    return values


def suggest_param(trial: Any, param: Param) -> Any:
    """Ask ``trial`` for one parameter (its condition is the caller's business)."""
    if isinstance(param, Int):
        return trial.suggest_int(param.name, param.low, param.high, step=param.step, log=param.log)
    if isinstance(param, Float):
        return trial.suggest_float(param.name, param.low, param.high, step=param.step, log=param.log)
    if isinstance(param, Choice):
        return trial.suggest_categorical(param.name, list(param.values))
    return trial.suggest_categorical(param.name, [False, True])


def record_param(study: Any, trial_id: int, param: Param, value: Any) -> None:
    """Record ``param = value`` on a RUNNING trial (a value decided outside Optuna's ``suggest``)."""
    distribution = to_distribution(param)
    study._storage.set_trial_param(trial_id, param.name, distribution.to_internal_repr(value), distribution)


def create_running_trial(study: Any, definitions: dict[str, Param], params: dict[str, Any],
                         user_attrs: dict[str, Any]) -> tuple[int, int]:
    """Add a RUNNING trial with fixed ``params`` to ``study``; returns ``(trial_number, trial_id)``.

    Used by backends whose proposals come from elsewhere (Keras Tuner oracles): the trial is a normal
    Optuna trial with distributions (from ``definitions``, name -> ``Param``), so samplers, ``optuna
    trials`` and the dashboard read it as usual.
    """
    from optuna.trial import FrozenTrial, TrialState

    distributions = {name: to_distribution(definitions[name]) for name in params}
    template = FrozenTrial(
        number=-1,
        state=TrialState.RUNNING,
        value=None,
        datetime_start=_dt.datetime.now(),
        datetime_complete=None,
        params=params,
        distributions=distributions,
        user_attrs=user_attrs,
        system_attrs={},
        intermediate_values={},
        trial_id=-1,
    )
    storage = study._storage
    study_id = storage.get_study_id_from_name(study.study_name)
    trial_id = storage.create_new_trial(study_id, template_trial=template)
    return storage.get_trial_number_from_id(trial_id), trial_id


def seed_for(seed: int | None, study: Any) -> int | None:
    """A sampler seed for the next ask: ``seed + n`` where n trials were asked before it.

    A fresh study's proposals reproduce, and every ask gets its own seed: each ask turns one trial
    from "not asked yet" to asked (a new one, or an enqueued WAITING one), so WAITING trials are not
    counted (counting them would hand a re-run and the trial after it one seed, and one proposal).
    """
    if seed is None:
        return None
    from optuna.trial import TrialState

    return seed + sum(t.state != TrialState.WAITING for t in study.get_trials(deepcopy=False))
