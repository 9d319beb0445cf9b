"""Copying studies from one storage to another (``hpsearch migrate``), storage layer only.

As ``optuna.copy_study``, but owned here: the same name and directions, every trial with its NUMBER
kept and checked (a Keras Tuner oracle's state, ``promoted_from`` and ``retry_of`` refer to numbers),
then every study attribute (hpsearch's meta, space, oracle state, elapsed time, Optuna's metric names):
last, so a copy cut short by a kill is no study ``resume`` takes. A RUNNING trial of a dead worker is
copied as FAIL (interrupted), as ``resume``'s recovery records it. With a new artifacts folder, the
study's folder and its Optuna artifact store files are copied there (hard links kept) and the meta
points there. A failure or Ctrl-C removes the partial study and files. The SRC is only read.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from hpsearch.storage import record
from hpsearch.storage.artifacts import OPTUNA_STORE_FOLDER, check_artifact_root, study_store_folder
from hpsearch.storage.studies import read_meta
from hpsearch.storage.trial_rows import insert_trials, misnumbered_at, stored_numbers
from hpsearch.storage.urls import StorageError, mask_password, sqlite_path

MAX_NAMES_SHOWN = 20
TRIALS_PER_COMMIT = 500  # trials written per transaction


class MigrationError(StorageError):
    """A study cannot be copied (one line; nothing of it is left in the DST)."""


class MigrationInterrupted(KeyboardInterrupt):
    """Ctrl-C while a study was copied; ``str()`` says what was left in the DST (normally nothing)."""


@dataclass(frozen=True)
class StudyPlan:
    """What copying one study will do, decided (and checked) before anything is written."""

    name: str
    hpsearch: bool  # started by hpsearch (has a meta); False: a plain Optuna study
    artifacts: Path | None  # the study's artifacts folder as stored (None: a plain Optuna study)
    target: Path | None = None  # where its artifacts are copied to (None: they stay where they are)


@dataclass
class CopiedStudy:
    """What ``copy_study`` did."""

    plan: StudyPlan
    trials: int = 0
    interrupted: list[int] = field(default_factory=list)  # RUNNING trials of dead workers, now FAIL
    backend_state: bool = False
    copied_bytes: int = 0
    copied_files: int = 0
    notes: list[str] = field(default_factory=list)


def same_database(first: str, second: str) -> bool:
    """Whether two URLs name one database (a SQLite file however spelt; a server's host, port, db)."""
    from sqlalchemy.engine import make_url

    if first == second:
        return True
    a, b = sqlite_path(first), sqlite_path(second)
    if a is not None or b is not None:
        if a is None or b is None:
            return False
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.expanduser().resolve() == b.expanduser().resolve()
    x, y = make_url(first), make_url(second)
    return ((x.get_backend_name(), x.host, x.port, x.database) == (y.get_backend_name(), y.host, y.port, y.database)
            and x.get_backend_name() != "sqlite")


def existing_study_names(url: str) -> list[str]:
    """The study names in the database at ``url`` without creating it or its tables (read only)."""
    import sqlalchemy
    from optuna.storages._rdb import models

    path = sqlite_path(url)
    if path is not None and not path.is_file():
        return []
    if url.startswith("sqlite") and path is None:
        return []  # in memory: empty
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            table = models.StudyModel.__tablename__
            if not sqlalchemy.inspect(connection).has_table(table):
                return []
            return [row[0] for row in connection.execute(sqlalchemy.text(f"SELECT study_name FROM {table}"))]
    except sqlalchemy.exc.SQLAlchemyError as error:
        raise StorageError(f"Cannot read storage '{mask_password(url)}': {_first_line(error, url)}") from None
    finally:
        engine.dispose()


def plan_study(storage: Any, name: str, artifacts_dir: Path | None) -> StudyPlan:
    """The plan for study ``name`` of ``storage``; with ``artifacts_dir``, checks its artifacts can go there."""
    study_id = storage.get_study_id_from_name(name)
    meta = read_meta(storage.get_study_system_attrs(study_id), storage.get_study_user_attrs(study_id))
    if meta is None or not meta.artifacts:
        return StudyPlan(name, meta is not None, None)
    source = Path(meta.artifacts).expanduser().resolve()
    if artifacts_dir is None:
        return StudyPlan(name, True, source)
    root = artifacts_dir.expanduser().resolve()
    check_artifact_root(root, "--artifacts folder")
    target = root / source.name
    if target == source:
        return StudyPlan(name, True, source)  # already there: nothing to copy
    if target.exists():
        raise StorageError(f"Cannot copy the artifacts of study '{name}' to {target}: it already exists "
                           f"(another study's folder?); choose another --artifacts folder.")
    return StudyPlan(name, True, source, target)


def copy_study(src: Any, dst: Any, plan: StudyPlan, interrupted: Mapping[int, str],
               progress: Callable[[int, int], None] | None = None) -> CopiedStudy:
    """Copy study ``plan.name`` from storage ``src`` into ``dst`` (where the name must be free).

    ``interrupted`` maps the number of each RUNNING trial whose worker is dead to why (recorded as
    ``fail_reason = "interrupted: <why>"``); any other RUNNING trial stops the copy. ``progress(done,
    total)`` is called after each commit of trials. Raises ``MigrationError`` (one line) after removing
    what was written to ``dst``; Ctrl-C: ``MigrationInterrupted`` after the same cleanup.
    """
    import optuna

    name = plan.name
    src_id = src.get_study_id_from_name(name)
    user_attrs = src.get_study_user_attrs(src_id)
    system_attrs = src.get_study_system_attrs(src_id)
    trials = sorted(src.get_all_trials(src_id, deepcopy=False), key=lambda t: t.number)
    misnumbered = misnumbered_at([t.number for t in trials])
    if misnumbered:
        raise MigrationError(f"Study '{name}': its trials are not numbered 0..{len(trials) - 1} ({misnumbered}): "
                             f"a copy would renumber them, and the backend's state refers to them.")
    alive = [t.number for t in trials if t.state == TrialState.RUNNING and t.number not in interrupted]
    if alive:
        raise MigrationError(f"Study '{name}': trial {_numbers(alive)} is RUNNING and its worker was not found "
                             f"dead (started meanwhile?): stop the study's workers (Ctrl-C) and migrate again.")
    result = CopiedStudy(plan, trials=len(trials), backend_state=record.STUDY_BACKEND_STATE in system_attrs)
    if plan.target is not None:
        user_attrs, system_attrs = _moved_meta(user_attrs, system_attrs, plan.target)
    try:
        dst_id = dst.create_new_study(src.get_study_directions(src_id), name)
    except optuna.exceptions.DuplicatedStudyError:
        raise MigrationError(f"Study '{name}' already exists in the destination (created meanwhile?).") from None
    written: list[Path] = []
    try:
        result.interrupted = [t.number for t in trials if t.state == TrialState.RUNNING]
        for start in range(0, len(trials), TRIALS_PER_COMMIT):
            insert_trials(dst, dst_id, trials[start:start + TRIALS_PER_COMMIT], start, interrupted)
            if progress is not None:
                progress(min(start + TRIALS_PER_COMMIT, len(trials)), len(trials))
        _check_numbers_kept(dst, dst_id, len(trials))
        if plan.target is not None and plan.artifacts is not None:
            _copy_artifacts(plan.artifacts, plan.target, _artifact_ids(trials, system_attrs), result, written)
        elif plan.artifacts is not None and not plan.artifacts.is_dir():
            result.notes.append(f"artifacts folder {plan.artifacts} not found: checkpoints and weights are gone "
                                f"(the search itself is all in the study)")
        for key, value in user_attrs.items():
            dst.set_study_user_attr(dst_id, key, value)
        for key, value in system_attrs.items():
            dst.set_study_system_attr(dst_id, key, value)
    except BaseException as error:
        left = _remove_partial(dst, dst_id, written)
        if isinstance(error, KeyboardInterrupt):
            raise MigrationInterrupted(left) from None
        if not isinstance(error, Exception):
            raise
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise MigrationError(f"Cannot copy study '{name}': {reason.rstrip('.')}; {left}.") from error
    return result


def _check_numbers_kept(dst: Any, study_id: int, count: int) -> None:
    """``MigrationError`` unless the copy's trials are numbered 0..count-1 in the order stored (another
    process adding a trial meanwhile would shift them; the backend's state refers to them)."""
    numbers = stored_numbers(dst, study_id)
    misnumbered = misnumbered_at(numbers)
    if misnumbered is None and len(numbers) != count:
        misnumbered = f"{len(numbers)} trials, not {count}"
    if misnumbered is not None:
        raise MigrationError(f"the trial numbers changed in the destination ({misnumbered}; did another "
                             f"process add trials?)")


def _moved_meta(user_attrs: dict[str, Any], system_attrs: dict[str, Any],
                target: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The study attributes with the stored artifacts folder replaced by ``target`` (nothing else)."""
    system_attrs, user_attrs = dict(system_attrs), dict(user_attrs)
    if isinstance(system_attrs.get(record.STUDY_META), dict):
        system_attrs[record.STUDY_META] = {**system_attrs[record.STUDY_META], "artifacts": str(target)}
    elif isinstance(user_attrs.get(record.LEGACY_STUDY_META), dict):  # hpsearch 0.1
        user_attrs[record.LEGACY_STUDY_META] = {**user_attrs[record.LEGACY_STUDY_META], "artifacts": str(target)}
    return user_attrs, system_attrs


def _artifact_ids(trials: list[FrozenTrial], study_system_attrs: Mapping[str, Any]) -> list[str]:
    ids = [i for trial in trials for i in record.artifact_ids(trial)]
    ids += [key[len(record.ARTIFACT_PREFIX):] for key in study_system_attrs if key.startswith(record.ARTIFACT_PREFIX)]
    return list(dict.fromkeys(ids))


def _copy_artifacts(source: Path, target: Path, artifact_ids: list[str], result: CopiedStudy,
                    written: list[Path]) -> None:
    """Copy the study's folder to ``target`` and its Optuna artifact files to ``target``'s store
    folder, keeping files that were hard links of each other linked; every path made goes to ``written``."""
    inodes: dict[tuple[int, int], Path] = {}

    def copy_file(from_path: str, to_path: str) -> str:
        stat = os.stat(from_path)
        twin = inodes.get((stat.st_dev, stat.st_ino))
        if twin is not None:
            try:
                os.link(twin, to_path)
                result.copied_files += 1
                return to_path
            except OSError:
                pass
        shutil.copy2(from_path, to_path)
        inodes[(stat.st_dev, stat.st_ino)] = Path(to_path)
        result.copied_files += 1
        result.copied_bytes += stat.st_size
        return to_path

    if source.is_dir():
        written.append(target)
        shutil.copytree(source, target, copy_function=copy_file)
    else:
        result.notes.append(f"artifacts folder {source} not found: nothing to copy (checkpoints and weights are "
                            f"gone; the search itself is all in the study)")
    if not artifact_ids:
        return
    from_store, to_store = study_store_folder(source), target.parent / OPTUNA_STORE_FOLDER
    to_store.mkdir(parents=True, exist_ok=True)
    missing = 0
    for artifact_id in artifact_ids:
        from_path, to_path = from_store / artifact_id, to_store / artifact_id
        if not from_path.is_file():
            missing += 1
            continue
        if to_path.exists():
            continue  # artifact ids are random UUIDs: the same file, copied before
        written.append(to_path)
        copy_file(str(from_path), str(to_path))
    if missing:
        result.notes.append(f"{missing} of {len(artifact_ids)} files linked in Optuna's artifact store were not "
                            f"in {from_store}: the dashboard will not list them")


def _remove_partial(dst: Any, dst_id: int, written: list[Path]) -> str:
    """Delete the partial DST study and the files copied for it; what is left, in words."""
    left = []
    try:
        dst.delete_study(dst_id)
    except Exception as error:  # noqa: BLE001 - say so: the user has to delete it
        left.append(f"the partial study could not be deleted ({type(error).__name__}): delete it with "
                    f"optuna delete-study")
    for path in reversed(written):
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError:
            left.append(f"{path} could not be removed")
    return "; ".join(left) if left else "nothing of it was left in the destination"


def _numbers(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in numbers[:MAX_NAMES_SHOWN]) + (" ..." if len(numbers) > MAX_NAMES_SHOWN else "")


def _first_line(error: BaseException, url: str) -> str:
    from sqlalchemy.engine import make_url

    text = str(getattr(error, "orig", None) or error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    password = make_url(url).password  # the URL was parsed before: check_url
    return line.replace(str(password), "***") if password else line


__all__ = ["MigrationError", "MigrationInterrupted", "StudyPlan", "CopiedStudy", "same_database",
           "existing_study_names", "plan_study", "copy_study"]
