"""``hpsearch migrate``: real searches copied between real SQLite and PostgreSQL, then resumed there."""
from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from hpsearch.search.cli.main import cli
from hpsearch.storage import record
from hpsearch.storage.artifacts import TrialCheckpoints, study_store_folder
from hpsearch.storage import migrate
from hpsearch.storage.migrate import MigrationError, copy_study, plan_study
from hpsearch.storage.studies import StudyMeta, create_study, open_storage, study_meta
from hpsearch.storage.urls import sqlite_path

def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def assert_one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output
    assert fragment in result.output, result.output


@dataclass(frozen=True)
class Source:
    url: str
    folder: Path
    prefix: str  # every study name of this source starts with it (PostgreSQL clean-up)
    kt: str  # a Keras Tuner (random) study
    tpe: str  # an Optuna (TPE) study


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Source:
    """A laptop's SQLite file with two real 3-trial digits searches, one per backend family."""
    folder = tmp_path_factory.mktemp("laptop")
    url = f"sqlite:///{folder / 'laptop.db'}"
    prefix = f"mig-{uuid.uuid4().hex[:8]}"
    with pytest.MonkeyPatch.context() as patch:
        for name in ("HPSEARCH_STORAGE", "HPSEARCH_ARTIFACTS", "HPSEARCH_DATA_DIR"):
            patch.delenv(name, raising=False)
        patch.chdir(folder)
        for backend, name in (("random", f"{prefix}-kt"), ("tpe", f"{prefix}-tpe")):
            result = invoke("start", "digits_mlp", "-b", backend, "--trials", "3", "--max-epochs", "1",
                            "--train-samples", "300", "--seed", "0", "--storage", url, "--study", name, "-q")
            assert result.exit_code == 0, result.output
    return Source(url, folder, prefix, f"{prefix}-kt", f"{prefix}-tpe")


@pytest.fixture
def pg(postgres_url, source):
    """The test PostgreSQL; the studies copied there by a test are deleted after it."""
    yield postgres_url
    storage = open_storage(postgres_url)
    for study in storage.get_all_studies():
        if study.study_name.startswith(source.prefix):
            storage.delete_study(storage.get_study_id_from_name(study.study_name))
    storage.engine.dispose()


def names_in(url: str) -> list[str]:
    storage = open_storage(url)
    try:
        return sorted(s.study_name for s in storage.get_all_studies())
    finally:
        storage.engine.dispose()


def snapshot(url: str, name: str) -> dict:
    """Everything stored of study ``name``: directions, attributes, every trial field by field."""
    storage = open_storage(url)
    try:
        study_id = storage.get_study_id_from_name(name)
        trials = [(t.number, t.state, t.values, t.params, t.distributions, t.intermediate_values, t.user_attrs,
                   t.system_attrs, t.datetime_start, t.datetime_complete) for t in storage.get_all_trials(study_id)]
        return {"directions": storage.get_study_directions(study_id), "user": storage.get_study_user_attrs(study_id),
                "system": storage.get_study_system_attrs(study_id), "trials": trials}
    finally:
        storage.engine.dispose()


def clone(url: str, folder: Path) -> str:
    """A copy of a SQLite database (its WAL included), so a test may change it."""
    target = folder / "clone.db"
    with sqlite3.connect(sqlite_path(url)) as original, sqlite3.connect(target) as copy:
        original.backup(copy)
    return f"sqlite:///{target}"


@pytest.mark.slow
def test_round_trip_sqlite_to_postgres_and_back_keeps_every_field(source, pg, tmp_path):
    there = invoke("migrate", source.url, pg, "--study", source.kt, "--study", source.tpe)
    assert there.exit_code == 0, there.output
    assert f"copied {source.kt}: 3 trials, backend state, artifacts " in there.output
    assert f"copied {source.tpe}: 3 trials, artifacts " in there.output
    assert f"hpsearch resume {source.tpe} --storage {pg}" in there.output
    back_url = f"sqlite:///{tmp_path / 'back.db'}"
    back = invoke("migrate", pg, back_url, "--study", source.kt, "--study", source.tpe)
    assert back.exit_code == 0, back.output
    for name in (source.kt, source.tpe):
        original = snapshot(source.url, name)
        assert original["system"][record.STUDY_META]["artifacts"]
        assert len(original["trials"]) == 3 and any(t[7] for t in original["trials"])
        assert snapshot(pg, name) == original
        assert snapshot(back_url, name) == original
    assert record.STUDY_BACKEND_STATE in snapshot(pg, source.kt)["system"]


@pytest.mark.slow
@pytest.mark.parametrize("study", ["kt", "tpe"])
def test_resume_on_postgres_goes_on_without_repeating_a_configuration(source, pg, study):
    name = getattr(source, study)
    assert invoke("migrate", source.url, pg, "--study", name).exit_code == 0
    resumed = invoke("resume", name, "--storage", pg, "--trials", "2", "-q")
    assert resumed.exit_code == 0, resumed.output
    trials = optuna.load_study(study_name=name, storage=pg).get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == 5, [(t.number, t.state) for t in trials]
    configurations = [tuple(sorted(t.params.items())) for t in complete]
    assert len(set(configurations)) == 5, configurations
    assert len(snapshot(source.url, name)["trials"]) == 3  # the SRC is left as it was


@pytest.mark.slow
def test_running_trials_of_dead_workers_are_copied_as_interrupted_live_ones_refused(source, tmp_path):
    url = clone(source.url, tmp_path)
    finished = subprocess.Popen(["true"])
    finished.wait()
    study = optuna.load_study(study_name=source.kt, storage=url)
    dead = study.ask()
    dead.set_user_attr(record.WORKER, f"{socket.gethostname()}:{finished.pid}")
    before = snapshot(url, source.kt)

    copied_url = f"sqlite:///{tmp_path / 'server.db'}"
    result = invoke("migrate", url, copied_url, "--study", source.kt)

    assert result.exit_code == 0, result.output
    assert f"copied {source.kt}: 4 trials (1 running trial of a dead worker recorded as interrupted: 3)" in result.output
    assert snapshot(url, source.kt) == before  # SRC unchanged: the trial is still RUNNING there
    copied = optuna.load_study(study_name=source.kt, storage=copied_url).trials[dead.number]
    assert copied.state == TrialState.FAIL
    assert copied.user_attrs[record.INTERRUPTED] is True
    assert copied.user_attrs[record.FAIL_REASON] == "interrupted: worker process is gone (killed or crashed)"
    assert copied.datetime_start == before["trials"][dead.number][8]

    live = study.ask()
    live.set_user_attr(record.WORKER, f"{socket.gethostname()}:{os.getpid()}")
    refused_url = tmp_path / "refused.db"
    refused = invoke("migrate", url, f"sqlite:///{refused_url}")
    assert_one_line_error(refused, f"trial {live.number} on worker {socket.gethostname()}:{os.getpid()}")
    assert "Stop those workers (Ctrl-C) first" in refused.output
    assert not refused_url.exists()


@pytest.mark.slow
def test_bad_input_is_one_line_and_writes_nothing(source, pg, tmp_path):
    assert invoke("migrate", source.url, pg, "--study", source.kt).exit_code == 0
    def ours() -> list[str]:  # other tests share the PostgreSQL database
        return [n for n in names_in(pg) if n.startswith(source.prefix)]

    before = ours()
    assert before == [source.kt]
    database = sqlite_path(source.url)
    cases = [
        ((source.url, pg), f"Study '{source.kt}' already exists in "),
        ((source.url, pg, "--study", "nope"), f"No study named 'nope' in '{source.url}'. Studies there: "),
        ((source.url, f"sqlite:///{os.path.relpath(database)}"), "one database"),
        ((f"sqlite:///{tmp_path / 'missing.db'}", pg), "No hpsearch database at"),
    ]
    for args, fragment in cases:
        assert_one_line_error(invoke("migrate", *args), fragment)
        assert ours() == before
    assert source.tpe in invoke("migrate", source.url, pg, "--study", "nope").output  # names the studies there
    untouched = tmp_path / "new.db"
    assert_one_line_error(invoke("migrate", source.url, f"sqlite:///{untouched}", "--study", "nope"), "nope")
    assert not untouched.exists()
    from sqlalchemy.engine import make_url

    if make_url(pg).password is None:  # trust authentication: any password is accepted, and never shown
        secret = make_url(pg).set(password="s3cret").render_as_string(hide_password=False)
        shown = invoke("migrate", source.url, secret, "--study", source.kt)
        assert_one_line_error(shown, "***@")
        assert "s3cret" not in shown.output


@pytest.mark.slow
def test_artifacts_are_copied_to_the_new_folder_and_the_copy_uses_them(source, tmp_path):
    url = f"sqlite:///{tmp_path / 'server.db'}"
    result = invoke("migrate", source.url, url, "--study", source.kt, "--artifacts", "moved")
    assert result.exit_code == 0, result.output
    old = Path(study_meta(open_storage(source.url), source.kt).artifacts)
    new = Path(study_meta(open_storage(url), source.kt).artifacts)
    assert new == tmp_path / "moved" / old.name
    assert f"artifacts {new} (copied: " in result.output
    trials = optuna.load_study(study_name=source.kt, storage=url).trials
    kept = [t.number for t in trials if TrialCheckpoints(old).exists(t.number)]
    assert kept and all(TrialCheckpoints(new).exists(n) for n in kept)
    for trial in trials:
        for artifact_id in record.artifact_ids(trial):
            before, after = study_store_folder(old) / artifact_id, tmp_path / "moved" / "optuna-artifacts" / artifact_id
            assert after.is_file() and after.read_bytes() == before.read_bytes()
            if before.samefile(TrialCheckpoints(old).path(trial.number)):  # a hard link: kept one
                assert after.samefile(TrialCheckpoints(new).path(trial.number))
    exported = invoke("export", source.kt, "--model", "best.keras", "--storage", url)
    assert exported.exit_code == 0, exported.output
    assert f"weights:  {new}/checkpoints/" in exported.output

    kept_there = invoke("migrate", source.url, f"sqlite:///{tmp_path / 'other.db'}", "--study", source.kt)
    assert f"artifacts {old} (kept there)" in kept_there.output
    said = " ".join(kept_there.output.split())
    assert "Workers on other hosts need those folders: mounted at the same paths, or given as `hpsearch worker " \
           "STUDY --artifacts DIR`" in said


def test_missing_artifacts_folder_is_a_note_and_plain_optuna_studies_are_copied(tmp_path):
    url = f"sqlite:///{tmp_path / 'laptop.db'}"
    storage = open_storage(url)
    meta = StudyMeta(space_name="digits_mlp", space={"params": []}, backend="tpe", backend_settings={}, trials=3,
                     max_epochs=1, timeout=None, epoch_timeout=None, seed=0, data={},
                     artifacts=str(tmp_path / "gone" / "hp-12345678"))
    create_study(storage, "hp", "maximize", "val_accuracy", meta)
    plain = optuna.create_study(storage=url, study_name="plain")
    plain.add_trial(optuna.trial.create_trial(params={"x": 1.0}, distributions={"x": FloatDistribution(0, 2)},
                                              value=0.5))
    result = invoke("migrate", url, f"sqlite:///{tmp_path / 'server.db'}", "--artifacts", "moved")
    assert result.exit_code == 0, result.output
    assert f"note: artifacts folder {tmp_path / 'gone' / 'hp-12345678'} not found" in result.output
    assert "copied plain: 1 trial, a plain Optuna study" in result.output
    assert "hpsearch resume hp --storage" in result.output and "resume plain" not in result.output
    copied = study_meta(open_storage(f"sqlite:///{tmp_path / 'server.db'}"), "hp")
    assert copied.artifacts == str(tmp_path / "moved" / "hp-12345678")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_every_kind_of_optuna_value_survives_the_copy(tmp_path, request, kind, unique_name):
    """Multi-objective values, infinities and NaN, every distribution, WAITING / PRUNED / FAIL trials."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    url = f"sqlite:///{tmp_path / 'laptop.db'}"
    study = optuna.create_study(storage=url, study_name=unique_name, directions=["maximize", "minimize"])
    study.set_user_attr("note", {"nested": [1, None, "é"]})
    study.set_metric_names(["accuracy", "loss"])
    distributions = {"x": FloatDistribution(1e-4, 1.0, log=True), "n": IntDistribution(1, 64, log=True),
                     "k": IntDistribution(0, 10, step=2), "c": CategoricalDistribution([None, "a", 3, 1.5, True])}
    study.add_trial(optuna.trial.create_trial(
        params={"x": 0.01, "n": 8, "k": 4, "c": None}, distributions=distributions, values=[float("inf"), -1.5],
        intermediate_values={1: float("-inf"), 2: float("inf"), 3: float("nan"), 4: 0.25},
        user_attrs={"a": [1, 2]}, system_attrs={"s": {"deep": True}}))
    study.add_trial(optuna.trial.create_trial(params={"c": True}, distributions={"c": distributions["c"]},
                                              state=TrialState.FAIL))
    study.add_trial(optuna.trial.create_trial(state=TrialState.PRUNED, intermediate_values={1: 0.5}))
    study.enqueue_trial({"x": 0.5})
    dst_url = request.getfixturevalue("postgres_url") if kind == "postgresql" else f"sqlite:///{tmp_path / 's.db'}"
    try:
        result = invoke("migrate", url, dst_url)
        assert result.exit_code == 0, result.output
        assert f"copied {unique_name}: 4 trials, a plain Optuna study" in result.output
        assert "hpsearch resume" not in result.output
        original, copied = snapshot(url, unique_name), snapshot(dst_url, unique_name)
        steps = [t[5].pop(3) for t in (original["trials"][0], copied["trials"][0])]
        assert all(v != v for v in steps)  # NaN both
        assert copied == original
        assert [t[1] for t in copied["trials"]] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED,
                                                     TrialState.WAITING]
        assert optuna.load_study(study_name=unique_name, storage=dst_url).metric_names == ["accuracy", "loss"]
    finally:
        if kind == "postgresql" and unique_name in names_in(dst_url):
            optuna.delete_study(study_name=unique_name, storage=dst_url)


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["trials", "attrs", "ctrl-c"])
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_failure_midway_leaves_no_partial_study(source, tmp_path, request, monkeypatch, kind, fault):
    dst_url = request.getfixturevalue("pg") if kind == "postgresql" else f"sqlite:///{tmp_path / 'server.db'}"
    src, dst = open_storage(source.url), open_storage(dst_url)
    plan = plan_study(src, source.kt, tmp_path / "moved")
    monkeypatch.setattr(migrate, "TRIALS_PER_COMMIT", 1)  # one commit per trial: a fault between two
    error = KeyboardInterrupt() if fault == "ctrl-c" else RuntimeError("disk full")

    def progress(done: int, total: int) -> None:
        assert source.kt in names_in(dst_url)  # the copy is being written
        if fault != "attrs" and done == 2:
            raise error

    def set_study_system_attr(*args):  # the DST storage fails after every trial and file was copied
        raise error

    if fault == "attrs":
        monkeypatch.setattr(dst, "set_study_system_attr", set_study_system_attr)
    expected = KeyboardInterrupt if fault == "ctrl-c" else MigrationError
    with pytest.raises(expected, match=None if fault == "ctrl-c" else "disk full; nothing of it was left"):
        copy_study(src, dst, plan, {}, progress)
    assert source.kt not in names_in(dst_url)
    assert not plan.target.exists()
    assert not list((tmp_path / "moved").glob("optuna-artifacts/*"))
    dst.engine.dispose()


@pytest.mark.slow
def test_a_failure_is_one_line_that_says_nothing_was_left(source, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'server.db'}"
    src, dst = open_storage(source.url), open_storage(url)
    monkeypatch.setattr(dst, "set_study_user_attr", lambda *args: (_ for _ in ()).throw(OSError("disk full\nmore")))
    with pytest.raises(MigrationError) as raised:
        copy_study(src, dst, plan_study(src, source.tpe, None), {})
    assert str(raised.value) == (f"Cannot copy study '{source.tpe}': disk full; nothing of it was left in the "
                                 f"destination.")
    assert names_in(url) == []


@pytest.mark.slow
def test_trial_numbers_that_would_change_stop_the_copy(source, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'server.db'}"
    src, dst = open_storage(source.url), open_storage(url)
    monkeypatch.setattr(migrate, "TRIALS_PER_COMMIT", 1)

    def another_process_adds_a_trial(done: int, total: int) -> None:
        if done == 1:
            dst.create_new_trial(dst.get_study_id_from_name(source.tpe))

    with pytest.raises(MigrationError, match="trial 1 is stored at position 2"):
        copy_study(src, dst, plan_study(src, source.tpe, None), {}, another_process_adds_a_trial)
    assert names_in(url) == []
