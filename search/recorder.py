"""Writing one trial's life into its Optuna trial: per-epoch values, attributes, final state.

The names written are those of ``hpsearch.storage.record``: short user attributes (schedule,
epochs trained, seconds, parameter count, worker, reasons) and, as system attributes, every Keras
metric per epoch and the study's elapsed time when the trial ended. Steps count epochs done (1-based).
"""
from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.search.backends._base import Outcome, Proposal
from hpsearch.storage import record


def worker_identity() -> str:
    """``host:pid`` of this process, as recorded in a trial's ``worker`` attribute."""
    return record.format_worker(socket.gethostname(), os.getpid())


class TrialRecorder:
    """Records the trial of ``study`` that ``proposal`` points to (``storage`` is the study's storage)."""

    def __init__(self, study: optuna.Study, storage: Any, proposal: Proposal,
                 clock: Callable[[], float] | None = None) -> None:
        self.study = study
        self.storage = storage
        self.proposal = proposal
        self.clock = clock  # the study's elapsed seconds, recorded with each epoch
        self.history: dict[str, list[float | None]] = {}
        self.epoch_elapsed: list[float | None] = []
        attrs: dict[str, Any] = {
            record.WORKER: worker_identity(),
            record.INITIAL_EPOCH: proposal.initial_epoch,
            record.TARGET_EPOCHS: proposal.epochs,
            record.EPOCHS_TRAINED: 0,
        }
        if proposal.promoted_from is not None:
            attrs[record.PROMOTED_FROM] = proposal.promoted_from
        self.set_attrs(attrs)

    def set_attrs(self, attrs: dict[str, Any]) -> None:
        for key, value in attrs.items():
            self.storage.set_trial_user_attr(self.proposal.trial_id, key, value)

    def record_epoch(self, step: int, objective: float, logs: dict[str, Any], epochs_trained: int) -> None:
        """Store the objective as the intermediate value of ``step`` (epochs done), and the epoch's
        metrics; in one transaction where the storage can (``ResilientRDBStorage.set_trial_epoch``)."""
        self._append_history(step, logs)
        trial_id = self.proposal.trial_id
        user_attrs = {record.EPOCHS_TRAINED: epochs_trained}
        system_attrs: dict[str, Any] = {record.TRIAL_HISTORY: self.history}
        if self.clock is not None:
            self._append_elapsed(step, round(self.clock(), 3))
            system_attrs[record.TRIAL_EPOCH_ELAPSED] = self.epoch_elapsed
        one_transaction = getattr(self.storage, "set_trial_epoch", None)
        if one_transaction is not None:
            one_transaction(trial_id, step, float(objective), user_attrs, system_attrs)
            return
        self.storage.set_trial_intermediate_value(trial_id, step, float(objective))
        for key, value in system_attrs.items():
            self.storage.set_trial_system_attr(trial_id, key, value)
        for key, value in user_attrs.items():
            self.storage.set_trial_user_attr(trial_id, key, value)

    def copy_steps(self, source: FrozenTrial, last_step: int) -> dict[int, float]:
        """Carry ``source``'s steps ``1..last_step`` (values and metrics) into this trial; returns them.

        A promoted or re-run trial so shows its whole curve from epoch 1; its ``epochs_trained``
        still counts only the epochs it trains itself.
        """
        source_history = record.history(source)
        source_elapsed = record.epoch_elapsed(source)
        copied: dict[int, float] = {}
        for step in range(1, last_step + 1):
            if step not in source.intermediate_values:
                continue
            value = source.intermediate_values[step]
            self.storage.set_trial_intermediate_value(self.proposal.trial_id, step, float(value))
            logs = {name: values[step - 1] for name, values in source_history.items() if step - 1 < len(values)}
            self._append_history(step, logs)
            self._append_elapsed(step, source_elapsed[step - 1] if step - 1 < len(source_elapsed) else None)
            copied[step] = value
        if copied:
            self.storage.set_trial_system_attr(self.proposal.trial_id, record.TRIAL_HISTORY, self.history)
            if any(value is not None for value in self.epoch_elapsed):
                self.storage.set_trial_system_attr(self.proposal.trial_id, record.TRIAL_EPOCH_ELAPSED,
                                                   self.epoch_elapsed)
        return copied

    def _append_elapsed(self, step: int, seconds: float | None) -> None:
        del self.epoch_elapsed[step - 1:]
        self.epoch_elapsed.extend([None] * (step - 1 - len(self.epoch_elapsed)))  # index i == step i + 1
        self.epoch_elapsed.append(seconds)

    def _append_history(self, step: int, logs: dict[str, Any]) -> None:
        for name, value in logs.items():
            values = self.history.setdefault(name, [])
            values.extend([None] * (step - 1 - len(values)))  # keep index i == step i + 1
            values.append(None if value is None else record.json_float(value))

    def finish(self, outcome: Outcome, attrs: dict[str, Any], elapsed: float | None) -> None:
        """Set the final state through ``study.tell`` (so the sampler sees it too): COMPLETE with the
        value, PRUNED, or FAIL; the reason goes to ``fail_reason`` or ``stop_reason``."""
        attrs = dict(attrs)
        if outcome.reason:
            attrs[record.FAIL_REASON if outcome.state == "FAIL" else record.STOP_REASON] = outcome.reason
        self.set_attrs(attrs)
        if elapsed is not None:
            self.storage.set_trial_system_attr(self.proposal.trial_id, record.TRIAL_ELAPSED_AT_END, round(elapsed, 3))
        number = self.proposal.trial_number
        if outcome.state == "COMPLETE" and outcome.value is not None:
            self.study.tell(number, outcome.value)
        elif outcome.state == "PRUNED":
            self.study.tell(number, state=TrialState.PRUNED)
        else:
            self.study.tell(number, state=TrialState.FAIL)
