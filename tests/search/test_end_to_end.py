"""One real search per backend on digits, read back with plain Optuna (library and CLI)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from hpsearch.search.backends import backend_names
from hpsearch.search.cli.main import cli

from .interrupting import ctrl_c_after_first_epoch

HPSEARCH = [sys.executable, "-c", "from hpsearch.search.cli.main import cli; cli()"]


def start(*args: str):
    result = CliRunner().invoke(cli, ["start", *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("backend", backend_names())
def test_a_search_lands_in_a_standard_optuna_study(backend, sqlite_url):
    output = start("digits_mlp", "--backend", backend, "--storage", sqlite_url, "--study", "e2e",
                   "--trials", "3", "--max-epochs", "3", "--seed", "0").output
    assert f"watch      hpsearch dashboard --storage {sqlite_url}" in output
    assert re.search(r"\[1/\d+\] trial 0", output) and "ETA" in output

    study = optuna.load_study(study_name="e2e", storage=sqlite_url)
    assert study.user_attrs["backend"] == backend and study.user_attrs["space"] == "digits_mlp"
    trials = study.trials
    assert len(trials) == 3
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    for trial in trials:
        assert trial.intermediate_values, "every trial has a per-epoch curve"
        last = max(trial.intermediate_values)
        assert sorted(trial.intermediate_values) == list(range(1, last + 1)), "from epoch 1, promotions too"
        assert trial.user_attrs["epochs_trained"] == last - trial.user_attrs["initial_epoch"]
        assert trial.user_attrs["param_count"] > 0
        assert set(trial.distributions) == set(trial.params)
    assert study.best_value > 0.3  # digits: well above chance (0.1) after a few epochs, even for a grid
    assert f"Best trial {study.best_trial.number}: val_accuracy {study.best_value:.4f}" in output


def test_optuna_cli_and_hpsearch_show_agree_on_the_best_trial(sqlite_url):
    start("digits_cnn", "--backend", "tpe", "--storage", sqlite_url, "--study", "agree",
          "--trials", "3", "--max-epochs", "2", "--seed", "1", "-q")
    optuna_cli = subprocess.run(
        [str(Path(sys.executable).parent / "optuna"), "best-trial", "--study-name", "agree",
         "--storage", sqlite_url, "-f", "json"],
        capture_output=True, text=True, check=True,
    )
    optuna_value = json.loads(optuna_cli.stdout)["value"]["val_accuracy"]
    shown = json.loads(CliRunner().invoke(cli, ["show", "agree", "--storage", sqlite_url, "-f", "json"]).output)
    hpsearch_value = shown["best"]["value"]
    assert float(optuna_value) == hpsearch_value
    assert json.loads(optuna_cli.stdout)["number"] == shown["best"]["trial"]
    table = CliRunner().invoke(cli, ["show", "agree", "--storage", sqlite_url]).output
    assert f"Best trial {shown['best']['trial']}: val_accuracy {hpsearch_value:.4f}" in table
    listing = CliRunner().invoke(cli, ["studies", "--storage", sqlite_url]).output
    assert re.search(r"agree\s+digits_cnn\s+tpe\s+3: 3 complete\s+" + f"{hpsearch_value:.4f}", listing)


def test_postgres_storage_never_shows_the_password(postgres_url, unique_name):
    url = postgres_url.replace("postgres@", "postgres:topsecret@")  # trust auth ignores the password
    try:
        output = start("digits_mlp", "--backend", "tpe", "--storage", url, "--study", unique_name,
                       "--trials", "2", "--max-epochs", "1", "-q").output
        assert "topsecret" not in output and "postgres:***@" in output
        assert len(optuna.load_study(study_name=unique_name, storage=postgres_url).trials) == 2
    finally:
        optuna.delete_study(study_name=unique_name, storage=postgres_url)


def test_ctrl_c_records_the_running_trial_and_exits_130(sqlite_url, tmp_path):
    code, out, err = ctrl_c_after_first_epoch(
        ["start", "digits_mlp", "--backend", "tpe", "--storage", sqlite_url, "--study", "stop", "--trials", "3",
         "--max-epochs", "400", "-q"], "stop", sqlite_url)
    assert code == 130, out + err
    assert "hpsearch resume stop" in err and "Traceback" not in err
    trial = optuna.load_study(study_name="stop", storage=sqlite_url).trials[0]
    assert trial.state == TrialState.FAIL
    assert trial.user_attrs["interrupted"] is True
    assert trial.user_attrs["fail_reason"] == "interrupted: Ctrl-C"
    assert trial.intermediate_values, "epochs finished before the interrupt are kept"
