"""Several worker processes on one study: `start --workers N`, `hpsearch worker`, and what they refuse.

Real `hpsearch` processes on a real SQLite file (digits, tiny); the study is read back with Optuna
(polled with a deadline while the processes run, never a fixed sleep).
"""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from hpsearch.search.backends import backend_names
from hpsearch.search.cli.main import cli
from hpsearch.storage import record

from .test_concurrency import assert_each_configuration_trained_once, create_only

HPSEARCH = [sys.executable, "-c", "from hpsearch.search.cli.main import main; main()"]
CORES = len(os.sched_getaffinity(0))
needs_two_cores = pytest.mark.skipif(CORES < 2, reason="two local workers need two CPU cores")
TIMEOUT = 240  # seconds any one hpsearch process may take here before the test fails


def environment(quiet_tf: bool = True) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "HPSEARCH_VERBOSE"}
    env["PYTHONUNBUFFERED"] = "1"
    if not quiet_tf:  # the product's own quieting, as a user's shell has it
        env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    return env


def hpsearch(*args: str, quiet_tf: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([*HPSEARCH, *args], capture_output=True, text=True, env=environment(quiet_tf),
                          timeout=TIMEOUT)


def trials_of(url: str, study: str) -> list:
    storage = optuna.storages.RDBStorage(url)
    try:
        return storage.get_all_trials(storage.get_study_id_from_name(study), deepcopy=False)
    finally:
        storage.engine.dispose()


def stored_meta(url: str, study: str):
    from hpsearch.storage.studies import study_meta

    storage = optuna.storages.RDBStorage(url)
    try:
        return study_meta(storage, study)
    finally:
        storage.engine.dispose()


def study_snapshot(url: str) -> dict:
    """Everything hpsearch and Optuna keep of every study of ``url``: names, attributes, trials."""
    storage = optuna.storages.RDBStorage(url)
    try:
        snapshot = {}
        for summary in storage.get_all_studies():
            study_id = summary._study_id
            trials = [(t.number, t.state, t.params, t.user_attrs, t.system_attrs, t.values, t.intermediate_values)
                      for t in storage.get_all_trials(study_id, deepcopy=False)]
            snapshot[summary.study_name] = (storage.get_study_user_attrs(study_id),
                                            storage.get_study_system_attrs(study_id), trials)
        return snapshot
    finally:
        storage.engine.dispose()


def study_created(database: Path, study: str) -> bool:
    """Whether ``study`` exists in the SQLite file yet (read with sqlite3: opening it with Optuna while
    another process creates its tables would race that process)."""
    if not database.exists():
        return False
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
            return bool(connection.execute("SELECT 1 FROM studies WHERE study_name = ?", (study,)).fetchall())
    except sqlite3.OperationalError:  # no tables yet, or busy
        return False


def wait_for(condition, what: str, process: subprocess.Popen | None = None, timeout: float = 180):
    """Poll ``condition()`` until it returns something true; fail after ``timeout`` s or if ``process`` ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if process is not None and process.poll() is not None:
            pytest.fail(f"the process ended ({process.returncode}) before {what}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def journal_mode(database: Path) -> str:
    with sqlite3.connect(database) as connection:
        return connection.execute("PRAGMA journal_mode").fetchone()[0]


def pid_of(worker: str) -> int:
    parsed = record.parse_worker(worker)
    assert parsed is not None, worker
    return parsed[1]


def process_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


# --- 1. start --workers 2 ------------------------------------------------------------------------------


@needs_two_cores
def test_two_local_workers_share_the_trial_budget_exactly(tmp_path, unique_name):
    database = tmp_path / "workers.db"
    url = f"sqlite:///{database}"

    result = hpsearch("start", "digits_mlp", "-b", "tpe", "--trials", "6", "--max-epochs", "1", "--train-samples",
                      "300", "--workers", "2", "--study", unique_name, "--storage", url)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Traceback" not in output
    assert "database is locked" not in output
    trials = trials_of(url, unique_name)
    assert_each_configuration_trained_once(trials, 6)  # exactly 6 counted, none RUNNING, no repeat
    assert len(trials) == 6 and all(t.state == TrialState.COMPLETE for t in trials), \
        [(t.number, t.state.name, t.user_attrs.get(record.FAIL_REASON)) for t in trials]
    assert not [t for t in trials if "locked" in str(t.user_attrs.get(record.FAIL_REASON, ""))]
    workers = Counter(t.user_attrs[record.WORKER] for t in trials)
    assert len(workers) == 2, workers

    # Each worker's lines carry its prefix, and the trials a prefix reports are those its process recorded.
    threads = max(1, CORES // 2)
    joined = dict(re.findall(rf"^(w[12]) \| joined as (\S+:\d+), {threads} threads?$", result.stdout, re.M))
    assert set(joined) == {"w1", "w2"}, result.stdout
    assert set(joined.values()) == set(workers)
    reported = re.findall(r"^(w[12]) \| \[\d+/6\] trial (\d+) COMPLETE val_accuracy ", result.stdout, re.M)
    assert sorted(int(number) for _, number in reported) == list(range(6)), result.stdout
    for prefix, number in reported:
        assert trials[int(number)].user_attrs[record.WORKER] == joined[prefix]
    assert {prefix for prefix, _ in reported} == {"w1", "w2"}
    trial_lines = [line for line in result.stdout.splitlines() if re.search(r"\btrial \d+\b.*(COMPLETE|epoch)", line)]
    assert trial_lines and all(re.match(r"w[12] \| ", line) for line in trial_lines), trial_lines
    assert re.search(r"^Stopped: trial budget reached \(6 trials\)\. 6 trials in \S+ by 2 workers\.$",
                     result.stdout, re.M), result.stdout[-2000:]

    assert journal_mode(database) == "wal"

    # `show` names both workers with the trials each trained (JSON, and the table's workers row).
    shown = hpsearch("show", unique_name, "--storage", url, "-f", "json")
    assert shown.returncode == 0, shown.stderr
    listed = {w["worker"]: w["trials"] for w in json.loads(shown.stdout)["workers"]}
    assert listed == dict(workers), (listed, workers)
    table = hpsearch("show", unique_name, "--storage", url).stdout
    row = re.search(r"^workers +2: (.+)$", table, re.M)
    assert row and all(f"{name} ({count} trial" in row[1] for name, count in workers.items()), table


# --- 2. Ctrl-C to start --workers 2 ---------------------------------------------------------------------


@needs_two_cores
def test_ctrl_c_stops_every_worker_records_their_trials_and_resume_runs_them_again(tmp_path, unique_name):
    database = tmp_path / "interrupted.db"
    url = f"sqlite:///{database}"
    budget = 6
    log = (tmp_path / "start.out").open("w+")
    errors = (tmp_path / "start.err").open("w+")
    parent = subprocess.Popen([*HPSEARCH, "start", "digits_mlp", "-b", "tpe", "--trials", str(budget),
                               "--max-epochs", "3", "--train-samples", "600", "--workers", "2", "--study",
                               unique_name, "--storage", url, "-q"],
                              stdout=log, stderr=errors, text=True, env=environment())
    try:
        wait_for(lambda: study_created(database, unique_name), "the study exists", parent)

        def both_running():
            # Both workers inside a trial with at least one epoch still to train: SIGINT lands in training.
            running = [t for t in trials_of(url, unique_name) if t.state == TrialState.RUNNING
                       and record.WORKER in t.user_attrs and len(t.intermediate_values) < 2]
            by_worker = {t.user_attrs[record.WORKER]: t.number for t in running}
            return by_worker if len(by_worker) == 2 else None

        running = wait_for(both_running, "both workers to run a trial", parent)
        parent.send_signal(signal.SIGINT)  # what Ctrl-C in its terminal sends it
        code = parent.wait(timeout=120)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    log.seek(0)
    errors.seek(0)
    out, err = log.read(), errors.read()

    assert code == 130, out[-3000:] + err[-3000:]
    assert "Traceback" not in out + err
    assert "Interrupted: stopping the workers" in err, err
    assert f"Continue with: hpsearch resume {unique_name} --storage {url}" in err, err
    for prefix in ("w1", "w2"):
        assert f"{prefix} | interrupted: the running trial is recorded as FAIL (interrupted)" in out, out[-3000:]
    for worker in running:  # the parent waited for its workers: none is left running
        assert wait_for(lambda: process_gone(pid_of(worker)), f"worker {worker} to end", timeout=10)

    trials = trials_of(url, unique_name)
    assert not [t.number for t in trials if t.state == TrialState.RUNNING]
    interrupted = [t for t in trials if record.is_interrupted(t)]
    assert all(t.state == TrialState.FAIL for t in interrupted)
    assert {t.user_attrs[record.WORKER] for t in interrupted} == set(running), (running, interrupted)
    assert {t.number for t in interrupted} == set(running.values())

    resumed = hpsearch("resume", unique_name, "--storage", url, "-q")

    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    trials = trials_of(url, unique_name)
    assert_each_configuration_trained_once(trials, budget)
    for old in interrupted:
        again = [t for t in trials if t.user_attrs.get(record.RETRY_OF) == old.number]
        assert len(again) == 1, (old.number, [(t.number, t.user_attrs) for t in again])
        assert again[0].state == TrialState.COMPLETE and again[0].params == old.params
    retried = Counter(t.user_attrs[record.RETRY_OF] for t in trials if record.RETRY_OF in t.user_attrs)
    assert set(retried) == {t.number for t in interrupted} and max(retried.values()) == 1


# --- 3. a worker with its own artifacts folder -----------------------------------------------------------


def test_a_worker_without_the_parents_weights_trains_its_promotions_from_scratch(tmp_path, unique_name):
    url = f"sqlite:///{tmp_path / 'hb.db'}"
    # Hyperband of 3 epochs, factor 3: the reference trial, bracket 1 (3 trials of 1 epoch, the best
    # promoted to 3 epochs), bracket 0 (2 trials of 3 epochs). A budget of 4 trials stops a first process
    # right before the promotion; the budget is then extended and a worker with an empty artifacts
    # folder of its own trains the rest.
    assert create_only(url, unique_name, "hyperband", trials=4, max_epochs=3) == 7
    first = hpsearch("resume", unique_name, "--storage", url, "-q")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    before = trials_of(url, unique_name)
    assert len(before) == 4 and not [t for t in before if record.PROMOTED_FROM in t.user_attrs]
    first_worker = {t.user_attrs[record.WORKER] for t in before}
    assert len(first_worker) == 1
    stored = stored_meta(url, unique_name).artifacts
    folder = Path(stored)
    from hpsearch.search.session import ResumeRequest, resume_session

    resume_session(ResumeRequest(study=unique_name, storage=url, trials=3)).close()  # the budget: 7 trials
    other = tmp_path / "elsewhere"
    other.mkdir()

    result = hpsearch("worker", unique_name, "--storage", url, "--artifacts", str(other), "-q")

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stdout + result.stderr
    assert re.search(rf"^artifacts\s+{re.escape(str(other.resolve() / folder.name))}$", result.stdout, re.M), \
        result.stdout
    trials = trials_of(url, unique_name)
    assert_each_configuration_trained_once(trials, 7)
    assert not [t.number for t in trials if t.state == TrialState.FAIL]
    mine = [t for t in trials if t.user_attrs[record.WORKER] not in first_worker]
    assert len(mine) == 3, [(t.number, t.user_attrs) for t in trials]
    orphans = [t for t in mine if record.PROMOTED_FROM in t.user_attrs
               and trials[t.user_attrs[record.PROMOTED_FROM]].user_attrs[record.WORKER] in first_worker]
    assert orphans, "the worker trained a promotion of a trial the first process trained"
    for trial in orphans:
        assert trial.state == TrialState.COMPLETE, trial.user_attrs
        assert trial.user_attrs.get(record.WEIGHTS_MISSING) is True, trial.user_attrs
        assert record.CHECKPOINT_UNREADABLE not in trial.user_attrs, trial.user_attrs
        # fresh weights: every epoch of the schedule trained, not only the round's own
        target = trial.user_attrs[record.TARGET_EPOCHS]
        assert sorted(trial.intermediate_values) == list(range(1, target + 1)), trial.intermediate_values
        assert trial.user_attrs[record.EPOCHS_TRAINED] == target, trial.user_attrs
    for trial in mine:
        if record.PROMOTED_FROM not in trial.user_attrs:
            assert record.WEIGHTS_MISSING not in trial.user_attrs, trial.user_attrs

    assert stored_meta(url, unique_name).artifacts == stored  # the study keeps its own path
    assert folder.is_dir() and folder.parent != other
    written = {int(p.name.removeprefix("trial-")) for p in (other / folder.name / "checkpoints").iterdir()}
    assert written == {t.number for t in mine}, written
    for trial in mine:
        if not trial.user_attrs.get(record.WEIGHTS_DROPPED):
            assert (other / folder.name / "checkpoints" / f"trial-{trial.number:05d}" / "best.weights.h5").is_file()
    at_home = {int(p.name.removeprefix("trial-")) for p in (folder / "checkpoints").iterdir()}
    assert at_home == {t.number for t in before}, at_home  # nothing of the worker's in the study's own folder

    late = hpsearch("worker", unique_name, "--storage", url, "--artifacts", str(other))  # the budget is spent

    assert late.returncode == 0, late.stdout + late.stderr
    assert late.stdout.startswith(f"Nothing to do: study '{unique_name}' has spent its budget (trial budget reached "
                                  f"(7 trials)); this worker trained 0 trials."), late.stdout
    assert len(trials_of(url, unique_name)) == 7


# --- 4. bad input ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_study(tmp_path_factory) -> tuple[str, str]:
    """A TPE study of 2 trials, none trained yet."""
    folder = tmp_path_factory.mktemp("bad-input")
    url = f"sqlite:///{folder / 'bad.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # its artifacts folder there, not in the checkout (before `isolated` runs)
        create_only(url, "small", "tpe", trials=2, max_epochs=1)
    return url, "small"


def assert_one_error_line(result: subprocess.CompletedProcess, code: int, fragment: str) -> None:
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    errors = [line for line in lines if "Error" in line]
    assert len(errors) == 1 and lines[-1] == errors[0] and errors[0].startswith("Error: "), result.stderr
    if code == 1:  # hpsearch's own errors: that line alone
        assert len(lines) == 1, result.stderr
    else:  # click's usage errors: its usage line and hint, then the one error line
        assert lines[0].startswith("Usage: ") and lines[1].startswith("Try ") and lines[2] == "", result.stderr
    assert fragment in errors[0], errors[0]


WORKERS_OVER = CORES + 1
PAIR = min(2, CORES)  # workers, and threads each that are one too many for this machine
PAIR_THREADS = CORES // PAIR + 1
PAIR_MESSAGE = (f"{PAIR} workers x {PAIR_THREADS} threads exceeds this machine's {CORES} CPU cores" if PAIR > 1
                else f"--threads {PAIR_THREADS} exceeds this machine's {CORES} CPU cores")

BAD = [
    pytest.param(["worker", "nosuch"], 1, "No study named 'nosuch' in this storage. Studies here: small.",
                 id="no such study"),
    pytest.param(["worker", "{study}", "--threads", "0"], 2, "--threads must be at least 1, not 0.", id="threads 0"),
    pytest.param(["worker", "{study}", "--threads", str(WORKERS_OVER)], 2,
                 f"--threads {WORKERS_OVER} exceeds this machine's {CORES} CPU cores.", id="threads over"),
    pytest.param(["start", "digits_mlp", "-b", "tpe", "--workers", "0"], 2, "--workers must be at least 1, not 0.",
                 id="workers 0"),
    pytest.param(["start", "digits_mlp", "-b", "tpe", "--workers", str(WORKERS_OVER)], 2,
                 f"--workers {WORKERS_OVER} exceeds this machine's {CORES} CPU cores", id="workers over"),
    pytest.param(["start", "digits_mlp", "-b", "tpe", "--workers", str(PAIR), "--threads", str(PAIR_THREADS)], 2,
                 PAIR_MESSAGE, id="workers x threads over"),
    pytest.param(["start", "digits_mlp", "-b", "tpe", "--workers", "2", "--storage", "sqlite:///:memory:"], 1,
                 "--workers needs a storage every worker process opens", id="in-memory storage", marks=needs_two_cores),
    pytest.param(["worker", "{study}", "--artifacts", "/no/such/dir"], 1,
                 "--artifacts folder /no/such/dir does not exist", id="no such artifacts folder"),
]


@pytest.mark.parametrize(("args", "code", "fragment"), BAD)
def test_bad_worker_input_is_one_line_and_changes_nothing(small_study, args, code, fragment):
    url, study = small_study
    before = study_snapshot(url)
    args = [arg.format(study=study) for arg in args]
    if "--storage" not in args:
        args += ["--storage", url]

    result = hpsearch(*args, quiet_tf=False)

    assert_one_error_line(result, code, fragment)
    assert study_snapshot(url) == before


def test_a_worker_where_the_studys_artifacts_root_is_missing_is_told_to_give_it(tmp_path, unique_name):
    from hpsearch.search.session import SearchSession, StartRequest, plan_start

    url = f"sqlite:///{tmp_path / 'moved.db'}"
    root = tmp_path / "shared"
    plan = plan_start(StartRequest(space="digits_mlp", backend="tpe", study=unique_name, storage=url, trials=2,
                                   max_epochs=1, train_samples=300, artifacts=str(root)))
    SearchSession.create(plan).close()
    stored = stored_meta(url, unique_name).artifacts
    assert Path(stored).parent.resolve() == root.resolve()
    root.rename(tmp_path / "mounted-elsewhere")  # as another machine would not have it at that path
    before = study_snapshot(url)

    result = hpsearch("worker", unique_name, "--storage", url, quiet_tf=False)

    assert_one_error_line(result, 1, f"The study's artifacts folder {stored} is not on this machine")
    assert "--artifacts DIR" in result.stderr
    assert study_snapshot(url) == before
    assert not root.exists()  # not created again by the worker


# --- 5. --threads ------------------------------------------------------------------------------------------

THREADS_PROBE = textwrap.dedent("""
    import sys
    from hpsearch.search.cli.main import cli

    cli.main(sys.argv[1:], prog_name="hpsearch", standalone_mode=False)
    import tensorflow as tf
    from tensorflow.python.eager import context

    print("PROBE initialized", context.context()._initialized)
    print("PROBE intra", tf.config.threading.get_intra_op_parallelism_threads())
    print("PROBE inter", tf.config.threading.get_inter_op_parallelism_threads())
    try:
        tf.config.threading.set_intra_op_parallelism_threads(2)
        print("PROBE pools not fixed yet")
    except RuntimeError:
        print("PROBE pools fixed")
""")


def test_a_worker_given_one_thread_runs_tensorflow_on_one_thread(tmp_path, unique_name):
    url = f"sqlite:///{tmp_path / 'threads.db'}"
    create_only(url, unique_name, "tpe", trials=1, max_epochs=1)
    probe = tmp_path / "probe.py"
    probe.write_text(THREADS_PROBE)

    process = subprocess.Popen([sys.executable, str(probe), "worker", unique_name, "--storage", url, "--threads", "1",
                                "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment())
    out, err = process.communicate(timeout=TIMEOUT)
    result = subprocess.CompletedProcess(process.args, process.returncode, out, err)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    header = re.search(r"^worker\s+(\S+:\d+), 1 thread$", result.stdout, re.M)
    assert header, result.stdout
    trials = trials_of(url, unique_name)
    assert [t.user_attrs[record.WORKER] for t in trials] == [header[1]]  # the header names this process
    assert pid_of(header[1]) == process.pid
    # TensorFlow of that process ran (its context and thread pools started) with one thread each.
    probed = dict(line.split(" ", 2)[1:] for line in result.stdout.splitlines() if line.startswith("PROBE "))
    assert probed == {"initialized": "True", "intra": "1", "inter": "1", "pools": "fixed"}, probed


# --- 6. backends -------------------------------------------------------------------------------------------


def test_backends_say_how_each_works_with_several_workers():
    listed = CliRunner().invoke(cli, ["backends", "-f", "json"], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [row["name"] for row in rows] == backend_names()
    empty = [row["name"] for row in rows if not isinstance(row.get("workers"), str) or not row["workers"].strip()]
    assert not empty, empty

    table = CliRunner().invoke(cli, ["backends"], catch_exceptions=False).output
    assert "Several workers on one study (start --workers N, hpsearch worker)" in table, table
    section = table[table.index("Several workers on one study"):]
    assert re.search(r"^BACKEND\s+WITH SEVERAL WORKERS$", section, re.M), section
    for row in rows:
        first_words = " ".join(row["workers"].split()[:2])
        assert re.search(rf"^{re.escape(row['name'])}\s+{re.escape(first_words)}", section, re.M), (row, section)
