from __future__ import annotations

import optuna
import pytest

from hpsearch.spaces import get_space
from hpsearch.storage.studies import (
    StudyMeta,
    create_study,
    load_study,
    open_storage,
    read_meta,
    study_exists,
    study_meta,
)
from hpsearch.storage.urls import StorageError


def make_meta(**overrides) -> StudyMeta:
    space = get_space("digits_mlp")
    values = dict(
        space_name=space.name, space=space.to_dict(), backend="tpe", backend_settings={"n_startup_trials": 3},
        trials=4, max_epochs=2, timeout=None, epoch_timeout=None, seed=7,
        data={"path": None, "train_samples": 200}, artifacts="/tmp/a",
    )
    values.update(overrides)
    return StudyMeta(**values)


def check_round_trip(url: str, name: str) -> None:
    storage = open_storage(url)
    assert not study_exists(storage, name)
    create_study(storage, name, "maximize", "val_accuracy", make_meta())
    assert study_exists(storage, name)
    # A plain Optuna client sees a normal study, metadata included.
    study = optuna.load_study(study_name=name, storage=url)
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert study.metric_names == ["val_accuracy"]
    # What `optuna studies` shows stays short; the rest is kept in the same database.
    assert study.user_attrs == {"space": "digits_mlp", "backend": "tpe", "seed": 7}
    meta = study_meta(storage, name)
    assert meta == make_meta(created_at=meta.created_at, hpsearch_version=meta.hpsearch_version)
    assert meta.hpsearch_version and meta.created_at
    assert load_study(storage, name).study_name == name


def test_meta_round_trips_through_a_sqlite_study(sqlite_url):
    check_round_trip(sqlite_url, "s1")


def test_meta_round_trips_through_a_postgres_study(postgres_url, unique_name):
    try:
        check_round_trip(postgres_url, unique_name)
    finally:
        optuna.delete_study(study_name=unique_name, storage=postgres_url)


def test_read_meta_ignores_studies_hpsearch_did_not_start():
    assert read_meta({}, {}) is None
    assert read_meta({}, {"hpsearch": "garbage"}) is None


def test_read_meta_reads_the_studies_of_hpsearch_0_1():
    legacy = make_meta(hpsearch_version="0.1.0").to_dict()
    assert read_meta({}, {"hpsearch": legacy}) == make_meta(hpsearch_version="0.1.0", created_at=legacy["created_at"])


def test_loading_an_unknown_study_lists_the_existing_ones(sqlite_url):
    storage = open_storage(sqlite_url)
    create_study(storage, "alpha", "maximize", "val_accuracy", make_meta())
    with pytest.raises(StorageError, match="No study named 'beta' in this storage. Studies here: alpha."):
        load_study(storage, "beta")


def test_an_unreachable_server_is_a_one_line_error_without_the_password():
    with pytest.raises(StorageError) as error:
        open_storage("postgresql://alice:s3cret@127.0.0.1:1/db")
    message = str(error.value)
    assert message.startswith("Cannot open storage 'postgresql://alice:***@127.0.0.1:1/db'")
    assert "s3cret" not in message and "\n" not in message
