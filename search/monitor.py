"""The Keras callback that watches one trial: time limits per batch; NaN check, recording,
checkpoints and pruning per epoch. It raises to end training; the runner turns that into an outcome.
"""
from __future__ import annotations

import math
import time
from typing import Any

import keras

from hpsearch.search.backends._base import Outcome, Proposal
from hpsearch.search.errors import FailedTrialError, TrialInterrupted
from hpsearch.search.recorder import TrialRecorder

# A trial fails as soon as its epochs take, or are projected to take, longer than the per-epoch limit:
# the speed is measured over PROJECTION_BATCHES batches after WARMUP_BATCHES (graph tracing) of its
# first epoch, so a hopelessly slow configuration costs seconds, not minutes.
# The projection is the gate; an epoch that then runs past HARD_LIMIT_FACTOR x the limit (the
# machine got busier, the projection was off) fails too, without killing trials for noise.
HARD_LIMIT_FACTOR = 1.5
WARMUP_BATCHES = 10
PROJECTION_BATCHES = 30


class TrialPruned(Exception):
    """The backend decided to stop this trial early."""


class TrialMonitor(keras.callbacks.Callback):
    """Per batch: time limits. Per epoch: NaN check, record, checkpoints, pruning."""

    def __init__(self, runner: Any, proposal: Proposal, recorder: TrialRecorder,
                 deadline: float | None, epoch_timeout: float | None) -> None:
        super().__init__()
        self.runner = runner
        self.proposal = proposal
        self.recorder = recorder
        self.deadline = deadline
        self.epoch_timeout = epoch_timeout
        self.batches_per_epoch = 0  # training batches, plus validation counted in training-batch units
        self.history: dict[int, float] = {}
        self.best: float | None = None
        self.last_epoch: int | None = None
        self.batches = 0
        self.warm_at = 0.0
        self.epoch_started = time.monotonic()

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch_started = time.monotonic()

    def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self.runner.interrupt.requested:
            raise TrialInterrupted("Ctrl-C")

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        now = time.monotonic()
        self.batches += 1
        if self.runner.interrupt.requested:
            raise TrialInterrupted("Ctrl-C")
        if self.deadline is not None and now >= self.deadline:
            raise TrialInterrupted("time budget spent")
        if self.epoch_timeout is None:
            return
        if now - self.epoch_started > HARD_LIMIT_FACTOR * self.epoch_timeout:
            raise FailedTrialError(
                f"epoch time limit exceeded: over {HARD_LIMIT_FACTOR:g} x {self.epoch_timeout:g} s in one epoch "
                f"(--epoch-timeout)"
            )
        if self.batches == WARMUP_BATCHES:
            self.warm_at = now
        elif self.batches == WARMUP_BATCHES + PROJECTION_BATCHES and self.batches_per_epoch:
            projected = (now - self.warm_at) / PROJECTION_BATCHES * self.batches_per_epoch
            if projected > self.epoch_timeout:
                raise FailedTrialError(
                    f"too slow: projected {projected:.0f} s per epoch exceeds the epoch time limit "
                    f"of {self.epoch_timeout:g} s (--epoch-timeout)"
                )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = dict(logs or {})
        loss = float(logs.get("loss", float("nan")))
        if math.isnan(loss) or math.isinf(loss):
            raise FailedTrialError(f"loss is {loss} at epoch {epoch}")
        metric = self.runner.space.objective.metric
        if metric not in logs:
            raise FailedTrialError(f"objective '{metric}' missing from the epoch logs {sorted(logs)}")
        value = float(logs[metric])
        self.history[epoch] = value
        self.last_epoch = epoch
        trained = epoch + 1 - self.proposal.initial_epoch
        # Value first, then weights: a checkpoint never claims an epoch the study lacks.
        self.recorder.record_epoch(epoch, value, logs, trained)
        checkpoints = self.runner.checkpoints
        checkpoints.save(self.model, self.proposal.trial_number, "last", epoch, value)
        if self.runner.space.objective.is_better(value, self.best):
            self.best = value
            checkpoints.save(self.model, self.proposal.trial_number, "best", epoch, value)
        self.runner.progress.epoch_finished(self.proposal, epoch, value)
        if self.runner.backend.should_prune(self.proposal, epoch):
            raise TrialPruned()

    def outcome(self, state: str, reason: str | None = None) -> Outcome:
        if state == "COMPLETE" and self.best is None:
            return Outcome("FAIL", None, dict(self.history), "no epoch finished")
        return Outcome(state, self.best, dict(self.history), reason)

