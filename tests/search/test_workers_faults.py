"""`hpsearch worker` under faults: a worker SIGKILLed mid-trial (seen from this host, or from another
host where only its heartbeat tells), a worker whose database connections keep being terminated,
and a worker started after the budget is spent.

Everything is real: the PostgreSQL of the tests, worker processes started as a user starts them,
SIGKILL, ``pg_terminate_backend``; the study is read back with Optuna. Skipped when PostgreSQL does
not answer.
"""
from __future__ import annotations

import datetime as dt
import os
import random
import shlex
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from hpsearch.search.recovery import GRACE_SECONDS, HEARTBEAT_SECONDS
from hpsearch.storage import record
from tests.search.test_concurrency import (
    HPSEARCH,
    assert_each_configuration_trained_once,
    configuration,
    create_only,
    trials_of,
)

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

MAX_EPOCHS = 3  # a trial long enough to be killed between its first and its last epoch
WAIT_SECONDS = 2.0  # search.runner.WAIT_SECONDS: a waiting worker looks at the study this often
SLACK_SECONDS = 10.0  # a loaded 2-core machine (3 TensorFlow processes) is slow to do anything


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    out: Path
    err: Path
    host: str | None = None  # the host name it runs under, when not this host's

    @property
    def pid(self) -> int:
        return self.process.pid  # `sh -c '... && exec python'` keeps the pid: the worker's own

    def output(self) -> str:
        return (f"--- {self.name} (pid {self.pid}) stdout:\n{self.out.read_text()}\n"
                f"--- stderr:\n{self.err.read_text()[-3000:]}")


@pytest.fixture
def workers(tmp_path) -> Iterator[Callable[..., Worker]]:
    """Starts ``hpsearch worker`` processes (each in a session of its own); kills what is left at the end."""
    started: list[Worker] = []

    def start(url: str, study: str, name: str, host: str | None = None, env: dict[str, str] | None = None) -> Worker:
        command = [*HPSEARCH, "worker", study, "--storage", url, "--threads", "1", "-q"]
        if host is not None:  # a UTS namespace of its own: socket.gethostname() is `host` in there
            command = ["unshare", "--uts", "sh", "-c", f"hostname {shlex.quote(host)} && exec {shlex.join(command)}"]
        out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        process = subprocess.Popen(
            command, stdout=out.open("w"), stderr=err.open("w"), start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
        )
        worker = Worker(name, process, out, err, host)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.process.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.process.wait(timeout=30)


def poll(condition: Callable[[], Any], timeout: float, what: str, running: list[Worker]) -> Any:
    """``condition()`` once it is truthy; fails after ``timeout`` s, or when a worker ended meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        ended = [w for w in running if w.process.poll() is not None]
        if ended or time.monotonic() > deadline:
            why = f"{', '.join(w.name for w in ended)} ended" if ended else f"{timeout:g} s passed"
            pytest.fail(f"waiting for {what}: {why}\n" + "\n".join(w.output() for w in running))
        time.sleep(0.05)


def finish(survivors: list[Worker], timeout: float = 400) -> None:
    """Wait for each survivor; each must exit 0 without a traceback."""
    for worker in survivors:
        try:
            worker.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{worker.name} still runs after {timeout:g} s\n{worker.output()}")
    for worker in survivors:
        assert worker.process.returncode == 0, worker.output()
        assert "Traceback" not in worker.err.read_text(), worker.output()


def worker_of(trial: FrozenTrial) -> tuple[str, int] | None:
    return record.parse_worker(trial.user_attrs.get(record.WORKER))


def mid_trial(study: optuna.Study, victim: Callable[[tuple[str, int]], bool]) -> FrozenTrial | None:
    """A RUNNING trial of a worker ``victim`` accepts, past its first epoch and short of its last."""
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = worker_of(trial)
        if worker is not None and victim(worker) and 1 <= len(trial.intermediate_values) < MAX_EPOCHS:
            return trial
    return None


def kill_mid_trial(url: str, study_name: str, candidates: list[Worker], everyone: list[Worker],
                   by_host: bool) -> tuple[Worker, FrozenTrial, dt.datetime]:
    """SIGKILL the first of ``candidates`` seen mid-trial; ``(worker, its trial as it was, when)``."""
    study = optuna.load_study(study_name=study_name, storage=url)
    if by_host:
        hosts = {w.host: w for w in candidates}
        pick = lambda worker: worker[0] in hosts  # noqa: E731
    else:
        pids = {w.pid: w for w in candidates}
        pick = lambda worker: worker[1] in pids  # noqa: E731
    trial = poll(lambda: mid_trial(study, pick), 240, "a worker in the middle of a trial", everyone)
    host, pid = worker_of(trial)
    victim = hosts[host] if by_host else pids[pid]
    assert victim.pid == pid, (victim.pid, pid)
    os.killpg(victim.pid, signal.SIGKILL)
    killed_at = dt.datetime.now()  # Optuna's datetimes are the client's local time, naive
    victim.process.wait(timeout=30)
    assert victim.process.returncode == -signal.SIGKILL, victim.output()
    after = optuna.load_study(study_name=study_name, storage=url).trials[trial.number]
    # The kill must have struck the trial mid-way, or this test tests nothing: still RUNNING, or already
    # failed as interrupted by a survivor on this host (a SIGKILLed worker records nothing itself).
    noticed = after.state == TrialState.FAIL and record.is_interrupted(after)
    assert after.state == TrialState.RUNNING or noticed, \
        f"trial {trial.number} ended ({after.state.name}, {after.user_attrs.get(record.FAIL_REASON)}) before the kill"
    assert len(after.intermediate_values) < MAX_EPOCHS
    return victim, trial, killed_at


def describe(trials: list[FrozenTrial]) -> str:
    """One line per trial: what a failed assertion needs to be understood."""
    return "\n".join(
        f"  trial {t.number} {t.state.name} worker={t.user_attrs.get(record.WORKER)} "
        f"backend_trial_id={t.user_attrs.get(record.BACKEND_TRIAL_ID)} retry_of={t.user_attrs.get(record.RETRY_OF)} "
        f"start={t.datetime_start:%H:%M:%S.%f} end={t.datetime_complete and f'{t.datetime_complete:%H:%M:%S.%f}'} "
        f"reason={t.user_attrs.get(record.FAIL_REASON)} params={configuration(t)}"
        for t in trials
    )


def assert_rerun_once(trials: list[FrozenTrial], killed: FrozenTrial, budget: int) -> FrozenTrial:
    """The study after the kill: budget exact, the killed trial FAIL interrupted, re-run exactly once."""
    assert_each_configuration_trained_once(trials, budget)
    by_number = {t.number: t for t in trials}
    failed = by_number[killed.number]
    assert failed.state == TrialState.FAIL, failed.state
    assert failed.user_attrs.get(record.INTERRUPTED) is True, failed.user_attrs
    assert str(failed.user_attrs.get(record.FAIL_REASON)).startswith("interrupted: "), failed.user_attrs
    assert [t.number for t in trials if record.is_interrupted(t)] == [killed.number]
    reruns = [t for t in trials if t.user_attrs.get(record.RETRY_OF) == killed.number]
    assert len(reruns) == 1, [(t.number, t.user_attrs) for t in reruns]
    rerun = reruns[0]
    assert rerun.number > killed.number
    assert rerun.params == failed.params and rerun.params, (rerun.params, failed.params)
    # trained to its end, or stopped by the backend's pruner (tpe prunes by the median): not failed again
    assert rerun.state in (TrialState.COMPLETE, TrialState.PRUNED), \
        (rerun.state, rerun.user_attrs.get(record.FAIL_REASON))
    assert [t.number for t in trials if record.RETRY_OF in t.user_attrs] == [rerun.number]
    # Over every trial, interrupted ones included: only the killed configuration ran twice.
    counts = Counter(configuration(t) for t in trials if record.PROMOTED_FROM not in t.user_attrs)
    assert {c: n for c, n in counts.items() if n > 1} == {configuration(failed): 2}
    return rerun


@pytest.mark.parametrize("backend", ["tpe", "random"])
def test_a_worker_killed_mid_trial_is_noticed_at_once_on_its_host_and_its_trial_runs_again_once(
        backend, postgres_url, unique_name, workers):
    budget = 6
    create_only(postgres_url, unique_name, backend, trials=budget, max_epochs=MAX_EPOCHS)
    running = [workers(postgres_url, unique_name, f"worker-{i}") for i in range(3)]

    victim, trial, killed_at = kill_mid_trial(postgres_url, unique_name, running, running, by_host=False)
    survivors = [w for w in running if w is not victim]
    finish(survivors)

    trials = trials_of(postgres_url, unique_name)
    rerun = assert_rerun_once(trials, trial, budget)
    failed = next(t for t in trials if t.number == trial.number)
    assert failed.user_attrs[record.FAIL_REASON] == "interrupted: worker process is gone (killed or crashed)"
    assert worker_of(rerun)[1] in {w.pid for w in survivors}
    to_rerun = (rerun.datetime_start - killed_at).total_seconds()
    longest = max(record.train_seconds(t) or 0.0 for t in trials
                  if t.state in (TrialState.COMPLETE, TrialState.PRUNED))
    print(f"\n[{backend}] killed trial {trial.number} of {victim.name} after epoch "
          f"{len(trial.intermediate_values)}; re-run as trial {rerun.number} {to_rerun:.1f} s after the kill "
          f"(longest trial {longest:.1f} s)")
    # Noticed at a survivor's next claim: after its current trial, or its next look while waiting.
    assert to_rerun < longest + WAIT_SECONDS + SLACK_SECONDS


def uts_namespaces() -> str | None:
    """``None`` when this process may run a command under another host name, else why not."""
    try:
        done = subprocess.run(["unshare", "--uts", "true"], capture_output=True, text=True, timeout=30)
    except (FileNotFoundError, subprocess.TimeoutExpired) as error:
        return f"`unshare --uts` is not usable: {error}"
    if done.returncode != 0:
        return f"`unshare --uts true` failed (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}"
    return None


def test_a_worker_killed_on_another_host_is_noticed_by_its_heartbeat_and_its_trial_runs_again_once(
        postgres_url, unique_name, workers):
    reason = uts_namespaces()
    if reason:
        pytest.skip(reason)
    budget = 5
    create_only(postgres_url, unique_name, "tpe", trials=budget, max_epochs=MAX_EPOCHS)
    host = f"other-host-{uuid.uuid4().hex[:6]}"
    remote = workers(postgres_url, unique_name, "remote", host=host)
    local = [workers(postgres_url, unique_name, f"local-{i}") for i in range(2)]
    everyone = [remote, *local]

    victim, trial, killed_at = kill_mid_trial(postgres_url, unique_name, [remote], everyone, by_host=True)
    assert worker_of(trial) == (host, remote.pid)
    finish(local)

    trials = trials_of(postgres_url, unique_name)
    rerun = assert_rerun_once(trials, trial, budget)
    failed = next(t for t in trials if t.number == trial.number)
    assert failed.user_attrs[record.FAIL_REASON] == \
        "interrupted: no heartbeat from its worker (killed, crashed or lost)"
    assert worker_of(rerun)[1] in {w.pid for w in local}
    detected = (failed.datetime_complete - killed_at).total_seconds()
    to_rerun = (rerun.datetime_start - killed_at).total_seconds()
    longest = max(record.train_seconds(t) or 0.0 for t in trials
                  if t.state in (TrialState.COMPLETE, TrialState.PRUNED))
    print(f"\n[other host] killed trial {trial.number} on {host} after epoch {len(trial.intermediate_values)}; "
          f"marked interrupted {detected:.1f} s after the kill, re-run as trial {rerun.number} {to_rerun:.1f} s "
          f"after it (grace {GRACE_SECONDS} s, heartbeat {HEARTBEAT_SECONDS} s, longest trial {longest:.1f} s)")
    # Its last heartbeat was at most one interval before the kill, so not stale before grace - interval:
    # found any earlier, something other than the heartbeat decided.
    assert detected >= GRACE_SECONDS - HEARTBEAT_SECONDS - 1, detected
    assert detected <= GRACE_SECONDS + HEARTBEAT_SECONDS + longest + WAIT_SECONDS + SLACK_SECONDS, detected
    assert detected <= to_rerun < detected + longest + WAIT_SECONDS + SLACK_SECONDS, (detected, to_rerun)


def _admin_engine(url: str) -> Any:
    import sqlalchemy

    return sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.pool.NullPool)


def test_a_worker_whose_connections_keep_being_killed_reconnects_and_ends_the_budget_exact(
        postgres_url, unique_name, workers):
    import sqlalchemy

    budget = 6
    create_only(postgres_url, unique_name, "random", trials=budget, max_epochs=2)
    # libpq names every connection of the worker so: its connections, and only its, are killed
    # (the study lock's own connection among them).
    app = f"hpsearch-chaos-{uuid.uuid4().hex[:8]}"
    victim = workers(postgres_url, unique_name, "chaos", env={"PGAPPNAME": app})
    peer = workers(postgres_url, unique_name, "peer")
    admin = _admin_engine(postgres_url)
    kill = sqlalchemy.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND application_name = :app AND pid <> pg_backend_pid()")
    stop = threading.Event()
    kills: list[tuple[float, int]] = []
    errors: list[str] = []

    def killer() -> None:
        while not stop.is_set():
            try:
                with admin.connect() as connection:
                    killed = sum(1 for (ok,) in connection.execute(kill, {"app": app}) if ok)
                kills.append((time.monotonic(), killed))
            except Exception as error:  # noqa: BLE001 - the killer must outlive anything
                errors.append(repr(error))
            stop.wait(random.uniform(0.5, 1.0))

    thread = threading.Thread(target=killer, daemon=True)
    started = time.monotonic()
    thread.start()
    try:
        finish([victim, peer])
    finally:
        stop.set()
        thread.join(timeout=10)
        admin.dispose()
    seconds = time.monotonic() - started

    trials = trials_of(postgres_url, unique_name)
    try:
        assert_each_configuration_trained_once(trials, budget)
    except AssertionError as error:
        raise AssertionError(f"{error}\n{describe(trials)}\n{victim.output()}\n{peer.output()}") from None
    assert not [t for t in trials if record.is_interrupted(t)], describe(trials)
    killed = sum(n for _, n in kills)
    assert killed >= 5, (kills, errors)
    by_victim = [t for t in trials if worker_of(t) is not None and worker_of(t)[1] == victim.pid]
    assert by_victim, "the worker under fire trained nothing: the test tested nothing"
    # Kills landed while it was training, not only while it started up.
    first = min(t.datetime_start for t in by_victim)
    last = max(t.datetime_complete for t in by_victim)
    wall = time.time() - time.monotonic()
    during = [n for at, n in kills if n and first.timestamp() <= at + wall <= last.timestamp()]
    print(f"\n[connection kills] {killed} connections of the worker killed in {seconds:.1f} s "
          f"({sum(during)} while it trained its {len(by_victim)} trials; the peer trained "
          f"{len(trials) - len(by_victim)})")
    assert during, (kills, first, last)


def snapshot(url: str, study_name: str) -> tuple:
    storage = optuna.storages.RDBStorage(url)
    study_id = storage.get_study_id_from_name(study_name)
    trials = [(t.number, t.state, t.values, t.params, t.user_attrs, t.system_attrs, t.intermediate_values,
               t.datetime_start, t.datetime_complete) for t in storage.get_all_trials(study_id)]
    state = (storage.get_study_user_attrs(study_id), storage.get_study_system_attrs(study_id), trials)
    storage.engine.dispose()
    return state


def test_a_worker_started_after_the_budget_is_spent_says_so_at_once_and_changes_nothing(
        postgres_url, unique_name):
    budget = 2
    create_only(postgres_url, unique_name, "tpe", trials=budget, max_epochs=1)
    first = subprocess.run([*HPSEARCH, "worker", unique_name, "--storage", postgres_url, "--threads", "1", "-q"],
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert record.counted_trials(trials_of(postgres_url, unique_name)) == budget
    before = snapshot(postgres_url, unique_name)

    started = time.monotonic()
    late = subprocess.run([HPSEARCH[0], "-X", "importtime", *HPSEARCH[1:], "worker", unique_name,
                           "--storage", postgres_url],
                          capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - started

    assert late.returncode == 0, late.stdout + late.stderr
    lines = late.stdout.splitlines()
    assert len(lines) == 1, late.stdout
    assert lines[0].startswith(f"Nothing to do: study '{unique_name}'"), lines
    assert f"trial budget reached ({budget} trials)" in lines[0], lines
    imported = [line.split("|")[-1].strip() for line in late.stderr.splitlines() if line.startswith("import time:")]
    assert "hpsearch.search.cli.worker" in imported  # -X importtime did report
    assert not [m for m in imported if m.split(".")[0] in ("tensorflow", "keras", "keras_tuner")]
    said = [line for line in late.stderr.splitlines() if not line.startswith("import time:")]
    assert said == [], said
    assert snapshot(postgres_url, unique_name) == before
    print(f"\n[late worker] answered in {seconds:.2f} s: {lines[0]}")
    assert seconds < 5, seconds
