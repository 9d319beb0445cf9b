"""An Optuna ``RDBStorage`` that survives lost database connections.

A PostgreSQL connection can die under a running search at any moment: a server restart or failover,
an idle-connection reaper, an administrator's ``pg_terminate_backend``, a network blip. SQLAlchemy's
``pool_pre_ping`` replaces connections that died while idle in the pool, but not one that dies
during a transaction: Optuna then raises ``StorageInternalError``, which fails the trial being
recorded or crashes the run. ``ResilientRDBStorage`` retries such calls instead.

What is retried: every storage call that reaches the database (each public ``RDBStorage`` method,
and the private ones Optuna's ``_CachedStorage`` calls directly), when it fails because the
connection was lost or the database was briefly unavailable (see ``connection_lost``): a
disconnect SQLAlchemy detected (``connection_invalidated``), or a PostgreSQL "operational" error of
a transient class (connection exception 08, transaction rollback 40 such as a deadlock, insufficient
resources 53, administrator / crash shutdown 57P01-57P03, lock not available 55P03), including when
Optuna wrapped it in ``StorageInternalError``. Anything else (a missing study, a finished trial,
invalid data, every SQLite error) is raised at once, as before. Retries wait 0.1 s, doubling up to
``MAX_DELAY`` seconds (with jitter), for ``RETRY_SECONDS`` in all; then ``StorageUnavailableError``.

Why a retry is safe: a call that failed before it began to commit (this storage notes, per thread,
when a session's commit begins) committed nothing, since PostgreSQL rolls back the transaction of a
connection that dies. Reads and idempotent writes (attributes, intermediate values, parameters,
heartbeats: upserts, or inserts whose duplicate Optuna ignores) are simply run again. A write that
failed once its commit began may or may not have been committed; it is checked before retrying:

- ``set_trial_state_values``: done if the trial already has the wanted state and values;
- ``create_new_trial``: done if the trial the failed attempt created (its id is known before the
  COMMIT; ids are never reused) exists, so a retry never adds a duplicate trial;
- ``create_new_study``: done if the study name belongs to the id the failed attempt created;
- ``delete_study``: done if the study no longer exists.

One case stays ambiguous: moving a WAITING trial to RUNNING (``study.ask`` taking an enqueued
trial). If that COMMIT's fate is unknown and the trial is RUNNING, another worker may have taken it;
the call then answers ``False`` (not taken) as Optuna does for a lost race, so a trial is never run
twice; hpsearch's recovery fails such an orphan later ("its worker never started training it").

A retried call costs one extra Python frame on the way in (about a microsecond; SQLite, which never
loses connections, is measured in the tests) and nothing else until a connection is lost.
"""
from __future__ import annotations

import functools
import logging
import math
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import optuna
from optuna.storages import RDBStorage
from optuna.storages._rdb import models
from optuna.storages._rdb import storage as _optuna_rdb
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from hpsearch.storage.urls import StorageError, mask_password

T = TypeVar("T")

RETRY_SECONDS = 60.0  # give up on a call after this long without a working connection
FIRST_DELAY = 0.1
MAX_DELAY = 4.0
WARN_AFTER = 5.0  # a call retrying for this long says so once (a short blip stays silent)

_logger = logging.getLogger("hpsearch.storage")

# SQLSTATEs of PostgreSQL errors that a retry on a fresh connection can overcome.
_TRANSIENT_CLASSES = ("08", "40", "53")
_TRANSIENT_STATES = {"57P01", "57P02", "57P03", "55P03"}


class StorageUnavailableError(StorageError, optuna.exceptions.StorageInternalError):
    """The storage stayed unreachable for longer than a call may wait (``RETRY_SECONDS``)."""


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and len(seen) < 16 and all(current is not e for e in seen):
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _transient_dbapi_error(error: BaseException) -> bool:
    """A driver error of a kind a new connection can overcome (PostgreSQL drivers only)."""
    module = type(error).__module__
    if not module.startswith(("psycopg", "psycopg2", "pg8000", "asyncpg")):
        return False  # SQLite never loses a connection; other drivers: connection_invalidated only
    if not any(cls.__name__ == "OperationalError" for cls in type(error).__mro__):
        return False
    state = getattr(error, "sqlstate", None) or getattr(error, "pgcode", None)
    if not state:
        return True  # raised by the client itself: connection refused, closed, timed out
    return state[:2] in _TRANSIENT_CLASSES or state in _TRANSIENT_STATES


def connection_lost(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it, e.g. under Optuna's ``StorageInternalError``) means the
    database connection was lost or the database was briefly unavailable."""
    import sqlalchemy.exc

    for item in _chain(error):
        if isinstance(item, sqlalchemy.exc.DBAPIError):
            if item.connection_invalidated or _transient_dbapi_error(item.orig):
                return True
        elif isinstance(item, sqlalchemy.exc.DisconnectionError) or _transient_dbapi_error(item):
            return True
    return False


# How libpq (psycopg, psycopg2) reports a connection that was open and then died.
_CONNECTION_DIED = re.compile(
    r"server closed the connection|consuming input failed|terminating connection|connection (is|was) (closed|lost)"
    r"|connection reset|SSL SYSCALL error|EOF detected|lost synchronization",
    re.IGNORECASE,
)


def _lost_while_open(error: BaseException) -> bool:
    """A lost connection, as ``connection_lost``, but not a database that cannot be reached at all
    (connection refused, unknown host, timed out): that is the user's to fix, and not retried."""
    import sqlalchemy.exc

    for item in _chain(error):
        if isinstance(item, sqlalchemy.exc.DBAPIError):
            if item.connection_invalidated:
                return True
            state = getattr(item.orig, "sqlstate", None) or getattr(item.orig, "pgcode", None)
            if _transient_dbapi_error(item.orig) and (state or _CONNECTION_DIED.search(str(item.orig))):
                return True
    return False


class _QuietFallback(logging.Filter):
    """Drops Optuna's "Falling back to a slower alternative" warning when the error it reports is a
    lost connection: the fallback fails too, and this storage retries the whole call."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not str(record.msg).startswith("Caught an error from sqlalchemy"):
            return True
        error = sys.exc_info()[1]
        return error is None or not connection_lost(error)


def _install_log_filter() -> None:
    log = logging.getLogger("optuna.storages._rdb.storage")
    if not any(isinstance(f, _QuietFallback) for f in log.filters):
        log.addFilter(_QuietFallback())


def _same_values(stored: Sequence[float] | None, wanted: Sequence[float] | None) -> bool:
    if wanted is None:
        return True
    if stored is None or len(stored) != len(wanted):
        return False
    return all(a == b or (math.isnan(a) and math.isnan(b)) for a, b in zip(stored, wanted))


class ResilientRDBStorage(RDBStorage):
    """``optuna.storages.RDBStorage`` whose calls survive lost connections (see the module doc)."""

    def __init__(self, url: str, engine_kwargs: dict[str, Any] | None = None, *args: Any,
                 retry_seconds: float = RETRY_SECONDS, **kwargs: Any) -> None:
        self.retry_seconds = retry_seconds
        self._local = threading.local()
        _install_log_filter()
        deadline = time.monotonic() + retry_seconds
        delay = FIRST_DELAY
        while True:
            try:
                super().__init__(url, dict(engine_kwargs or {}), *args, **kwargs)
                break
            except Exception as error:
                # A connection lost while opening is retried; a database that cannot be reached
                # at all (wrong host or port, server down) is the user's to fix: reported at once.
                if not _lost_while_open(error) or time.monotonic() + delay > deadline:
                    raise
                engine = self.__dict__.get("engine")
                if engine is not None:
                    engine.dispose()
                time.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)
                _create_tables_one_by_one(self._fill_storage_url_template(url), engine_kwargs)
        self._watch_commits()

    def _watch_commits(self) -> None:
        # A session event, not an engine one: listeners on the engine slow every statement down.
        # It fires as a commit begins (before its last flush): a failure from there on may have
        # committed, one before it cannot have.
        from sqlalchemy import event

        event.listen(self.scoped_session.session_factory, "before_commit", self._commit_sent)

    def _commit_sent(self, session: Any) -> None:
        self._local.commit_sent = True

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        state.pop("_local", None)
        return state

    def __setstate__(self, state: dict[Any, Any]) -> None:
        self._local = threading.local()
        super().__setstate__(state)
        self._watch_commits()

    # The retry loop.

    def retrying(self, name: str, attempt: Callable[[], T],
                 settled: Callable[[], tuple[bool, T | None]] | None = None) -> T:
        """``attempt()`` with this storage's retries, for code that runs its own transactions on
        ``scoped_session`` (several writes in one commit, say). ``attempt`` must be safe to run
        again after a failure before its commit began; if it is not idempotent, pass ``settled``:
        asked before each retry that follows a failure once the commit began, it answers
        ``(True, result)`` if that attempt took effect after all (e.g. the row it created, whose id
        it noted after a flush, exists).
        """
        return self._retry(name, attempt, settled)

    def _retry(self, name: str, attempt: Callable[[], T],
               settled: Callable[[], tuple[bool, T | None]] | None = None) -> T:
        """``attempt()``, again after each lost connection, for ``retry_seconds`` at most.

        ``settled``, for writes that are not idempotent, is asked before a retry that follows a
        failure once the commit began: ``(True, result)`` if that attempt took effect after all.
        Calls made inside ``attempt`` or ``settled`` are not retried on their own: this loop does.
        """
        local = self._local
        if getattr(local, "active", False):
            return attempt()
        local.active = True
        started = time.monotonic()
        delay = FIRST_DELAY
        unsure = False  # the last failed attempt may have committed
        warned = False
        tries = 0
        try:
            while True:
                tries += 1
                in_attempt = False
                try:
                    if unsure and settled is not None:
                        done, result = settled()
                        if done:
                            return result  # type: ignore[return-value]
                    unsure = False
                    local.commit_sent = False
                    in_attempt = True
                    return attempt()
                except Exception as error:
                    if not connection_lost(error):
                        raise
                    if in_attempt and settled is not None and getattr(local, "commit_sent", False):
                        unsure = True
                    self._forget_session()
                    waited = time.monotonic() - started
                    if waited + delay > self.retry_seconds:
                        raise StorageUnavailableError(
                            f"Lost the connection to the storage '{mask_password(self.url)}' and could not "
                            f"get it back in {waited:.0f} s ({tries} tries of {name}): "
                            f"{_first_line(error)}"
                        ) from error
                    if waited >= WARN_AFTER and not warned:
                        warned = True
                        _logger.warning("The storage %s has been unreachable for %.0f s; retrying for up to %.0f s.",
                                        mask_password(self.url), waited, self.retry_seconds)
                    _logger.debug("%s lost its database connection (%s); retrying in %.2f s",
                                  name, _first_line(error), delay)
                    time.sleep(delay * random.uniform(0.5, 1.0))
                    delay = min(delay * 2, MAX_DELAY)
        finally:
            local.active = False

    def _forget_session(self) -> None:
        try:
            self.scoped_session.remove()
        except Exception:  # noqa: BLE001 - a dead session's cleanup may fail too; a new one follows
            pass

    # Writes that are not idempotent: checked before they are retried.

    def create_new_study(self, directions: Sequence[StudyDirection], study_name: str | None = None) -> int:
        created: dict[str, Any] = {}

        def attempt() -> int:
            import sqlalchemy.exc

            created.clear()
            try:
                with _create_scoped_session(self.scoped_session) as session:
                    name = study_name if study_name is not None else self._create_unique_study_name(session)
                    direction_models = [
                        models.StudyDirectionModel(objective=objective, direction=d)
                        for objective, d in enumerate(list(directions))
                    ]
                    study = models.StudyModel(study_name=name, directions=direction_models)
                    session.add(study)
                    session.flush()
                    created.update(name=name, study_id=study.study_id)
            except sqlalchemy.exc.IntegrityError:
                raise optuna.exceptions.DuplicatedStudyError from None
            _optuna_rdb._logger.info(f"A new study created in RDB with name: {created['name']}")
            return created["study_id"]

        def settled() -> tuple[bool, int | None]:
            if not created:
                return False, None
            try:
                done = self.get_study_id_from_name(created["name"]) == created["study_id"]
            except KeyError:
                return False, None
            return done, created["study_id"]

        return self._retry("create_new_study", attempt, settled)

    def delete_study(self, study_id: int) -> None:
        def settled() -> tuple[bool, None]:
            try:
                self.get_study_name_from_id(study_id)
            except KeyError:
                return True, None
            return False, None

        return self._retry("delete_study", lambda: RDBStorage.delete_study(self, study_id), settled)

    def _create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> FrozenTrial:
        # Optuna's own version retries any StorageInternalError (meant for deadlocks) blindly, which
        # after a COMMIT of unknown fate can create the trial twice; this one knows the new trial's id.
        created: list[FrozenTrial] = []

        def attempt() -> FrozenTrial:
            created.clear()
            with _create_scoped_session(self.scoped_session) as session:
                # The study row lock makes numbering trials safe against concurrent workers.
                models.StudyModel.find_or_raise_by_id(study_id, session, for_update=True)
                trial = self._get_prepared_new_trial(study_id, template_trial, session)
                created.append(_frozen_new_trial(trial, template_trial))
            return created[0]

        def settled() -> tuple[bool, FrozenTrial | None]:
            if not created:
                return False, None
            try:
                stored = RDBStorage.get_trial(self, created[0]._trial_id)
            except KeyError:
                return False, None
            return stored.number == created[0].number, created[0]

        return self._retry("create_new_trial", attempt, settled)

    def set_trial_state_values(self, trial_id: int, state: TrialState, values: Sequence[float] | None = None) -> bool:
        def settled() -> tuple[bool, bool | None]:
            trial = RDBStorage.get_trial(self, trial_id)
            if state == TrialState.RUNNING:
                # WAITING: the attempt did not commit; RUNNING: maybe ours, maybe another worker's.
                return trial.state != TrialState.WAITING, False
            return trial.state == state and _same_values(trial.values, values), True

        return self._retry(
            "set_trial_state_values",
            lambda: RDBStorage.set_trial_state_values(self, trial_id, state, values),
            settled,
        )

    def set_trial_epoch(self, trial_id: int, step: int, intermediate_value: float,
                        user_attrs: dict[str, Any], system_attrs: dict[str, Any]) -> None:
        """One epoch of a RUNNING trial in one transaction: its intermediate value at ``step`` and
        some attributes (what ``set_trial_intermediate_value`` and ``set_trial_*_attr`` write, each
        in a commit of its own, ~4 ms apiece on SQLite). Upserts only: safe to retry.
        Raises ``UpdateFinishedTrialError`` for a finished trial, as those calls do."""

        def attempt() -> None:
            with _create_scoped_session(self.scoped_session, True) as session:
                self._set_trial_intermediate_value_without_commit(session, trial_id, step, intermediate_value)
                for model, attrs in ((models.TrialUserAttributeModel, user_attrs),
                                     (models.TrialSystemAttributeModel, system_attrs)):
                    for key, value in attrs.items():
                        self._set_trial_attr_without_commit(session, model, trial_id, key, value)

        self._retry("set_trial_epoch", attempt)


def call_with_retries(storage: Any, name: str, attempt: Callable[[], T],
                      settled: Callable[[], tuple[bool, T | None]] | None = None) -> T:
    """``storage.retrying(name, attempt, settled)`` where ``storage`` retries lost connections (a
    ``ResilientRDBStorage``); plain ``attempt()`` on any other storage."""
    retrying = getattr(storage, "retrying", None)
    return attempt() if retrying is None else retrying(name, attempt, settled)


def _create_tables_one_by_one(url: str, engine_kwargs: dict[str, Any] | None) -> None:
    """Create the missing tables of a new storage one per transaction, as far as the connection lasts.

    Optuna creates them all in one transaction, which connections lost every fraction of a second
    may never let finish; the tables made here stay, so each later attempt has less left to do.
    """
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, **dict(engine_kwargs or {}))
    try:
        for table in models.BaseModel.metadata.sorted_tables:
            table.create(engine, checkfirst=True)
    except Exception as error:  # noqa: BLE001 - the next attempt to open the storage goes on from here
        if not connection_lost(error):
            raise
    finally:
        engine.dispose()


def _frozen_new_trial(trial: Any, template_trial: FrozenTrial | None) -> FrozenTrial:
    """What Optuna's ``_create_new_trial`` returns for the new trial model ``trial``."""
    import copy

    if template_trial:
        frozen = copy.deepcopy(template_trial)
        frozen.number = trial.number
        frozen.datetime_start = trial.datetime_start
        frozen._trial_id = trial.trial_id
        return frozen
    return FrozenTrial(
        number=trial.number, state=trial.state, value=None, values=None, datetime_start=trial.datetime_start,
        datetime_complete=None, params={}, distributions={}, user_attrs={}, system_attrs={},
        intermediate_values={}, trial_id=trial.trial_id,
    )


def _first_line(error: BaseException) -> str:
    for item in _chain(error):
        text = str(getattr(item, "orig", None) or item).strip()
        if text and not isinstance(item, optuna.exceptions.StorageInternalError):
            return text.splitlines()[0]
    return type(error).__name__


# Reads, and writes that can simply run again (upserts, or inserts whose duplicate Optuna ignores).
# Composite methods (get_all_trials, get_best_trial, set_trial_param, create_new_trial ...) call these.
_RETRIED_AS_IS = (
    "set_study_user_attr",
    "set_study_system_attr",
    "get_study_id_from_name",
    "get_study_name_from_id",
    "get_study_directions",
    "get_study_user_attrs",
    "get_study_system_attrs",
    "get_all_studies",
    "get_trial_user_attrs",
    "get_trial_system_attrs",
    "_set_trial_param",
    "get_trial_param",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
    "get_trial_id_from_study_id_trial_number",
    "get_trial",
    "_get_trials",
    "_get_best_trial_id",
    "record_heartbeat",
    "_get_stale_trial_ids",
)


def _retried(name: str) -> Callable[..., Any]:
    method = getattr(RDBStorage, name)

    @functools.wraps(method)
    def retried(self: ResilientRDBStorage, *args: Any, **kwargs: Any) -> Any:
        if getattr(self._local, "active", False):
            return method(self, *args, **kwargs)
        return self._retry(name, lambda: method(self, *args, **kwargs))

    return retried


for _name in _RETRIED_AS_IS:
    setattr(ResilientRDBStorage, _name, _retried(_name))
del _name

__all__ = ["ResilientRDBStorage", "call_with_retries", "StorageUnavailableError", "connection_lost", "RETRY_SECONDS"]
