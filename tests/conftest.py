"""Shared fixtures: an isolated working directory and environment, storages to test against."""
from __future__ import annotations

import os
import uuid

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

POSTGRES_URL = os.environ.get("HPSEARCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test runs in its own empty folder with no hpsearch environment variables."""
    for name in ("HPSEARCH_STORAGE", "HPSEARCH_ARTIFACTS", "HPSEARCH_DATA_DIR", "HPSEARCH_VERBOSE", "HPSEARCH_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'studies.db'}"


def postgres_reachable() -> str | None:
    """``None`` when the test PostgreSQL answers, else the reason it does not."""
    try:
        import sqlalchemy

        engine = sqlalchemy.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as error:  # noqa: BLE001 - any failure means "skip with this reason"
        return f"PostgreSQL at {POSTGRES_URL} is not reachable: {type(error).__name__}"
    return None


@pytest.fixture
def postgres_url():
    reason = postgres_reachable()
    if reason:
        pytest.skip(reason)
    return POSTGRES_URL


@pytest.fixture
def unique_name():
    return f"test-{uuid.uuid4().hex[:10]}"
