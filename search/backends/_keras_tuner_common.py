"""Driving a Keras Tuner oracle through the ask/tell contract.

The oracle's whole state (its trials, Hyperband's brackets, the random state, what is running
where) lives in the study, as one JSON value (``storage.backend_state``): every ``ask``, ``tell``
and ``recover`` loads it, acts, and saves it, under the study lock the runner holds. So any number
of processes on any hosts go on with one search, and nothing in a local folder can restart or
fork it. Every oracle trial becomes one Optuna trial with the same parameters;
``backend_trial_id`` links the two. Each process asks the oracle under a tuner id of its own
(``host:pid``), so Keras Tuner never hands one process another's running trial.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from hpsearch.search.backends._base import Backend, BackendBusy, BackendContext, Outcome, Proposal
from hpsearch.search.backends._optuna_common import create_running_trial, record_param
from hpsearch.search.errors import FatalError
from hpsearch.spaces.hypermodel import (
    TUNER_KEY_PREFIX,
    add_params,
    coerce,
    params_from_hyperparameters,
    to_hyperparameters,
)
from hpsearch.spaces.params import Param
from hpsearch.spaces.space import Space
from hpsearch.storage import record
from hpsearch.storage.backend_state import StateConflict

# The runner stops a search after too many failures in a row, for every backend alike.
NO_ORACLE_FAILURE_LIMIT = 1_000_000
T = TypeVar("T")


def from_oracle_values(space: Space, values: dict[str, Any]) -> dict[str, Any]:
    """The active values of ``space`` from an oracle's values, with types as the space declares them."""
    resolved: dict[str, Any] = {}
    for param in space.params:
        if space.is_active(param, resolved):
            resolved[param.name] = coerce(param, values[param.name])
    return resolved


class BackendStateError(FatalError):
    """The stored backend state cannot be used; going on would repeat or lose configurations."""


STATE_FORMAT = 1
# Steps redone at most this often when other workers keep saving the state in between (each redo
# means another worker's step went through, so this many in a row is not contention but a fault).
STATE_STEP_TRIES = 50
LEGACY_PROJECT = "oracle"  # hpsearch 0.2: <artifacts>/<study>/backend/oracle/oracle.json + trial_*/trial.json


class KerasTunerBackend(Backend):
    """Shared by Keras Tuner backends; subclasses build the oracle."""

    family = "keras-tuner"
    # Tell the oracle a failed trial scored the worst possible value instead of "failed". Keras Tuner's
    # Hyperband promotes only when enough trials of a round COMPLETED, so failures (a configuration
    # over the epoch time limit, say) would otherwise cancel the promotions of a whole bracket.
    failed_as_worst = False

    def __init__(self, context: BackendContext) -> None:
        super().__init__(context)
        import keras_tuner as kt

        self.objective = kt.Objective(
            context.space.objective.metric, "max" if context.space.objective.direction == "maximize" else "min"
        )
        self.oracle = self.make_oracle(to_hyperparameters(context.space.params))
        self.oracle._display.verbose = 0
        if context.seed is not None:  # Keras Tuner takes ``seed or random.randint(...)``: seed 0 counts too
            self.oracle.seed = context.seed
            self.oracle._seed_state = context.seed
        # The study holds the state: Keras Tuner's own files would be a second, diverging copy.
        self.oracle.save = lambda: None
        self.oracle._save_trial = lambda trial: None
        self._default_first()
        self._initial_state = json.dumps(self._snapshot())  # Keras Tuner's from_config edits what it reads
        self.tuner_id = f"hpsearch-{worker_id()}"

    def make_oracle(self, hyperparameters: Any) -> Any:
        raise NotImplementedError

    def _default_first(self) -> None:
        """The oracle's first configuration is the space's default one (Keras Tuner's GridSearch does
        so itself; its random, Bayesian and Hyperband oracles would start at random)."""
        random_values = self.oracle._random_values

        def values() -> Any:
            if self.oracle.trials:
                return random_values()
            return dict(self.space.default_values())

        self.oracle._random_values = values

    def oracle_options(self, hyperparameters: Any) -> dict[str, Any]:
        """The keyword arguments every oracle is built with: objective, seed, the fixed space."""
        return {
            "objective": self.objective,
            "seed": self.context.seed,
            "hyperparameters": hyperparameters,
            # A hypermodel may ask for parameters first seen in a trial: tuned from then on, as in Keras Tuner.
            "allow_new_entries": self.space.is_hypermodel,
            "tune_new_entries": self.space.is_hypermodel,
            "max_consecutive_failed_trials": NO_ORACLE_FAILURE_LIMIT,
        }

    # -- the state in the study ------------------------------------------------------------------

    def _snapshot(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "oracle": self.oracle.get_state(),
            "trials": {trial_id: trial.get_state() for trial_id, trial in self.oracle.trials.items()},
        }

    def _restore(self, state: dict[str, Any]) -> None:
        from keras_tuner.src.engine.trial import Trial

        self.oracle.trials = {trial_id: Trial.from_state(s) for trial_id, s in state["trials"].items()}
        self.oracle.set_state(state["oracle"])

    def _load(self) -> None:
        """Bring the oracle to the state saved in the study (a new study: the fresh oracle's)."""
        state = self.context.state.load()
        source = "the study"
        if state is None:
            state, source = self._legacy_state(), f"{self.context.legacy_state_dir}"
        if state is None:
            if any(record.BACKEND_TRIAL_ID in t.user_attrs for t in self.study.get_trials(deepcopy=False)):
                if self.context.state.load() is not None:
                    raise StateConflict("another worker saved the first state after this one read none")
                raise BackendStateError(
                    f"Study '{self.study.study_name}' has Keras Tuner trials but no saved oracle state: "
                    f"it cannot go on without repeating configurations; start a new study."
                )
            state, source = json.loads(self._initial_state), "a new oracle"
        try:
            if state.get("format") != STATE_FORMAT:
                raise ValueError(f"format {state.get('format')!r}, expected {STATE_FORMAT}")
            self._restore(state)
        except Exception as error:  # noqa: BLE001 - any damage means the same to the user
            raise BackendStateError(
                f"The Keras Tuner state of study '{self.study.study_name}' in {source} is damaged "
                f"({type(error).__name__}: {_first_line(error)}): it cannot go on without repeating "
                f"configurations; start a new study."
            ) from None

    def check_state(self) -> None:
        self._load()

    def _save(self) -> None:
        self.context.state.save(self._snapshot())

    def _state_step(self, step: Callable[[], T]) -> T:
        """``step()`` (load the state, act, save it), done again from a fresh load while another worker
        saved the state in between (``StateConflict``: the save is a compare-and-swap, the fence a
        study lock lost with its connection needs); nothing of a conflicting attempt is kept."""
        for _ in range(STATE_STEP_TRIES):
            try:
                return step()
            except StateConflict:
                continue
        raise FatalError(
            f"The Keras Tuner state of study '{self.study.study_name}' changed under this worker "
            f"{STATE_STEP_TRIES} times in a row: other workers are writing it without taking turns."
        )

    def _legacy_state(self) -> dict[str, Any] | None:
        """A 0.2 study's oracle files, read into the state format (once: then the study has it)."""
        folder = self.context.legacy_state_dir
        if folder is None or not (folder / LEGACY_PROJECT / "oracle.json").is_file():
            return None

        try:
            oracle = json.loads((folder / LEGACY_PROJECT / "oracle.json").read_text())
            trials = {}
            for path in sorted((folder / LEGACY_PROJECT).glob("trial_*/trial.json")):
                trial = json.loads(path.read_text())
                trials[trial["trial_id"]] = trial
        except (OSError, ValueError, KeyError) as error:
            raise BackendStateError(
                f"The Keras Tuner files of study '{self.study.study_name}' in {folder} are damaged "
                f"({type(error).__name__}: {_first_line(error)}): start a new study."
            ) from None
        # Trials the old files saw start but not end are run again, as Keras Tuner's reload() does.
        for trial_id in oracle.get("ongoing_trials", {}).values():
            oracle.setdefault("retry_queue", []).append(trial_id)
        oracle["ongoing_trials"] = {}
        return {"format": STATE_FORMAT, "oracle": oracle, "trials": trials}

    # -- ask / tell / recover ----------------------------------------------------------------------

    def ask(self) -> Proposal | None:
        return self._state_step(self._ask)

    def _ask(self) -> Proposal | None:
        self._load()
        kt_trial = self.oracle.create_trial(self.tuner_id)
        if kt_trial.status == "IDLE":
            self._save()
            raise BackendBusy("waiting for trials of this round that other workers are running")
        if kt_trial.status != "RUNNING":
            self._save()
            return None
        values = kt_trial.hyperparameters.values
        definitions = self._definitions()
        if self.space.is_hypermodel:
            params = {name: coerce(definitions[name], value) for name, value in values.items()
                      if not name.startswith(TUNER_KEY_PREFIX) and name in definitions}
        else:
            params = from_oracle_values(self.space, values)
        trials = self.study.get_trials(deepcopy=False)
        user_attrs = {record.BACKEND_TRIAL_ID: kt_trial.trial_id, **self.trial_attrs(values)}
        if params == self.space.default_values():
            user_attrs[record.DEFAULT_CONFIGURATION] = True
        retry_of = _interrupted_run_of(trials, kt_trial.trial_id)
        if retry_of is not None:
            user_attrs[record.RETRY_OF] = retry_of
        # Saved before the Optuna trial exists: a worker dying in between leaves an oracle trial with
        # no Optuna trial, which ``recover`` runs again.
        self._save()
        number, trial_id = create_running_trial(
            self.study, definitions, params, {**self.context.trial_attrs, **user_attrs}
        )

        def first_seen(param: Param) -> Any:
            """A parameter the oracle has not seen yet: its default this time (Keras Tuner's rule), recorded."""
            value = param.default_value()
            record_param(self.study, trial_id, param, value)
            return value

        return Proposal(
            trial_number=number,
            trial_id=trial_id,
            params=params,
            epochs=int(values.get("tuner/epochs", self.context.max_epochs)),
            initial_epoch=int(values.get("tuner/initial_epoch", 0)),
            promoted_from=_completed_run_of(trials, values.get("tuner/trial_id")),
            user_attrs=user_attrs,
            resolve=first_seen if self.space.is_hypermodel else None,
        )

    def _definitions(self) -> dict[str, Param]:
        """Every parameter the oracle knows (a hypermodel's grows as trials find new ones)."""
        if not self.space.is_hypermodel:
            return {param.name: param for param in self.space.params}
        return {param.name: param for param in params_from_hyperparameters(self.oracle.hyperparameters)}

    def trial_attrs(self, values: dict[str, Any]) -> dict[str, Any]:
        """Extra user attributes recorded on the Optuna trial (e.g. Hyperband bracket and round)."""
        return {}

    def tell(self, proposal: Proposal, outcome: Outcome) -> None:
        self._state_step(lambda: self._tell(proposal, outcome))

    def _tell(self, proposal: Proposal, outcome: Outcome) -> None:
        self._load()
        kt_trial = self.oracle.trials.get(proposal.user_attrs[record.BACKEND_TRIAL_ID])
        if proposal.found:  # parameters the hypermodel asked for first in this trial: tuned from now on
            self.oracle.update_space(add_params(self.oracle.get_space(), list(proposal.found.values())))
        if kt_trial is not None and _is_ongoing(self.oracle, kt_trial.trial_id):
            self._end(kt_trial, outcome.state, outcome.history, outcome.reason)
        self._save()

    def _end(self, kt_trial: Any, state: str, history: dict[int, float], reason: str | None) -> None:
        metric = self.objective.name
        failed = state == "FAIL" or not history
        if failed and self.failed_as_worst:
            worst = float("-inf") if self.objective.direction == "max" else float("inf")
            history = {1: worst}
        for epoch, value in sorted(history.items()):
            self.oracle.update_trial(kt_trial.trial_id, {metric: value}, step=epoch)
        if failed and not self.failed_as_worst:
            kt_trial.status = "FAILED"
            kt_trial.message = reason
        else:
            kt_trial.status = "COMPLETED"
        try:
            self.oracle.end_trial(kt_trial)
        except RuntimeError as error:
            raise FatalError(str(error).splitlines()[0]) from None

    def recover(self, interrupted: list[Any]) -> None:
        """Reconcile the oracle with the study, the study being the record of what ran.

        Each oracle trial still marked running whose Optuna trial is not RUNNING any more is settled:
        ended with the recorded values if its Optuna trial finished (the worker died between
        recording it and telling the oracle); queued to run again if it was interrupted or withdrawn
        (never trained), or if its worker died before creating it. ``interrupted`` is not needed: the
        study says it all.
        """
        self._state_step(self._recover)

    def _recover(self) -> None:
        from optuna.trial import TrialState

        self._load()
        latest: dict[str, Any] = {}
        for trial in self.study.get_trials(deepcopy=False):
            kt_id = trial.user_attrs.get(record.BACKEND_TRIAL_ID)
            if kt_id is not None:
                latest[kt_id] = trial
        changed = False
        for tuner_id, kt_trial in list(self.oracle.ongoing_trials.items()):
            trial = latest.get(kt_trial.trial_id)
            if trial is not None and trial.state == TrialState.RUNNING:
                continue  # a live worker trains it
            changed = True
            if (trial is None or record.is_interrupted(trial) or record.is_withdrawn(trial)
                    or trial.state == TrialState.WAITING):
                self.oracle.ongoing_trials.pop(tuner_id)
                kt_trial.status = "RUNNING"
                if kt_trial.trial_id not in self.oracle._retry_queue:
                    self.oracle._retry_queue.append(kt_trial.trial_id)
                continue
            state = "FAIL" if trial.state == TrialState.FAIL else "COMPLETE"
            start = int(trial.user_attrs.get(record.INITIAL_EPOCH, 0))
            own = {step: value for step, value in trial.intermediate_values.items() if step > start}
            self._end(kt_trial, state, own, trial.user_attrs.get(record.FAIL_REASON))
        if changed:
            self._save()


def worker_id() -> str:
    import os
    import socket

    return record.format_worker(socket.gethostname(), os.getpid())


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else "no message"


def _is_ongoing(oracle: Any, kt_id: str) -> bool:
    return any(t.trial_id == kt_id for t in oracle.ongoing_trials.values())


def _interrupted_run_of(trials: list[Any], kt_id: str) -> int | None:
    """The latest interrupted, not yet re-run Optuna trial of oracle trial ``kt_id`` (a retry's origin)."""
    rerun = {t.user_attrs.get(record.RETRY_OF) for t in trials if not record.is_withdrawn(t)}
    found = [t.number for t in trials if t.user_attrs.get(record.BACKEND_TRIAL_ID) == kt_id
             and record.is_interrupted(t) and t.number not in rerun]
    return max(found) if found else None


def _completed_run_of(trials: list[Any], kt_id: str | None) -> int | None:
    """The Optuna trial that ran oracle trial ``kt_id`` to completion (for promotions)."""
    if kt_id is None:
        return None
    from optuna.trial import TrialState

    for trial in trials:
        if trial.state == TrialState.COMPLETE and trial.user_attrs.get(record.BACKEND_TRIAL_ID) == kt_id:
            return trial.number
    return None
