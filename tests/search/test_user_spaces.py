"""A Keras Tuner hypermodel, unchanged, searched by Optuna and Keras Tuner backends through the CLI,
resumed after Ctrl-C, and refused on resume when its file's parameters changed."""
from __future__ import annotations

import os
import subprocess

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from hpsearch.search.backends import backend_names
from hpsearch.search.cli.main import cli
from tests.spaces.test_hypermodel import KERAS_TUNER_STYLE

from .interrupting import HPSEARCH, ctrl_c_after_first_epoch



@pytest.fixture
def space_file(tmp_path):
    path = tmp_path / "my_space.py"
    path.write_text(KERAS_TUNER_STYLE)
    return path


def invoke(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result


@pytest.mark.parametrize("backend", ["tpe", "hyperband", "bayesian"])
def test_a_keras_tuner_hypermodel_with_a_conditional_scope_runs_unchanged(backend, space_file, sqlite_url):
    output = invoke("start", f"{space_file}:build_model", "--data", "digits", "--backend", backend,
                    "--storage", sqlite_url, "--study", "hm", "--trials", "5", "--max-epochs", "3",
                    "--seed", "3", "-q").output
    study = optuna.load_study(study_name="hm", storage=sqlite_url)
    trials = study.trials
    assert len(trials) == 5 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
    for trial in trials:
        assert set(trial.distributions) == set(trial.params)
        assert {"num_layers", "units_0", "head", "lr"} <= set(trial.params)
        assert ("rate" in trial.params) == (trial.params["head"] == "dropout"), "a conditional parameter only when active"
        assert "classes" not in trial.params  # hp.Fixed
        assert trial.intermediate_values
    assert trials[0].user_attrs.get("default_configuration") or backend in ("hyperband", "grid")
    if backend != "hyperband":  # a Hyperband promotion trains its parent's configuration again
        assert len({tuple(sorted(t.params.items())) for t in trials}) == 5, "no configuration twice"
    assert study.best_value > 0.3  # digits, a few epochs: well above chance
    assert f"Best trial {study.best_trial.number}: val_accuracy" in output


def test_the_same_hypermodel_runs_on_every_other_backend(space_file, sqlite_url):
    others = sorted(set(backend_names()) - {"tpe", "hyperband", "bayesian"})
    assert len(others) >= 6
    for backend in others:
        invoke("start", f"{space_file}:build_model", "--data", "digits", "--backend", backend, "--storage",
               sqlite_url, "--study", backend, "--trials", "2", "--max-epochs", "1", "--seed", "1", "-q")
        trials = optuna.load_study(study_name=backend, storage=sqlite_url).trials
        assert len(trials) == 2 and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials), backend
        assert all(("rate" in t.params) == (t.params["head"] == "dropout") for t in trials), backend
        assert all(set(t.distributions) == set(t.params) and t.intermediate_values for t in trials), backend


def test_a_hypermodel_fit_override_is_honoured(space_file, sqlite_url, tmp_path):
    invoke("start", f"{space_file}:WithFit", "--data", "digits", "--backend", "tpe", "--storage", sqlite_url,
           "--study", "fit", "--trials", "3", "--max-epochs", "2", "--seed", "0", "-q")
    trials = optuna.load_study(study_name="fit", storage=sqlite_url).trials
    assert all(t.params["batch_size"] in (16, 32) for t in trials)  # asked for in fit(), suggested by TPE
    assert all(sorted(t.intermediate_values) == [1, 2] for t in trials)  # our callbacks reached model.fit

    # retrain and export rebuild the hypermodel with the trial's values (retrain through its fit again)
    best = optuna.load_study(study_name="fit", storage=sqlite_url).best_trial
    assert "test:     accuracy" in invoke("retrain", "fit", "--storage", sqlite_url, "--epochs", "1").output
    exported = tmp_path / "best.keras"
    invoke("export", "fit", "--storage", sqlite_url, "--model", str(exported), "--trial", str(best.number))
    import keras

    assert keras.saving.load_model(exported).count_params() == best.user_attrs["param_count"]


def test_objective_option_sets_metric_and_direction(space_file, sqlite_url):
    invoke("start", f"{space_file}:build_model", "--data", "digits", "--backend", "optuna-random",
           "--storage", sqlite_url, "--study", "loss", "--trials", "2", "--max-epochs", "2", "--objective", "val_loss",
           "-q")
    study = optuna.load_study(study_name="loss", storage=sqlite_url)
    assert study.direction == optuna.study.StudyDirection.MINIMIZE and study.metric_names == ["val_loss"]
    assert all(t.value > 0 for t in study.trials)  # a cross-entropy, not an accuracy


def test_errors_in_the_users_build_are_one_line_naming_the_file(tmp_path, sqlite_url):
    path = tmp_path / "oops.py"
    path.write_text("import keras\n\ndef build_model(hp):\n    units = hp.Int('units', 8, 16)\n"
                    "    return keras.Sequential([keras.layers.Dense(units)]).compil()\n")
    result = invoke("start", f"{path}:build_model", "--data", "digits", "-b", "tpe", "--storage", sqlite_url,
                    code=1)
    assert "oops.py:5 in build_model: AttributeError" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "db.sqlite3").exists() or not optuna.get_all_study_summaries(sqlite_url)


def test_a_hypermodel_needs_data(space_file, sqlite_url):
    result = invoke("start", str(space_file), "-b", "tpe", "--storage", sqlite_url, code=1)
    assert "trains on data you give with --data SOURCE" in result.output


def test_spaces_show_lists_a_hypermodels_parameters(space_file):
    output = invoke("spaces", "show", f"{space_file}:build_model").output
    assert "num_layers" in output and "rate" in output and "(when head in [dropout])" in output


def test_ctrl_c_then_resume_of_a_hypermodel_search(space_file, sqlite_url):
    code, _, err = ctrl_c_after_first_epoch(
        ["start", f"{space_file}:build_model", "--data", "digits", "--backend", "tpe", "--storage", sqlite_url,
         "--study", "stop", "--trials", "3", "--max-epochs", "300", "-q"], "stop", sqlite_url)
    assert code == 130, err
    interrupted = optuna.load_study(study_name="stop", storage=sqlite_url).trials[0]
    assert interrupted.state == TrialState.FAIL and interrupted.user_attrs["interrupted"]

    # The same configuration runs again first (here until the extra time is spent).
    output = invoke("resume", "stop", "--storage", sqlite_url, "--timeout", "6", "-q").output  # 300-epoch trials: cut
    assert "interrupted trials to run again: 0" in output
    trials = optuna.load_study(study_name="stop", storage=sqlite_url).trials
    rerun = [t for t in trials if t.user_attrs.get("retry_of") == 0]
    assert len(rerun) == 1 and rerun[0].params == interrupted.params


def test_resume_refuses_a_space_file_whose_parameters_changed(space_file, sqlite_url):
    invoke("start", str(space_file), "--data", "digits", "-b", "random", "--storage", sqlite_url, "--study", "chg",
           "--trials", "1", "--max-epochs", "1", "-q")
    space_file.write_text(KERAS_TUNER_STYLE + "\n# a comment only\n")
    output = invoke("resume", "chg", "--storage", sqlite_url, "--trials", "1", "-q").output
    assert "my_space.py changed since the study started (same parameters)" in output
    space_file.write_text(KERAS_TUNER_STYLE.replace('hp.Int("num_layers", 1, 2)', 'hp.Int("num_layers", 1, 4)'))
    result = invoke("resume", "chg", "--storage", sqlite_url, "--trials", "1", code=1)
    assert "changed since the study was created: num_layers: int 1..2 -> int 1..4" in result.output
    assert len(optuna.load_study(study_name="chg", storage=sqlite_url).trials) == 2  # nothing more was run


def test_a_moved_space_file_resumes_from_the_code_the_study_kept(space_file, sqlite_url):
    invoke("start", str(space_file), "--data", "digits", "-b", "tpe", "--storage", sqlite_url, "--study", "moved",
           "--trials", "1", "--max-epochs", "1", "-q")
    space_file.rename(space_file.with_name("elsewhere.py"))
    invoke("resume", "moved", "--storage", sqlite_url, "--trials", "1", "-q")
    assert len(optuna.load_study(study_name="moved", storage=sqlite_url).trials) == 2


def test_a_space_registered_through_the_entry_point_group(tmp_path):
    """An installed package's entry point (a real dist-info on the path) names a hypermodel."""
    package = tmp_path / "mypackage"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "spaces.py").write_text(KERAS_TUNER_STYLE)
    info = tmp_path / "mypackage-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mypackage\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[hpsearch.spaces]\nxray_net = mypackage.spaces:build_model\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    listing = subprocess.run([*HPSEARCH, "spaces"], capture_output=True, text=True, env=env, check=True).stdout
    assert "xray_net" in listing and "mypackage.spaces:build_model" in listing
    shown = subprocess.run([*HPSEARCH, "spaces", "show", "xray_net"], capture_output=True, text=True, env=env,
                           check=True).stdout
    assert shown.startswith("xray_net: Keras Tuner hypermodel build_model") and "num_layers" in shown


def test_an_error_in_one_trials_build_fails_that_trial_naming_the_line(tmp_path, sqlite_url):
    path = tmp_path / "picky.py"
    path.write_text(KERAS_TUNER_STYLE.replace(
        '    head = hp.Choice', '    if hp.get("num_layers") == 2:\n        raise ValueError("two layers are not supported")\n'
        '    head = hp.Choice'))
    line = path.read_text().splitlines().index('        raise ValueError("two layers are not supported")') + 1
    invoke("start", f"{path}:build_model", "--data", "digits", "-b", "optuna-random", "--storage", sqlite_url,
           "--study", "picky", "--trials", "6", "--max-epochs", "1", "--seed", "0", "-q")
    trials = optuna.load_study(study_name="picky", storage=sqlite_url).trials
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert failed and all(t.params["num_layers"] == 2 for t in failed)
    assert all(t.state == TrialState.COMPLETE for t in trials if t.params["num_layers"] == 1)
    assert failed[0].user_attrs["fail_reason"] == (
        f"picky.py:{line} in build_model: ValueError: two layers are not supported "
        f"(while building the model of picky.py:build_model).")
