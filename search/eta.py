"""How long a run has left: what the rest of its budget or schedule will cost, from what this run has
measured: the epochs left x seconds per epoch, plus the trials left x each trial's own cost (building
the model, the first epoch's warm-up, evaluation). A Hyperband schedule ends with its longest trials:
counting trials alone would promise the end too early; counting epochs alone, on small models whose
trials are mostly start-up, too late. Several workers share what is left: divided by the workers
running trials of the study when this one last claimed one (this one included). Capped by the time budget.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from optuna.trial import FrozenTrial, TrialState

from hpsearch.storage import record


class EtaClock:
    """Measures this run's seconds per epoch and per trial and tells the seconds left.

    The runner calls ``plan`` before each trial (what is left, that trial included), ``trial_started``,
    ``epoch_done`` after each epoch and ``trial_finished`` (which takes the trial off what is left);
    ``eta(done)`` answers at any point, ``done`` being the epochs the running trial has trained so far.
    """

    def __init__(self, max_epochs: int, prunes: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.max_epochs = max_epochs
        self.prunes = prunes  # trials may stop early: plan on the epochs trials have really trained
        self.seconds = 0.0  # finished trials of this run: wall seconds, epochs trained, count
        self.epochs = 0
        self.trials = 0
        self.steady_seconds = 0.0  # epochs after a trial's first: time between two epochs' ends
        self.steady_epochs = 0
        self.epochs_left: int | None = None
        self.trials_left: float | None = None
        self.deadline: float | None = None
        self.workers = 1  # workers sharing what is left, this one included
        self._trial_started = self._clock()
        self._last_epoch: float | None = None
        self._cycle_started = self._clock()  # a trial's cost runs from the previous one's end (ask, tell)

    def epochs_per_trial(self) -> float:
        if self.prunes and self.trials >= 3 and self.epochs:
            return self.epochs / self.trials
        return float(self.max_epochs)

    def plan(self, trials: Sequence[FrozenTrial], total_trials: int | None, budget_epochs: int | None,
             schedule_epochs: int | None, deadline: float | None) -> None:
        """What is left after the finished ``trials``: epochs, the least of the epoch budget, the
        backend's schedule (``schedule_epochs`` in all) and the trials left x epochs a trial trains;
        trials, the trials left, else the epochs left over the epochs a trial trains."""
        self.deadline = deadline
        # Trials RUNNING when this worker claims its next one are other workers'.
        self.workers = 1 + len({t.user_attrs.get(record.WORKER) for t in trials if t.state == TrialState.RUNNING})
        spent = record.epochs_spent(t for t in trials if t.state.is_finished())
        per_trial = self.epochs_per_trial()
        candidates: list[float] = []
        if budget_epochs is not None:
            candidates.append(budget_epochs - spent)
        if schedule_epochs is not None:
            candidates.append(schedule_epochs - spent)
        trials_left = None if total_trials is None else max(0, total_trials - record.counted_trials(trials))
        if trials_left is not None:
            candidates.append(trials_left * per_trial)
        self.epochs_left = max(0, round(min(candidates))) if candidates else None
        if trials_left is None and self.epochs_left is not None:
            trials_left = self.epochs_left / per_trial
        self.trials_left = trials_left

    def trial_started(self) -> None:
        self._trial_started = self._clock()
        self._last_epoch = None

    def epoch_done(self) -> None:
        now = self._clock()
        if self._last_epoch is not None:
            self.steady_seconds += now - self._last_epoch
            self.steady_epochs += 1
        self._last_epoch = now

    def trial_finished(self, epochs: int) -> None:
        """The running trial ended having trained ``epochs``: its cost is counted from the end of the
        one before (asking the backend and recording included), not from its own start."""
        now = self._clock()
        self.seconds += now - self._cycle_started
        self._cycle_started = now
        self.epochs += epochs
        self.trials += 1
        self._last_epoch = None
        if self.epochs_left is not None:
            self.epochs_left = max(0, self.epochs_left - epochs)
        if self.trials_left is not None:
            self.trials_left = max(0.0, self.trials_left - 1)

    def seconds_per_epoch(self, done: int = 0) -> float | None:
        """An epoch's seconds once a trial runs: measured between epochs' ends, else (no trial of
        this run has trained two epochs yet) all seconds over all epochs, the running trial's included."""
        if self.steady_epochs:
            return self.steady_seconds / self.steady_epochs
        seconds, epochs = self.seconds, self.epochs
        if done > 0:
            seconds += self._clock() - self._trial_started
            epochs += done
        return seconds / epochs if epochs else None

    def seconds_per_trial(self) -> float:
        """What a trial costs beyond its epochs (build, warm-up, evaluation), over finished trials."""
        per_epoch = self.seconds_per_epoch()
        if not self.trials or per_epoch is None:
            return 0.0
        return max(0.0, (self.seconds - self.epochs * per_epoch) / self.trials)

    def eta(self, done: int = 0) -> float | None:
        """Seconds left, ``done`` epochs into the running trial (0 between trials)."""
        estimates: list[float] = []
        per_epoch = self.seconds_per_epoch(done)
        if self.epochs_left is not None and per_epoch is not None:
            trials_left = max(0.0, (self.trials_left or 0.0) - (1 if done > 0 else 0))  # its start is paid
            estimates.append((max(0, self.epochs_left - done) * per_epoch + trials_left * self.seconds_per_trial())
                             / self.workers)
        if self.deadline is not None:
            estimates.append(max(0.0, self.deadline - self._clock()))
        return min(estimates) if estimates else None
