"""Opening storages and creating / reading hpsearch studies.

An hpsearch study is a plain Optuna study. Everything needed to resume it (``StudyMeta``) is kept in
the study itself: short user attributes that ``optuna studies`` shows (space, backend, seed,
compare name) and system attributes with the rest (see ``hpsearch.storage.record``), so hpsearch
needs nothing but the storage URL and the study name.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

from hpsearch.storage import record
from hpsearch.storage.urls import StorageError, check_url, mask_password, sqlite_path


def hpsearch_version() -> str:
    try:
        return metadata.version("hpsearch")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass
class StudyMeta:
    """What a study was started with; saved in the study so ``resume`` needs nothing else."""

    space_name: str
    space: dict[str, Any]
    backend: str
    backend_settings: dict[str, Any]
    trials: int | None
    max_epochs: int
    timeout: float | None
    epoch_timeout: float | None
    seed: int | None
    data: dict[str, Any]
    artifacts: str
    budget_epochs: int | None = None
    compare: str | None = None
    budget_fit: dict[str, Any] | None = None  # how max_epochs was fitted to the timeout (search/budget_fit.py)
    keep_weights: int | None = None  # best weights kept for this many top trials (None: all; search/retention.py)
    hpsearch_version: str = field(default_factory=hpsearch_version)
    created_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyMeta:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def user_attrs(self) -> dict[str, Any]:
        """The short study user attributes: what ``optuna studies`` shows."""
        attrs: dict[str, Any] = {record.STUDY_SPACE: self.space_name, record.STUDY_BACKEND: self.backend}
        if self.seed is not None:
            attrs[record.STUDY_SEED] = self.seed
        if self.compare is not None:
            attrs[record.STUDY_COMPARE] = self.compare
        return attrs

    def system_attrs(self) -> dict[str, Any]:
        """The rest, as system attributes: the space definition apart from the other settings."""
        settings = {k: v for k, v in self.to_dict().items() if k != "space"}
        return {record.STUDY_META: settings, record.STUDY_SPACE_DEFINITION: self.space}


def _scrub(message: str, url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:  # noqa: BLE001 - an unparsable URL has no password to scrub
        password = None
    first_line = message.strip().splitlines()[0] if message.strip() else ""
    return first_line.replace(password, "***") if password else first_line


SQLITE_BUSY_TIMEOUT = 60  # seconds a SQLite writer waits for another process's write to end


def open_storage(
    url: str, must_exist: bool = False, heartbeat_interval: int | None = None, grace_period: int | None = None,
    wal: bool = False,
) -> Any:
    """An ``optuna.storages.RDBStorage`` for ``url``; ``StorageError`` if it cannot be used.

    Its calls survive lost database connections: ``hpsearch.storage.resilient.ResilientRDBStorage``.

    With ``heartbeat_interval``, trials of this storage can record heartbeats and stale trials (no
    heartbeat for ``grace_period`` seconds) can be found, as in Optuna's own ``study.optimize``.

    With ``wal``, a SQLite file is switched to write-ahead logging (it stays so: the mode is kept in
    the file): readers (the dashboard, other workers) no longer block a writer, and writers wait up
    to ``SQLITE_BUSY_TIMEOUT`` seconds for each other instead of failing with "database is locked".
    The searching commands open it so; the measurements behind the choice are in the README.
    """
    from hpsearch.storage.resilient import ResilientRDBStorage

    check_url(url, must_exist=must_exist)
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT}
    else:
        engine_kwargs["pool_pre_ping"] = True
    try:
        storage = ResilientRDBStorage(
            url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_interval, grace_period=grace_period
        )
        if wal and sqlite_path(url) is not None:
            with storage.engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        return storage
    except Exception as error:  # noqa: BLE001 - driver errors vary; all mean "cannot use this storage"
        detail = _scrub(str(error), url) or type(error).__name__
        cause = error.__cause__ or error.__context__
        if cause is not None and _scrub(str(cause), url) and _scrub(str(cause), url) not in detail:
            detail += f" ({type(cause).__name__}: {_scrub(str(cause), url)})"  # Optuna's wrapper hides the reason
        raise StorageError(f"Cannot open storage '{mask_password(url)}': {detail}") from None


def checkpoint(storage: Any) -> None:
    """Write a SQLite file's write-ahead log back into the file, as far as no reader holds it (SQLite's
    PASSIVE checkpoint: never waits), so a copy of the ``.db`` alone holds what was written. Nothing
    for other databases."""
    engine = getattr(storage, "engine", None)
    if engine is None or engine.dialect.name != "sqlite":
        return
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")


def study_exists(storage: Any, name: str) -> bool:
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return False
    return True


def create_study(storage: Any, name: str, direction: str, metric: str, meta: StudyMeta) -> Any:
    """Create the Optuna study ``name`` with its direction, metric name and ``meta`` in ONE commit.

    A kill at any moment leaves either no study or a complete one, never a name that neither
    ``start`` nor ``resume`` can use. Raises ``optuna.exceptions.DuplicatedStudyError`` if the name
    is taken (by another process too: the database's unique name decides).
    """
    import json

    import optuna
    from optuna.storages._rdb import models
    from optuna.study import StudyDirection
    from sqlalchemy.exc import IntegrityError

    from hpsearch.storage.transactions import transaction

    try:
        from optuna.study.study import _SYSTEM_ATTR_METRIC_NAMES as metric_names_key
    except ImportError:  # pragma: no cover - the name Optuna 3-5 use
        metric_names_key = "study:metric_names"
    system_attrs = {**meta.system_attrs(), metric_names_key: [metric]}
    study_direction = StudyDirection.MAXIMIZE if direction == "maximize" else StudyDirection.MINIMIZE
    created: list[int] = []

    def attempt() -> None:
        try:
            with transaction(storage) as session:
                study = models.StudyModel(
                    study_name=name, directions=[models.StudyDirectionModel(objective=0, direction=study_direction)]
                )
                session.add(study)
                session.flush()
                created.append(study.study_id)
                for key, value in system_attrs.items():
                    session.add(models.StudySystemAttributeModel(study_id=study.study_id, key=key,
                                                                 value_json=json.dumps(value)))
                for key, value in meta.user_attrs().items():
                    session.add(models.StudyUserAttributeModel(study_id=study.study_id, key=key,
                                                               value_json=json.dumps(value)))
        except IntegrityError:
            raise optuna.exceptions.DuplicatedStudyError(f"Study '{name}' already exists.") from None

    def settled() -> tuple[bool, None]:
        """After a lost connection during the commit: did our study row land after all?"""
        return (bool(created) and study_exists(storage, name)
                and storage.get_study_id_from_name(name) == created[-1]), None

    from hpsearch.storage.resilient import call_with_retries

    # Lost connections retried, without ever making the study twice.
    call_with_retries(storage, "create_study", attempt, settled)
    return optuna.load_study(study_name=name, storage=storage)


def save_meta(storage: Any, study_id: int, meta: StudyMeta) -> None:
    """Write ``meta`` into the study: short user attributes, the rest as system attributes."""
    for key, value in meta.system_attrs().items():
        storage.set_study_system_attr(study_id, key, value)
    for key, value in meta.user_attrs().items():
        storage.set_study_user_attr(study_id, key, value)


def read_meta(system_attrs: dict[str, Any], user_attrs: dict[str, Any] | None = None) -> StudyMeta | None:
    """The ``StudyMeta`` of a study from its attributes, or ``None`` for a study hpsearch did not start.

    Studies of hpsearch 0.1 kept all of it in the user attribute ``hpsearch``; they are read too.
    """
    settings = system_attrs.get(record.STUDY_META)
    space = system_attrs.get(record.STUDY_SPACE_DEFINITION)
    if isinstance(settings, dict) and isinstance(space, dict):
        return StudyMeta.from_dict({**settings, "space": space})
    legacy = (user_attrs or {}).get(record.LEGACY_STUDY_META)
    if isinstance(legacy, dict) and isinstance(legacy.get("space"), dict):
        return StudyMeta.from_dict(legacy)
    return None


def study_meta(storage: Any, name: str) -> StudyMeta | None:
    """The ``StudyMeta`` of study ``name`` in ``storage`` (``None`` if hpsearch did not start it)."""
    study_id = storage.get_study_id_from_name(name)
    return read_meta(storage.get_study_system_attrs(study_id), storage.get_study_user_attrs(study_id))


def load_study(storage: Any, name: str) -> Any:
    import optuna

    if not study_exists(storage, name):
        names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False))
        shown = ", ".join(names) if names else "none"
        raise StorageError(f"No study named '{name}' in this storage. Studies here: {shown}.")
    return optuna.load_study(study_name=name, storage=storage)


__all__ = [
    "checkpoint",
    "StorageError", "StudyMeta", "open_storage", "study_exists", "create_study", "save_meta", "read_meta",
    "study_meta", "load_study",
]
