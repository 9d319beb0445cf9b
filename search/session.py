"""Putting a search together: validate the user's choices, open or create the study, run it.

``plan_start`` checks everything that can be checked before anything is written (names, budgets,
backend settings, storage URL, study name, dataset); ``SearchSession`` then creates the study and
runs it. Bad input raises an error whose message is one complete line.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from hpsearch.search.backends import Backend, BackendContext, get_backend
from hpsearch.search.errors import UserError
from hpsearch.search.recorder import worker_identity
from hpsearch.search.recovery import GRACE_SECONDS, HEARTBEAT_SECONDS
from hpsearch.search.retention import DEFAULT_KEEP_WEIGHTS
from hpsearch.search.runner import RunBudget, SearchRunner
from hpsearch.search.data_plan import DataRequest, check_unchanged, open_data, stored_data
from hpsearch.spaces.data import Dataset
from hpsearch.spaces.space import Space
from hpsearch.storage import record
from hpsearch.storage.artifacts import (
    TrialCheckpoints,
    artifact_dir,
    artifact_root,
    check_artifact_root,
    optuna_artifact_store,
)
from hpsearch.storage.backend_state import BackendStateStore
from hpsearch.storage.locks import study_lock
from hpsearch.storage.studies import (
    StudyMeta,
    create_study,
    hpsearch_version,
    load_study,
    open_storage,
    save_meta,
    study_exists,
    study_meta,
)
from hpsearch.storage.urls import check_url, check_writable, mask_password, resolve_url, sqlite_path

# The value checks live in a module without TensorFlow, so the CLI can run them first.
from hpsearch.search.compatibility import check_compatible, space_differences  # noqa: F401 (re-export)
from hpsearch.search.checks import check_positive, check_resume_values, check_start_values  # noqa: F401 (re-export)


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
    data_path: str | None = None  # --data SOURCE
    train_samples: int | None = None
    image_size: str | None = None
    color: str | None = None
    val_split: float | None = None
    test_split: float | None = None
    objective: str | None = None  # "val_loss", "val_auc:max"; None: the space's
    options: dict[str, str] | None = None
    artifacts: str | None = None
    budget_epochs: int | None = None
    compare: str | None = None
    unlimited_time: bool = False  # no timeout at all, not even the space's default
    keep_weights: int | None = DEFAULT_KEEP_WEIGHTS  # None: every trial's best weights


    def data(self) -> DataRequest:
        return DataRequest(source=self.data_path, image_size=self.image_size, color=self.color,
                           val_split=self.val_split, test_split=self.test_split, train_samples=self.train_samples)


@functools.lru_cache(maxsize=16)
def load_space(text: str, objective: str | None = None) -> Space:
    """The space ``text`` names (built-in, registered, or a user's file or module), with ``--objective``."""
    from hpsearch.spaces.user import find_space, parse_objective

    return find_space(text, parse_objective(objective) if objective is not None else None)


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
    space = load_space(request.space, request.objective)
    backend_cls = get_backend(request.backend)
    settings = backend_cls.validate_settings(dict(request.options or {}))
    check_start_values(trials=request.trials, max_epochs=request.max_epochs, timeout=request.timeout,
                       epoch_timeout=request.epoch_timeout, train_samples=request.train_samples,
                       budget_epochs=request.budget_epochs, seed=request.seed, study=request.study,
                       keep_weights=request.keep_weights)
    url = resolve_url(request.storage)
    check_url(url)
    check_writable(url)
    study_name = request.study or f"{space.name}-{backend_cls.name}-{_dt.datetime.now():%Y%m%d-%H%M%S}"
    database = sqlite_path(url)
    if database is None or database.is_file():
        if study_exists(open_storage(url), study_name):
            raise UserError(
                f"Study '{study_name}' already exists in {mask_password(url)}. "
                f"Continue it with `hpsearch resume {study_name}` or pick another --study name."
            )
    data, dataset = open_data(space, request.data())
    budget = space.budget
    trials = request.trials
    if trials is None and not backend_cls.epochs_as_budget and request.budget_epochs is None:
        trials = budget.trials
    check_artifact_root(artifact_root(url, request.artifacts), "--artifacts folder" if request.artifacts else
                        "artifacts folder")
    timeout = None if request.unlimited_time else request.timeout if request.timeout is not None else budget.timeout
    epoch_timeout = request.epoch_timeout if request.epoch_timeout is not None else budget.epoch_timeout
    max_epochs = request.max_epochs or budget.max_epochs
    fit = None
    if (request.max_epochs is None and request.budget_epochs is None and timeout is not None
            and budget.fit_max_epochs is not None and backend_cls.epochs_as_budget):
        from hpsearch.search.budget_fit import fit_max_epochs

        # The timeout, not the schedule, ends the search: trials refused as too slow train nothing,
        # so one pass of the schedule often ends minutes early; the next pass uses that time. What the
        # user set explicitly stays as given.
        given = request.options or {}
        repeated = {**backend_cls.settings_for_budget(settings, budget.fit_max_epochs[0], None),
                    **{k: v for k, v in settings.items() if k in given}}
        fit = fit_max_epochs(space, dataset, backend_cls, repeated, timeout, epoch_timeout, budget.fit_max_epochs)
        if fit is not None:
            max_epochs = fit.max_epochs
            settings = {**backend_cls.settings_for_budget(settings, max_epochs, None), **fit.settings,
                        **{k: v for k, v in settings.items() if k in given}}
    meta = StudyMeta(
        space_name=space.name,
        space=space.to_dict(),
        backend=backend_cls.name,
        backend_settings=settings,
        trials=trials,
        max_epochs=max_epochs,
        timeout=timeout,
        epoch_timeout=epoch_timeout,
        seed=request.seed,
        data=data,
        artifacts=str(artifact_dir(url, study_name, request.artifacts)),
        budget_epochs=request.budget_epochs,
        compare=request.compare,
        budget_fit=None if fit is None else fit.to_dict(),
        keep_weights=request.keep_weights,
    )
    check_artifact_root(Path(meta.artifacts), "the study's artifacts folder")  # its name fits the file system
    return SearchPlan(space, backend_cls, meta, study_name, url, dataset)


class SearchSession:
    """An open study with its backend and runner, ready to ``run``."""

    def __init__(self, plan: SearchPlan, study: Any, storage: Any) -> None:
        self.plan = plan
        self.notes: list[str] = []  # what resume has to say before the run (a changed space file)
        self.study = study
        self.storage = storage
        meta = plan.meta
        artifacts = Path(meta.artifacts)
        study_id = storage.get_study_id_from_name(study.study_name)
        self.lock = study_lock(plan.storage_url, study_id)
        context = BackendContext(
            space=plan.space,
            study=study,
            settings=meta.backend_settings,
            seed=meta.seed,
            max_epochs=meta.max_epochs,
            state=BackendStateStore(storage, study_id),
            legacy_state_dir=artifacts / "backend",
            trial_attrs={record.WORKER: worker_identity()},
        )
        self.backend = plan.backend_cls(context)
        self.checkpoints = TrialCheckpoints(artifacts)
        self.runner = SearchRunner(
            plan.space, plan.dataset, study, storage, self.backend, self.checkpoints, seed=meta.seed,
            artifact_store=optuna_artifact_store(artifacts.parent), lock=self.lock, keep_weights=meta.keep_weights,
        )

    @classmethod
    def create(cls, plan: SearchPlan) -> SearchSession:
        storage = open_working_storage(plan.storage_url)
        direction = plan.space.objective.direction
        try:
            study = create_study(storage, plan.study_name, direction, plan.space.objective.metric, plan.meta)
        except optuna.exceptions.DuplicatedStudyError:  # another process took the name meanwhile
            raise UserError(
                f"Study '{plan.study_name}' already exists in {mask_password(plan.storage_url)}. "
                f"Continue it with `hpsearch resume {plan.study_name}` or pick another --study name."
            ) from None
        return cls(plan, study, storage)

    def close(self) -> None:
        """Give the database connections back (the run is over, or this process is replaced:
        ``search.memory``); they reopen if the session is used again."""
        self.lock.close()
        engine = getattr(self.storage, "engine", None)
        if engine is not None:
            engine.dispose()

    def recover(self) -> list[Any]:
        """Fail trials whose worker died and have the backend run their configurations again.

        The runner does this too before every trial; here it is for saying so before the run starts.
        """
        with self.lock:
            return self.runner.recover()

    def budget(self) -> RunBudget:
        """This run's budget: the stored one, less the time earlier runs already spent."""
        meta = self.plan.meta
        timeout = meta.timeout
        if timeout is not None:
            timeout = max(0.0, timeout - self.elapsed())
        return RunBudget(trials=meta.trials, timeout=timeout, epoch_timeout=meta.epoch_timeout,
                         epochs=meta.budget_epochs, study_timeout=meta.timeout)

    def add_elapsed(self, seconds: float) -> None:
        """Count ``seconds`` spent outside any run (a process restart) as the study's time."""
        study_id = self.storage.get_study_id_from_name(self.study.study_name)
        self.storage.set_study_system_attr(study_id, record.STUDY_ELAPSED, round(self.elapsed() + seconds, 3))

    def counted_trials(self) -> int:
        """Trials of the study that count toward its budget (every worker's)."""
        return record.counted_trials(self.study.get_trials(deepcopy=False))

    def elapsed(self) -> float:
        """Seconds the study's runs have spent so far."""
        study_id = self.storage.get_study_id_from_name(self.study.study_name)
        return record.study_elapsed(self.storage.get_study_system_attrs(study_id))


def open_working_storage(url: str) -> Any:
    """The storage a search runs on: with heartbeats, so other workers can tell if this one dies, and
    a SQLite file in WAL mode, so several local workers share it (``storage.studies.open_storage``)."""
    return open_storage(url, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS, wal=True)


@dataclass
class ResumeRequest:
    study: str
    storage: str | None = None
    trials: int | None = None
    timeout: float | None = None
    budget_epochs: int | None = None
    artifacts: str | None = None  # a worker's --artifacts: the shared artifacts folder as this host sees it
    worker: bool = False  # `hpsearch worker`: the study's artifacts folder must be reachable from here


def resume_session(request: ResumeRequest) -> SearchSession:
    """Validate a resume and open the study's session; ``trials``/``timeout`` extend the stored budget.

    ``artifacts`` (a worker on another host) replaces, for this process only, the root of the
    study's artifacts folder; the study keeps the path it was started with."""
    check_resume_values(study=request.study, trials=request.trials, timeout=request.timeout,
                        budget_epochs=request.budget_epochs)
    url = resolve_url(request.storage)
    check_url(url, must_exist=True)  # never create an empty SQLite file
    check_writable(url)
    storage = open_working_storage(url)
    study = load_study(storage, request.study)
    meta = study_meta(storage, request.study)
    if meta is None:
        raise UserError(f"Study '{request.study}' was not started by hpsearch: it has no hpsearch settings to resume from.")
    stored_artifacts = meta.artifacts
    if request.worker or request.artifacts is not None:
        meta.artifacts = str(worker_artifacts(meta.artifacts, request.artifacts))
    note = check_compatible(meta)
    backend_cls = get_backend(meta.backend)
    space, dataset = study_space_and_data(meta)
    check_unchanged(meta.data, dataset)
    study_id = storage.get_study_id_from_name(request.study)
    if request.trials is not None:
        meta.trials = record.counted_trials(study.get_trials(deepcopy=False)) + request.trials
    if request.timeout is not None:
        meta.timeout = record.study_elapsed(storage.get_study_system_attrs(study_id)) + request.timeout
    if request.budget_epochs is not None:
        meta.budget_epochs = record.epochs_spent(study.get_trials(deepcopy=False)) + request.budget_epochs
    session = SearchSession(SearchPlan(space, backend_cls, meta, request.study, url, dataset), study, storage)
    session.backend.check_state()  # damaged backend state: stop before anything is written
    session.notes = [note] if note else []
    if request.trials is not None or request.timeout is not None or request.budget_epochs is not None:
        with session.lock:
            save_meta(storage, study_id, dataclasses.replace(meta, artifacts=stored_artifacts))
    return session


def worker_artifacts(stored: str, given: str | None) -> Path:
    """The study's artifacts folder as this worker reaches it: under ``given`` (``--artifacts``, the
    shared root as this host mounts it) by the folder name the study stored, or the stored path.

    ``UserError`` when that root is not on this machine: a worker writes every checkpoint there, and a
    wrong folder would keep its weights from the other workers."""
    folder = Path(stored)
    if given is not None:
        root = Path(given).expanduser()
        if not root.is_dir():
            raise UserError(f"--artifacts folder {root} does not exist: give the shared artifacts folder (the one "
                            f"holding {folder.name}/) as this machine mounts it.")
        check_artifact_root(root, "--artifacts folder")
        return root.resolve() / folder.name
    if not folder.parent.is_dir():
        raise UserError(f"The study's artifacts folder {folder} is not on this machine: give the shared folder "
                        f"holding {folder.name}/ with --artifacts DIR (workers share checkpoints through it).")
    return folder


def study_space_and_data(meta: StudyMeta) -> tuple[Space, Dataset]:
    """The space stored with a study and the data it searched (same file, same ``train_samples``)."""
    space = restore_user_code(Space.from_dict(meta.space), Path(meta.artifacts))
    return space, stored_data(space, meta.data)


def restore_user_code(space: Space, artifacts: Path) -> Space:
    """A user's space whose file is gone runs from the code the study kept, written back once to
    ``<artifacts>/space/`` (so resume, retrain and export go on after the file moved)."""
    source = space.source
    if not source or not source.get("path") or Path(source["path"]).is_file() or not source.get("code"):
        return space

    copy = artifacts / "space" / Path(source["path"]).name
    if not copy.is_file():
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(source["code"])
    attribute = space.builder.rpartition(":")[2]
    return dataclasses.replace(space, builder=f"{copy}:{attribute}")


