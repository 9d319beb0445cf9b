"""The bulk trial reader gives exactly what Optuna's own ``get_all_trials`` gives, only faster."""
from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hpsearch.storage.bulk import load_trials
from hpsearch.storage.studies import open_storage


def fields(trial):
    return (trial.number, trial.state, trial.values, trial.datetime_start, trial.datetime_complete, trial.params,
            trial.distributions, trial.user_attrs, trial.system_attrs, trial.intermediate_values, trial._trial_id)


def same(a, b) -> bool:
    """Field by field, NaN equal to NaN (an intermediate value may be NaN)."""
    def norm(value):
        if isinstance(value, dict):
            return {k: ("nan" if isinstance(v, float) and math.isnan(v) else v) for k, v in value.items()}
        return value
    return [norm(x) for x in fields(a)] == [norm(x) for x in fields(b)]


def fill(study: optuna.Study) -> None:
    """Trials in every state, every distribution kind, infinite and NaN values, attributes of all shapes."""
    distributions = {"units": IntDistribution(32, 512, step=32), "rate": FloatDistribution(1e-4, 1e-2, log=True),
                     "drop": FloatDistribution(0.0, 0.5, step=0.1), "act": CategoricalDistribution(["relu", "tanh"]),
                     "bn": CategoricalDistribution([False, True]), "k": CategoricalDistribution([3, 5])}
    params = {"units": 64, "rate": 0.001, "drop": 0.2, "act": "tanh", "bn": True, "k": 5}
    study.add_trial(optuna.create_trial(value=0.9, params=params, distributions=distributions,
                                        user_attrs={"epochs_trained": 3, "worker": "h:1", "nested": {"a": [1, None]}},
                                        system_attrs={"hpsearch:history": {"loss": [0.5, 0.4]}, "x": 1.5},
                                        intermediate_values={1: 0.5, 2: float("nan"), 3: 0.9}))
    study.add_trial(optuna.create_trial(value=float("-inf"), params={"units": 32}, distributions={"units": distributions["units"]}))
    study.add_trial(optuna.create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": "boom"}))
    study.add_trial(optuna.create_trial(state=TrialState.PRUNED, value=0.2, intermediate_values={1: float("inf")}))
    running = study.ask({"units": distributions["units"]})
    running.set_user_attr("worker", "h:2")


@pytest.mark.parametrize("which", ["sqlite", "postgres"])
def test_the_bulk_reader_matches_optuna(which, request, unique_name):
    url = request.getfixturevalue("sqlite_url" if which == "sqlite" else "postgres_url")
    storage = open_storage(url)
    other = optuna.create_study(study_name=f"{unique_name}-other", storage=storage)
    study = optuna.create_study(study_name=unique_name, storage=storage)
    try:
        other.add_trial(optuna.create_trial(value=1.0))  # another study's trials must not leak in
        fill(study)
        study_id = storage.get_study_id_from_name(unique_name)
        expected = storage.get_all_trials(study_id, deepcopy=False)
        found = load_trials(storage, study_id)
        assert len(found) == len(expected) == 5
        assert all(same(a, b) for a, b in zip(found, expected))
        skipped = load_trials(storage, study_id, skip_system_attrs={"hpsearch:history"})
        assert skipped[0].system_attrs == {"x": 1.5}
    finally:
        for name in (unique_name, f"{unique_name}-other"):
            optuna.delete_study(study_name=name, storage=url)


def test_other_storages_are_read_by_optuna_itself():
    study = optuna.create_study()
    fill(study)
    storage = study._storage
    assert [fields(t)[:3] for t in load_trials(storage, study._study_id)] == [
        fields(t)[:3] for t in storage.get_all_trials(study._study_id)]


@pytest.mark.parametrize("which", ["sqlite", "postgres"])
def test_study_overviews_and_ranks_match_optuna(which, request, unique_name):
    from hpsearch.storage.bulk import ranked_trial_numbers, study_overviews

    url = request.getfixturevalue("sqlite_url" if which == "sqlite" else "postgres_url")
    storage = open_storage(url)
    names = [f"{unique_name}-max", f"{unique_name}-min", f"{unique_name}-empty"]
    try:
        for name, direction in zip(names, ("maximize", "minimize", "maximize")):
            study = optuna.create_study(study_name=name, storage=storage, direction=direction)
            if not name.endswith("empty"):
                fill(study)
                for value in (0.3, 0.95, 0.3):
                    study.add_trial(optuna.create_trial(value=value))
        found = {o.name: o for o in study_overviews(storage) if o.name in names}
        for summary in optuna.get_all_study_summaries(storage, include_best_trial=True):
            if summary.study_name not in names:
                continue
            overview = found[summary.study_name]
            study = optuna.load_study(study_name=summary.study_name, storage=storage)
            trials = study.get_trials(deepcopy=False)
            assert overview.states == dict(__import__("collections").Counter(t.state.name for t in trials))
            assert overview.best_value == (summary.best_trial.value if summary.best_trial else None)
            assert overview.started == summary.datetime_start
            assert overview.maximize == (summary.direction.name == "MAXIMIZE")
            complete = [t for t in trials if t.state == TrialState.COMPLETE]
            expected = [t.number for t in sorted(complete, key=lambda t: t.value, reverse=overview.maximize)]
            assert ranked_trial_numbers(storage, overview.study_id, overview.maximize, 4) == expected[:4]
    finally:
        for name in names:
            optuna.delete_study(study_name=name, storage=url)
