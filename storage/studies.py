"""Opening storages and creating / reading hpsearch studies.

An hpsearch study is a plain Optuna study. Everything needed to resume it is kept in the study's
user attribute ``hpsearch`` (see ``StudyMeta``), so ``optuna`` and ``optuna-dashboard`` read it
without hpsearch, and hpsearch needs nothing but the storage URL and the study name.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

from hpsearch.storage.urls import StorageError, check_url, mask_password

META_KEY = "hpsearch"


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
    hpsearch_version: str = field(default_factory=hpsearch_version)
    created_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyMeta:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def _scrub(message: str, url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        password = make_url(url).password
    except Exception:  # noqa: BLE001 - an unparsable URL has no password to scrub
        password = None
    first_line = message.strip().splitlines()[0] if message.strip() else ""
    return first_line.replace(password, "***") if password else first_line


def open_storage(
    url: str, must_exist: bool = False, heartbeat_interval: int | None = None, grace_period: int | None = None
) -> Any:
    """An ``optuna.storages.RDBStorage`` for ``url``; ``StorageError`` if it cannot be used.

    With ``heartbeat_interval``, trials of this storage can record heartbeats and stale trials (no
    heartbeat for ``grace_period`` seconds) can be found, as in Optuna's own ``study.optimize``.
    """
    import optuna

    check_url(url, must_exist=must_exist)
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        engine_kwargs["connect_args"] = {"timeout": 60}
    else:
        engine_kwargs["pool_pre_ping"] = True
    try:
        return optuna.storages.RDBStorage(
            url, engine_kwargs=engine_kwargs, heartbeat_interval=heartbeat_interval, grace_period=grace_period
        )
    except Exception as error:  # noqa: BLE001 - driver errors vary; all mean "cannot use this storage"
        raise StorageError(
            f"Cannot open storage '{mask_password(url)}': {_scrub(str(error), url) or type(error).__name__}"
        ) from None


def study_exists(storage: Any, name: str) -> bool:
    try:
        storage.get_study_id_from_name(name)
    except KeyError:
        return False
    return True


def create_study(storage: Any, name: str, direction: str, metric: str, meta: StudyMeta) -> Any:
    """Create the Optuna study ``name`` with ``meta`` stored in it."""
    import optuna

    study = optuna.create_study(storage=storage, study_name=name, direction=direction)
    study.set_metric_names([metric])
    study.set_user_attr(META_KEY, meta.to_dict())
    return study


def read_meta(user_attrs: dict[str, Any]) -> StudyMeta | None:
    """The ``StudyMeta`` in a study's user attributes, or ``None`` for a study hpsearch did not start."""
    data = user_attrs.get(META_KEY)
    return StudyMeta.from_dict(data) if isinstance(data, dict) else None


def load_study(storage: Any, name: str) -> Any:
    import optuna

    if not study_exists(storage, name):
        names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False))
        shown = ", ".join(names) if names else "none"
        raise StorageError(f"No study named '{name}' in this storage. Studies here: {shown}.")
    return optuna.load_study(study_name=name, storage=storage)


__all__ = ["StorageError", "StudyMeta", "open_storage", "study_exists", "create_study", "read_meta", "load_study"]
