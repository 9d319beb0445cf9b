"""``hpsearch retrain`` and ``hpsearch export`` on a real study: real SQLite, real TensorFlow, digits."""
from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from hpsearch.search.cli.main import cli
from hpsearch.spaces.data.mnist import load_dataset
from hpsearch.storage import record
from hpsearch.storage.studies import StudyMeta, create_study, open_storage, study_meta
from tests.fresh_process import heavy_modules_loaded

from .test_cli import assert_one_line_error


RETRAIN_ATTRS = frozenset({record.TEST_ACCURACY, record.TEST_LOSS, record.RETRAIN_EPOCHS})


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def searched(tmp_path_factory) -> str:
    """A 3-trial TPE search of digits_mlp (2 epochs each), study 's'; its SQLite URL."""
    folder = tmp_path_factory.mktemp("searched")
    url = f"sqlite:///{folder / 'studies.db'}"
    with pytest.MonkeyPatch.context() as patch:
        for name in ("HPSEARCH_STORAGE", "HPSEARCH_ARTIFACTS", "HPSEARCH_DATA_DIR"):
            patch.delenv(name, raising=False)
        result = invoke("start", "digits_mlp", "--backend", "tpe", "--trials", "3", "--max-epochs", "2",
                        "--seed", "0", "-q", "--storage", url, "--study", "s")
    assert result.exit_code == 0, result.output
    return url


@pytest.mark.parametrize("command", ["retrain", "export"])
def test_help(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0 and f"Usage: cli {command} [OPTIONS] STUDY" in result.output


def load(url: str, name: str = "s") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)


def meta_of(url: str, name: str = "s") -> StudyMeta:
    meta = study_meta(open_storage(url), name)
    assert meta is not None
    return meta


def fingerprint(url: str, leave_out: frozenset[str] = frozenset()) -> list:
    """Everything stored in every study of ``url`` (less the trial user attributes ``leave_out``)."""
    storage = open_storage(url)
    found = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        study_id = storage.get_study_id_from_name(summary.study_name)
        found.append((summary.study_name, summary.user_attrs, storage.get_study_system_attrs(study_id)))
        found += [(t.number, t.state, t.values, t.params, t.intermediate_values, t.system_attrs,
                   {k: v for k, v in t.user_attrs.items() if k not in leave_out})
                  for t in storage.get_all_trials(study_id)]
    return found


def test_retrain_records_test_scores_that_the_saved_model_reproduces(searched):
    study = load(searched)
    best = study.best_trial
    before = fingerprint(searched)
    result = invoke("retrain", "s", "--storage", searched)
    assert result.exit_code == 0, result.output
    epochs = record.best_step(best, maximize=True)
    assert f"trial:    {best.number} (the best trial)" in result.output
    assert f"epochs:   {epochs} (the trial's best epoch), seed 0" in result.output
    assert "1077 train + 360 validation = 1437 to train on, 360 test images held out" in result.output
    path = Path(meta_of(searched).artifacts) / "models" / f"trial-{best.number:05d}.keras"
    assert f"model:    {path}" in result.output and path.is_file()

    attrs = load(searched).trials[best.number].user_attrs
    assert attrs[record.RETRAIN_EPOCHS] == epochs
    import keras

    data = load_dataset("digits")
    scores = keras.models.load_model(path).evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)
    assert attrs[record.TEST_ACCURACY] == pytest.approx(scores["accuracy"], abs=1e-6)
    assert attrs[record.TEST_LOSS] == pytest.approx(scores["loss"], rel=1e-5)
    assert attrs[record.TEST_ACCURACY] > 0.5  # chance is 0.1 on ten digits
    assert f"test:     accuracy {attrs[record.TEST_ACCURACY]:.4f}" in result.output

    # Nothing else changed: no trial added, no state, value, curve or other attribute touched.
    assert set(attrs) - set(best.user_attrs) == RETRAIN_ATTRS
    assert fingerprint(searched, leave_out=RETRAIN_ATTRS) == before

    shown = invoke("show", "s", "--storage", searched)
    assert f"test accuracy {attrs[record.TEST_ACCURACY]:.4f}, test loss {attrs[record.TEST_LOSS]:.4f}" in shown.output


def test_retrain_a_chosen_trial_for_chosen_epochs(searched):
    study = load(searched)
    other = next(t for t in study.trials if t.number != study.best_trial.number)
    best_attrs = dict(study.best_trial.user_attrs)
    result = invoke("retrain", "s", "--trial", str(other.number), "--epochs", "1", "--storage", searched)
    assert result.exit_code == 0, result.output
    assert "epochs:   1 (--epochs)" in result.output
    trials = load(searched).trials
    assert trials[other.number].user_attrs[record.RETRAIN_EPOCHS] == 1
    assert 0.0 <= trials[other.number].user_attrs[record.TEST_ACCURACY] <= 1.0
    assert trials[study.best_trial.number].user_attrs == best_attrs
    assert (Path(meta_of(searched).artifacts) / "models" / f"trial-{other.number:05d}.keras").is_file()


def parse_steps(text: str) -> dict[int, float]:
    return {int(step): float(value) for step, _, value in (pair.partition(":") for pair in text.split())}


def cell(value) -> str:
    return "" if value is None else str(value)


def assert_csv_matches(text: str, study: optuna.Study) -> None:
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["number"]) for r in rows] == [t.number for t in study.trials]
    names = {name for t in study.trials for name in t.params}
    assert {c for c in rows[0] if c.startswith("param_")} == {f"param_{n}" for n in names}
    for row, trial in zip(rows, study.trials):
        assert row["state"] == trial.state.name
        assert row["value"] == cell(trial.value) and (trial.value is None or float(row["value"]) == trial.value)
        assert {n: row[f"param_{n}"] for n in names} == {n: cell(trial.params.get(n)) for n in names}
        assert parse_steps(row["intermediate_values"]) == trial.intermediate_values
        assert row["epochs_trained"] == str(record.epochs_trained(trial))
        assert row["interrupted"] == str(record.is_interrupted(trial))
        for key in (record.TEST_ACCURACY, record.FAIL_REASON, record.STOP_REASON):
            assert row[key] == cell(trial.user_attrs.get(key)), key
        assert row["model_param_count"] == cell(trial.user_attrs.get(record.PARAM_COUNT))
        assert row["datetime_start"] == cell(trial.datetime_start and trial.datetime_start.isoformat())


def assert_json_matches(text: str, study: optuna.Study) -> None:
    document = json.loads(text)
    assert document["study"] == study.study_name
    assert document["directions"] == [d.name for d in study.directions]
    rows = document["trials"]
    assert [r["number"] for r in rows] == [t.number for t in study.trials]
    for row, trial in zip(rows, study.trials):
        assert (row["state"], row["value"], row["params"]) == (trial.state.name, trial.value, trial.params)
        assert {v["step"]: v["value"] for v in row["intermediate_values"]} == trial.intermediate_values
        assert [v["step"] for v in row["intermediate_values"]] == sorted(trial.intermediate_values)
        assert row["epochs_trained"] == record.epochs_trained(trial)
        assert row[record.TEST_ACCURACY] == trial.user_attrs.get(record.TEST_ACCURACY)
        assert row[record.TRAIN_SECONDS] == record.train_seconds(trial)


def test_export_csv_and_json_match_the_study_as_optuna_reads_it(searched, isolated):
    study = load(searched)
    to_stdout = invoke("export", "s", "--storage", searched)
    assert to_stdout.exit_code == 0, to_stdout.output
    assert_csv_matches(to_stdout.output, study)
    assert any(t.user_attrs.get(record.PARAM_COUNT) for t in study.trials)

    written = invoke("export", "s", "-o", "trials.csv", "--storage", searched)
    assert written.output == "Wrote 3 trials of s as CSV to trials.csv.\n"
    assert Path("trials.csv").read_text() == to_stdout.output
    as_json = invoke("export", "s", "-o", "trials.json", "--storage", searched)
    assert as_json.exit_code == 0, as_json.output
    assert_json_matches(Path("trials.json").read_text(), study)
    assert_json_matches(invoke("export", "s", "--format", "json", "--storage", searched).output, study)
    assert sorted(p.name for p in Path(isolated).iterdir()) == ["trials.csv", "trials.json"]


def objective(trial: optuna.Trial) -> float:
    x = trial.suggest_float("x", -3.0, 3.0)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    if trial.number == 2:
        raise ValueError("a plain failure")
    for step in range(3):  # plain Optuna code often counts steps from 0
        trial.report(x * x + step, step)
    if trial.number == 3:
        raise optuna.TrialPruned()
    return x * x + (1.0 if kind == "b" else 0.0)


def test_export_reads_a_plain_optuna_study(sqlite_url):
    study = optuna.create_study(storage=sqlite_url, study_name="plain", direction="minimize",
                                sampler=optuna.samplers.RandomSampler(seed=1))
    study.optimize(objective, n_trials=5, catch=(ValueError,))
    assert {t.state for t in study.trials} == {TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED}
    csv_result = invoke("export", "plain", "--storage", sqlite_url)
    assert csv_result.exit_code == 0, csv_result.output
    assert_csv_matches(csv_result.output, load(sqlite_url, "plain"))
    json_result = invoke("export", "plain", "--format", "json", "--storage", sqlite_url)
    assert json_result.exit_code == 0, json_result.output
    assert_json_matches(json_result.output, load(sqlite_url, "plain"))
    rows = json.loads(json_result.output)["trials"]
    trials = load(sqlite_url, "plain").trials
    # best_epoch: the first step whose value is the trial's value: x*x at step 0 (kind a) or x*x + 1 at
    # step 1 (kind b); a pruned trial's value is, in Optuna, its last reported one (step 2).
    expected = {TrialState.FAIL: None, TrialState.PRUNED: 2}
    assert [r["best_epoch"] for r in rows] == [
        expected.get(t.state, 1 if t.params["kind"] == "b" else 0) for t in trials
    ]
    assert [r["epochs_trained"] for r in rows] == [len(t.intermediate_values) for t in trials]
    assert all(r["interrupted"] is False and r["fail_reason"] is None for r in rows)


def validation_accuracy(path: Path) -> float:
    import keras

    data = load_dataset("digits")
    predictions = keras.models.load_model(path).predict(data.x_val, verbose=0)
    return float(np.mean(np.argmax(predictions, axis=1) == data.y_val))


def test_export_model_reproduces_the_trials_best_validation_accuracy(searched, isolated):
    study = load(searched)
    result = invoke("export", "s", "--model", "best.keras", "--storage", searched)
    assert result.exit_code == 0, result.output
    assert abs(validation_accuracy(Path("best.keras")) - study.best_value) <= 1e-6
    other = next(t for t in study.trials if t.number != study.best_trial.number)
    chosen = invoke("export", "s", "--model", "other.keras", "--trial", str(other.number), "--storage", searched)
    assert chosen.exit_code == 0, chosen.output
    assert abs(validation_accuracy(Path("other.keras")) - other.value) <= 1e-6
    assert sorted(p.name for p in Path(isolated).iterdir()) == ["best.keras", "other.keras"]


def test_export_model_falls_back_to_optunas_artifact_store(searched, isolated):
    study = load(searched)
    artifacts = Path(meta_of(searched).artifacts)
    local = artifacts / "checkpoints" / f"trial-{study.best_trial.number:05d}"
    store = artifacts.parent / "optuna-artifacts"
    local.rename(local.with_name("moved"))
    try:
        result = invoke("export", "s", "--model", "best.keras", "--storage", searched)
        assert result.exit_code == 0, result.output
        assert "weights:  Optuna's artifact store" in result.output
        assert abs(validation_accuracy(Path("best.keras")) - study.best_value) <= 1e-6
        store.rename(store.with_name("moved-store"))
        try:
            missing = invoke("export", "s", "--model", "again.keras", "--storage", searched)
            assert_one_line_error(missing, f"Trial {study.best_trial.number} has no best weights")
            assert not Path("again.keras").exists()
        finally:
            store.with_name("moved-store").rename(store)
    finally:
        local.with_name("moved").rename(local)


@pytest.fixture
def odd_storage(searched, isolated) -> str:
    """A copy of the searched storage (in the test's folder) with studies that retrain/export refuse:
    's' gains a FAIL trial, 'no-complete' (hpsearch) has only a FAIL trial, 'plain' is plain Optuna."""
    shutil.copy(searched.removeprefix("sqlite:///"), Path(isolated) / "copy.db")
    url = f"sqlite:///{Path(isolated) / 'copy.db'}"
    storage = open_storage(url)
    copied = load(url)
    copied.tell(copied.ask(), state=TrialState.FAIL)
    empty = create_study(storage, "no-complete", "maximize", "val_accuracy", meta_of(url))
    empty.tell(empty.ask(), state=TrialState.FAIL)
    optuna.create_study(storage=url, study_name="plain").optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    return url


BAD_INPUT = [
    (["retrain", "nope"], "No study named 'nope' in this storage. Studies here: no-complete, plain, s."),
    (["export", "nope"], "No study named 'nope' in this storage. Studies here: no-complete, plain, s."),
    (["export", "nope", "--model", "m.keras"], "No study named 'nope'"),
    (["retrain", "no-complete"], "Study 'no-complete' has no COMPLETE trial (0 FAIL): retrain needs one."),
    (["export", "no-complete", "--model", "m.keras"], "has no COMPLETE trial (0 FAIL): export --model needs one."),
    (["retrain", "s", "--trial", "9"], "--trial must be a trial number of study 's' (0 to 3), but got 9."),
    (["retrain", "s", "--trial", "-1"], "--trial must be a trial number of study 's' (0 to 3), but got -1."),
    (["retrain", "s", "--trial", "3"], "--trial must be a COMPLETE trial, but trial 3 of study 's' is FAIL."),
    (["export", "s", "--model", "m.keras", "--trial", "3"], "trial 3 of study 's' is FAIL. COMPLETE trials: 0, 1, 2."),
    (["retrain", "plain"], "Study 'plain' was not made by hpsearch: it has no stored space or model builder"),
    (["export", "plain", "--model", "m.keras"], "so export --model cannot rebuild its models."),
    (["retrain", "s", "--epochs", "0"], "--epochs must be > 0, but got 0."),
    (["export", "s", "-o", "missing/trials.csv"], "-o/--output: folder missing does not exist"),
    (["export", "s", "--model", "missing/m.keras"], "--model: folder missing does not exist"),
    (["export", "s", "--model", "m.h5"], "--model must be a path ending in .keras, but got m.h5."),
    (["export", "s", "-o", "trials.txt"], "Cannot tell the format from -o trials.txt"),
    (["export", "s", "--trial", "0"], "--trial chooses the model to export: it needs --model PATH.keras."),
    (["export", "s", "--model", "m.keras", "-o", "x.csv"], "-o/--output is for the trials table"),
]
if sys.platform.startswith("linux"):  # /proc takes no new files, not even from root
    BAD_INPUT.append((["export", "s", "-o", "/proc/trials.csv"], "-o/--output: cannot write to folder /proc"))


@pytest.mark.parametrize(("args", "fragment"), BAD_INPUT)
def test_bad_input_is_one_line_and_changes_nothing(args, fragment, odd_storage, isolated):
    artifacts = Path(meta_of(odd_storage).artifacts)
    stored, files, listing = fingerprint(odd_storage), sorted(artifacts.rglob("*")), sorted(Path(isolated).iterdir())
    assert_one_line_error(invoke(*args, "--storage", odd_storage), fragment)
    assert fingerprint(odd_storage) == stored
    assert sorted(artifacts.rglob("*")) == files
    assert sorted(Path(isolated).iterdir()) == listing


def test_bad_input_is_answered_without_importing_tensorflow(odd_storage):
    invocations = (["retrain", "s", "--trial", "3"], ["export", "plain", "--model", "m.keras"],
                   ["retrain", "no-complete"], ["export", "s"])
    assert heavy_modules_loaded([[*args, "--storage", odd_storage] for args in invocations]) == []
