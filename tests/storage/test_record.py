"""The stored record reads well in the standard tools, and its small queries say what the attrs mean."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from optuna.distributions import IntDistribution
from optuna.trial import TrialState

from hpsearch.search.cli.main import cli
from hpsearch.storage import record
from hpsearch.storage.studies import open_storage

OPTUNA = str(Path(sys.executable).parent / "optuna")


def optuna_cli(*args: str) -> str:
    return subprocess.run([OPTUNA, *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def hyperband_study(tmp_path_factory):
    """One small Hyperband search on digits (promotions included), read by the tests of this module."""
    url = f"sqlite:///{tmp_path_factory.mktemp('record') / 'studies.db'}"
    result = CliRunner().invoke(cli, ["start", "digits_mlp", "--backend", "hyperband", "--max-epochs", "3",
                                      "--train-samples", "300", "--storage", url, "--study", "hb", "--seed", "2",
                                      "--artifacts", str(tmp_path_factory.mktemp("artifacts")), "-q"])
    assert result.exit_code == 0, result.output
    return url


def test_what_the_optuna_cli_shows_stays_short(hyperband_study):
    studies = json.loads(optuna_cli("studies", "--storage", hyperband_study, "-f", "json"))
    assert len(json.dumps(studies[0]["user_attrs"])) < 100, studies[0]["user_attrs"]
    trials = json.loads(optuna_cli("trials", "--study-name", "hb", "--storage", hyperband_study, "-f", "json"))
    for trial in trials:
        assert len(json.dumps(trial["user_attrs"])) < 280, trial["user_attrs"]  # ~10 short attrs
    promoted = [t for t in trials if "promoted_from" in t["user_attrs"]]
    assert promoted, "a Hyperband study with max_epochs 3 promotes"
    for trial in promoted:  # one link to the parent, no other name for it
        assert not {"warm_start_trial", "warm_started_from", "hyperband_promoted_from"} & set(trial["user_attrs"])


def test_trials_dataframe_works_on_a_fresh_install(hyperband_study):
    frame = optuna.load_study(study_name="hb", storage=hyperband_study).trials_dataframe()
    assert len(frame) == len(optuna.load_study(study_name="hb", storage=hyperband_study).trials)
    assert {"value_val_accuracy", "params_dense_layers", "user_attrs_epochs_trained", "user_attrs_train_seconds"} <= set(frame.columns)


def test_queries_read_the_runner_s_record(hyperband_study):
    study = optuna.load_study(study_name="hb", storage=hyperband_study)
    trials = study.trials
    assert record.counted_trials(trials) == len(trials)
    assert record.epochs_spent(trials) == sum(t.user_attrs["epochs_trained"] for t in trials)
    for trial in trials:
        parent = trial.user_attrs.get("promoted_from")
        copied = record.copied_steps(trial)
        if parent is None:
            assert copied == []
        else:
            assert copied == list(range(1, trial.user_attrs["initial_epoch"] + 1))
            assert all(trial.intermediate_values[s] == trials[parent].intermediate_values[s] for s in copied)
        assert trial.intermediate_values[record.best_step(trial)] == trial.value
        assert set(record.history(trial)) >= {"loss", "val_accuracy"}
        assert record.train_seconds(trial) == trial.user_attrs["train_seconds"]
        assert record.elapsed_at_end(trial) > 0
        # Each finished trial's best weights are linked, unless they were not kept (--keep-weights, default 5).
        assert len(record.artifact_ids(trial)) == (0 if trial.user_attrs.get(record.WEIGHTS_DROPPED) else 1)
    storage = open_storage(hyperband_study)
    elapsed = record.study_elapsed(storage.get_study_system_attrs(storage.get_study_id_from_name("hb")))
    assert max(record.elapsed_at_end(t) for t in trials) <= elapsed


def test_queries_fall_back_to_plain_optuna_fields():
    trial = optuna.create_trial(value=0.5, params={"x": 1}, distributions={"x": IntDistribution(0, 2)},
                                intermediate_values={1: 0.2, 2: 0.5, 3: 0.4})
    assert record.epochs_trained(trial) == 3 and record.copied_steps(trial) == []
    assert record.best_step(trial) == 2 and record.history(trial) == {} and record.elapsed_at_end(trial) is None
    assert record.train_seconds(trial) == (trial.datetime_complete - trial.datetime_start).total_seconds()
    assert record.parse_worker("host-a:41") == ("host-a", 41)
    assert record.parse_worker({"host": "h", "pid": 3}) == ("h", 3) and record.parse_worker("nope") is None


@pytest.mark.parametrize("which", ["sqlite", "postgres"])
def test_a_finished_trial_can_get_a_user_attr_afterwards(which, request, unique_name):
    url = request.getfixturevalue("sqlite_url" if which == "sqlite" else "postgres_url")
    storage = open_storage(url)
    study = optuna.create_study(study_name=unique_name, storage=storage)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    trial = study.trials[1]
    try:
        with pytest.raises(RuntimeError):  # what Optuna's API does
            storage.set_trial_user_attr(trial._trial_id, "test_accuracy", 0.9)
        record.set_finished_trial_user_attr(storage, trial._trial_id, record.TEST_ACCURACY, 0.9)
        record.set_finished_trial_user_attr(storage, trial._trial_id, record.TEST_ACCURACY, 0.95)  # overwrite
        again = optuna.load_study(study_name=unique_name, storage=url).trials
        assert again[1].user_attrs == {"test_accuracy": 0.95} and again[0].user_attrs == {}
        assert again[1].state == TrialState.COMPLETE and again[1].value == trial.value
    finally:
        optuna.delete_study(study_name=unique_name, storage=url)
