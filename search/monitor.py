"""The Keras callback that watches one trial: limits per batch; NaN check, recording, checkpoints,
pruning and the epoch budget per epoch. It raises to end training; the runner turns that into an outcome.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras

from hpsearch.search.backends._base import Outcome, Proposal
from hpsearch.search.errors import FailedTrialError, LimitReached, TrialInterrupted
from hpsearch.search.interrupts import GracefulInterrupt
from hpsearch.search.recorder import TrialRecorder
from hpsearch.search.starting_points import model_state
from hpsearch.spaces.space import Objective
from hpsearch.storage.artifacts import TrialCheckpoints

# With a per-epoch limit, the runner first estimates a configuration's epoch time from its shape
# (search/cost.py) and refuses one over the limit before training; a trial with such an estimate is then
# stopped only by an epoch running past ESTIMATED_HARD_LIMIT_FACTOR x its estimate (and past
# HARD_LIMIT_FACTOR x the limit), so a busy machine does not fail good configurations.
# Without an estimate (a runner used directly), the wall time decides:
# a trial stops as soon as its epochs take, or are projected to take, longer than the per-epoch limit:
# the speed is measured over PROJECTION_BATCHES batches after WARMUP_BATCHES (graph tracing) of its
# first epoch, so a hopelessly slow configuration costs seconds, not minutes.
# The projection is the gate; an epoch that then runs past HARD_LIMIT_FACTOR x the limit (the
# machine got busier, the projection was off) stops the trial too, without killing trials for noise.
# A configuration projected past EARLY_FACTOR x the limit after only EARLY_BATCHES measured batches is
# stopped at once: a 450 s-per-epoch network then fails in 15 s instead of 45.
HARD_LIMIT_FACTOR = 1.5
WARMUP_BATCHES = 10
PROJECTION_BATCHES = 30
EARLY_BATCHES = 3
EARLY_FACTOR = 2.0
# With an estimate from the model's shape (search/cost.py) there is no projection; an epoch is stopped
# only past this many times its estimate (and past HARD_LIMIT_FACTOR x the limit).
ESTIMATED_HARD_LIMIT_FACTOR = 3.0


class TrialPruned(Exception):
    """The backend decided to stop this trial early."""


@dataclass(frozen=True)
class TrialLimits:
    """What one trial may spend: a wall-clock deadline (``time.monotonic``), seconds per epoch, and
    the epochs left in the study's epoch budget."""

    deadline: float | None = None
    epoch_timeout: float | None = None
    epochs_left: int | None = None


class TrialMonitor(keras.callbacks.Callback):
    """Per batch: limits and Ctrl-C. Per epoch: NaN check, record, checkpoints, pruning, epoch budget.

    ``history`` and ``best`` cover the proposal's own epochs (after ``proposal.initial_epoch``),
    including those carried over from an interrupted run of the same configuration.
    """

    def __init__(
        self,
        proposal: Proposal,
        objective: Objective,
        recorder: TrialRecorder,
        checkpoints: TrialCheckpoints,
        limits: TrialLimits,
        interrupt: GracefulInterrupt,
        should_prune: Callable[[int], bool],
        on_epoch: Callable[[int, float], None],
        batches_per_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.proposal = proposal
        self.objective = objective
        self.recorder = recorder
        self.checkpoints = checkpoints
        self.limits = limits
        self.interrupt = interrupt
        self.should_prune = should_prune
        self.on_epoch = on_epoch
        self.batches_per_epoch = batches_per_epoch  # training batches, plus validation in training-batch units
        self.history: dict[int, float] = {}
        self.best: float | None = None
        # (epoch, value, training state) of the best epoch, kept to write its Keras weights file at the end
        self.best_state: tuple[int, float, list[Any]] | None = None
        self.last_step: int | None = None
        self.trained = 0
        self.batches = 0
        self.warm_at = 0.0
        self.epoch_started = time.monotonic()
        self.estimated_epoch_seconds: float | None = None

    def expect_epoch_seconds(self, estimate: float) -> None:
        """The epoch time estimated from the model's shape (under the limit: the runner checked).

        The estimate, not the wall time of the first batches, then decides whether the trial fits the
        limit: only an epoch that runs past ``ESTIMATED_HARD_LIMIT_FACTOR`` x the estimate (and past
        ``HARD_LIMIT_FACTOR`` x the limit) stops it, so a busy machine does not fail good configurations.
        """
        self.estimated_epoch_seconds = estimate

    def carry_over(self, steps: dict[int, float], best: float | None,
                   best_state: tuple[int, float, list[Any]] | None = None) -> None:
        """Steps an interrupted run of this configuration finished, continued from its checkpoint."""
        self.history.update({s: v for s, v in steps.items() if s > self.proposal.initial_epoch})
        if steps:
            self.last_step = max(steps)
        self.best = best
        self.best_state = best_state

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch_started = time.monotonic()

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._check_outside(time.monotonic())

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.monotonic()
        self.batches += 1
        if self.batches == 1:  # the first batch traced the training graph: not part of the epoch's time
            self.epoch_started = now
        self._check_outside(now)
        timeout = self.limits.epoch_timeout
        if timeout is None:
            return
        hard_limit = HARD_LIMIT_FACTOR * timeout
        if self.estimated_epoch_seconds is not None:
            hard_limit = max(hard_limit, ESTIMATED_HARD_LIMIT_FACTOR * self.estimated_epoch_seconds)
        if now - self.epoch_started > hard_limit:
            raise LimitReached(
                f"epoch time limit exceeded: over {hard_limit:.0f} s in one epoch, for a limit of {timeout:g} s "
                f"(--epoch-timeout)",
                study_budget=False,
            )
        if self.estimated_epoch_seconds is not None:
            return
        measured = self.batches - WARMUP_BATCHES
        if measured == 0:
            self.warm_at = now
        elif EARLY_BATCHES <= measured <= PROJECTION_BATCHES and self.batches_per_epoch:
            projected = (now - self.warm_at) / measured * self.batches_per_epoch
            allowed = timeout if measured == PROJECTION_BATCHES else EARLY_FACTOR * timeout
            if projected > allowed:
                raise LimitReached(
                    f"too slow: projected {projected:.0f} s per epoch exceeds the epoch time limit "
                    f"of {timeout:g} s (--epoch-timeout)",
                    study_budget=False,
                )

    def _check_outside(self, now: float) -> None:
        if self.interrupt.requested:
            raise TrialInterrupted("Ctrl-C")
        if self.limits.deadline is not None and now >= self.limits.deadline:
            raise LimitReached("time budget spent (--timeout)", study_budget=True)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        step = epoch + 1
        logs = dict(logs or {})
        loss = float(logs.get("loss", float("nan")))
        if math.isnan(loss) or math.isinf(loss):
            raise FailedTrialError(f"loss is {loss} at epoch {step}")
        metric = self.objective.metric
        if metric not in logs:
            raise FailedTrialError(f"objective '{metric}' missing from the epoch logs {sorted(logs)}")
        value = float(logs[metric])
        self.trained += 1
        self.history[step] = value
        self.last_step = step
        # Value first, then weights: a checkpoint never claims an epoch the study lacks.
        self.recorder.record_epoch(step, value, logs, self.trained)
        number = self.proposal.trial_number
        state = model_state(self.model)
        self.checkpoints.save_state(state, number, "last", step, value)
        if self.objective.is_better(value, self.best):
            self.best = value
            self.best_state = (step, value, state)
            self.checkpoints.link_state(number, "last", "best")
        extra = getattr(self.model, "trial_attrs_after_epoch", None)
        if callable(extra):
            attrs = extra(step)
            if attrs:
                self.recorder.set_attrs(attrs)
        self.on_epoch(step, value)
        if self.should_prune(step):
            raise TrialPruned()
        left = self.limits.epochs_left
        if left is not None and self.trained >= left and step < self.proposal.epochs:
            raise LimitReached("epoch budget spent (--budget-epochs)", study_budget=True)

    def outcome(self, state: str, reason: str | None = None, by_limit: bool = False) -> Outcome:
        if state == "COMPLETE" and self.best is None:
            return Outcome("FAIL", None, dict(self.history), reason or "no epoch finished", by_limit)
        return Outcome(state, self.best, dict(self.history), reason, by_limit)
