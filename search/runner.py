"""The trial runner: builds, trains and evaluates what a backend proposes; it never proposes.

``SearchRunner.run(budget)`` loops ask -> train -> record -> tell until the budget is spent, the
backend has nothing left, or the user interrupts. Data is loaded once by the caller and reused;
``keras.backend.clear_session()`` runs between trials.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import keras

from hpsearch.search.backends._base import Backend, Outcome, Proposal
from hpsearch.search.errors import FailedTrialError, FatalError, TrialInterrupted
from hpsearch.search.interrupts import GracefulInterrupt
from hpsearch.search.monitor import TrialMonitor, TrialPruned
from hpsearch.search.recorder import TrialRecorder
from hpsearch.search.recovery import Heartbeat
from hpsearch.search.starting_points import continue_interrupted, publish_best_weights, warm_start
from hpsearch.spaces.datasets import Dataset
from hpsearch.spaces.space import Space
from hpsearch.storage.artifacts import TrialCheckpoints

# A validation batch (forward pass only) costs about this many times less than a training batch.
VALIDATION_BATCH_COST_RATIO = 3

# Study user attribute: seconds all runs of the study have spent (so a resumed --timeout is exact).
ELAPSED_KEY = "hpsearch_elapsed_seconds"


@dataclass(frozen=True)
class RunBudget:
    """What one ``run`` may spend: trials finished in the study, seconds of wall time, seconds per trial."""

    trials: int | None = None
    timeout: float | None = None
    epoch_timeout: float | None = None
    max_failures_in_row: int = 5


@dataclass
class RunSummary:
    trials_run: int = 0
    stop_reason: str = ""
    interrupted_by_user: bool = False
    seconds: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)


class Progress(Protocol):
    def trial_started(self, proposal: Proposal, index: int, total: int | None) -> None: ...

    def epoch_finished(self, proposal: Proposal, epoch: int, value: float) -> None: ...

    def trial_finished(self, proposal: Proposal, outcome: Outcome, seconds: float, eta: float | None) -> None: ...


class SilentProgress:
    def trial_started(self, proposal: Proposal, index: int, total: int | None) -> None:
        pass

    def epoch_finished(self, proposal: Proposal, epoch: int, value: float) -> None:
        pass

    def trial_finished(self, proposal: Proposal, outcome: Outcome, seconds: float, eta: float | None) -> None:
        pass


def counted_trials(study: Any) -> int:
    """Finished trials that count toward the budget (interrupted ones are re-run, so they do not)."""
    from optuna.trial import TrialState

    finished = study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    )
    return sum(1 for t in finished if not t.user_attrs.get("interrupted"))


class SearchRunner:
    """Trains proposals of ``backend`` on ``dataset`` and records them in ``study``."""

    def __init__(
        self,
        space: Space,
        dataset: Dataset,
        study: Any,
        backend: Backend,
        checkpoints: TrialCheckpoints,
        seed: int | None = None,
        progress: Progress | None = None,
        artifact_store: Any = None,
    ) -> None:
        self.space = space
        self.dataset = dataset
        self.study = study
        self.backend = backend
        self.checkpoints = checkpoints
        self.seed = seed
        self.progress = progress or SilentProgress()
        self.artifact_store = artifact_store
        self.builder = space.load_builder()
        self.interrupt = GracefulInterrupt()

    def run(self, budget: RunBudget) -> RunSummary:
        """Run trials until ``budget`` is spent or the backend is exhausted.

        On Ctrl-C the running trial is recorded as interrupted, then ``KeyboardInterrupt`` is raised.
        """
        with self.interrupt:
            try:
                return self._run(budget)
            finally:
                self.interrupt.requested = False

    def _stop_if_interrupted(self, summary: RunSummary, started: float) -> None:
        if self.interrupt.requested:
            summary.interrupted_by_user = True
            summary.stop_reason = "interrupted by the user"
            summary.seconds = time.monotonic() - started
            self._account_time()
            raise KeyboardInterrupt

    def _run(self, budget: RunBudget) -> RunSummary:
        summary = RunSummary()
        started = self._accounted = time.monotonic()
        deadline = started + budget.timeout if budget.timeout is not None else None
        failures_in_row = 0
        total = budget.trials
        expected = self.backend.expected_trials()
        if expected is not None:
            total = min(total, expected) if total is not None else expected
        while True:
            done = counted_trials(self.study)
            if budget.trials is not None and done >= budget.trials:
                summary.stop_reason = f"trial budget reached ({budget.trials} trials)"
                break
            if deadline is not None and time.monotonic() >= deadline:
                summary.stop_reason = f"time budget spent ({budget.timeout:g} s)"
                break
            self._stop_if_interrupted(summary, started)
            proposal = self.backend.ask()
            if proposal is None:
                summary.stop_reason = "the backend has no more configurations to propose"
                break
            self.progress.trial_started(proposal, done + 1, total)
            trial_started = time.monotonic()
            try:
                outcome = self.run_trial(proposal, deadline, budget.epoch_timeout)
            except KeyboardInterrupt:  # a second Ctrl-C: the trial is recorded, stop now
                self.interrupt.requested = True
                self._stop_if_interrupted(summary, started)
            self._account_time()
            seconds = time.monotonic() - trial_started
            summary.trials_run += 1
            summary.outcomes.append(outcome)
            self.progress.trial_finished(proposal, outcome, seconds, self._eta(summary, started, total, deadline))
            self._stop_if_interrupted(summary, started)
            if outcome.reason and outcome.reason.startswith("interrupted"):
                summary.stop_reason = f"time budget spent ({budget.timeout:g} s)"
                break
            failures_in_row = failures_in_row + 1 if outcome.state == "FAIL" else 0
            if failures_in_row >= budget.max_failures_in_row:
                raise FatalError(
                    f"{failures_in_row} trials failed in a row; the last failed with: {outcome.reason}"
                )
        summary.seconds = time.monotonic() - started
        self._account_time()
        return summary

    def _account_time(self) -> None:
        """Add the time since the last call to the study's total (what a resumed --timeout counts)."""
        now = time.monotonic()
        spent = float(self.study.user_attrs.get(ELAPSED_KEY, 0.0))
        self.study.set_user_attr(ELAPSED_KEY, round(spent + now - self._accounted, 3))
        self._accounted = now

    def _eta(self, summary: RunSummary, started: float, total: int | None, deadline: float | None) -> float | None:
        now = time.monotonic()
        estimates = []
        if total is not None and summary.trials_run:
            remaining = max(0, total - counted_trials(self.study))
            estimates.append(remaining * (now - started) / summary.trials_run)
        if deadline is not None:
            estimates.append(max(0.0, deadline - now))
        return min(estimates) if estimates else None

    def run_trial(self, proposal: Proposal, deadline: float | None = None, epoch_timeout: float | None = None) -> Outcome:
        """Build, train and record one proposal; tell the backend unless the trial was interrupted."""
        recorder = TrialRecorder(self.study, proposal, self.backend.name)
        monitor = TrialMonitor(self, proposal, recorder, deadline, epoch_timeout)
        extra: dict[str, Any] = {}
        started = time.monotonic()
        try:
            with Heartbeat(self.study._storage, proposal.trial_id):
                if self.seed is not None:
                    keras.utils.set_random_seed(self.seed + proposal.trial_number)
                model = self.builder(dict(proposal.params), self.dataset.input_shape, self.dataset.num_classes)
                extra["param_count"] = int(model.count_params())
                first_epoch = continue_interrupted(model, self.study, self.checkpoints, proposal, recorder,
                                                   monitor, extra)
                if first_epoch is None:
                    warm_start(model, self.checkpoints, proposal, extra)
                    first_epoch = proposal.initial_epoch
                self.checkpoints.prepare(proposal.trial_number)
                batch_size = int(proposal.params.get("batch_size", self.space.default_batch_size))
                # An epoch costs its training batches plus validation, a forward pass only
                # (about a third of a training step per batch).
                monitor.batches_per_epoch = math.ceil(len(self.dataset.x_train) / batch_size) + math.ceil(
                    len(self.dataset.x_val) / batch_size / VALIDATION_BATCH_COST_RATIO
                )
                model.fit(
                    self.dataset.x_train,
                    self.dataset.y_train,
                    batch_size=batch_size,
                    epochs=proposal.epochs,
                    initial_epoch=first_epoch,
                    validation_data=(self.dataset.x_val, self.dataset.y_val),
                    callbacks=[monitor],
                    verbose=0,
                )
                outcome = monitor.outcome("COMPLETE")
        except TrialPruned:
            outcome = monitor.outcome("PRUNED", f"pruned by the backend after epoch {monitor.last_epoch}")
        except TrialInterrupted as stop:
            outcome = monitor.outcome("FAIL", f"interrupted: {stop}")
            extra["interrupted"] = True
        except KeyboardInterrupt:
            outcome = monitor.outcome("FAIL", "interrupted: Ctrl-C")
            extra["interrupted"] = True
            self._finish(recorder, outcome, extra, started, tell=False)
            raise
        except FailedTrialError as error:
            outcome = monitor.outcome("FAIL", str(error))
        except Exception as error:  # noqa: BLE001 - any error inside one trial fails that trial only
            outcome = monitor.outcome("FAIL", _one_line(f"{type(error).__name__}: {error}"))
        self._finish(recorder, outcome, extra, started, tell=not extra.get("interrupted"))
        return outcome

    def _finish(self, recorder: TrialRecorder, outcome: Outcome, extra: dict[str, Any], started: float, tell: bool) -> None:
        extra["train_seconds"] = round(time.monotonic() - started, 3)
        publish_best_weights(self.artifact_store, self.study, self.checkpoints, recorder.proposal, extra)
        recorder.finish(outcome, extra)
        keras.backend.clear_session()
        if tell:
            self.backend.tell(recorder.proposal, outcome)


def _one_line(text: str, limit: int = 500) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
