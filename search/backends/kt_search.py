"""Keras Tuner's other oracles: ``random`` (RandomSearch), ``bayesian`` (BayesianOptimization) and
``grid`` (GridSearch). Each trial trains ``--max-epochs`` epochs; the search ends with the trial budget
or, for grid, when every combination was tried."""
from __future__ import annotations

from typing import Any

from hpsearch.search.backends._base import Setting
from hpsearch.search.backends._keras_tuner_common import KerasTunerBackend


class RandomSearchBackend(KerasTunerBackend):
    name = "random"
    algorithm = "random search (keras_tuner.oracles.RandomSearchOracle)"

    def make_oracle(self, hyperparameters: Any) -> Any:
        import keras_tuner as kt

        return kt.oracles.RandomSearchOracle(
            max_trials=None,
            **self.oracle_options(hyperparameters),
        )


class BayesianBackend(KerasTunerBackend):
    name = "bayesian"
    algorithm = "Gaussian-process Bayesian optimization (keras_tuner.oracles.BayesianOptimizationOracle)"
    workers = ("parallel, but Keras Tuner's Gaussian process learns from finished trials only: workers asking "
               "while others run may propose near each other (never the same configuration)")
    settings_spec = (
        Setting("num_initial_points", int, 0, "Random trials before the Gaussian process (0: 3 x parameters).",
                minimum=0),
        Setting("alpha", float, 1e-4, "Noise added to the Gaussian process' kernel diagonal.", minimum=0.0),
        Setting("beta", float, 2.6, "Exploration weight of the upper confidence bound.", minimum=0.0),
    )

    def make_oracle(self, hyperparameters: Any) -> Any:
        import keras_tuner as kt

        return kt.oracles.BayesianOptimizationOracle(
            max_trials=None,
            num_initial_points=self.settings["num_initial_points"] or None,
            alpha=self.settings["alpha"],
            beta=self.settings["beta"],
            **self.oracle_options(hyperparameters),
        )


def _resumable_grid_oracle_class() -> type:
    """Keras Tuner's GridSearchOracle, plus its grid position in the saved state.

    Keras Tuner 1.4 keeps the grid's walk (the linked list of tried combinations and the queue of
    trials whose successor is pending) in memory only, so a reloaded grid cannot continue. This
    subclass writes both into ``oracle.json`` with the rest of the oracle's state.
    """
    import collections

    import keras_tuner as kt

    class ResumableGridSearchOracle(kt.oracles.GridSearchOracle):
        def get_state(self) -> dict[str, Any]:
            state = super().get_state()
            walk = self._ordered_ids
            state["grid_position"] = {
                "populate_next": list(self._populate_next),
                "memory": list(walk._memory),
                "next_index": [["head" if k is None else k, v] for k, v in walk._next_index.items()],
                "last_index": walk._last_index,
            }
            return state

        def set_state(self, state: dict[str, Any]) -> None:
            super().set_state(state)
            position = state.get("grid_position")
            if position is None:
                return
            self._populate_next = list(position["populate_next"])
            walk = self._ordered_ids
            walk._memory = list(position["memory"])
            walk._data_to_index = {data: index for index, data in enumerate(walk._memory)}
            walk._next_index = collections.defaultdict(lambda: None)
            for key, value in position["next_index"]:
                walk._next_index[None if key == "head" else int(key)] = value
            walk._last_index = position["last_index"]

    return ResumableGridSearchOracle


class GridSearchBackend(KerasTunerBackend):
    name = "grid"
    algorithm = "grid search over every combination (keras_tuner.oracles.GridSearchOracle)"

    def make_oracle(self, hyperparameters: Any) -> Any:
        return _resumable_grid_oracle_class()(
            max_trials=None,
            **self.oracle_options(hyperparameters),
        )
