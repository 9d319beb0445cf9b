"""Keras Tuner's other oracles: ``random`` (RandomSearch), ``bayesian`` (BayesianOptimization) and
``grid`` (GridSearch). Each trial trains ``--max-epochs`` epochs; the search ends with the trial budget
or, for grid, when every combination was tried."""
from __future__ import annotations

from typing import Any

from hpsearch.search.backends._base import Setting
from hpsearch.search.backends._keras_tuner_common import NO_ORACLE_FAILURE_LIMIT, KerasTunerBackend


class RandomSearchBackend(KerasTunerBackend):
    name = "random"
    algorithm = "random search (keras_tuner.oracles.RandomSearchOracle)"

    def make_oracle(self, hyperparameters: Any) -> Any:
        import keras_tuner as kt

        return kt.oracles.RandomSearchOracle(
            objective=self.objective,
            max_trials=None,
            seed=self.context.seed,
            hyperparameters=hyperparameters,
            allow_new_entries=False,
            tune_new_entries=False,
            max_consecutive_failed_trials=NO_ORACLE_FAILURE_LIMIT,
        )


class BayesianBackend(KerasTunerBackend):
    name = "bayesian"
    algorithm = "Gaussian-process Bayesian optimization (keras_tuner.oracles.BayesianOptimizationOracle)"
    settings_spec = (
        Setting("num_initial_points", int, 0, "Random trials before the Gaussian process (0: 3 x parameters).",
                minimum=0),
        Setting("alpha", float, 1e-4, "Noise added to the Gaussian process' kernel diagonal.", minimum=0.0),
        Setting("beta", float, 2.6, "Exploration weight of the upper confidence bound.", minimum=0.0),
    )

    def make_oracle(self, hyperparameters: Any) -> Any:
        import keras_tuner as kt

        return kt.oracles.BayesianOptimizationOracle(
            objective=self.objective,
            max_trials=None,
            num_initial_points=self.settings["num_initial_points"] or None,
            alpha=self.settings["alpha"],
            beta=self.settings["beta"],
            seed=self.context.seed,
            hyperparameters=hyperparameters,
            allow_new_entries=False,
            tune_new_entries=False,
            max_consecutive_failed_trials=NO_ORACLE_FAILURE_LIMIT,
        )


class GridSearchBackend(KerasTunerBackend):
    name = "grid"
    algorithm = "grid search over every combination (keras_tuner.oracles.GridSearchOracle)"

    def make_oracle(self, hyperparameters: Any) -> Any:
        import keras_tuner as kt

        return kt.oracles.GridSearchOracle(
            objective=self.objective,
            max_trials=None,
            seed=self.context.seed,
            hyperparameters=hyperparameters,
            allow_new_entries=False,
            tune_new_entries=False,
            max_consecutive_failed_trials=NO_ORACLE_FAILURE_LIMIT,
        )
