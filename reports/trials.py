"""Every trial of a study as rows: for ``hpsearch export`` (CSV, JSON) and reports.

Storage only: reads an ``optuna.Study`` through ``hpsearch.storage.record``, never ``hpsearch.search``
or TensorFlow. Works on any Optuna study; what hpsearch did not record (``epochs_trained`` of a plain
Optuna trial is its number of reported steps, ``interrupted`` is false, the rest is empty) is filled
the way ``record`` defines it.

A row is a dict with the keys of ``COLUMNS`` plus ``params`` (``{name: value}``) and
``intermediate_values`` (``[(step, value), ...]`` in step order; steps are epochs done, 1-based).
CSV flattens these to one ``param_<name>`` column per parameter and one ``intermediate_values``
column of ``step:value`` pairs separated by spaces; JSON keeps them as an object and a list.
"""
from __future__ import annotations

import csv
import io
import json
import math
from datetime import datetime
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from hpsearch.storage import record

Row = dict[str, Any]

_USER_ATTR_COLUMNS = (
    record.PROMOTED_FROM, record.RETRY_OF, record.TEST_ACCURACY, record.TEST_LOSS, record.RETRAIN_EPOCHS,
)
# The model's size (user attribute ``param_count``): a column named "param_count" would read as, and
# could clash with, the column of a search parameter named "count".
MODEL_PARAM_COUNT = "model_param_count"
# Scalar columns, in order; CSV puts the param_<name> columns after "value" and intermediate values last.
COLUMNS = (
    "number", "state", "value", "best_epoch", record.EPOCHS_TRAINED, record.TRAIN_SECONDS, "datetime_start",
    "datetime_complete", "duration_seconds", record.FAIL_REASON, record.STOP_REASON, record.INTERRUPTED,
    *_USER_ATTR_COLUMNS, MODEL_PARAM_COUNT,
)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _value(study: optuna.Study, trial: FrozenTrial) -> float | list[float] | None:
    """The trial's value (a list of values for a multi-objective study)."""
    if trial.values is None:
        return None
    return trial.values[0] if len(study.directions) == 1 else list(trial.values)


def trial_row(study: optuna.Study, trial: FrozenTrial) -> Row:
    """One trial of ``study`` as a row (see the module docstring)."""
    duration = trial.duration.total_seconds() if trial.duration is not None else None
    single = len(study.directions) == 1
    maximize = single and study.direction == optuna.study.StudyDirection.MAXIMIZE
    row: Row = {
        "number": trial.number,
        "state": trial.state.name,
        "value": _value(study, trial),
        "best_epoch": record.best_step(trial, maximize) if single else None,
        record.EPOCHS_TRAINED: record.epochs_trained(trial),
        record.TRAIN_SECONDS: record.train_seconds(trial),
        "datetime_start": _iso(trial.datetime_start),
        "datetime_complete": _iso(trial.datetime_complete),
        "duration_seconds": duration,
        record.FAIL_REASON: trial.user_attrs.get(record.FAIL_REASON),
        record.STOP_REASON: trial.user_attrs.get(record.STOP_REASON),
        record.INTERRUPTED: record.is_interrupted(trial),
    }
    row.update({key: trial.user_attrs.get(key) for key in _USER_ATTR_COLUMNS})
    row[MODEL_PARAM_COUNT] = trial.user_attrs.get(record.PARAM_COUNT)
    row["params"] = dict(trial.params)
    row["intermediate_values"] = sorted(trial.intermediate_values.items())
    return row


def trial_rows(study: optuna.Study) -> list[Row]:
    """Every trial of ``study``, in trial-number order."""
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    return [trial_row(study, trial) for trial in trials]


def param_names(rows: list[Row]) -> list[str]:
    """Every parameter any trial has, sorted (conditional ones are absent from some trials)."""
    return sorted({name for row in rows for name in row["params"]})


def _cell(value: Any) -> Any:
    """A CSV cell: empty for ``None``, JSON for lists and dicts, the value itself otherwise."""
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return value


def steps_text(steps: list[tuple[int, float]]) -> str:
    """``[(1, 0.9), (2, 0.95)]`` -> ``"1:0.9 2:0.95"`` (values as Python writes floats: exact)."""
    return " ".join(f"{step}:{value!r}" for step, value in steps)


def csv_text(rows: list[Row]) -> str:
    """The rows as CSV: ``COLUMNS`` with ``param_<name>`` columns after ``value``, then ``intermediate_values``."""
    names = param_names(rows)
    at = COLUMNS.index("value") + 1
    header = [*COLUMNS[:at], *(f"param_{name}" for name in names), *COLUMNS[at:], "intermediate_values"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        cells = [_cell(row[c]) for c in COLUMNS[:at]]
        cells += [_cell(row["params"].get(name)) for name in names]
        cells += [_cell(row[c]) for c in COLUMNS[at:]]
        cells.append(steps_text(row["intermediate_values"]))
        writer.writerow(cells)
    return buffer.getvalue()


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities replaced by ``None`` (JSON has no such numbers)."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def json_rows(rows: list[Row]) -> list[Row]:
    """The rows for JSON: ``intermediate_values`` as ``[{"step": k, "value": v}, ...]``."""
    return [
        _finite({**row, "intermediate_values": [{"step": s, "value": v} for s, v in row["intermediate_values"]]})
        for row in rows
    ]


def json_text(study: optuna.Study, rows: list[Row]) -> str:
    """``{"study", "directions", "metric_names", "trials": [row, ...]}`` as indented JSON."""
    document = {
        "study": study.study_name,
        "directions": [d.name for d in study.directions],
        "metric_names": study.metric_names,
        "trials": json_rows(rows),
    }
    return json.dumps(document, indent=2, allow_nan=False) + "\n"
