"""The stored record: the names of what hpsearch writes into a study, and small queries on it.

An hpsearch study is a plain Optuna study. What people read with ``optuna studies``, ``optuna
trials``, ``trials_dataframe()`` and the dashboard is kept short, in *user* attributes (a line or two
per study or trial). The bulky parts (the space definition, the full settings, every Keras metric
per epoch) are *system* attributes of the same database, where ``resume`` and reports read them.

Steps: a trial's intermediate value at step ``k`` is the objective after ``k`` epochs (1-based, as
Keras prints ``Epoch k/N``); hpsearch's console, checkpoints and reports count epochs the same way.
A trial that continues another one (a Hyperband promotion, ``promoted_from``; a re-run of an
interrupted trial, ``retry_of``) carries the earlier trial's steps too, so its curve starts at epoch 1;
``epochs_trained`` counts only the epochs it trained itself (the compute it spent).

Everything here reads ``FrozenTrial`` objects and attribute dicts only: no TensorFlow, no ``search``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from optuna.trial import FrozenTrial, TrialState

# --- study user attributes (short: shown by `optuna studies`) ---------------------------------
STUDY_SPACE = "space"
STUDY_BACKEND = "backend"
STUDY_SEED = "seed"
STUDY_COMPARE = "compare"  # the name of the `hpsearch compare` run a study belongs to

# --- study system attributes (what `resume` and reports need; not shown by `optuna studies`) ---
STUDY_META = "hpsearch:meta"  # StudyMeta without the space: backend settings, budget, data, artifacts
STUDY_SPACE_DEFINITION = "hpsearch:space"  # the space, serialized (Space.to_dict)
STUDY_ELAPSED = "hpsearch:elapsed_seconds"  # seconds all runs of the study have spent
STUDY_COMPARE_PLAN = "hpsearch:compare"  # the compare run's definition (space, backends, seeds, budget)
STUDY_BACKEND_STATE = "hpsearch:backend_state"  # a backend's own state (a Keras Tuner oracle's), as JSON
LEGACY_STUDY_META = "hpsearch"  # hpsearch 0.1 kept everything in this one user attribute

# --- trial user attributes (short: shown by `optuna trials`) -----------------------------------
BACKEND_TRIAL_ID = "backend_trial_id"  # the backend's own id (Keras Tuner's trial id)
HYPERBAND_BRACKET = "hyperband_bracket"
HYPERBAND_ROUND = "hyperband_round"
HYPERBAND_REFERENCE = "hyperband_reference"  # the default configuration's full-length trial, in no bracket
PROMOTED_FROM = "promoted_from"  # Hyperband: the trial whose weights this one continues
RETRY_OF = "retry_of"  # the interrupted trial whose configuration this one runs again
INITIAL_EPOCH = "initial_epoch"  # epochs the schedule starts from (Keras' initial_epoch)
TARGET_EPOCHS = "target_epochs"  # epochs the schedule trains up to
EPOCHS_TRAINED = "epochs_trained"  # epochs this trial trained itself
TRAIN_SECONDS = "train_seconds"  # wall seconds from build to the end of its training
PARAM_COUNT = "param_count"
DEFAULT_CONFIGURATION = "default_configuration"  # True on the trial of the space's default configuration
ESTIMATED_EPOCH_SECONDS = "estimated_epoch_seconds"  # from the model's shape and the machine's speed
WORKER = "worker"  # "host:pid" of the process that trains it
WORKER_MEMORY_MB = "worker_memory_mb"  # the worker's resident memory (MB) at the trial's end
FAIL_REASON = "fail_reason"  # FAIL trials: why
STOP_REASON = "stop_reason"  # COMPLETE/PRUNED trials stopped early: why (pruned, a limit)
INTERRUPTED = "interrupted"  # True: stopped from outside (Ctrl-C, kill); its configuration runs again
WITHDRAWN = "withdrawn"  # True: never trained; proposed while its worker had lost the study lock, over the budget
WEIGHTS_MISSING = "weights_missing"  # a promotion whose parent's weights were gone: trained from scratch
WEIGHTS_DROPPED = "weights_dropped"  # True: its best weights were removed (not among those kept: --keep-weights)
CHECKPOINT_UNREADABLE = "checkpoint_unreadable"  # a checkpoint to continue from could not be loaded: why
TEST_ACCURACY = "test_accuracy"  # set by `hpsearch retrain`
TEST_LOSS = "test_loss"
RETRAIN_EPOCHS = "retrain_epochs"
GRADIENT_NORMS = "gradient_norms"  # deep_mlp: mean gradient norm per dense layer over the first epoch

# --- trial system attributes --------------------------------------------------------------------
TRIAL_HISTORY = "hpsearch:history"  # every Keras metric per epoch: {name: [value at step 1, 2, ...]}
TRIAL_ELAPSED_AT_END = "hpsearch:elapsed_at_end"  # the study's elapsed seconds when the trial ended
TRIAL_EPOCH_ELAPSED = "hpsearch:epoch_elapsed"  # the study's elapsed seconds at the end of each epoch
ARTIFACT_PREFIX = "artifacts:"  # Optuna's own link from a trial to an uploaded artifact

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


def format_worker(host: str, pid: int) -> str:
    return f"{host}:{pid}"


def parse_worker(value: Any) -> tuple[str, int] | None:
    """``(host, pid)`` from a ``worker`` attribute (``"host:pid"``, or 0.1's ``{"host", "pid"}``)."""
    if isinstance(value, dict) and "host" in value and "pid" in value:
        return str(value["host"]), int(value["pid"])
    if isinstance(value, str) and ":" in value:
        host, _, pid = value.rpartition(":")
        if pid.isdigit():
            return host, int(pid)
    return None


def is_interrupted(trial: FrozenTrial) -> bool:
    """Stopped from outside (Ctrl-C, kill, crash): its configuration is run again by ``resume``."""
    return bool(trial.user_attrs.get(INTERRUPTED))


def is_withdrawn(trial: FrozenTrial) -> bool:
    """Never trained: its worker lost the study lock while it was proposed and another took its slot."""
    return bool(trial.user_attrs.get(WITHDRAWN))


def counts_toward_budget(trial: FrozenTrial) -> bool:
    """Finished trials count toward a trial budget, except interrupted ones (they are re-run) and
    withdrawn ones (never trained)."""
    return trial.state in FINISHED and not is_interrupted(trial) and not is_withdrawn(trial)


def counted_trials(trials: Iterable[FrozenTrial]) -> int:
    return sum(1 for t in trials if counts_toward_budget(t))


def epochs_trained(trial: FrozenTrial) -> int:
    """Epochs this trial trained itself (a plain Optuna trial: its number of reported steps)."""
    value = trial.user_attrs.get(EPOCHS_TRAINED)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value)
    return len(trial.intermediate_values)


def epochs_spent(trials: Iterable[FrozenTrial]) -> int:
    """Training epochs the whole study has spent, interrupted and failed trials included."""
    return sum(epochs_trained(t) for t in trials)


def epochs_reserved(trials: Iterable[FrozenTrial]) -> int:
    """Epochs the RUNNING trials among ``trials`` are still scheduled to train (claimed budget)."""
    reserved = 0
    for trial in trials:
        if trial.state != TrialState.RUNNING:
            continue
        target, start = trial.user_attrs.get(TARGET_EPOCHS), trial.user_attrs.get(INITIAL_EPOCH, 0)
        if isinstance(target, int) and isinstance(start, int):
            reserved += max(0, target - start - epochs_trained(trial))
    return reserved


def train_seconds(trial: FrozenTrial) -> float | None:
    """Seconds the trial trained (a plain Optuna trial: its duration; ``None`` while it runs)."""
    value = trial.user_attrs.get(TRAIN_SECONDS)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if trial.datetime_start is not None and trial.datetime_complete is not None:
        return (trial.datetime_complete - trial.datetime_start).total_seconds()
    return None


def copied_steps(trial: FrozenTrial) -> list[int]:
    """Steps carried over from the trial it continues (not trained by this trial)."""
    steps = sorted(trial.intermediate_values)
    if not steps:
        return []
    own = epochs_trained(trial) if EPOCHS_TRAINED in trial.user_attrs else len(steps)
    return steps[: max(0, len(steps) - own)]


def best_step(trial: FrozenTrial, maximize: bool = True) -> int | None:
    """The step (epochs from scratch) whose value is the trial's value; ``None`` if there is none.

    This is how many epochs a retrain of the configuration needs to reach the same point.
    """
    values = trial.intermediate_values
    if not values:
        return None
    if trial.value is not None:
        matching = [step for step, value in values.items() if value == trial.value]
        if matching:
            return min(matching)
    chooser = max if maximize else min
    return chooser(sorted(values), key=lambda step: values[step])


def history(trial: FrozenTrial) -> dict[str, list[float | None]]:
    """Every Keras metric of the trial per epoch (index ``i`` is step ``i + 1``)."""
    value = trial.system_attrs.get(TRIAL_HISTORY)
    if isinstance(value, dict):
        return value
    legacy = trial.user_attrs.get("history")
    return legacy if isinstance(legacy, dict) else {}


def epoch_elapsed(trial: FrozenTrial) -> list[float | None]:
    """The study's search seconds at the end of each epoch (index ``i`` is step ``i + 1``; ``None``
    where not recorded; steps carried over from another trial keep that trial's times)."""
    value = trial.system_attrs.get(TRIAL_EPOCH_ELAPSED)
    return [float(v) if isinstance(v, (int, float)) else None for v in value] if isinstance(value, list) else []


def elapsed_at_end(trial: FrozenTrial) -> float | None:
    """The study's search seconds when the trial ended (``None`` if not recorded)."""
    value = trial.system_attrs.get(TRIAL_ELAPSED_AT_END)
    return float(value) if isinstance(value, (int, float)) else None


def study_elapsed(system_attrs: Mapping[str, Any], user_attrs: Mapping[str, Any] | None = None) -> float:
    """Seconds every run of the study has spent so far."""
    value = system_attrs.get(STUDY_ELAPSED)
    if value is None and user_attrs is not None:
        value = user_attrs.get("hpsearch_elapsed_seconds")  # hpsearch 0.1
    return float(value or 0.0)


def artifact_ids(trial: FrozenTrial) -> list[str]:
    """Ids of the artifacts uploaded to Optuna's artifact store and linked to the trial."""
    return [key[len(ARTIFACT_PREFIX):] for key in trial.system_attrs if key.startswith(ARTIFACT_PREFIX)]


def json_float(value: Any, digits: int | None = None) -> float | None:
    """A finite float for a JSON attribute (NaN and infinities become ``None``)."""
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        return None
    return float(f"{number:.{digits}g}") if digits else number


def delete_trial_system_attr(storage: Any, trial_id: int, key: str) -> None:
    """Remove a system attribute of a trial (Optuna's API has no such call): how a removed artifact's
    link (``artifacts:<id>``) leaves the trial, so the dashboard does not list a file that is gone."""
    from optuna.storages._rdb import models

    def delete(session: Any) -> None:
        (session.query(models.TrialSystemAttributeModel)
         .filter(models.TrialSystemAttributeModel.trial_id == trial_id)
         .filter(models.TrialSystemAttributeModel.key == key)
         .delete(synchronize_session=False))

    _write_rows(storage, "delete_trial_system_attr", delete)  # deleting twice deletes nothing more


def set_finished_trial_user_attr(storage: Any, trial_id: int, key: str, value: Any) -> None:
    """Set a user attribute on a trial that already finished (Optuna's API refuses to).

    Used to add what is learnt about a trial afterwards (``hpsearch retrain``'s test accuracy). It
    writes the row Optuna's own ``RDBStorage`` would write, through that storage's session.
    """
    import json

    from optuna.storages._rdb import models

    def upsert(session: Any) -> None:
        row = (
            session.query(models.TrialUserAttributeModel)
            .filter(models.TrialUserAttributeModel.trial_id == trial_id)
            .filter(models.TrialUserAttributeModel.key == key)
            .one_or_none()
        )
        if row is None:
            session.add(models.TrialUserAttributeModel(trial_id=trial_id, key=key, value_json=json.dumps(value)))
        else:
            row.value_json = json.dumps(value)

    _write_rows(storage, "set_finished_trial_user_attr", upsert)  # an upsert: safe to run again


def _write_rows(storage: Any, name: str, change: Callable[[Any], None]) -> None:
    """Run ``change(session)`` in one transaction of an ``RDBStorage``'s own session, retried after a
    lost connection (``change`` must be safe to run again)."""
    from optuna.storages import RDBStorage

    if not isinstance(storage, RDBStorage):
        raise TypeError(f"storage must be an optuna RDBStorage, but got {type(storage).__name__}.")

    from hpsearch.storage.resilient import call_with_retries
    from hpsearch.storage.transactions import transaction

    def attempt() -> None:
        with transaction(storage) as session:
            change(session)

    call_with_retries(storage, name, attempt)
