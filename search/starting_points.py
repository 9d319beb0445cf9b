"""Where a trial's training starts, and where its best weights end up.

A trial trains from scratch; or, promoted by Hyperband, from the best weights of its earlier round;
or, re-running an interrupted trial, from that trial's last finished epoch (its weights, optimizer
state and per-epoch values carried over). Its best weights are then published to Optuna's artifact
store, linked to the trial.
"""
from __future__ import annotations

from typing import Any

from hpsearch.search.backends._base import Proposal
from hpsearch.search.recorder import TrialRecorder
from hpsearch.storage.artifacts import TrialCheckpoints


def publish_best_weights(
    artifact_store: Any, study: Any, checkpoints: TrialCheckpoints, proposal: Proposal, extra: dict[str, Any]
) -> None:
    """Upload the trial's best weights to Optuna's artifact store, linked to the trial."""
    if artifact_store is None or not checkpoints.exists(proposal.trial_number, "best"):
        return
    from optuna.artifacts import upload_artifact

    extra["best_weights_artifact"] = upload_artifact(
        artifact_store=artifact_store,
        file_path=str(checkpoints.path(proposal.trial_number, "best")),
        study_or_trial=study._storage.get_trial(proposal.trial_id),
        storage=study._storage,
    )


def load_checkpoint(model: Any, checkpoints: TrialCheckpoints, source: int, which: str) -> None:
    """Load trial ``source``'s ``which`` weights, optimizer state (Adam moments, step count) included."""
    model.optimizer.build(model.trainable_variables)  # so the optimizer's variables exist to be loaded
    model.load_weights(checkpoints.path(source, which))


def warm_start(model: Any, checkpoints: TrialCheckpoints, proposal: Proposal, extra: dict[str, Any]) -> None:
    """A Hyperband promotion: start from the best weights of the trial's earlier round."""
    source = proposal.warm_start_trial
    if source is None:
        return
    if checkpoints.exists(source, "best"):
        load_checkpoint(model, checkpoints, source, "best")
        extra["warm_started_from"] = source
    else:
        extra["warm_start_missing"] = f"no checkpoint of trial {source}; trained from scratch"


def continue_interrupted(
    model: Any, study: Any, checkpoints: TrialCheckpoints, proposal: Proposal, recorder: TrialRecorder,
    monitor: Any, extra: dict[str, Any],
) -> int | None:
    """For a re-run of an interrupted trial: load its last checkpoint, copy its finished epochs.

    Returns the epoch to continue training from, or ``None`` to train as a fresh trial.
    """
    source_number = proposal.user_attrs.get("retry_of")
    if source_number is None:
        return None
    note = checkpoints.note(source_number, "last")
    source = study.get_trials(deepcopy=False)[source_number]
    if note is None or source.params != proposal.params:
        return None
    resume_epoch = int(note["epoch"])
    finished = range(proposal.initial_epoch, resume_epoch + 1)
    if not proposal.initial_epoch <= resume_epoch < proposal.epochs - 1:
        return None
    if any(epoch not in source.intermediate_values for epoch in finished):
        return None
    load_checkpoint(model, checkpoints, source_number, "last")
    history = source.user_attrs.get("history") or {}
    for epoch in finished:
        index = epoch - source.user_attrs.get("initial_epoch", proposal.initial_epoch)
        logs = {name: values[index] for name, values in history.items() if index < len(values)}
        value = source.intermediate_values[epoch]
        recorder.record_epoch(epoch, value, logs, epoch + 1 - proposal.initial_epoch)
        monitor.history[epoch] = value
        monitor.last_epoch = epoch
    best = checkpoints.note(source_number, "best")
    if best is not None and best["epoch"] <= resume_epoch:
        checkpoints.copy(source_number, proposal.trial_number, "best")
        monitor.best = best["value"]
    checkpoints.copy(source_number, proposal.trial_number, "last")
    extra["continued_from"] = {"trial": source_number, "epoch": resume_epoch}
    return resume_epoch + 1
