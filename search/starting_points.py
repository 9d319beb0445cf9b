"""Where a trial's training starts, and where its best weights end up.

A trial trains from scratch; or, promoted by Hyperband, from the best weights of its earlier round
(``promoted_from``); or, re-running an interrupted trial (``retry_of``), from that trial's last
finished epoch, with its weights and optimizer state. Either way the earlier trial's steps are
copied into the new one, so its curve starts at epoch 1. The best weights are then published to
Optuna's artifact store, linked to the trial.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras
from optuna.trial import FrozenTrial

from hpsearch.search.backends._base import Proposal
from hpsearch.search.recorder import TrialRecorder
from hpsearch.storage import record
from hpsearch.storage.artifacts import TrialCheckpoints


@dataclass(frozen=True)
class StartingPoint:
    """Where training begins: Keras' ``initial_epoch``, steps carried over as the trial's own, the best
    value among them (its checkpoint copied), and attributes to record."""

    epoch: int
    carried: dict[int, float] = field(default_factory=dict)
    best: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    best_state: tuple[int, float, list[Any]] | None = None  # (epoch, value, state) of the carried best


def publish_best_weights(artifact_store: Any, storage: Any, checkpoints: TrialCheckpoints, proposal: Proposal) -> str | None:
    """Upload the trial's best weights to Optuna's artifact store, linked to the trial; the artifact id."""
    if artifact_store is None or not checkpoints.exists(proposal.trial_number, "best"):
        return None
    from optuna.artifacts import upload_artifact

    return upload_artifact(
        artifact_store=artifact_store,
        file_path=str(checkpoints.path(proposal.trial_number, "best")),
        study_or_trial=storage.get_trial(proposal.trial_id),
        storage=storage,
    )


class UnreadableCheckpoint(Exception):
    """A checkpoint file could not be loaded (truncated, corrupted); the model is as it was before."""


def model_state(model: keras.Model) -> list[Any]:
    """The model's training state now: every weight and optimizer variable as an array, in order."""
    return [variable.numpy() for variable in _state_variables(model)]


def _state_variables(model: keras.Model) -> list[Any]:
    model.optimizer.build(model.trainable_variables)  # so the optimizer's variables exist (a no-op once built)
    return list(model.weights) + list(model.optimizer.variables)


def restore_state(model: keras.Model, values: list[Any]) -> None:
    """Put a state ``model_state`` took (of a model of the same configuration) back into ``model``."""
    variables = _state_variables(model)
    if len(values) != len(variables):
        raise ValueError(f"the state holds {len(values)} arrays, the model has {len(variables)} variables")
    for variable, value in zip(variables, values):
        if tuple(variable.shape) != tuple(value.shape):
            raise ValueError(f"{variable.path} has shape {tuple(variable.shape)}, the state {tuple(value.shape)}")
    for variable, value in zip(variables, values):
        variable.assign(value)


def load_checkpoint(model: keras.Model, checkpoints: TrialCheckpoints, source: int, which: str) -> list[Any] | None:
    """Load trial ``source``'s ``which`` checkpoint, optimizer state (Adam moments, step count) included:
    its training state if it has one (returned), else its Keras weights file (``None`` returned).

    Raises ``UnreadableCheckpoint`` if the file cannot be loaded, after putting back the weights and
    optimizer state the model had (a load that fails halfway may have changed some of them).
    """
    before = model_state(model)
    use_state = checkpoints.has_state(source, which)
    try:
        if use_state:
            values = checkpoints.load_state(source, which)
            restore_state(model, values)
            return values
        model.load_weights(checkpoints.path(source, which))
        return None
    except Exception as error:  # noqa: BLE001 - numpy, h5py, Keras and OS errors all mean "this file is unusable"
        restore_state(model, before)
        detail = " ".join(str(error).split())[:200] or type(error).__name__
        raise UnreadableCheckpoint(
            f"{which} checkpoint of trial {source} is unreadable ({type(error).__name__}: {detail}); trained without it"
        ) from error


def save_best_weights(model: keras.Model, checkpoints: TrialCheckpoints, trial_number: int,
                      best: tuple[int, float, list[Any]] | None) -> None:
    """Write the trial's best state ``(epoch, value, state)`` as its Keras weights file (``model``'s
    variables are overwritten: call it when training is over)."""
    if best is None:
        return
    epoch, value, state = best
    restore_state(model, state)
    checkpoints.save(model, trial_number, "best", epoch, value)


def starting_point(
    model: keras.Model, trials: list[FrozenTrial], checkpoints: TrialCheckpoints, proposal: Proposal,
    recorder: TrialRecorder,
) -> StartingPoint:
    """Prepare ``model`` (weights loaded) and the trial's record for where its training starts.

    An unreadable checkpoint (a truncated file) is not the trial's failure: the trial trains as if the
    file were missing, and its user attribute ``checkpoint_unreadable`` says what happened.
    """
    attrs: dict[str, Any] = {}
    try:
        resumed = continue_interrupted(model, trials, checkpoints, proposal, recorder)
    except UnreadableCheckpoint as error:
        resumed, attrs[record.CHECKPOINT_UNREADABLE] = None, str(error)
    if resumed is not None:
        return resumed
    try:
        attrs.update(promote(model, trials, checkpoints, proposal, recorder))
    except UnreadableCheckpoint as error:
        attrs[record.CHECKPOINT_UNREADABLE] = str(error)
        attrs[record.WEIGHTS_MISSING] = True
    if attrs.get(record.WEIGHTS_MISSING):
        # Fresh weights need every epoch of the schedule (a worker that cannot reach its parent's
        # checkpoint, a dropped file): the trial trains from epoch 0 to its target, and its value is
        # still that of its own round's epochs, comparable with the promotions that continued.
        return StartingPoint(0, attrs=attrs)
    return StartingPoint(proposal.initial_epoch, attrs=attrs)


def promote(
    model: keras.Model, trials: list[FrozenTrial], checkpoints: TrialCheckpoints, proposal: Proposal,
    recorder: TrialRecorder,
) -> dict[str, Any]:
    """A Hyperband promotion: start from the best weights of the trial's earlier round."""
    source = proposal.promoted_from
    if source is None:
        return {}
    if not checkpoints.exists(source, "best"):
        return {record.WEIGHTS_MISSING: True}
    load_checkpoint(model, checkpoints, source, "best")
    recorder.copy_steps(trials[source], proposal.initial_epoch)
    return {}


def continue_interrupted(
    model: keras.Model, trials: list[FrozenTrial], checkpoints: TrialCheckpoints, proposal: Proposal,
    recorder: TrialRecorder,
) -> StartingPoint | None:
    """For a re-run of an interrupted trial: load its last checkpoint, carry its finished epochs over.

    Returns ``None`` to train as a fresh trial (no usable checkpoint, or nothing left to continue).
    """
    source_number = proposal.user_attrs.get(record.RETRY_OF)
    if source_number is None:
        return None
    note = checkpoints.note(source_number, "last")
    source = trials[source_number]
    if note is None or source.params != proposal.params:
        return None
    resume_step = int(note["epoch"])
    if not proposal.initial_epoch < resume_step < proposal.epochs:
        return None
    own = range(proposal.initial_epoch + 1, resume_step + 1)
    if any(step not in source.intermediate_values for step in own):
        return None
    load_checkpoint(model, checkpoints, source_number, "last")
    carried = recorder.copy_steps(source, resume_step)
    best_note = checkpoints.note(source_number, "best")
    best = best_state = None
    if best_note is not None and proposal.initial_epoch < best_note["epoch"] <= resume_step:
        checkpoints.copy(source_number, proposal.trial_number, "best")
        best = float(best_note["value"])
        if checkpoints.has_state(source_number, "best"):
            try:
                best_state = (int(best_note["epoch"]), best, checkpoints.load_state(source_number, "best"))
            except (OSError, ValueError):  # a damaged best state: the copied weights file, if any, stays
                best_state = None
    checkpoints.copy(source_number, proposal.trial_number, "last")
    return StartingPoint(resume_step, carried=carried, best=best, best_state=best_state)
