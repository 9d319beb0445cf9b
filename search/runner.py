"""The trial runner: builds, trains and evaluates what a backend proposes; it never proposes.

``SearchRunner.run(budget)`` loops ask -> train -> record -> tell until the budget is spent, the
backend has nothing left, or the user interrupts. Data is loaded once by the caller and reused;
``keras.backend.clear_session()`` runs between trials. Training itself is ``search.training``'s.
"""
from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import keras
import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from hpsearch.search import cost, retention, training
from hpsearch.search.backends._base import Backend, BackendBusy, Outcome, Proposal
from hpsearch.search.eta import EtaClock
from hpsearch.search.errors import FailedTrialError, FatalError, LimitReached, StorageLost, TrialInterrupted
from hpsearch.search.interrupts import GracefulInterrupt
from hpsearch.search.memory import MemoryGuard, resident_mb
from hpsearch.search.monitor import TrialLimits, TrialMonitor, TrialPruned
from hpsearch.search.recorder import TrialRecorder
from hpsearch.search.recovery import Heartbeat, fail_interrupted_trials, interrupted_without_rerun
from hpsearch.search.starting_points import publish_best_weights, save_best_weights, starting_point
from hpsearch.spaces.data import Dataset
from hpsearch.spaces.references import UserCodeError
from hpsearch.spaces.space import Space
from hpsearch.storage import record
from hpsearch.storage.artifacts import TrialCheckpoints
from hpsearch.storage.locks import StudyLock
from hpsearch.storage.studies import checkpoint


@dataclass(frozen=True)
class RunBudget:
    """What one ``run`` may spend: trials finished in the study, seconds of wall time, seconds per
    epoch, and training epochs in the whole study (``epochs``, counted over every trial)."""

    trials: int | None = None
    timeout: float | None = None
    epoch_timeout: float | None = None
    epochs: int | None = None
    study_timeout: float | None = None  # the study's whole time budget, which messages name (default: timeout)
    max_failures_in_row: int = 5  # errors (exceptions, NaN losses): something is broken
    max_too_slow_in_row: int = 20  # trials failed by the per-epoch time limit: the space outgrows the machine


WAIT_SECONDS = 2.0  # between looks at a study whose budget other workers hold


@dataclass
class _Claim:
    """What the loop does next: ``stop`` (why), ``wait`` (why), or train ``proposal`` under ``limits``."""

    stop: str | None = None
    wait: str | None = None
    limits: TrialLimits | None = None
    position: int = 0
    proposal: Proposal | None = None
    trials: list[FrozenTrial] = field(default_factory=list)  # the study as the claim read it


@dataclass
class RunSummary:
    trials_run: int = 0
    stop_reason: str = ""
    interrupted_by_user: bool = False
    recycle: bool = False  # stopped between trials for a fresh process to go on (search.memory)
    seconds: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)


class Progress(Protocol):
    def trial_started(self, proposal: Proposal, index: int, total: int | None) -> None: ...

    def epoch_finished(self, proposal: Proposal, step: int, value: float, eta: float | None = None) -> None: ...

    def trial_finished(self, proposal: Proposal, outcome: Outcome, seconds: float, eta: float | None) -> None: ...

    def waiting(self, reason: str) -> None: ...

    def carry_best(self, trials: list[FrozenTrial]) -> None: ...


class SilentProgress:
    def trial_started(self, proposal: Proposal, index: int, total: int | None) -> None:
        pass

    def epoch_finished(self, proposal: Proposal, step: int, value: float, eta: float | None = None) -> None:
        pass

    def trial_finished(self, proposal: Proposal, outcome: Outcome, seconds: float, eta: float | None) -> None:
        pass

    def waiting(self, reason: str) -> None:
        pass

    def carry_best(self, trials: list[FrozenTrial]) -> None:
        pass


class SearchRunner:
    """Trains proposals of ``backend`` on ``dataset`` and records them in ``study`` (kept in ``storage``)."""

    def __init__(
        self,
        space: Space,
        dataset: Dataset,
        study: optuna.Study,
        storage: Any,
        backend: Backend,
        checkpoints: TrialCheckpoints,
        seed: int | None = None,
        progress: Progress | None = None,
        artifact_store: Any = None,
        lock: Any = None,
        memory_guard: MemoryGuard | None = None,
        keep_weights: int | None = None,
    ) -> None:
        self.space = space
        self.dataset = dataset
        self.study = study
        self.storage = storage
        self.study_id = storage.get_study_id_from_name(study.study_name)
        self.backend = backend
        self.checkpoints = checkpoints
        self.seed = seed
        self.progress = progress or SilentProgress()
        self.artifact_store = artifact_store
        # The study lock (storage.locks.StudyLock) that makes recover/claim/ask and tell one step
        # across processes; a process-only one when the runner is the study's only user.
        self.lock = lock if lock is not None else StudyLock.in_process()
        self._waiting_for = ""
        self.memory_guard = memory_guard  # set: stop between trials once memory grew (the CLI restarts)
        self.keep_weights = keep_weights  # best weights kept for this many top trials (search.retention)
        self.builder = space.load_builder()
        self.interrupt = GracefulInterrupt()
        self._elapsed_base = 0.0
        self._run_started = time.monotonic()
        self._training_data: training.TrainingData | None = None
        self._machine_speed: cost.MachineSpeed | None = None  # measured at the first trial with an epoch limit
        self.eta = EtaClock(backend.context.max_epochs, prunes=type(backend).prunes)  # the run's time left

    @property
    def training_data(self) -> training.TrainingData:
        """The dataset as tensors, made at the first trial and kept for the runner's life."""
        if self._training_data is None:
            data = self.dataset
            self._training_data = training.TrainingData(data.x_train, data.y_train, data.x_val, data.y_val)
        return self._training_data

    def run(self, budget: RunBudget) -> RunSummary:
        """Run trials until ``budget`` is spent or the backend is exhausted.

        On Ctrl-C the running trial is recorded as interrupted, then ``KeyboardInterrupt`` is raised.
        """
        with self.interrupt, _frozen_heap():
            try:
                return self._run(budget)
            except Exception as error:
                if _is_storage_failure(error):
                    raise StorageLost(
                        f"Lost the study's storage ({type(error).__name__}: {_one_line(str(error), 200)}); "
                        f"a trial it left RUNNING runs again with `hpsearch resume {self.study.study_name}`."
                    ) from None
                raise
            finally:
                self.interrupt.requested = False
                self._checkpoint()

    def _checkpoint(self) -> None:
        """A SQLite file's log written back into it at the run's end (``storage.studies.checkpoint``)."""
        try:
            checkpoint(self.storage)
        except Exception:  # noqa: BLE001 - a busy or lost database: SQLite checkpoints on its own later
            pass

    def elapsed(self) -> float:
        """Seconds every run of the study has spent, this one up to now included."""
        return self._elapsed_base + time.monotonic() - self._run_started

    def _stop_if_interrupted(self, summary: RunSummary) -> None:
        if self.interrupt.requested:
            summary.interrupted_by_user = True
            summary.stop_reason = "interrupted by the user"
            summary.seconds = time.monotonic() - self._run_started
            self._account_time()
            raise KeyboardInterrupt

    def _run(self, budget: RunBudget) -> RunSummary:
        summary = RunSummary()
        self._run_started = time.monotonic()
        self._elapsed_base = record.study_elapsed(self.storage.get_study_system_attrs(self.study_id))
        deadline = self._run_started + budget.timeout if budget.timeout is not None else None
        failures_in_row = too_slow_in_row = 0
        total = budget.trials
        # The backend's own count (Hyperband's schedule), unless an epoch budget ends the run first (a
        # compare's Hyperband is given twice the iterations the budget needs).
        expected = self.backend.expected_trials() if budget.epochs is None else None
        if expected is not None:
            total = min(total, expected) if total is not None else expected
        self.eta = EtaClock(self.backend.context.max_epochs, prunes=type(self.backend).prunes)
        while True:
            self._stop_if_interrupted(summary)
            with self.lock:
                claim = self._claim(budget, deadline)
                while claim.stop is None and claim.wait is None and self.lock.ensure_held():
                    claim = self._claim(budget, deadline)  # the lock was lost: another worker may have claimed
                if claim.stop is None and claim.wait is None:
                    restart = self._restart_reason(claim.position, total)
                    if restart is not None:
                        claim.stop, summary.recycle = restart, True
                    else:
                        try:
                            claim.proposal = self.backend.ask()
                        except BackendBusy as busy:
                            claim.wait = str(busy)
                        else:
                            if claim.proposal is None:
                                claim.stop = "the backend has no more configurations to propose"
                            elif self.lock.ensure_held() and self._withdrawn(claim.proposal, budget):
                                continue  # the lock was lost while it proposed, and its slot was taken
            if claim.stop is not None:
                summary.stop_reason = claim.stop
                break
            if claim.wait is not None or claim.proposal is None:
                self._wait(claim.wait or "", deadline, summary)
                continue
            proposal = claim.proposal
            self.progress.carry_best(claim.trials)  # other workers' trials count toward the best too
            if self.memory_guard is not None:
                self.memory_guard.trial_started()
            trial_started = time.monotonic()
            # What is left, this trial included, from the study as the claim read it (no second read).
            self.eta.plan(claim.trials, total, budget.epochs, self.backend.expected_epochs(), deadline)
            self.eta.trial_started()
            try:
                outcome = self.run_trial(proposal, claim.limits, announce=self._announcer(proposal, claim.position,
                                                                                          total))
            except KeyboardInterrupt:  # a second Ctrl-C: the trial is recorded, stop now
                self.interrupt.requested = True
                self._stop_if_interrupted(summary)
            self._account_time()
            seconds = time.monotonic() - trial_started
            summary.trials_run += 1
            summary.outcomes.append(outcome)
            if self.memory_guard is not None:
                self.memory_guard.trial_done()
            self.eta.trial_finished(len([step for step in outcome.history if step > proposal.initial_epoch]))
            self.progress.trial_finished(proposal, outcome, seconds, self.eta.eta())
            self._stop_if_interrupted(summary)
            if outcome.state != "FAIL":
                failures_in_row = too_slow_in_row = 0
            elif outcome.by_limit:
                too_slow_in_row += 1  # a configuration too slow for this machine is a result, not an error
            else:
                failures_in_row += 1
            self._check_failures(outcome, failures_in_row, too_slow_in_row, budget)
        with self.lock:  # leave no trial of a dead worker RUNNING behind, whatever ended the run
            fail_interrupted_trials(self.study)
        summary.seconds = time.monotonic() - self._run_started
        self._account_time()
        return summary

    def _announcer(self, proposal: Proposal, position: int, total: int | None) -> Callable[[], None]:
        """Tell the progress a trial started, once: when its model is built (a hypermodel's parameters
        are known only then), or when it ends without one."""
        told = False

        def announce() -> None:
            nonlocal told
            if not told:
                told = True
                self.progress.trial_started(proposal, position, total)

        return announce

    def _restart_reason(self, position: int, total: int | None) -> str | None:
        """Why this process should give way to a fresh one before the next trial (``search.memory``);
        never when the backend's schedule is at its end."""
        if self.memory_guard is None or (total is not None and position > total):
            return None
        return self.memory_guard.restart_reason()

    def recover(self) -> list[FrozenTrial]:
        """Fail trials whose worker died; have the backend run their configurations again (lock held)."""
        fail_interrupted_trials(self.study)
        pending = interrupted_without_rerun(self.study)
        self.backend.recover(pending)
        return pending

    def _claim(self, budget: RunBudget, deadline: float | None) -> _Claim:
        """With the study lock held: recover, then decide whether one more trial fits the budget.

        Trials other workers are running hold their slot of the budget (and their scheduled epochs):
        when the rest is claimed, this worker waits for theirs to end, since a trial of a worker that
        dies is run again.
        """
        self.recover()
        trials = self.study.get_trials(deepcopy=False)
        done = record.counted_trials(trials)
        running = [t for t in trials if t.state == TrialState.RUNNING]
        spent = record.epochs_spent(trials)
        reserved = record.epochs_reserved(running)
        if budget.trials is not None and done >= budget.trials:
            return _Claim(stop=f"trial budget reached ({budget.trials} trials)")
        if budget.epochs is not None and spent >= budget.epochs:
            return _Claim(stop=f"epoch budget reached ({budget.epochs} epochs)")
        if deadline is not None and time.monotonic() >= deadline:
            stated = budget.study_timeout if budget.study_timeout is not None else budget.timeout
            return _Claim(stop=f"time budget spent ({stated:g} s)")
        others = ", ".join(sorted({str(t.user_attrs.get(record.WORKER)) for t in running}))
        if budget.trials is not None and done + len(running) >= budget.trials:
            return _Claim(wait=f"the budget's last {len(running)} trial(s) are running in {others}")
        if budget.epochs is not None and spent + reserved >= budget.epochs:
            return _Claim(wait=f"the budget's last {budget.epochs - spent} epochs are being trained by {others}")
        limits = TrialLimits(
            deadline=deadline,
            epoch_timeout=budget.epoch_timeout,
            epochs_left=None if budget.epochs is None else budget.epochs - spent - reserved,
        )
        return _Claim(limits=limits, position=done + len(running) + 1, trials=trials)

    def _withdrawn(self, proposal: Proposal, budget: RunBudget) -> bool:
        """The lock was lost while the backend proposed (and is taken again): if another worker
        claimed the slot meanwhile, withdraw ``proposal`` (FAIL, withdrawn, not counted; a Keras Tuner
        oracle queues its configuration again) and say so. Holding the lock."""
        trials = self.study.get_trials(deepcopy=False)
        others = [t for t in trials if t.number != proposal.trial_number]
        running = [t for t in others if t.state == TrialState.RUNNING]
        over_trials = budget.trials is not None and record.counted_trials(others) + len(running) >= budget.trials
        over_epochs = (budget.epochs is not None
                       and record.epochs_spent(others) + record.epochs_reserved(running) >= budget.epochs)
        if not (over_trials or over_epochs):
            return False
        reason = ("withdrawn: this worker lost the study lock while the backend proposed it, and another "
                  "worker claimed the budget's last slot meanwhile")
        try:
            self.storage.set_trial_user_attr(proposal.trial_id, record.WITHDRAWN, True)
            self.storage.set_trial_user_attr(proposal.trial_id, record.FAIL_REASON, reason)
            self.storage.set_trial_state_values(proposal.trial_id, state=TrialState.FAIL)
        except UpdateFinishedTrialError:  # another worker's recovery judged it already: that stands
            pass
        self.recover()  # a Keras Tuner oracle queues the configuration again
        return True

    def _wait(self, reason: str, deadline: float | None, summary: RunSummary) -> None:
        """Wait (Ctrl-C still stops) before asking again; say why once per reason."""
        if reason and reason != self._waiting_for:
            self.progress.waiting(reason)
            self._waiting_for = reason
        until = time.monotonic() + WAIT_SECONDS
        if deadline is not None:
            until = min(until, deadline)
        while time.monotonic() < until:
            self._stop_if_interrupted(summary)
            time.sleep(0.1)

    @staticmethod
    def _check_failures(outcome: Outcome, errors: int, too_slow: int, budget: RunBudget) -> None:
        if errors >= budget.max_failures_in_row:
            raise FatalError(f"{errors} trials failed in a row; the last failed with: {outcome.reason}")
        if too_slow >= budget.max_too_slow_in_row:
            raise FatalError(
                f"{too_slow} trials in a row were stopped by the epoch time limit before finishing an epoch "
                f"(the last: {outcome.reason}): raise --epoch-timeout or search smaller models."
            )

    def _account_time(self) -> None:
        """Store the study's elapsed seconds (what a resumed --timeout and the reports count)."""
        self.storage.set_study_system_attr(self.study_id, record.STUDY_ELAPSED, round(self.elapsed(), 3))

    def _epoch_finished(self, proposal: Proposal, step: int, value: float) -> None:
        self.eta.epoch_done()
        self.progress.epoch_finished(proposal, step, value, self.eta.eta(step - proposal.initial_epoch))

    def run_trial(self, proposal: Proposal, limits: TrialLimits | None = None,
                  announce: Callable[[], None] | None = None) -> Outcome:
        """Build, train and record one proposal; tell the backend unless the trial was interrupted.

        ``announce()`` is called once the model is built (or the trial ended before it was)."""
        limits = limits or TrialLimits()
        announce = announce or (lambda: None)
        recorder = TrialRecorder(self.study, self.storage, proposal, clock=self.elapsed)  # a storage failure: see run()
        monitor = TrialMonitor(
            proposal, self.space.objective, recorder, self.checkpoints, limits, self.interrupt,
            should_prune=lambda step: self.backend.should_prune(proposal, step),
            on_epoch=lambda step, value: self._epoch_finished(proposal, step, value),
        )
        attrs: dict[str, Any] = {}
        interrupted = False
        model: keras.Model | None = None
        started = time.monotonic()
        try:
            with Heartbeat(self.storage, proposal.trial_id):
                model = training.build_model(
                    self.builder, proposal.params, self.dataset.input_shape, self.dataset.num_classes,
                    training.trial_seed(self.seed, proposal.trial_number), resolve=proposal.resolve,
                    sample=self.dataset.x_train,
                )
                self._take_hypermodel_values(proposal)
                announce()
                attrs[record.PARAM_COUNT] = int(model.count_params())
                batch_size = training.batch_size_of(self.space, proposal.params)
                if training.uses_lr_schedule(self.space):
                    training.schedule_learning_rate(model, proposal.params, proposal.epochs,
                                                    training.steps_per_epoch(len(self.dataset.x_train), batch_size))
                estimate = self._estimate_epoch_seconds(model, batch_size, limits)
                if estimate is not None:
                    attrs[record.ESTIMATED_EPOCH_SECONDS] = round(estimate[0], 3)
                    self._refuse_if_over_limit(estimate, batch_size, limits)
                    monitor.expect_epoch_seconds(estimate[0])
                start = starting_point(model, self.study.get_trials(deepcopy=False), self.checkpoints, proposal,
                                       recorder)
                attrs.update(start.attrs)
                monitor.carry_over(start.carried, start.best, start.best_state)
                self.checkpoints.prepare(proposal.trial_number)
                monitor.batches_per_epoch = training.epoch_cost_in_batches(
                    len(self.dataset.x_train), len(self.dataset.x_val), batch_size
                )
                if self._hypermodel_fit is not None:
                    self._fit_hypermodel(model, proposal, start.epoch, monitor)
                else:
                    training.fit(
                        model, self.training_data, batch_size, proposal.epochs, initial_epoch=start.epoch,
                        callbacks=[monitor], shuffle_seed=training.trial_seed(self.seed, proposal.trial_number),
                    )
                outcome = monitor.outcome("COMPLETE")
        except TrialPruned:
            outcome = monitor.outcome("PRUNED", f"pruned by the backend after epoch {monitor.last_step}")
        except LimitReached as stop:
            if monitor.best is not None:  # a finished epoch is never thrown away
                outcome = monitor.outcome("COMPLETE", f"stopped after epoch {monitor.last_step}: {stop}", by_limit=True)
            elif stop.study_budget:
                outcome, interrupted = monitor.outcome("FAIL", f"interrupted: {stop}", by_limit=True), True
            else:
                outcome = monitor.outcome("FAIL", str(stop), by_limit=True)
        except TrialInterrupted as stop:
            outcome, interrupted = monitor.outcome("FAIL", f"interrupted: {stop}"), True
        except KeyboardInterrupt:
            outcome = monitor.outcome("FAIL", "interrupted: Ctrl-C")
            self._finish(recorder, outcome, {**attrs, record.INTERRUPTED: True}, started, tell=False,
                         weights=(model, monitor.best_state))
            raise
        except (FailedTrialError, UserCodeError) as error:  # the latter names the user's file and line
            outcome = monitor.outcome("FAIL", str(error))
        except Exception as error:  # noqa: BLE001 - any error inside one trial fails that trial only
            if _is_storage_failure(error):
                raise  # not the trial's fault: it stays RUNNING, and a resume runs it again
            outcome = monitor.outcome("FAIL", _one_line(f"{type(error).__name__}: {error}"))
        if interrupted:
            attrs[record.INTERRUPTED] = True
        announce()
        self._finish(recorder, outcome, attrs, started, tell=not interrupted, weights=(model, monitor.best_state))
        return outcome

    def _take_hypermodel_values(self, proposal: Proposal) -> None:
        """After a hypermodel's build (or its own fit): the proposal's values become those it used."""
        hp = getattr(self.builder, "last_hyperparameters", None)
        if hp is None:
            return
        from hpsearch.spaces.hypermodel import active_values

        proposal.params = active_values(hp)
        proposal.found = dict(hp.resolved)

    def _fit_hypermodel(self, model: keras.Model, proposal: Proposal, initial_epoch: int, monitor: TrialMonitor) -> None:
        """Train through the hypermodel's own ``fit``; a number or dict it returns, where no epoch was
        recorded through hpsearch's callback, counts as the objective after the last epoch."""
        data = self.dataset
        result = training.fit_hypermodel(self.builder.hypermodel, self.builder.last_hyperparameters, model,
                                         data.x_train, data.y_train, data.x_val, data.y_val, proposal.epochs,
                                         initial_epoch, callbacks=[monitor])
        self._take_hypermodel_values(proposal)
        if monitor.best is not None:
            return
        metric = self.space.objective.metric
        value = result.get(metric) if isinstance(result, dict) else result
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            monitor.on_epoch_end(proposal.epochs - 1, {metric: float(value)})
            return
        raise FailedTrialError(
            f"the hypermodel's fit() recorded no epoch and returned no '{metric}': pass its **kwargs on to "
            f"model.fit (they carry hpsearch's callbacks), or return the objective"
        )

    @property
    def _hypermodel_fit(self) -> Any:
        hypermodel = getattr(self.builder, "hypermodel", None)
        return hypermodel if hypermodel is not None and hypermodel.has_fit else None

    def _estimate_epoch_seconds(self, model: keras.Model, batch_size: int,
                                limits: TrialLimits) -> tuple[float, cost.ForwardCost] | None:
        """Seconds one epoch of ``model`` should take on this machine, from its shape (``None`` without
        an epoch time limit: then nothing needs it, and the calibration is not spent)."""
        if limits.epoch_timeout is None:
            return None
        if self._machine_speed is None:
            self._machine_speed = cost.MachineSpeed.measure(self.dataset.input_shape, self.dataset.num_classes)
        forward = cost.forward_cost(model)
        seconds = self._machine_speed.epoch_seconds(forward, len(self.dataset.x_train), len(self.dataset.x_val),
                                                    batch_size)
        return seconds, forward

    @staticmethod
    def _refuse_if_over_limit(estimate: tuple[float, cost.ForwardCost], batch_size: int, limits: TrialLimits) -> None:
        """``LimitReached`` before any training when the estimate exceeds the epoch limit: decided from
        the model's shape and the machine's measured speed, not from how busy the machine is now."""
        seconds, forward = estimate
        if limits.epoch_timeout is not None and seconds > limits.epoch_timeout:
            raise LimitReached(
                f"too slow: estimated {seconds:.0f} s per epoch ({forward.describe()}, batch {batch_size}) "
                f"exceeds the epoch time limit of {limits.epoch_timeout:g} s (--epoch-timeout)",
                study_budget=False,
            )

    def _finish(self, recorder: TrialRecorder, outcome: Outcome, attrs: dict[str, Any], started: float,
                tell: bool, weights: tuple[keras.Model | None, Any]) -> None:
        """Record the trial's end: its best weights as a Keras file (the training states removed
        unless an interrupted trial's re-run will continue from them), its state, the backend's lesson."""
        number = recorder.proposal.trial_number
        model, best_state = weights
        if model is not None:
            save_best_weights(model, self.checkpoints, number, best_state)
        if tell:  # not interrupted: nothing will continue this trial
            self.checkpoints.discard_states(number)
        attrs[record.TRAIN_SECONDS] = round(time.monotonic() - started, 3)
        attrs[record.WORKER_MEMORY_MB] = round(resident_mb(), 1)
        publish_best_weights(self.artifact_store, self.storage, self.checkpoints, recorder.proposal)
        with self.lock:  # the trial's end and the backend's lesson, one step for other workers
            self.lock.ensure_held()  # nothing read yet under it: a lock taken again is enough
            recorder.finish(outcome, attrs, elapsed=self.elapsed())
            if tell:
                self.backend.tell(recorder.proposal, outcome)
                self._bound_weights()
        keras.backend.clear_session()

    def _bound_weights(self) -> None:
        """Drop the best weights no longer kept (``search.retention``); with the study lock held."""
        if self.keep_weights is None:
            return
        drop = retention.trials_to_drop(self.study.get_trials(deepcopy=False), self.keep_weights,
                                        self.space.objective.direction == "maximize",
                                        self.backend.continuable_trials())
        if drop:
            retention.drop_weights(drop, self.checkpoints, self.artifact_store, self.storage)


@contextlib.contextmanager
def _frozen_heap() -> Iterator[None]:
    """Keep what exists before the first trial (TensorFlow, Keras, the data) out of garbage collection.

    ``keras.backend.clear_session()`` runs a full collection after every trial, which otherwise walks
    every object TensorFlow ever made (about 0.3 s a trial); objects the trials create are still
    collected as usual. Unfrozen when the run ends.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _is_storage_failure(error: BaseException) -> bool:
    """An error of the database, not of the trial (connection lost, database locked or read-only)."""
    import sqlalchemy.exc
    from optuna.exceptions import StorageInternalError

    return isinstance(error, (StorageInternalError, sqlalchemy.exc.SQLAlchemyError))


def _one_line(text: str, limit: int = 500) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
