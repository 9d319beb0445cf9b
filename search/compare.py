"""``hpsearch compare``: several backends (and seeds) on one space under the same budget, in sequence.

Each backend x seed is an ordinary study named ``<compare>-<backend>-s<seed>``, tagged with the
compare name (study user attribute ``compare``) and holding the compare's definition (system
attribute), so ``hpsearch report --compare NAME`` finds the studies and ``hpsearch compare --resume
NAME`` (or the same command again) continues where it stopped: finished studies are kept, the
interrupted one resumes, the missing ones start.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from hpsearch.search.backends import get_backend
from hpsearch.search.checks import check_compare_values
from hpsearch.search.errors import UserError
from hpsearch.search.session import (
    ResumeRequest,
    SearchSession,
    StartRequest,
    load_space,
    open_working_storage,
    plan_start,
    resume_session,
)
from hpsearch.search.data_plan import DataRequest, check_for_space
from hpsearch.storage import record
from hpsearch.storage.bulk import load_trials
from hpsearch.storage.studies import open_storage, study_exists
from hpsearch.storage.urls import sqlite_path


@dataclass(frozen=True)
class ComparePlan:
    """What one compare run searches, and with which shared budget (per backend and seed)."""

    name: str
    space: str
    backends: tuple[str, ...]
    seeds: tuple[int, ...]
    budget_epochs: int | None
    timeout: float | None
    max_epochs: int | None = None
    epoch_timeout: float | None = None
    train_samples: int | None = None
    data_path: str | None = None
    artifacts: str | None = None
    image_size: str | None = None
    color: str | None = None
    val_split: float | None = None
    test_split: float | None = None
    objective: str | None = None
    space_label: str = ""  # the space's name, for naming (``space`` may be a path to a user's file)

    def runs(self) -> list[tuple[str, int]]:
        """``(backend, seed)`` in the order they run: every backend on a seed before the next seed."""
        return [(backend, seed) for seed in self.seeds for backend in self.backends]

    def study_name(self, backend: str, seed: int) -> str:
        return f"{self.name}-{backend}-s{seed}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["backends"], data["seeds"] = list(self.backends), list(self.seeds)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComparePlan:
        known = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in known}
        values["backends"], values["seeds"] = tuple(values["backends"]), tuple(values["seeds"])
        return cls(**values)

    def describe_budget(self) -> str:
        parts = []
        if self.budget_epochs is not None:
            parts.append(f"{self.budget_epochs} training epochs")
        if self.timeout is not None:
            parts.append(f"{self.timeout:g} s")
        return " or ".join(parts) + " per backend and seed" + (", whichever comes first" if len(parts) > 1 else "")


@dataclass
class CompareRequest:
    space: str
    backends: Sequence[str]
    seeds: int = 1
    budget_epochs: int | None = None
    timeout: float | None = None
    name: str | None = None
    max_epochs: int | None = None
    epoch_timeout: float | None = None
    train_samples: int | None = None
    data_path: str | None = None
    artifacts: str | None = None
    image_size: str | None = None
    color: str | None = None
    val_split: float | None = None
    test_split: float | None = None
    objective: str | None = None


def default_name(plan: ComparePlan) -> str:
    """``<space>-cmp-<hash of the settings>``: the same command finds the same compare run again."""
    settings = {k: v for k, v in plan.to_dict().items() if k != "name"}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:6]
    return f"{plan.space_label or plan.space}-cmp-{digest}"


def plan_compare(request: CompareRequest) -> ComparePlan:
    """Validate a compare request (names, budgets) before anything is written or trained."""
    space = load_space(request.space, request.objective)
    backends = [b.strip() for b in request.backends if b.strip()]
    if len(backends) < 1:
        raise UserError("--backends needs at least one backend name, e.g. --backends random,hyperband,tpe.")
    if len(set(backends)) != len(backends):
        raise UserError(f"--backends names a backend twice: {','.join(backends)}.")
    for backend in backends:
        get_backend(backend)  # UnknownBackendError names the valid ones
    check_compare_values(backends=backends, seeds=request.seeds, budget_epochs=request.budget_epochs,
                         timeout=request.timeout, max_epochs=request.max_epochs, epoch_timeout=request.epoch_timeout,
                         train_samples=request.train_samples, name=request.name)
    data = DataRequest(source=request.data_path, image_size=request.image_size, color=request.color,
                       val_split=request.val_split, test_split=request.test_split, train_samples=request.train_samples)
    check_for_space(space, data)
    budget_epochs, timeout = request.budget_epochs, request.timeout
    if budget_epochs is None and timeout is None:  # the space's default: epochs, with a time cap
        budget_epochs, timeout = space.budget.compare_budget(), space.budget.compare_timeout
    plan = ComparePlan(
        name=request.name or "",
        space=space.source["reference"] if space.source else space.name,
        space_label=space.name,
        backends=tuple(backends),
        seeds=tuple(range(request.seeds)),
        budget_epochs=budget_epochs,
        timeout=timeout,
        max_epochs=request.max_epochs,
        epoch_timeout=request.epoch_timeout,
        train_samples=request.train_samples,
        data_path=request.data_path,
        artifacts=request.artifacts,
        image_size=request.image_size,
        color=request.color,
        val_split=request.val_split,
        test_split=request.test_split,
        objective=request.objective,
    )
    if not plan.name:
        plan = ComparePlan(**{**asdict(plan), "name": default_name(plan)})
    return plan


def stored_plan(storage: Any, name: str) -> ComparePlan | None:
    """The definition of compare run ``name`` kept in its studies (``None`` if it has none yet)."""
    import optuna

    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        if summary.user_attrs.get(record.STUDY_COMPARE) == name:
            stored = storage.get_study_system_attrs(storage.get_study_id_from_name(summary.study_name))
            if record.STUDY_COMPARE_PLAN in stored:
                return ComparePlan.from_dict(stored[record.STUDY_COMPARE_PLAN])
    return None


@dataclass
class CompareProgress:
    """Where a compare run stands: epochs and seconds each run has spent, and what this process trained."""

    plan: ComparePlan
    started: float = field(default_factory=time.monotonic)
    epochs: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    epochs_at_open: dict[str, int] = field(default_factory=dict)

    def load_existing(self, storage: Any) -> None:
        """Count what the runs started earlier (by another process) already spent."""
        for backend, seed in self.plan.runs():
            name = self.plan.study_name(backend, seed)
            if study_exists(storage, name):
                study_id = storage.get_study_id_from_name(name)
                epochs = record.epochs_spent(load_trials(storage, study_id, skip_system_attrs={record.TRIAL_HISTORY}))
                self.update(name, epochs, record.study_elapsed(storage.get_study_system_attrs(study_id)))

    def opened(self, study: str, epochs: int, seconds: float) -> None:
        self.epochs_at_open[study] = epochs
        self.update(study, epochs, seconds)

    def update(self, study: str, epochs: int, seconds: float) -> None:
        self.epochs[study], self.seconds[study] = epochs, seconds

    def eta(self) -> float | None:
        """Seconds left: the epochs left in every run x the seconds per epoch this process has measured
        (a time budget: the time left in every run)."""
        names = [self.plan.study_name(b, s) for b, s in self.plan.runs()]
        timeout = self.plan.timeout
        by_time = None if timeout is None else sum(max(0.0, timeout - self.seconds.get(n, 0.0)) for n in names)
        if self.plan.budget_epochs is None:
            return by_time
        trained_here = sum(self.epochs[name] - self.epochs_at_open[name] for name in self.epochs_at_open)
        if trained_here <= 0:
            return by_time
        per_epoch = (time.monotonic() - self.started) / trained_here
        left = [max(0, self.plan.budget_epochs - self.epochs.get(name, 0)) * per_epoch for name in names]
        if timeout is not None:
            left = [min(seconds, max(0.0, timeout - self.seconds.get(name, 0.0))) for seconds, name in zip(left, names)]
        return sum(left)


def open_run(plan: ComparePlan, storage_url: str, backend: str, seed: int) -> tuple[SearchSession, str]:
    """The session of one backend x seed: resumed if its study exists, else created."""
    name = plan.study_name(backend, seed)
    storage = open_working_storage(storage_url)
    if study_exists(storage, name):
        _check_member(storage, plan, name)
        session = resume_session(ResumeRequest(study=name, storage=storage_url))
        session.recover()
        return session, "resumed"
    session = SearchSession.create(plan_start(start_request(plan, storage_url, backend, seed)))
    session.storage.set_study_system_attr(
        session.storage.get_study_id_from_name(name), record.STUDY_COMPARE_PLAN, plan.to_dict()
    )
    return session, "started"


def _check_member(storage: Any, plan: ComparePlan, name: str) -> None:
    tags = storage.get_study_user_attrs(storage.get_study_id_from_name(name))
    if tags.get(record.STUDY_COMPARE) != plan.name:
        raise UserError(f"Study '{name}' exists but is not part of compare run '{plan.name}'; "
                        f"pick another --name.")


def check_runs(plan: ComparePlan, storage_url: str) -> None:
    """Plan every run still to start, and check every existing one belongs to the compare, writing nothing.

    Bad input (data, settings, names, storage, artifacts folder) then stops the compare before its
    first study, not after some backends have run.
    """
    database = sqlite_path(storage_url)
    storage = open_storage(storage_url) if database is None or database.is_file() else None
    for backend, seed in plan.runs():
        name = plan.study_name(backend, seed)
        if storage is not None and study_exists(storage, name):
            _check_member(storage, plan, name)
        else:
            plan_start(start_request(plan, storage_url, backend, seed))


def start_request(plan: ComparePlan, storage_url: str, backend: str, seed: int) -> StartRequest:
    """The ``StartRequest`` of one backend x seed of ``plan``."""
    name = plan.study_name(backend, seed)
    backend_cls = get_backend(backend)
    space = load_space(plan.space, plan.objective)
    max_epochs = plan.max_epochs or space.budget.max_epochs
    settings = backend_cls.settings_for_budget(backend_cls.validate_settings({}), max_epochs, plan.budget_epochs)
    request = StartRequest(
        space=plan.space, backend=backend, study=name, storage=storage_url, max_epochs=plan.max_epochs,
        timeout=plan.timeout, epoch_timeout=plan.epoch_timeout, seed=seed, data_path=plan.data_path,
        train_samples=plan.train_samples, options={k: str(v) for k, v in settings.items()},
        artifacts=plan.artifacts, budget_epochs=plan.budget_epochs, compare=plan.name,
        unlimited_time=plan.timeout is None, image_size=plan.image_size, color=plan.color,
        val_split=plan.val_split, test_split=plan.test_split, objective=plan.objective,
    )
    return request


def compare_sessions(plan: ComparePlan, storage_url: str) -> Iterator[tuple[str, int, SearchSession, str]]:
    """Each backend x seed's session in turn (``backend, seed, session, "started"|"resumed"``)."""
    for backend, seed in plan.runs():
        session, action = open_run(plan, storage_url, backend, seed)
        yield backend, seed, session, action


def epochs_spent(session: SearchSession) -> int:
    return record.epochs_spent(session.study.get_trials(deepcopy=False))


__all__ = ["CompareProgress", "ComparePlan", "CompareRequest", "check_runs", "compare_sessions", "default_name",
           "epochs_spent", "open_run", "plan_compare", "start_request", "stored_plan"]
