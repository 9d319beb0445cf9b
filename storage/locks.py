"""A study lock held in (or beside) the database, so processes on any host take turns.

Every step that decides what a study does next (recover dead workers' trials, claim a trial slot
of the budget, ask the backend, tell it) runs under ``study_lock(url, study_id)``. The lock is
the database's own where it has one, released by the server when the holder's connection or
process dies:

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) on a connection of its own;
- MySQL / MariaDB: ``GET_LOCK`` on a connection of its own;
- SQLite: ``flock`` on ``<database>-lock`` beside the database file (a SQLite file is shared by
  processes of one host, and the kernel drops the lock when the process dies).

The lock is re-entrant within a process (threads take turns through an ``RLock``). Acquiring
polls, so a waiting process still sees its own Ctrl-C.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

from hpsearch.storage.urls import StorageError, mask_password, sqlite_path

POLL_SECONDS = 0.02
DEFAULT_TIMEOUT = 600.0
# First key of PostgreSQL's two-key advisory locks: "hpsr", so hpsearch's locks are told apart.
PG_LOCK_CLASS = 0x68707372


class LockTimeout(StorageError):
    """Another process held the study lock for longer than the timeout."""


class _Holder:
    """The database side of a lock: ``try_acquire`` / ``release`` without waiting."""

    def try_acquire(self) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def still_held(self) -> bool:
        """Whether the lock taken is still this process's (a server's goes with its connection)."""
        return True

    def close(self) -> None:
        """Give back what waiting for the lock keeps open (a server connection); taken again on demand."""


class _ProcessOnly(_Holder):
    """In-memory databases live in one process: the ``RLock`` is the whole lock."""

    def try_acquire(self) -> bool:
        return True

    def release(self) -> None:
        pass


class _FileLock(_Holder):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        import fcntl

        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as error:
                raise StorageError(f"Cannot open the study lock file {self.path}: {error.strerror}.") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        import fcntl

        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


class _ServerLock(_Holder):
    """A lock of the database server, on one connection kept for it alone.

    A dropped connection loses the lock on the server too; acquiring then reconnects and tries again.
    """

    def __init__(self, url: str, acquire_sql: str, release_sql: str, params: dict[str, Any]) -> None:
        self.url = url
        self.acquire_sql = acquire_sql
        self.release_sql = release_sql
        self.params = params
        self._engine: Any = None
        self._connection: Any = None

    def _connect(self) -> Any:
        import sqlalchemy

        if self._engine is None:
            self._engine = sqlalchemy.create_engine(
                self.url, poolclass=sqlalchemy.pool.NullPool, isolation_level="AUTOCOMMIT"
            )
        if self._connection is None:
            self._connection = self._engine.connect()
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except Exception:  # noqa: BLE001 - the connection is gone already
                pass
        self._connection = None

    def try_acquire(self) -> bool:
        import sqlalchemy

        try:
            got = self._connect().execute(sqlalchemy.text(self.acquire_sql), self.params).scalar()
        except sqlalchemy.exc.DBAPIError:
            self._drop()  # lost connection: it held nothing; reconnect on the next poll
            return False
        return bool(got)

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # noqa: BLE001 - the connection is gone already
                pass
            self._connection = None

    def still_held(self) -> bool:
        import sqlalchemy

        if self._connection is None:
            return False
        try:
            self._connection.execute(sqlalchemy.text("SELECT 1")).scalar()
        except sqlalchemy.exc.DBAPIError:
            self._drop()  # the server ended the connection, and the lock with it
            return False
        return True

    def release(self) -> None:
        import sqlalchemy

        if self._connection is None:
            return
        try:
            self._connection.execute(sqlalchemy.text(self.release_sql), self.params)
        except sqlalchemy.exc.DBAPIError:
            self._drop()  # the server released it with the connection


def _holder_for(url: str, study_id: int) -> _Holder:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = sqlite_path(url)
        if database is None:
            return _ProcessOnly()
        return _FileLock(database.with_name(database.name + "-lock"))
    if backend == "postgresql":
        key = "CAST(:a AS integer), CAST(:b AS integer)"
        return _ServerLock(url, f"SELECT pg_try_advisory_lock({key})", f"SELECT pg_advisory_unlock({key})",
                           {"a": PG_LOCK_CLASS, "b": study_id})
    if backend in ("mysql", "mariadb"):
        name = f"hpsearch:{parsed.database}:{study_id}"[:64]
        return _ServerLock(url, "SELECT GET_LOCK(:name, 0)", "SELECT RELEASE_LOCK(:name)", {"name": name})
    return _ProcessOnly()  # other databases: one process at a time is the user's to ensure


class StudyLock:
    """Re-entrant, cross-process lock of one study; use as a context manager."""

    def __init__(self, url: str, study_id: int, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = url
        self.study_id = study_id
        self.timeout = timeout
        self._holder = _holder_for(url, study_id)
        self._local = threading.RLock()
        self._depth = 0

    @classmethod
    def in_process(cls) -> StudyLock:
        """A lock for a study only this process uses (threads take turns)."""
        return cls("sqlite://", 0)

    def acquire(self) -> None:
        self._local.acquire()
        if self._depth == 0:
            try:
                self._wait_for_holder()
            except BaseException:
                self._local.release()
                raise
        self._depth += 1

    def _wait_for_holder(self) -> None:
        deadline = time.monotonic() + self.timeout
        while not self._holder.try_acquire():
            if time.monotonic() >= deadline:
                raise LockTimeout(
                    f"Another process held the lock of study #{self.study_id} in "
                    f"{mask_password(self.url)} for over {self.timeout:g} s."
                )
            time.sleep(POLL_SECONDS)

    def ensure_held(self) -> bool:
        """Inside the lock: take it again if it was lost meanwhile (a server lock goes with its dropped
        connection, and another process may then have taken it); ``True`` if so, and what was read
        under it before may be stale. Call it before a step's writes: a check, not a fence, so a
        connection that drops during the writes themselves still goes unnoticed."""
        if self._depth == 0:
            raise RuntimeError("ensure_held() outside the lock")
        if self._holder.still_held():
            return False
        self._wait_for_holder()
        return True

    def release(self) -> None:
        self._depth -= 1
        try:
            if self._depth == 0:
                self._holder.release()
        finally:
            self._local.release()

    def close(self) -> None:
        """Close the lock's server connection while nobody in this process holds the lock (a study done
        with: a process that runs many studies keeps no connection per study); reopened on demand."""
        with self._local:
            if self._depth == 0:
                self._holder.close()

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.release()


_LOCKS: dict[tuple[str, int], StudyLock] = {}
_LOCKS_GUARD = threading.Lock()


def study_lock(url: str, study_id: int) -> StudyLock:
    """The process' one ``StudyLock`` of study ``study_id`` in the database at ``url``."""
    with _LOCKS_GUARD:
        key = (url, study_id)
        if key not in _LOCKS:
            _LOCKS[key] = StudyLock(url, study_id)
        return _LOCKS[key]


__all__ = ["StudyLock", "LockTimeout", "study_lock"]
