"""The study lock across real processes: one holder at a time, released when its holder dies."""
from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from hpsearch.storage.locks import LockTimeout, StudyLock

HOLD = """
import sys, time
from hpsearch.storage.locks import StudyLock
lock = StudyLock(sys.argv[1], int(sys.argv[2]))
lock.acquire()
print("held", flush=True)
time.sleep(600)
"""


def hold_in_another_process(url: str, study_id: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLD, url, str(study_id)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, sqlite_url):
    return sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def test_one_holder_at_a_time_and_a_dead_holder_frees_the_lock(url):
    import random

    study_id = random.randint(10_000, 2**30)
    holder = hold_in_another_process(url, study_id)
    try:
        waiting = StudyLock(url, study_id, timeout=1.0)
        started = time.monotonic()
        with pytest.raises(LockTimeout, match="held the lock"):
            waiting.acquire()
        assert time.monotonic() - started >= 1.0
        if not url.startswith("sqlite"):  # a server lock is per study; SQLite's covers its file
            with StudyLock(url, study_id + 1, timeout=1.0):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    freed = StudyLock(url, study_id, timeout=5.0)
    with freed:
        with freed:  # re-entrant within a process
            assert freed._depth == 2
    assert freed._depth == 0


def test_a_server_lock_lost_with_its_connection_is_noticed_and_taken_again(postgres_url):
    """PostgreSQL drops an advisory lock with its connection: ``ensure_held`` sees that and takes the
    lock again before the holder writes, so no other process holds it while the holder goes on."""
    import sqlalchemy

    study_id = 900_000 + int(time.time()) % 1000
    holder, other = StudyLock(postgres_url, study_id), StudyLock(postgres_url, study_id, timeout=0.5)
    with holder:
        assert holder.ensure_held() is False  # nothing happened: nothing to take again
        backend_pid = holder._holder._connection.connection.dbapi_connection.info.backend_pid
        engine = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            assert connection.execute(sqlalchemy.text("SELECT pg_terminate_backend(:p)"), {"p": backend_pid}).scalar()
        engine.dispose()
        assert holder.ensure_held() is True  # lost, and taken again
        with pytest.raises(LockTimeout):
            other.acquire()  # the holder has it again
    other.acquire()
    other.release()
