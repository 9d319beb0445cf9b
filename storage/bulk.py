"""Reading every trial of a big study fast, for read-only commands (reports, listings).

``optuna.storages.RDBStorage.get_all_trials`` builds an ORM object per row of every trial table
(about 9 s for a 10,000-trial SQLite study). ``load_trials`` reads the same tables with plain
SQL rows, parses each distinct distribution once, and can leave out bulky system attributes a
caller does not need; it returns the same ``FrozenTrial`` objects (a test pins the equality).
Anything unexpected (another storage class, another schema) falls back to Optuna's own call.
"""
from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from optuna.trial import FrozenTrial


def load_trials(storage: Any, study_id: int, skip_system_attrs: Collection[str] = ()) -> list[FrozenTrial]:
    """Every trial of study ``study_id``, ordered by number; ``skip_system_attrs`` are not read."""
    from optuna.storages import RDBStorage

    if not isinstance(storage, RDBStorage):
        return storage.get_all_trials(study_id, deepcopy=False)
    try:
        return _load(storage, study_id, set(skip_system_attrs))
    except Exception:  # noqa: BLE001 - a schema this reader does not know: Optuna's own reader knows it
        return storage.get_all_trials(study_id, deepcopy=False)


def _load(storage: Any, study_id: int, skip: set[str]) -> list[FrozenTrial]:
    import datetime as _dt

    import sqlalchemy as sa
    from optuna import distributions
    from optuna.storages._rdb import models

    trials_t = models.TrialModel.__table__
    params_t = models.TrialParamModel.__table__
    values_t = models.TrialValueModel.__table__
    steps_t = models.TrialIntermediateValueModel.__table__
    user_t = models.TrialUserAttributeModel.__table__
    system_t = models.TrialSystemAttributeModel.__table__
    ids = sa.select(trials_t.c.trial_id).where(trials_t.c.study_id == study_id).scalar_subquery()

    def local(moment: _dt.datetime | None) -> _dt.datetime | None:
        # As Optuna does: stored as naive UTC, handed out as naive local time.
        if moment is None:
            return None
        return moment.replace(tzinfo=_dt.timezone.utc).astimezone().replace(tzinfo=None)

    with storage.engine.connect() as connection:
        # ``.all()`` fetches in one call; iterating a result fetches row by row (a third of the time).
        rows = connection.execute(
            sa.select(trials_t.c.trial_id, trials_t.c.number, trials_t.c.state, trials_t.c.datetime_start,
                      trials_t.c.datetime_complete).where(trials_t.c.study_id == study_id)
        ).all()
        fields: dict[int, dict[str, Any]] = {
            trial_id: {"number": number, "state": state, "start": local(start), "complete": local(complete),
                       "params": {}, "distributions": {}, "values": {}, "steps": {}, "user": {}, "system": {}}
            for trial_id, number, state, start, complete in rows
        }
        parsed: dict[str, Any] = {}
        for trial_id, name, value, distribution_json in connection.execute(
            sa.select(params_t.c.trial_id, params_t.c.param_name, params_t.c.param_value,
                      params_t.c.distribution_json).where(params_t.c.trial_id.in_(ids)).order_by(params_t.c.param_id)
        ).all():
            distribution = parsed.get(distribution_json)
            if distribution is None:
                distribution = parsed[distribution_json] = distributions.json_to_distribution(distribution_json)
            trial = fields[trial_id]
            trial["params"][name] = distribution.to_external_repr(value)
            trial["distributions"][name] = distribution
        value_types = models.TrialValueModel.TrialValueType
        for trial_id, objective, value, value_type in connection.execute(
            sa.select(values_t.c.trial_id, values_t.c.objective, values_t.c.value, values_t.c.value_type)
            .where(values_t.c.trial_id.in_(ids))
        ).all():
            kind = value_types[value_type] if isinstance(value_type, str) else value_type
            fields[trial_id]["values"][objective] = models.TrialValueModel.stored_repr_to_value(value, kind)
        step_types = models.TrialIntermediateValueModel.TrialIntermediateValueType
        to_value = models.TrialIntermediateValueModel.stored_repr_to_intermediate_value
        for trial_id, step, value, value_type in connection.execute(
            sa.select(steps_t.c.trial_id, steps_t.c.step, steps_t.c.intermediate_value,
                      steps_t.c.intermediate_value_type).where(steps_t.c.trial_id.in_(ids))
        ).all():
            kind = step_types[value_type] if isinstance(value_type, str) else value_type
            fields[trial_id]["steps"][step] = to_value(value, kind)
        for table, key in ((user_t, "user"), (system_t, "system")):
            query = sa.select(table.c.trial_id, table.c.key, table.c.value_json).where(table.c.trial_id.in_(ids))
            if key == "system" and skip:
                query = query.where(table.c.key.not_in(sorted(skip)))
            found = connection.execute(query).all()
            # One JSON document for every value: one parser call instead of one per attribute.
            decoded = json.loads("[" + ",".join(value_json for _, _, value_json in found) + "]")
            for (trial_id, name, _), value in zip(found, decoded):
                fields[trial_id][key][name] = value
    trials = []
    for trial_id, f in fields.items():
        values = [f["values"][i] for i in sorted(f["values"])] if f["values"] else None
        trials.append(FrozenTrial(
            number=f["number"], state=f["state"], value=None, values=values, datetime_start=f["start"],
            datetime_complete=f["complete"], params=f["params"], distributions=f["distributions"],
            user_attrs=f["user"], system_attrs=f["system"], intermediate_values=f["steps"], trial_id=trial_id,
        ))
    return sorted(trials, key=lambda t: t.number)
