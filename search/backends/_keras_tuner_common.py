"""Driving a Keras Tuner oracle through the ask/tell contract.

The oracle keeps its own state (trials, Hyperband brackets, Bayesian observations) as JSON in the
backend's ``state_dir`` inside the study's artifacts, exactly as Keras Tuner writes it, so a resumed
study reloads it with ``oracle.reload()``. Every oracle trial becomes one Optuna trial with the same
parameters; ``backend_trial_id`` links the two.
"""
from __future__ import annotations

from typing import Any

from hpsearch.search.backends._base import Backend, BackendContext, Outcome, Proposal
from hpsearch.search.backends._optuna_common import create_running_trial
from hpsearch.search.errors import FatalError
from hpsearch.spaces.params import Boolean, Choice, Float, Int
from hpsearch.spaces.space import Space
from hpsearch.storage import record

TUNER_ID = "hpsearch"
ORACLE_PROJECT = "oracle"

# The runner stops a search after too many failures in a row, for every backend alike.
NO_ORACLE_FAILURE_LIMIT = 1_000_000


def to_hyperparameters(space: Space) -> Any:
    """A ``keras_tuner.HyperParameters`` with the space's parameters and conditions."""
    import contextlib

    import keras_tuner as kt

    hp = kt.HyperParameters()
    for param in space.params:
        scope = (
            hp.conditional_scope(param.condition.parent, list(param.condition.values))
            if param.condition is not None
            else contextlib.nullcontext()
        )
        with scope:
            if isinstance(param, Int):
                hp.Int(param.name, param.low, param.high, step=param.step, sampling="log" if param.log else "linear")
            elif isinstance(param, Float):
                hp.Float(param.name, param.low, param.high, step=param.step, sampling="log" if param.log else "linear")
            elif isinstance(param, Choice):
                hp.Choice(param.name, list(param.values))
            elif isinstance(param, Boolean):
                hp.Boolean(param.name)
    return hp


def from_oracle_values(space: Space, values: dict[str, Any]) -> dict[str, Any]:
    """The active values of ``space`` from an oracle's values, with types as the space declares them."""
    resolved: dict[str, Any] = {}
    for param in space.params:
        if not space.is_active(param, resolved):
            continue
        value = values[param.name]
        if isinstance(param, Int):
            value = int(value)
        elif isinstance(param, Float):
            value = float(value)
            if param.step is not None:
                value = round(param.low + round((value - param.low) / param.step) * param.step, 12)
        elif isinstance(param, Boolean):
            value = bool(value)
        resolved[param.name] = value
    return resolved


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
        self.oracle = self.make_oracle(to_hyperparameters(context.space))
        self.oracle._display.verbose = 0
        context.state_dir.mkdir(parents=True, exist_ok=True)
        self.oracle._set_project_dir(str(context.state_dir), ORACLE_PROJECT)
        if (context.state_dir / ORACLE_PROJECT / "oracle.json").is_file():
            self.oracle.reload()
        self._kt_trials: dict[int, Any] = {}
        self._retry_of: dict[str, int] = {}

    def make_oracle(self, hyperparameters: Any) -> Any:
        raise NotImplementedError

    def oracle_options(self, hyperparameters: Any) -> dict[str, Any]:
        """The keyword arguments every oracle is built with: objective, seed, the fixed space."""
        return {
            "objective": self.objective,
            "seed": self.context.seed,
            "hyperparameters": hyperparameters,
            "allow_new_entries": False,
            "tune_new_entries": False,
            "max_consecutive_failed_trials": NO_ORACLE_FAILURE_LIMIT,
        }

    def ask(self) -> Proposal | None:
        kt_trial = self.oracle.create_trial(TUNER_ID)
        if kt_trial.status != "RUNNING":
            return None
        values = kt_trial.hyperparameters.values
        params = from_oracle_values(self.space, values)
        user_attrs = {record.BACKEND_TRIAL_ID: kt_trial.trial_id, **self.trial_attrs(values)}
        if kt_trial.trial_id in self._retry_of:
            user_attrs[record.RETRY_OF] = self._retry_of.pop(kt_trial.trial_id)
        number, trial_id = create_running_trial(self.study, self.space, params, user_attrs)
        self._kt_trials[number] = kt_trial
        return Proposal(
            trial_number=number,
            trial_id=trial_id,
            params=params,
            epochs=int(values.get("tuner/epochs", self.context.max_epochs)),
            initial_epoch=int(values.get("tuner/initial_epoch", 0)),
            promoted_from=self._optuna_number_of(values.get("tuner/trial_id")),
            user_attrs=user_attrs,
        )

    def trial_attrs(self, values: dict[str, Any]) -> dict[str, Any]:
        """Extra user attributes recorded on the Optuna trial (e.g. Hyperband bracket and round)."""
        return {}

    def _optuna_number_of(self, kt_trial_id: str | None) -> int | None:
        """The Optuna trial that ran oracle trial ``kt_trial_id`` to completion (for promotions)."""
        if kt_trial_id is None:
            return None
        from optuna.trial import TrialState

        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if trial.user_attrs.get(record.BACKEND_TRIAL_ID) == kt_trial_id:
                return trial.number
        return None

    def tell(self, proposal: Proposal, outcome: Outcome) -> None:
        self._end(self._kt_trials.pop(proposal.trial_number), outcome.state, outcome.history, outcome.reason)

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
        """Reconcile the reloaded oracle with the study, the study being the record of what ran.

        ``oracle.reload()`` queues every trial the oracle saw start but not end. One whose Optuna
        trial did finish (the worker died between recording it and telling the oracle) is ended
        now with the recorded values; the others run again, the interrupted Optuna trial's number
        becoming their ``retry_of``.
        """
        from optuna.trial import TrialState

        latest: dict[str, Any] = {}
        for trial in self.study.get_trials(deepcopy=False):
            kt_id = trial.user_attrs.get(record.BACKEND_TRIAL_ID)
            if kt_id is not None:
                latest[kt_id] = trial
        for kt_id in list(self.oracle._retry_queue):
            trial = latest.get(kt_id)
            if trial is None or record.is_interrupted(trial) or trial.state == TrialState.RUNNING:
                continue
            self.oracle._retry_queue.remove(kt_id)
            state = "FAIL" if trial.state == TrialState.FAIL else "COMPLETE"
            start = int(trial.user_attrs.get(record.INITIAL_EPOCH, 0))
            own = {step: value for step, value in trial.intermediate_values.items() if step > start}
            self._end(self.oracle.trials[kt_id], state, own, trial.user_attrs.get(record.FAIL_REASON))
        self._retry_of = {t.user_attrs[record.BACKEND_TRIAL_ID]: t.number for t in interrupted
                          if t.user_attrs.get(record.BACKEND_TRIAL_ID) in self.oracle._retry_queue}
