"""Lost PostgreSQL connections cost nothing: every storage operation of a search survives them.

Connections are killed with ``pg_terminate_backend`` (what a database restart, a failover or an
administrator does to a client): between calls, before a given statement of a call, just before
its COMMIT (nothing committed) and just after it (committed, but the client sees only the
disconnect), and, for a whole ``hpsearch start`` in a subprocess, in a loop while it runs.
Skipped when the test PostgreSQL does not answer.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import POSTGRES_URL, postgres_reachable

HPSEARCH = [sys.executable, "-c", "from hpsearch.search.cli.main import cli; cli()"]


def _engine(database: str | None = None) -> Any:
    import sqlalchemy

    url = sqlalchemy.engine.make_url(POSTGRES_URL)
    if database is not None:
        url = url.set(database=database)
    return sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.pool.NullPool)


@pytest.fixture
def drops_db() -> Iterator[tuple[str, Any]]:
    """A fresh database of its own (its connections are the only ones killed): ``(url, admin engine)``.

    The admin engine is connected to the test database, never to this one, so killing this one's
    connections leaves it alone.
    """
    import sqlalchemy

    reason = postgres_reachable()
    if reason:
        pytest.skip(reason)
    name = f"hpsearch_drops_{uuid.uuid4().hex[:10]}"
    admin = _engine()
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    url = sqlalchemy.engine.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url, admin
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def terminate(admin: Any, database: str, pid: int | None = None) -> int:
    """Kill ``pid`` (and wait until it is gone), or every connection to ``database``; how many were killed."""
    import sqlalchemy

    with admin.connect() as connection:
        if pid is None:
            rows = connection.execute(
                sqlalchemy.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = :db AND pid <> pg_backend_pid()"),
                {"db": database},
            ).all()
            return sum(1 for (killed,) in rows if killed)
        killed = connection.execute(sqlalchemy.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
        gone = sqlalchemy.text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid")
        deadline = time.monotonic() + 5
        while not connection.execute(gone, {"pid": pid}).scalar() and time.monotonic() < deadline:
            time.sleep(0.002)
        return int(bool(killed))


class Chaos:
    """Kills the connection ``storage`` is using at one chosen point of the next call.

    ``before_statement(k)``: just before the call's k-th SQL statement is sent; ``before_commit()``:
    just before COMMIT (so nothing is committed); ``after_commit()``: the transaction is committed,
    then the connection dies before SQLAlchemy's own COMMIT answers (the client cannot tell).
    """

    def __init__(self, storage: Any, admin: Any, database: str) -> None:
        from sqlalchemy import event

        self.admin = admin
        self.database = database
        self.statements = 0
        self.kill_at: int | None = None
        self.commit_mode: str | None = None
        self.kills = 0
        event.listen(storage.engine, "before_cursor_execute", self._before_statement)
        event.listen(storage.engine, "commit", self._before_commit)

    def before_statement(self, k: int) -> Chaos:
        self.statements, self.kill_at, self.commit_mode = 0, k, None
        return self

    def before_commit(self) -> Chaos:
        self.statements, self.kill_at, self.commit_mode = 0, None, "before"
        return self

    def after_commit(self) -> Chaos:
        self.statements, self.kill_at, self.commit_mode = 0, None, "after"
        return self

    def off(self) -> None:
        self.kill_at, self.commit_mode = None, None

    def _kill(self, connection: Any) -> None:
        pid = connection.connection.dbapi_connection.info.backend_pid
        self.kills += terminate(self.admin, self.database, pid)

    def _before_statement(self, connection: Any, *args: Any) -> None:
        self.statements += 1
        if self.kill_at is not None and self.statements == self.kill_at:
            self.kill_at = None
            self._kill(connection)

    def _before_commit(self, connection: Any) -> None:
        mode, self.commit_mode = self.commit_mode, None
        if mode == "after":
            dbapi = connection.connection.dbapi_connection
            dbapi.commit()  # the work is durable now ...
            dbapi.cursor().execute("SELECT 1")  # ... and SQLAlchemy's COMMIT will meet a dead connection
        if mode is not None:
            self._kill(connection)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def equals(expected: Any) -> Callable[[Any, Any], None]:
    def verify(_: Any, result: Any) -> None:
        assert _same(result, expected), (result, expected)

    return verify


def test_every_storage_call_survives_a_connection_killed_at_any_point(drops_db, monkeypatch, caplog):
    import datetime as dt

    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.study import StudyDirection
    from optuna.trial import FrozenTrial, TrialState

    from hpsearch.storage.studies import open_storage

    url, admin = drops_db
    database = url.rsplit("/", 1)[1]
    monkeypatch.setattr("hpsearch.storage.resilient.FIRST_DELAY", 0.005)  # hundreds of kills: keep it quick
    storage = open_storage(url, heartbeat_interval=10, grace_period=30)
    chaos = Chaos(storage, admin, database)
    study_id = storage.create_new_study([StudyDirection.MAXIMIZE], "drops-unit")
    distribution = FloatDistribution(0.0, 1.0)
    checked: list[str] = []

    def count_trials() -> int:
        return len(storage.get_all_trials(study_id, deepcopy=False))

    def check(name: str, call: Callable[[Any], Any], verify: Callable[[Any, Any], None],
              prepare: Callable[[], Any] = lambda: None) -> None:
        """Run ``call(prepare())`` once per kill point (before each of its statements, just before and
        just after its COMMIT, between calls) and ``verify(prepared, result)``; it must never fail."""
        kill_points: list[Callable[[], Any]] = [chaos.before_commit, chaos.after_commit,
                                                lambda: terminate(admin, database)]
        k = 1
        while True:
            prepared = prepare()
            chaos.before_statement(k)
            result = call(prepared)
            struck = chaos.kill_at is None  # the call had a k-th statement, and it was struck
            chaos.off()
            verify(prepared, result)
            if not struck:
                break
            k += 1
        assert k > 1, f"{name}: no statement was struck"
        for kill_point in kill_points:
            prepared = prepare()
            kill_point()
            result = call(prepared)
            chaos.off()
            verify(prepared, result)
        checked.append(name)

    # Studies: creating or deleting one is done exactly once.
    names = iter(f"drops-study-{i}" for i in range(1000))

    def verify_new_study(name: str, new_id: int) -> None:
        assert storage.get_study_id_from_name(name) == new_id
        assert storage.get_study_directions(new_id) == [StudyDirection.MINIMIZE]

    check("create_new_study", lambda name: storage.create_new_study([StudyDirection.MINIMIZE], name),
          verify_new_study, prepare=lambda: next(names))
    studies = len(storage.get_all_studies())

    def verify_deleted(victim: int, _: Any) -> None:
        with pytest.raises(KeyError):
            storage.get_study_name_from_id(victim)
        assert len(storage.get_all_studies()) == studies

    check("delete_study", storage.delete_study, verify_deleted,
          prepare=lambda: storage.create_new_study([StudyDirection.MINIMIZE], next(names)))
    check("get_all_studies", lambda _: len(storage.get_all_studies()), equals(studies))
    check("set_study_user_attr", lambda _: storage.set_study_user_attr(study_id, "space", "digits_mlp"),
          lambda *_: storage.get_study_user_attrs(study_id)["space"] == "digits_mlp" or pytest.fail("lost"))
    check("set_study_system_attr", lambda _: storage.set_study_system_attr(study_id, "meta", {"a": [1, 2]}),
          lambda *_: storage.get_study_system_attrs(study_id)["meta"] == {"a": [1, 2]} or pytest.fail("lost"))
    check("get_study_user_attrs", lambda _: storage.get_study_user_attrs(study_id), equals({"space": "digits_mlp"}))
    check("get_study_system_attrs", lambda _: storage.get_study_system_attrs(study_id)["meta"], equals({"a": [1, 2]}))
    check("get_study_id_from_name", lambda _: storage.get_study_id_from_name("drops-unit"), equals(study_id))
    check("get_study_name_from_id", lambda _: storage.get_study_name_from_id(study_id), equals("drops-unit"))
    check("get_study_directions", lambda _: storage.get_study_directions(study_id), equals([StudyDirection.MAXIMIZE]))

    # Trials: creating one never creates two, nor none.
    def verify_new_trial(before: int, trial_id: int) -> None:
        assert count_trials() == before + 1, "a lost connection created a duplicate trial, or none"
        trial = storage.get_trial(trial_id)
        assert trial.state == TrialState.RUNNING and trial.number == before

    created: list[int] = []
    check("create_new_trial", lambda _: created.append(storage.create_new_trial(study_id)) or created[-1],
          verify_new_trial, prepare=count_trials)

    def from_template(before: int) -> int:
        template = FrozenTrial(
            number=-1, state=TrialState.RUNNING, value=None, datetime_start=dt.datetime.now(),
            datetime_complete=None, params={"x": 0.25}, distributions={"x": distribution},
            user_attrs={"n": before}, system_attrs={}, intermediate_values={1: 0.5}, trial_id=-1,
        )
        return storage.create_new_trial(study_id, template_trial=template)

    def verify_template_trial(before: int, trial_id: int) -> None:
        verify_new_trial(before, trial_id)
        trial = storage.get_trial(trial_id)
        assert trial.params == {"x": 0.25} and trial.user_attrs == {"n": before} and trial.intermediate_values == {1: 0.5}

    check("create_new_trial(template_trial)", from_template, verify_template_trial, prepare=count_trials)

    trial_id = created[0]
    param_names = iter(["x", *(f"x{i}" for i in range(1000))])
    check("set_trial_param", lambda name: storage.set_trial_param(trial_id, name, 0.75, distribution),
          lambda name, _: storage.get_trial_param(trial_id, name) == 0.75 or pytest.fail("lost"),
          prepare=lambda: next(param_names))
    check("get_trial_param", lambda _: storage.get_trial_param(trial_id, "x"), equals(0.75))
    steps = iter(range(1, 1000))
    check("set_trial_intermediate_value", lambda step: storage.set_trial_intermediate_value(trial_id, step, step / 1000),
          lambda step, _: storage.get_trial(trial_id).intermediate_values[step] == step / 1000 or pytest.fail("lost"),
          prepare=lambda: next(steps))
    check("set_trial_user_attr", lambda _: storage.set_trial_user_attr(trial_id, "worker", "host:1"),
          lambda *_: storage.get_trial_user_attrs(trial_id)["worker"] == "host:1" or pytest.fail("lost"))
    check("set_trial_system_attr", lambda _: storage.set_trial_system_attr(trial_id, "history", {"loss": [0.5]}),
          lambda *_: storage.get_trial_system_attrs(trial_id)["history"] == {"loss": [0.5]} or pytest.fail("lost"))
    check("get_trial_user_attrs", lambda _: storage.get_trial_user_attrs(trial_id), equals({"worker": "host:1"}))
    check("get_trial_system_attrs", lambda _: storage.get_trial_system_attrs(trial_id), equals({"history": {"loss": [0.5]}}))
    check("record_heartbeat", lambda _: storage.record_heartbeat(trial_id), equals(None))
    check("_get_stale_trial_ids", lambda _: storage._get_stale_trial_ids(study_id), equals([]))
    check("get_trial_id_from_study_id_trial_number",
          lambda _: storage.get_trial_id_from_study_id_trial_number(study_id, 0), equals(trial_id))
    check("get_trial", lambda _: storage.get_trial(trial_id).params["x"], equals(0.75))
    total = count_trials()
    check("get_all_trials", lambda _: len(storage.get_all_trials(study_id)), equals(total))
    check("get_n_trials", lambda _: storage.get_n_trials(study_id), equals(total))

    # Finishing a trial: a retry after a COMMIT that went through is a success, not UpdateFinishedTrialError.
    finished: list[int] = []

    def verify_finished(tid: int, ok: bool) -> None:
        finished.append(tid)
        assert ok is True
        trial = storage.get_trial(tid)
        assert trial.state == TrialState.COMPLETE and trial.value == 0.9056

    check("set_trial_state_values", lambda tid: storage.set_trial_state_values(tid, TrialState.COMPLETE, [0.9056]),
          verify_finished, prepare=lambda: storage.create_new_trial(study_id))
    check("get_best_trial", lambda _: storage.get_best_trial(study_id).value, equals(0.9056))
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):  # a real conflict still raises
        storage.set_trial_state_values(finished[0], TrialState.FAIL)

    # The same through Optuna's Study and the cached storage Optuna wraps an RDBStorage in.
    study = optuna.load_study(study_name="drops-unit", storage=storage)
    before = len(study.trials)
    chaos.after_commit()
    trial = study.ask()
    chaos.before_commit()
    trial.suggest_float("x", 0.0, 1.0)
    chaos.after_commit()
    study.tell(trial, 0.5)
    chaos.off()
    assert len(study.trials) == before + 1
    assert study.trials[-1].state == TrialState.COMPLETE and study.trials[-1].value == 0.5
    assert chaos.kills >= 3 * len(checked)
    # Optuna's "Falling back to a slower alternative" warning for a lost connection is noise: the
    # fallback query fails as well, and the storage retries the whole call.
    assert not [r.getMessage() for r in caplog.records if "Falling back" in r.getMessage()]
    storage.engine.dispose()


def test_a_search_completes_while_its_connections_are_killed_in_a_loop(drops_db, tmp_path):
    import optuna
    from optuna.trial import TrialState

    url, admin = drops_db
    database = url.rsplit("/", 1)[1]
    stop = threading.Event()
    kills: list[int] = []

    def killer() -> None:
        while not stop.is_set():
            try:
                kills.append(terminate(admin, database))
            except Exception:  # noqa: BLE001 - the killer must outlive anything
                pass
            stop.wait(0.25)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        result = subprocess.run(
            [*HPSEARCH, "start", "digits_mlp", "--backend", "optuna-random", "--trials", "4", "--max-epochs", "2",
             "--train-samples", "300", "--seed", "0", "--pruner", "none", "--storage", url, "--study", "drops",
             "--artifacts", str(tmp_path / "artifacts")],
            capture_output=True, text=True, timeout=600, cwd=tmp_path,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
    finally:
        stop.set()
        thread.join(timeout=10)
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    assert sum(kills) > 0, "the killer never killed a connection"
    assert result.returncode == 0, output
    assert "Traceback" not in output, output
    assert "StorageInternalError" not in output, output
    trials = optuna.load_study(study_name="drops", storage=url).trials
    states = [t.state for t in trials]
    assert states == [TrialState.COMPLETE] * 4, (states, [t.user_attrs.get("fail_reason") for t in trials], output)
    print(f"search under connection drops: {seconds:.1f} s, {sum(kills)} connections killed")


def _wrapped(orig: BaseException, invalidated: bool = False) -> BaseException:
    """``orig`` as SQLAlchemy raises it, then as Optuna wraps it."""
    import optuna
    import sqlalchemy.exc

    wrapped = sqlalchemy.exc.DBAPIError.instance("SELECT 1", {}, orig, type(orig).__mro__[1],
                                                  connection_invalidated=invalidated)
    try:
        try:
            raise wrapped
        except sqlalchemy.exc.SQLAlchemyError as error:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from error
    except optuna.exceptions.StorageInternalError as outer:
        return outer


def test_what_counts_as_a_lost_connection():
    import sqlite3

    import psycopg

    from hpsearch.storage.resilient import connection_lost

    lost = [
        _wrapped(psycopg.errors.AdminShutdown("terminating connection due to administrator command")),
        _wrapped(psycopg.OperationalError("consuming input failed: server closed the connection unexpectedly")),
        _wrapped(psycopg.errors.DeadlockDetected("deadlock detected")),
        _wrapped(psycopg.errors.TooManyConnections("sorry, too many clients already")),
        _wrapped(psycopg.errors.CannotConnectNow("the database system is starting up")),
        _wrapped(psycopg.Error("anything"), invalidated=True),  # SQLAlchemy saw a disconnect
    ]
    not_lost = [
        _wrapped(psycopg.errors.UniqueViolation("duplicate key")),
        _wrapped(psycopg.errors.StringDataRightTruncation("value too long")),
        _wrapped(psycopg.errors.ProgramLimitExceeded("statement too complex")),
        _wrapped(psycopg.errors.DatabaseDropped("database dropped")),
        _wrapped(sqlite3.OperationalError("database is locked")),  # SQLite: its own busy timeout waits
        _wrapped(sqlite3.OperationalError("no such table: trials")),
        KeyError("Record does not exist."),
    ]
    assert [connection_lost(e) for e in lost] == [True] * len(lost)
    assert [connection_lost(e) for e in not_lost] == [False] * len(not_lost)


def test_on_sqlite_it_is_still_an_rdb_storage_and_errors_are_not_retried(sqlite_url):
    import optuna

    from hpsearch.storage.studies import open_storage

    storage = open_storage(sqlite_url, heartbeat_interval=10, grace_period=30)
    assert isinstance(storage, optuna.storages.RDBStorage)
    study = optuna.create_study(storage=storage, study_name="plain", direction="maximize")
    assert isinstance(study._storage, optuna.storages._CachedStorage)  # wrapped by Optuna as usual
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=3)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3 and study.best_value <= 1.0
    assert optuna.load_study(study_name="plain", storage=sqlite_url).best_trial.number == study.best_trial.number
    with pytest.raises(KeyError):
        storage.get_study_id_from_name("missing")
    with storage.engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE trial_heartbeats")
    started = time.monotonic()
    with pytest.raises(optuna.exceptions.StorageInternalError):
        storage.record_heartbeat(study.trials[0]._trial_id)
    assert time.monotonic() - started < 1.0, "a SQLite error was retried"
