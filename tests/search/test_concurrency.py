"""Many processes on one study, damaged or lost backend state, colliding names, kills at creation.

Each test runs real searches (scikit-learn's digits, tiny) in real processes on a real SQLite file or
the real PostgreSQL, and reads the study back with Optuna.
"""
from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from hpsearch.search.cli.main import cli
from hpsearch.search.session import SearchSession, StartRequest, plan_start
from hpsearch.storage import record

HPSEARCH = [sys.executable, "-c", "from hpsearch.search.cli.main import cli; cli()"]


def create_only(url: str, study: str, backend: str, *, trials: int | None = 6, max_epochs: int = 2,
                seed: int | None = 5) -> int | None:
    """Create the study as `start` does, without running it (a start killed before its first trial);
    returns the number of trials the backend's own schedule has, if it has one."""
    plan = plan_start(StartRequest(space="digits_mlp", backend=backend, study=study, storage=url, trials=trials,
                                   max_epochs=max_epochs, seed=seed, train_samples=600))
    return SearchSession.create(plan).backend.expected_trials()


def resume_concurrently(url: str, study: str, processes: int) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    running = [subprocess.Popen([*HPSEARCH, "resume", study, "--storage", url, "-q"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env) for _ in range(processes)]
    results = []
    for process in running:
        out, err = process.communicate(timeout=600)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


def artifacts_of(url: str, study: str) -> str:
    from hpsearch.storage.studies import study_meta

    return study_meta(optuna.storages.RDBStorage(url), study).artifacts


def trials_of(url: str, study: str) -> list:
    return optuna.load_study(study_name=study, storage=url).get_trials(deepcopy=False)


def configuration(trial) -> tuple:
    return tuple(sorted(trial.params.items()))


def assert_each_configuration_trained_once(trials, budget: int) -> None:
    counted = [t for t in trials if record.counts_toward_budget(t)]
    assert len(counted) == budget, [(t.number, t.state.name, t.user_attrs.get("worker")) for t in trials]
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    # Keras Tuner's Hyperband trains one configuration in several trials (its rounds): those carry
    # promoted_from; every other repeat of a configuration is a duplicate.
    fresh = [t for t in counted if record.PROMOTED_FROM not in t.user_attrs]
    repeats = [c for c, n in Counter(configuration(t) for t in fresh).items() if n > 1]
    assert not repeats, repeats
    kt_ids = Counter(t.user_attrs.get(record.BACKEND_TRIAL_ID) for t in counted)
    assert max(kt_ids.values()) == 1, kt_ids


# An Optuna sampler is covered by test_local_workers (tpe, SQLite, 2 workers) and test_workers_faults (tpe,
# PostgreSQL, 3 workers, one killed), with the same assertions.
CASES = [("random", "sqlite"), ("hyperband", "sqlite"), ("bayesian", "postgres")]


@pytest.mark.parametrize(("backend", "database"), CASES, ids=[f"{b}-{d}" for b, d in CASES])
def test_two_resumes_at_once_train_every_configuration_once_and_end_on_the_budget(
        backend, database, sqlite_url, request, unique_name):
    url = sqlite_url if database == "sqlite" else request.getfixturevalue("postgres_url")
    trials = None if backend == "hyperband" else 6
    schedule = create_only(url, unique_name, backend, trials=trials, max_epochs=3)

    results = resume_concurrently(url, unique_name, 2)

    for result in results:
        assert result.returncode == 0, result.stderr[-2000:]
        assert "Traceback" not in result.stderr
    found = trials_of(url, unique_name)
    budget = schedule if backend == "hyperband" else 6
    assert_each_configuration_trained_once(found, budget)
    workers = {t.user_attrs.get(record.WORKER) for t in found}
    assert len(workers) == 2, workers  # both processes trained: the test did test concurrency


def test_the_backend_state_lives_in_the_study_not_in_the_artifacts_folder(sqlite_url, unique_name):
    import shutil

    runner = CliRunner()
    args = ["--storage", sqlite_url, "-q"]
    started = runner.invoke(cli, ["start", "digits_mlp", "--backend", "random", "--study", unique_name,
                                  "--trials", "3", "--max-epochs", "1", "--train-samples", "200", *args])
    assert started.exit_code == 0, started.output
    meta_folder = artifacts_of(sqlite_url, unique_name)
    assert not os.path.exists(os.path.join(meta_folder, "backend"))  # nothing of the oracle on disk
    shutil.rmtree(meta_folder, ignore_errors=True)  # the whole artifacts folder gone

    resumed = runner.invoke(cli, ["resume", unique_name, "--trials", "3", *args])

    assert resumed.exit_code == 0, resumed.output
    assert_each_configuration_trained_once(trials_of(sqlite_url, unique_name), 6)


def test_damaged_backend_state_stops_with_one_line_and_changes_nothing(sqlite_url, unique_name, tmp_path):
    runner = CliRunner()
    started = runner.invoke(cli, ["start", "digits_mlp", "--backend", "hyperband", "--study", unique_name,
                                  "--max-epochs", "3", "--train-samples", "200", "--storage", sqlite_url, "-q"])
    assert started.exit_code == 0, started.output
    storage = optuna.storages.RDBStorage(sqlite_url)
    study_id = storage.get_study_id_from_name(unique_name)
    state = storage.get_study_system_attrs(study_id)[record.STUDY_BACKEND_STATE]
    del state["oracle"]["brackets"]  # as a bad edit or a partial write would leave it
    storage.set_study_system_attr(study_id, record.STUDY_BACKEND_STATE, state)
    storage.engine.dispose()
    database = sqlite_url.removeprefix("sqlite:///")
    before = open(database, "rb").read()

    resumed = runner.invoke(cli, ["resume", unique_name, "--trials", "2", "--storage", sqlite_url, "-q"])

    assert resumed.exit_code == 1
    assert "Error: The Keras Tuner state of study" in resumed.output and "damaged" in resumed.output
    assert "Traceback" not in resumed.output
    assert open(database, "rb").read() == before


def test_studies_whose_names_make_one_folder_name_keep_apart(sqlite_url):
    runner = CliRunner()
    common = ["--backend", "random", "--trials", "2", "--max-epochs", "1", "--train-samples", "200",
              "--storage", sqlite_url, "-q"]
    first = runner.invoke(cli, ["start", "digits_mlp", "--study", "étude/1", "--seed", "1", *common])
    assert first.exit_code == 0, first.output
    first_folder = artifacts_of(sqlite_url, "étude/1")
    checkpoint = os.path.join(first_folder, "checkpoints", "trial-00000", "best.weights.h5")
    written = os.stat(checkpoint).st_mtime_ns

    second = runner.invoke(cli, ["start", "digits_mlp", "--study", "étude:1", "--seed", "2", *common])

    assert second.exit_code == 0, second.output
    second_folder = artifacts_of(sqlite_url, "étude:1")
    assert first_folder != second_folder
    assert os.stat(checkpoint).st_mtime_ns == written  # the first study's weights untouched
    firsts = [configuration(t) for t in trials_of(sqlite_url, "étude/1")]
    seconds = [configuration(t) for t in trials_of(sqlite_url, "étude:1")]
    assert firsts != seconds  # each with its own seed, not the other's oracle


def test_a_failure_in_the_middle_of_creating_a_study_leaves_no_study(sqlite_url, unique_name):
    from hpsearch.storage.studies import create_study, open_storage, study_exists

    plan = plan_start(StartRequest(space="digits_mlp", backend="tpe", study=unique_name, storage=sqlite_url))
    plan.meta.data = {"path": object()}  # not JSON: the write fails after the study row was added
    storage = open_storage(sqlite_url)
    with pytest.raises(TypeError):
        create_study(storage, unique_name, "maximize", "val_accuracy", plan.meta)
    assert not study_exists(storage, unique_name)
    again = CliRunner().invoke(cli, ["start", "digits_mlp", "--backend", "tpe", "--study", unique_name, "--trials",
                                     "1", "--max-epochs", "1", "--train-samples", "200", "--storage", sqlite_url, "-q"])
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize("backend", ["tpe", "grid"])
def test_a_trial_whose_worker_died_before_recording_itself_is_recovered_at_once(backend, sqlite_url, unique_name):
    create_only(sqlite_url, unique_name, backend, trials=2, max_epochs=1)
    study = optuna.load_study(study_name=unique_name, storage=sqlite_url)
    orphan = study.ask()  # created, then the process died before writing its worker

    resumed = CliRunner().invoke(cli, ["resume", unique_name, "--storage", sqlite_url, "-q"])

    assert resumed.exit_code == 0, resumed.output
    found = trials_of(sqlite_url, unique_name)
    assert not [t for t in found if t.state == TrialState.RUNNING]
    assert found[orphan.number].state == TrialState.FAIL and record.is_interrupted(found[orphan.number])
    assert record.counted_trials(found) == 2


def test_seed_zero_reproduces_keras_tuner_proposals(sqlite_url):
    from hpsearch.search.backends import get_backend
    from hpsearch.search.backends._base import BackendContext
    from hpsearch.spaces.catalog import get_space

    space = get_space("digits_mlp")

    def proposals() -> list:
        study = optuna.create_study(direction="maximize")
        backend = get_backend("random")(BackendContext(space=space, study=study, settings={}, seed=0, max_epochs=1))
        return [backend.ask().params for _ in range(3)]

    assert proposals() == proposals()
