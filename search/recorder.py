"""Writing one trial's life into its Optuna trial: per-epoch values, user attributes, final state.

User attributes every hpsearch trial carries (whatever the backend):
``backend`` and ``backend_trial_id``; ``epochs_trained``, ``initial_epoch``, ``target_epochs``;
``train_seconds``; ``param_count``; ``worker`` (host and pid); ``history`` (every Keras metric per epoch); ``fail_reason`` for
FAIL trials and ``interrupted`` for trials stopped from outside; backend extras (Hyperband bracket
and round).
"""
from __future__ import annotations

import math
from typing import Any

from hpsearch.search.backends._base import Outcome, Proposal
from hpsearch.search.recovery import worker_identity


class TrialRecorder:
    """Records into ``study`` the trial that ``proposal`` points to."""

    def __init__(self, study: Any, proposal: Proposal, backend_name: str) -> None:
        self.study = study
        self.storage = study._storage
        self.proposal = proposal
        self.history: dict[str, list[float]] = {}
        self.set_attrs(
            {
                "backend": backend_name,
                **proposal.user_attrs,
                "initial_epoch": proposal.initial_epoch,
                "target_epochs": proposal.epochs,
                "warm_start_trial": proposal.warm_start_trial,
                "epochs_trained": 0,
                "worker": worker_identity(),
            }
        )

    def set_attrs(self, attrs: dict[str, Any]) -> None:
        for key, value in attrs.items():
            self.storage.set_trial_user_attr(self.proposal.trial_id, key, value)

    def record_epoch(self, epoch: int, objective: float, logs: dict[str, Any], epochs_trained: int) -> None:
        """Store the objective as the intermediate value of step ``epoch``, and the epoch's metrics."""
        self.storage.set_trial_intermediate_value(self.proposal.trial_id, epoch, float(objective))
        for name, value in logs.items():
            self.history.setdefault(name, []).append(_json_float(value))
        self.set_attrs({"epochs_trained": epochs_trained, "history": self.history})

    def finish(self, outcome: Outcome, extra: dict[str, Any]) -> None:
        """Set the final state: COMPLETE with the value, PRUNED, or FAIL with its reason."""
        from optuna.trial import TrialState

        attrs = dict(extra)
        if outcome.reason:
            attrs["fail_reason" if outcome.state == "FAIL" else "stop_reason"] = outcome.reason
        self.set_attrs(attrs)
        number = self.proposal.trial_number
        if outcome.state == "COMPLETE" and outcome.value is not None:
            self.study.tell(number, outcome.value)
        elif outcome.state == "PRUNED":
            self.study.tell(number, state=TrialState.PRUNED)
        else:
            self.study.tell(number, state=TrialState.FAIL)


def _json_float(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else number
