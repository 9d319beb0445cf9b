"""``hyperband``: Keras Tuner's Hyperband oracle (brackets, rounds, epochs as budget).

A trial promoted to the next round trains from ``tuner/initial_epoch`` to ``tuner/epochs`` starting
from the weights its earlier round saved, as Keras Tuner's own tuner does.
"""
from __future__ import annotations

import math
from typing import Any

from hpsearch.search.backends._base import Setting
from hpsearch.search.backends._keras_tuner_common import KerasTunerBackend
from hpsearch.storage import record


# Under a shared time budget, Hyperband repeats its brackets until the time is spent.
TIME_BUDGET_ITERATIONS = 50


class HyperbandBackend(KerasTunerBackend):
    name = "hyperband"
    algorithm = "Hyperband (keras_tuner.oracles.HyperbandOracle)"
    epochs_as_budget = True
    failed_as_worst = True
    settings_spec = (
        Setting("factor", int, 3, "Reduction factor of trials and epochs between rounds.", minimum=2),
        Setting("hyperband_iterations", int, 1, "Times to run the full set of brackets.", minimum=1),
    )

    def make_oracle(self, hyperparameters: Any) -> Any:
        import keras_tuner as kt

        return kt.oracles.HyperbandOracle(
            max_epochs=self.context.max_epochs,
            factor=self.settings["factor"],
            hyperband_iterations=self.settings["hyperband_iterations"],
            **self.oracle_options(hyperparameters),
        )

    def trial_attrs(self, values: dict[str, Any]) -> dict[str, Any]:
        return {
            record.HYPERBAND_BRACKET: int(values["tuner/bracket"]),
            record.HYPERBAND_ROUND: int(values["tuner/round"]),
        }

    @classmethod
    def settings_for_budget(cls, settings: dict[str, Any], max_epochs: int, budget_epochs: int | None) -> dict[str, Any]:
        """Enough iterations of the brackets to spend ``budget_epochs`` (a time budget: many); the
        budget, not the schedule, ends the search."""
        per_iteration = _epochs_of_one_iteration(_schedule_oracle(max_epochs, settings["factor"]))
        # Twice what the budget would take if every trial finished: failed trials (too slow for the
        # epoch time limit) train no epochs, so an iteration often costs less than its schedule says.
        wanted = math.ceil(2 * budget_epochs / per_iteration) if budget_epochs else TIME_BUDGET_ITERATIONS
        return {**settings, "hyperband_iterations": max(int(settings["hyperband_iterations"]), wanted)}

    @classmethod
    def max_epochs_for_epochs(cls, settings: dict[str, Any], affordable: float, low: int,
                              high: int) -> tuple[int, int] | None:
        chosen = (low, _epochs_for(low, settings))
        for max_epochs in range(low + 1, high + 1):
            epochs = _epochs_for(max_epochs, settings)
            if epochs > affordable:
                break
            chosen = (max_epochs, epochs)
        return chosen

    def schedule(self) -> list[tuple[int, int, int]]:
        """``(bracket, round, trials)`` of one Hyperband iteration, in the order the oracle runs them."""
        return _schedule(self.oracle)

    def expected_trials(self) -> int | None:
        return self.settings["hyperband_iterations"] * sum(size for _, _, size in self.schedule())

    def expected_epochs(self) -> int:
        """Epochs trained in all, with promoted trials continuing from their earlier round."""
        return self.settings["hyperband_iterations"] * _epochs_of_one_iteration(self.oracle)

    def describe_budget(self) -> str:
        brackets = self.oracle._get_num_brackets()
        iterations = self.settings["hyperband_iterations"]
        if iterations >= TIME_BUDGET_ITERATIONS:  # settings_for_budget: the time budget ends the search
            per_iteration = sum(size for _, _, size in self.schedule())
            return (f"{brackets} bracket{'s' if brackets > 1 else ''} an iteration ({per_iteration} trials, "
                    f"{_epochs_of_one_iteration(self.oracle)} epochs), repeated until the time is spent")
        return (
            f"{brackets} bracket{'s' if brackets > 1 else ''} x {iterations} "
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


def _epochs_for(max_epochs: int, settings: dict[str, Any]) -> int:
    """Epochs that ``hyperband_iterations`` iterations of the brackets for ``max_epochs`` train."""
    oracle = _schedule_oracle(max_epochs, settings["factor"])
    return int(settings["hyperband_iterations"]) * _epochs_of_one_iteration(oracle)


def _schedule(oracle: Any) -> list[tuple[int, int, int]]:
    brackets = oracle._get_num_brackets()
    return [
        (bracket, round_num, oracle._get_size(bracket, round_num))
        for bracket in reversed(range(brackets))
        for round_num in range(oracle._get_num_rounds(bracket))
    ]


def _epochs_of_one_iteration(oracle: Any) -> int:
    total = 0
    for bracket, round_num, size in _schedule(oracle):
        start = 0 if round_num == 0 else oracle._get_epochs(bracket, round_num - 1)
        total += size * (oracle._get_epochs(bracket, round_num) - start)
    return total


__all__ = ["HyperbandBackend"]
