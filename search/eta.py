"""How long a run has left: the epochs its budget or schedule still holds x the seconds per epoch
measured in this run (a Hyperband schedule ends with its longest trials: counting trials would
promise the end too early), capped by the time budget.
"""
from __future__ import annotations

import time
from collections.abc import Sequence

from optuna.trial import FrozenTrial

from hpsearch.storage import record


class EtaClock:
    """Measures seconds per epoch over the trials of this run and tells the seconds left.

    ``trial_started`` snapshots the epochs left (the starting trial's included); ``eta(done)`` answers
    at any point of that trial, ``done`` being the epochs it has trained so far.
    """

    def __init__(self, max_epochs: int, prunes: bool) -> None:
        self.max_epochs = max_epochs
        self.prunes = prunes  # trials may stop early: plan on the epochs trials have really trained
        self.seconds = 0.0
        self.epochs = 0
        self.trials = 0
        self.epochs_left: int | None = None
        self.deadline: float | None = None
        self._trial_started = time.monotonic()

    def epochs_per_trial(self) -> float:
        if self.prunes and self.trials >= 3 and self.epochs:
            return self.epochs / self.trials
        return float(self.max_epochs)

    def plan(self, trials: Sequence[FrozenTrial], total_trials: int | None, budget_epochs: int | None,
             schedule_epochs: int | None, deadline: float | None) -> None:
        """The epochs left after the finished ``trials``: the least of the epoch budget, the backend's
        schedule (``schedule_epochs`` in all) and the trials left x epochs a trial trains."""
        self.deadline = deadline
        spent = record.epochs_spent(t for t in trials if t.state.is_finished())
        candidates: list[float] = []
        if budget_epochs is not None:
            candidates.append(budget_epochs - spent)
        if schedule_epochs is not None:
            candidates.append(schedule_epochs - spent)
        if total_trials is not None:
            left = total_trials - record.counted_trials(trials)
            candidates.append(left * self.epochs_per_trial())
        self.epochs_left = max(0, round(min(candidates))) if candidates else None

    def trial_started(self) -> None:
        self._trial_started = time.monotonic()

    def trial_finished(self, seconds: float, epochs: int) -> None:
        self.seconds += seconds
        self.epochs += epochs
        self.trials += 1

    def seconds_per_epoch(self, done: int = 0) -> float | None:
        """Measured in this run: finished trials' seconds over their epochs, with the running trial's."""
        seconds, epochs = self.seconds, self.epochs
        if done > 0:
            seconds += time.monotonic() - self._trial_started
            epochs += done
        return seconds / epochs if epochs else None

    def eta(self, done: int = 0) -> float | None:
        """Seconds left, ``done`` epochs into the running trial (0 between trials)."""
        estimates: list[float] = []
        per_epoch = self.seconds_per_epoch(done)
        if self.epochs_left is not None and per_epoch is not None:
            estimates.append(max(0, self.epochs_left - done) * per_epoch)
        if self.deadline is not None:
            estimates.append(max(0.0, self.deadline - time.monotonic()))
        return min(estimates) if estimates else None
