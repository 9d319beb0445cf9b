"""``hyperband``: Keras Tuner's Hyperband oracle (brackets, rounds, epochs as budget).

A trial promoted to the next round trains from ``tuner/initial_epoch`` to ``tuner/epochs`` starting
from the weights its earlier round saved, as Keras Tuner's own tuner does.

A new search first trains the space's default configuration for ``max_epochs``, outside the brackets
(the *reference trial*): Keras Tuner would give it the first bracket's shortest budget (one epoch), so
the model one would write by hand would never be seen trained; now the search knows that model's
full-length score minutes in, and never ends below it. The brackets then run as Keras Tuner runs them.
"""
from __future__ import annotations

import math
from typing import Any

from hpsearch.search.backends._base import ScheduleFit, Setting
from hpsearch.search.backends._keras_tuner_common import KerasTunerBackend
from hpsearch.storage import record


# Under a shared time budget, Hyperband repeats its brackets until the time is spent.
TIME_BUDGET_ITERATIONS = 50
# Of a time budget, about this share goes to the reference trial when the schedule is fitted to it: the
# default configuration trained long (the model one would write by hand, done well) is a search's floor.
REFERENCE_SHARE = 0.3


class HyperbandBackend(KerasTunerBackend):
    name = "hyperband"
    algorithm = "Hyperband (keras_tuner.oracles.HyperbandOracle)"
    epochs_as_budget = True
    workers = ("parallel: a round's best are promoted as soon as enough of its trials have finished to be sure "
               "of them; meanwhile other workers start the next bracket; in the last bracket they wait "
               "(`waiting:`) for its running trials")
    failed_as_worst = True
    settings_spec = (
        Setting("factor", int, 3, "Reduction factor of trials and epochs between rounds.", minimum=2),
        Setting("hyperband_iterations", int, 1, "Times to run the full set of brackets.", minimum=1),
        Setting("reference_epochs", int, 0, "Epochs of the reference trial, the default configuration trained "
                "before the brackets (0: max_epochs; fitted to the timeout when max_epochs is).", minimum=0),
    )

    def make_oracle(self, hyperparameters: Any) -> Any:
        import keras_tuner as kt

        oracle = kt.oracles.HyperbandOracle(
            max_epochs=self.context.max_epochs,
            factor=self.settings["factor"],
            hyperband_iterations=self.settings["hyperband_iterations"],
            **self.oracle_options(hyperparameters),
        )
        brackets_next = oracle.populate_space

        def populate_space(trial_id: str) -> dict[str, Any]:
            if oracle.trials:
                return brackets_next(trial_id)
            # A new search: the reference trial, in no bracket, so no promotion ever waits on it.
            values = {**self.space.default_values(), "tuner/epochs": self.reference_epochs, "tuner/initial_epoch": 0}
            return {"status": "RUNNING", "values": values}

        oracle.populate_space = populate_space
        return oracle

    def trial_attrs(self, values: dict[str, Any]) -> dict[str, Any]:
        if "tuner/bracket" not in values:  # the reference trial
            return {record.HYPERBAND_REFERENCE: True}
        return {
            record.HYPERBAND_BRACKET: int(values["tuner/bracket"]),
            record.HYPERBAND_ROUND: int(values["tuner/round"]),
        }

    @classmethod
    def settings_for_budget(cls, settings: dict[str, Any], max_epochs: int, budget_epochs: int | None) -> dict[str, Any]:
        """Enough iterations of the brackets to spend ``budget_epochs`` (a time budget: many); the
        budget, not the schedule, ends the search."""
        per_iteration = _epochs_of_one_iteration(_schedule_oracle(max_epochs, settings["factor"])) + max_epochs
        # Twice what the budget would take if every trial finished: failed trials (too slow for the
        # epoch time limit) train no epochs, so an iteration often costs less than its schedule says.
        wanted = math.ceil(2 * budget_epochs / per_iteration) if budget_epochs else TIME_BUDGET_ITERATIONS
        return {**settings, "hyperband_iterations": max(int(settings["hyperband_iterations"]), wanted)}

    @classmethod
    def fit_schedule(cls, settings: dict[str, Any], seconds: float, default_epoch_seconds: float,
                     mean_epoch_seconds: float, low: int, high: int) -> ScheduleFit | None:
        """What must fit: the reference trial and, when the brackets repeat until the time is spent, the
        first bracket (Hyperband's most aggressive: its survivor is trained for ``max_epochs``); with a
        set number of iterations, all of them. Under a time budget the reference trial gets about
        ``REFERENCE_SHARE`` of the time (at least ``max_epochs``), unless ``reference_epochs`` is set."""
        repeated = int(settings["hyperband_iterations"]) >= TIME_BUDGET_ITERATIONS
        reference = int(settings["reference_epochs"])
        if reference == 0 and repeated:
            reference = max(low, min(high, int(REFERENCE_SHARE * seconds / max(default_epoch_seconds, 1e-9))))

        def needed(max_epochs: int) -> float:
            return _seconds_for(max_epochs, {**settings, "reference_epochs": max(reference, max_epochs) if reference
                                             else 0}, default_epoch_seconds, mean_epoch_seconds)

        # Not monotonic in max_epochs (Keras Tuner's bracket count and sizes step with it): look at each.
        chosen = low
        for max_epochs in range(low + 1, high + 1):
            if needed(max_epochs) <= seconds:
                chosen = max_epochs
        fitted = {"reference_epochs": max(reference, chosen)} if reference else {}
        return ScheduleFit(chosen, needed(chosen), fitted)

    def continuable_trials(self) -> set[int]:
        """The trials of a round whose next round is not full yet (the oracle as ``tell`` left it)."""
        candidates: set[str] = set()
        for bracket in self.oracle._brackets:
            rounds = bracket["rounds"]
            for round_num in range(len(rounds) - 1):
                following = rounds[round_num + 1]
                if len(following) >= self.oracle._get_size(bracket["bracket_num"], round_num + 1):
                    continue
                promoted = {info["past_id"] for info in following}
                candidates |= {info["id"] for info in rounds[round_num] if info["id"] not in promoted}
        if not candidates:
            return set()
        from optuna.trial import TrialState

        return {t.number for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.user_attrs.get(record.BACKEND_TRIAL_ID) in candidates}

    def schedule(self) -> list[tuple[int, int, int]]:
        """``(bracket, round, trials)`` of one Hyperband iteration, in the order the oracle runs them."""
        return _schedule(self.oracle)

    @property
    def until_time_is_spent(self) -> bool:
        """Brackets repeated until the time budget is spent (settings_for_budget): no count is known."""
        return int(self.settings["hyperband_iterations"]) >= TIME_BUDGET_ITERATIONS

    def expected_trials(self) -> int | None:
        if self.until_time_is_spent:
            return None
        return 1 + self.settings["hyperband_iterations"] * sum(size for _, _, size in self.schedule())

    @property
    def reference_epochs(self) -> int:
        return int(self.settings.get("reference_epochs") or 0) or self.context.max_epochs

    def expected_epochs(self) -> int | None:
        """Epochs trained in all (the reference trial's included), with promoted trials continuing from
        their earlier round; ``None`` when the time budget, not the schedule, ends the search."""
        if self.until_time_is_spent:
            return None
        return self.reference_epochs + self.settings["hyperband_iterations"] * _epochs_of_one_iteration(self.oracle)

    def describe_budget(self) -> str:
        brackets = self.oracle._get_num_brackets()
        iterations = self.settings["hyperband_iterations"]
        if self.until_time_is_spent:  # settings_for_budget: the time budget ends the search
            per_iteration = sum(size for _, _, size in self.schedule())
            return (f"the default configuration for {self.reference_epochs} epochs, then {brackets} "
                    f"bracket{'s' if brackets > 1 else ''} an iteration ({per_iteration} trials, "
                    f"{_epochs_of_one_iteration(self.oracle)} epochs), repeated until the time is spent")
        return (
            f"the default configuration for {self.reference_epochs} epochs, then {brackets} "
            f"bracket{'s' if brackets > 1 else ''} x {iterations} "
            f"iteration(s): {self.expected_trials()} trials, {self.expected_epochs()} epochs"
        )


def _schedule_oracle(max_epochs: int, factor: int) -> Any:
    """A Hyperband oracle over a dummy space, to read the brackets of ``max_epochs`` and ``factor``."""
    import keras_tuner as kt

    hyperparameters = kt.HyperParameters()
    hyperparameters.Fixed("unused", 0)
    return kt.oracles.HyperbandOracle(
        objective=kt.Objective("score", "max"), max_epochs=max_epochs, factor=factor,
        hyperparameters=hyperparameters,
    )


def _seconds_for(max_epochs: int, settings: dict[str, Any], default_epoch_seconds: float,
                 mean_epoch_seconds: float) -> float:
    """Seconds of the part of the schedule that must fit the time (``fit_schedule``)."""
    oracle = _schedule_oracle(max_epochs, settings["factor"])
    if int(settings["hyperband_iterations"]) >= TIME_BUDGET_ITERATIONS:
        bracket_epochs = _epochs_of_bracket(oracle, oracle._get_num_brackets() - 1)
    else:
        bracket_epochs = int(settings["hyperband_iterations"]) * _epochs_of_one_iteration(oracle)
    reference = int(settings.get("reference_epochs") or 0) or max_epochs
    return reference * default_epoch_seconds + bracket_epochs * mean_epoch_seconds


def _schedule(oracle: Any) -> list[tuple[int, int, int]]:
    brackets = oracle._get_num_brackets()
    return [
        (bracket, round_num, oracle._get_size(bracket, round_num))
        for bracket in reversed(range(brackets))
        for round_num in range(oracle._get_num_rounds(bracket))
    ]


def _epochs_of_one_iteration(oracle: Any) -> int:
    return sum(_epochs_of_bracket(oracle, bracket) for bracket in range(oracle._get_num_brackets()))


def _epochs_of_bracket(oracle: Any, bracket: int) -> int:
    """Epochs one bracket trains, its promoted trials continuing from their earlier round."""
    total = 0
    for round_num in range(oracle._get_num_rounds(bracket)):
        start = 0 if round_num == 0 else oracle._get_epochs(bracket, round_num - 1)
        total += oracle._get_size(bracket, round_num) * (oracle._get_epochs(bracket, round_num) - start)
    return total


__all__ = ["HyperbandBackend"]
