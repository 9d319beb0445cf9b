"""The backend state's save is a compare-and-swap: a worker never builds on a state another one changed."""
from __future__ import annotations

import optuna
import pytest

from hpsearch.storage import record
from hpsearch.storage.backend_state import BackendStateStore, StateConflict


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, sqlite_url):
    return sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")


def two_workers(url: str, name: str) -> tuple[BackendStateStore, BackendStateStore, optuna.storages.RDBStorage]:
    """Two stores of one study, each on a storage (a connection pool) of its own, as two processes have."""
    first = optuna.storages.RDBStorage(url)
    study_id = first.create_new_study([optuna.study.StudyDirection.MAXIMIZE], name)
    second = optuna.storages.RDBStorage(url)
    return BackendStateStore(first, study_id), BackendStateStore(second, study_id), first


def stored(storage: optuna.storages.RDBStorage, name: str):
    return storage.get_study_system_attrs(storage.get_study_id_from_name(name)).get(record.STUDY_BACKEND_STATE)


def test_a_save_over_a_state_changed_since_it_was_loaded_is_refused(url, unique_name):
    a, b, storage = two_workers(url, unique_name)
    assert a.load() is None and b.load() is None

    a.save({"step": 1})
    with pytest.raises(StateConflict):
        b.save({"step": "b on nothing"})  # the first state too: only one of two can write it
    assert stored(storage, unique_name) == {"step": 1}

    assert b.load() == {"step": 1}
    b.save({"step": 2})
    with pytest.raises(StateConflict):
        a.save({"step": "a on step 1"})
    assert stored(storage, unique_name) == {"step": 2}

    assert a.load() == {"step": 2}
    a.save({"step": 3})
    a.save({"step": 4})  # its own save is what it builds on next
    assert stored(storage, unique_name) == {"step": 4}
    assert b.load() == {"step": 4}


def test_the_state_is_stored_as_optuna_stores_a_study_attribute(url, unique_name):
    """Other readers (migrate, optuna-dashboard, Optuna itself) read it through Optuna's API."""
    a, _, storage = two_workers(url, unique_name)
    a.load()
    state = {"format": 1, "nested": {"x": [1, 2.5, None, "é"]}, "inf": float("inf")}
    a.save(state)
    assert stored(storage, unique_name) == state
    storage.set_study_system_attr(storage.get_study_id_from_name(unique_name), record.STUDY_BACKEND_STATE,
                                  {"written": "by Optuna"})
    with pytest.raises(StateConflict):
        a.save({"format": 1})
    assert a.load() == {"written": "by Optuna"}
