"""Writing whole trials into an Optuna RDB storage, numbers kept (``hpsearch migrate``'s copy).

The rows Optuna's ``create_new_trial(template_trial=...)`` writes (trial, values, params, attributes,
intermediate values), written with its own models a batch to a commit: a few statements per table
where Optuna issues ~130 per trial.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from hpsearch.storage import record


def misnumbered_at(numbers: list[int]) -> str | None:
    """Why ``numbers`` (in the order stored) are not 0..n-1, as Optuna numbers trials; ``None`` if they are."""
    for index, number in enumerate(numbers):
        if number != index:
            return f"trial {number} is stored at position {index}"
    return None


def insert_trials(dst: Any, study_id: int, trials: list[FrozenTrial], before: int,
                   interrupted: Mapping[int, str]) -> None:
    """Insert ``trials`` (numbers kept) into study ``study_id`` in one commit: the rows Optuna's
    ``create_new_trial(template_trial=...)`` writes, in a few statements per table instead of ~130
    per trial; retried after a lost connection, never twice (``before``: trials already there)."""
    from optuna.storages._rdb import models

    from hpsearch.storage.resilient import call_with_retries
    from hpsearch.storage.transactions import transaction

    def attempt() -> None:
        with transaction(dst) as session:
            session.add_all([trial_row(models, study_id, t, interrupted.get(t.number)) for t in trials])

    def settled() -> tuple[bool, None]:
        return len(stored_numbers(dst, study_id)) == before + len(trials), None

    call_with_retries(dst, "copy trials", attempt, settled)


def trial_row(models: Any, study_id: int, trial: FrozenTrial, interrupted_reason: str | None) -> Any:
    """``trial``'s row (an Optuna ``TrialModel``); a RUNNING trial of a dead worker as FAIL (interrupted),
    exactly as ``resume``'s recovery records it."""
    import json

    from optuna.distributions import distribution_to_json

    state, complete, user_attrs = trial.state, trial.datetime_complete, trial.user_attrs
    if trial.state == TrialState.RUNNING and interrupted_reason is not None:
        state, complete = TrialState.FAIL, _dt.datetime.now()
        user_attrs = {**user_attrs, record.INTERRUPTED: True, record.FAIL_REASON: f"interrupted: {interrupted_reason}"}
    row = models.TrialModel(number=trial.number, study_id=study_id, state=state,
                            datetime_start=trial.datetime_start, datetime_complete=complete)
    stored_values = [models.TrialValueModel.value_to_stored_repr(v) for v in trial.values or []]
    row.values = [models.TrialValueModel(objective=objective, value=value, value_type=kind)
                  for objective, (value, kind) in enumerate(stored_values)]
    row.params = [models.TrialParamModel(param_name=name, param_value=trial.distributions[name].to_internal_repr(value),
                                         distribution_json=distribution_to_json(trial.distributions[name]))
                  for name, value in trial.params.items()]
    row.user_attributes = [models.TrialUserAttributeModel(key=key, value_json=json.dumps(value))
                           for key, value in user_attrs.items()]
    row.system_attributes = [models.TrialSystemAttributeModel(key=key, value_json=json.dumps(value))
                             for key, value in trial.system_attrs.items()]
    stored_steps = {step: models.TrialIntermediateValueModel.intermediate_value_to_stored_repr(value)
                    for step, value in trial.intermediate_values.items()}
    row.intermediate_values = [models.TrialIntermediateValueModel(step=step, intermediate_value=value,
                                                                  intermediate_value_type=kind)
                               for step, (value, kind) in stored_steps.items()]
    return row


def stored_numbers(storage: Any, study_id: int) -> list[int]:
    """The numbers of the study's trials in the order they were stored (Optuna numbers by that order)."""
    from optuna.storages._rdb import models

    session = storage.scoped_session()
    try:
        return [number for (number,) in session.query(models.TrialModel.number)
                .filter(models.TrialModel.study_id == study_id).order_by(models.TrialModel.trial_id)]
    finally:
        session.close()
