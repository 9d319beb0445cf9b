"""Putting a search together: validate the user's choices, open or create the study, run it.

``plan_start`` checks everything that can be checked before anything is written (names, budgets,
backend settings, storage URL, study name, dataset); ``SearchSession`` then creates the study and
runs it. Bad input raises an error whose message is one complete line.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

from hpsearch.search.backends import Backend, BackendContext, get_backend
from hpsearch.search.errors import UserError
from hpsearch.spaces.catalog import get_space
from hpsearch.spaces.datasets import DataOptions, Dataset, load_dataset
from hpsearch.spaces.space import Space
from hpsearch.storage.artifacts import TrialCheckpoints, artifact_dir
from hpsearch.storage.studies import StudyMeta, create_study, open_storage, study_exists
from hpsearch.storage.urls import check_url, mask_password, resolve_url, sqlite_path


def check_positive(name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise UserError(f"{name} must be > 0, but got {value:g}.")


@dataclass
class StartRequest:
    """What the user asked ``hpsearch start`` for; ``None`` means "the space's default"."""

    space: str
    backend: str
    study: str | None = None
    storage: str | None = None
    trials: int | None = None
    max_epochs: int | None = None
    timeout: float | None = None
    epoch_timeout: float | None = None
    seed: int | None = None
    data_path: str | None = None
    train_samples: int | None = None
    options: dict[str, str] | None = None
    artifacts: str | None = None


@dataclass
class SearchPlan:
    """A validated request: everything resolved, nothing written yet."""

    space: Space
    backend_cls: type[Backend]
    meta: StudyMeta
    study_name: str
    storage_url: str
    dataset: Dataset


def plan_start(request: StartRequest) -> SearchPlan:
    """Validate ``request``; raises ``UserError``, ``StorageError`` or ``DatasetError`` before writing."""
    space = get_space(request.space)
    backend_cls = get_backend(request.backend)
    settings = backend_cls.validate_settings(dict(request.options or {}))
    for name, value in (
        ("--trials", request.trials),
        ("--max-epochs", request.max_epochs),
        ("--timeout", request.timeout),
        ("--epoch-timeout", request.epoch_timeout),
        ("--train-samples", request.train_samples),
    ):
        check_positive(name, value)
    url = resolve_url(request.storage)
    check_url(url)
    study_name = request.study or f"{space.name}-{backend_cls.name}-{_dt.datetime.now():%Y%m%d-%H%M%S}"
    database = sqlite_path(url)
    if database is None or database.is_file():
        if study_exists(open_storage(url), study_name):
            raise UserError(
                f"Study '{study_name}' already exists in {mask_password(url)}. "
                f"Continue it with `hpsearch resume {study_name}` or pick another --study name."
            )
    data = DataOptions(path=request.data_path, train_samples=request.train_samples)
    dataset = load_dataset(space.dataset, data)
    budget = space.budget
    trials = request.trials
    if trials is None and not backend_cls.epochs_as_budget:
        trials = budget.trials
    meta = StudyMeta(
        space_name=space.name,
        space=space.to_dict(),
        backend=backend_cls.name,
        backend_settings=settings,
        trials=trials,
        max_epochs=request.max_epochs or budget.max_epochs,
        timeout=request.timeout if request.timeout is not None else budget.timeout,
        epoch_timeout=request.epoch_timeout if request.epoch_timeout is not None else budget.epoch_timeout,
        seed=request.seed,
        data=data.to_dict(),
        artifacts=str(artifact_dir(url, study_name, request.artifacts)),
    )
    return SearchPlan(space, backend_cls, meta, study_name, url, dataset)


class SearchSession:
    """An open study with its backend and runner, ready to ``run``."""

    def __init__(self, plan: SearchPlan, study: Any) -> None:
        from hpsearch.search.runner import SearchRunner

        self.plan = plan
        self.study = study
        meta = plan.meta
        state_dir = _artifacts(meta) / "backend"
        context = BackendContext(
            space=plan.space,
            study=study,
            settings=meta.backend_settings,
            seed=meta.seed,
            max_epochs=meta.max_epochs,
            state_dir=state_dir,
        )
        self.backend = plan.backend_cls(context)
        self.checkpoints = TrialCheckpoints(_artifacts(meta))
        self.runner = SearchRunner(plan.space, plan.dataset, study, self.backend, self.checkpoints, seed=meta.seed)

    @classmethod
    def create(cls, plan: SearchPlan) -> SearchSession:
        storage = open_storage(plan.storage_url)
        direction = plan.space.objective.direction
        study = create_study(storage, plan.study_name, direction, plan.space.objective.metric, plan.meta)
        return cls(plan, study)

    def budget(self) -> Any:
        from hpsearch.search.runner import RunBudget

        meta = self.plan.meta
        return RunBudget(trials=meta.trials, timeout=meta.timeout, epoch_timeout=meta.epoch_timeout)


def _artifacts(meta: StudyMeta) -> Any:
    from pathlib import Path

    return Path(meta.artifacts)
