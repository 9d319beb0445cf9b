"""Getting things out of a study: its trials as a table, a trial's best model as a ``.keras`` file.

Shared by ``hpsearch export`` and ``hpsearch retrain``: opening a study read-only and choosing one of
its COMPLETE trials (``open_trial``), and checking where a file may be written (``check_output_file``).
Everything the user gave is checked before TensorFlow is imported; TensorFlow is imported only by
``export_model``, after its weights file is in hand.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from hpsearch.reports import trials as trial_table
from hpsearch.search.errors import UserError
from hpsearch.storage import record
from hpsearch.storage.artifacts import TrialCheckpoints, optuna_artifact_store
from hpsearch.storage.studies import StudyMeta, load_study, open_storage, study_meta
from hpsearch.storage.urls import check_url, resolve_url

FORMATS = ("csv", "json")
WEIGHTS_SUFFIX = ".weights.h5"


@dataclass(frozen=True)
class OpenStudy:
    """A study opened read-only: the URL it was found at, its ``RDBStorage`` and the ``optuna.Study``."""

    url: str
    storage: Any
    study: optuna.Study


@dataclass(frozen=True)
class TrialTarget:
    """One COMPLETE trial of a study hpsearch made, with what is needed to rebuild its model."""

    opened: OpenStudy
    meta: StudyMeta
    trial: FrozenTrial

    @property
    def maximize(self) -> bool:
        return self.opened.study.direction == optuna.study.StudyDirection.MAXIMIZE


def open_study(study_name: str, storage: str | None) -> OpenStudy:
    """Open ``study_name`` in an existing storage; ``StorageError`` (listing the studies) if absent."""
    url = resolve_url(storage)
    check_url(url, must_exist=True)  # never create an empty SQLite file
    rdb = open_storage(url)
    return OpenStudy(url, rdb, load_study(rdb, study_name))


def choose_trial(study: optuna.Study, number: int | None, command: str) -> FrozenTrial:
    """Trial ``number`` of ``study`` (``None``: the best), which must exist and be COMPLETE."""
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        states = ", ".join(f"{t.number} {t.state.name}" for t in trials) or "no trials"
        raise UserError(f"Study '{study.study_name}' has no COMPLETE trial ({states}): {command} needs one.")
    if number is None:
        return study.best_trial
    by_number = {t.number: t for t in trials}
    if number not in by_number:
        raise UserError(
            f"--trial must be a trial number of study '{study.study_name}' (0 to {len(trials) - 1}), "
            f"but got {number}."
        )
    trial = by_number[number]
    if trial.state != TrialState.COMPLETE:
        numbers = ", ".join(str(t.number) for t in complete)
        raise UserError(
            f"--trial must be a COMPLETE trial, but trial {number} of study '{study.study_name}' is "
            f"{trial.state.name}. COMPLETE trials: {numbers}."
        )
    return trial


def open_trial(study_name: str, storage: str | None, number: int | None, command: str) -> TrialTarget:
    """The chosen (or best) COMPLETE trial of an hpsearch study; ``UserError`` for anything else."""
    opened = open_study(study_name, storage)
    meta = study_meta(opened.storage, study_name)
    if meta is None:
        raise UserError(
            f"Study '{study_name}' was not made by hpsearch: it has no stored space or model builder, "
            f"so {command} cannot rebuild its models."
        )
    return TrialTarget(opened, meta, choose_trial(opened.study, number, command))


def check_writable_folder(folder: Path, option: str) -> None:
    """``folder`` (or, if not made yet, its nearest existing parent) must accept new files."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{option}: {existing} is not a folder, so {folder} cannot hold files.")
    try:
        handle, probe = tempfile.mkstemp(dir=existing, prefix=".hpsearch-probe-")
    except OSError as error:
        raise UserError(f"{option}: cannot write to folder {existing}: {error.strerror}.") from None
    os.close(handle)
    os.remove(probe)


def check_output_file(path: Path, option: str, suffixes: tuple[str, ...] = ()) -> Path:
    """A file path the user named: its folder must exist and be writable; it must not be a folder."""
    if suffixes and path.suffix.lower() not in suffixes:
        raise UserError(f"{option} must be a path ending in {' or '.join(suffixes)}, but got {path}.")
    try:
        is_folder, folder_exists = path.is_dir(), path.parent.is_dir()
    except OSError as error:  # a name too long for the file system, ...
        raise UserError(f"{option}: cannot write {str(path)[:200]}: {error.strerror or error}.") from None
    if is_folder:
        raise UserError(f"{option} must name a file, but {path} is a folder.")
    folder = path.parent
    if not folder_exists:
        raise UserError(f"{option}: folder {folder} does not exist (got {path}); create it first.")
    check_writable_folder(folder, option)
    return path


def table_format(fmt: str | None, output: Path | None) -> str:
    """The table format: ``fmt`` if given, else the output file's extension, else CSV (stdout)."""
    if fmt is not None:
        return fmt
    if output is None:
        return "csv"
    suffix = output.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise UserError(
            f"Cannot tell the format from -o {output}: give --format csv|json or a .csv/.json file name."
        )
    return suffix


def trials_text(study_name: str, storage: str | None, fmt: str) -> tuple[str, int]:
    """Every trial of the study as CSV or JSON text (any Optuna study, hpsearch's or not), and how many."""
    opened = open_study(study_name, storage)
    rows = trial_table.trial_rows(opened.study)
    text = trial_table.csv_text(rows) if fmt == "csv" else trial_table.json_text(opened.study, rows)
    return text, len(rows)


def write_file(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file beside ``path``, renamed at the end: never a torn file."""
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        write(partial)
        os.replace(partial, path)
    except OSError as error:
        raise UserError(f"Cannot write {path}: {error.strerror or error}.") from None
    finally:
        if partial.exists():
            partial.unlink()


def write_text(path: Path, text: str) -> None:
    write_file(path, lambda partial: partial.write_text(text, encoding="utf-8"))


@dataclass(frozen=True)
class WeightsSource:
    """Where a trial's best weights are: its local checkpoint, else an artifact in Optuna's store."""

    local: Path | None
    artifact_id: str | None = None
    store: Any = None

    def describe(self) -> str:
        return str(self.local) if self.local is not None else f"Optuna's artifact store ({self.artifact_id})"


def find_best_weights(target: TrialTarget) -> WeightsSource:
    """The local ``best`` checkpoint of the trial, else its copy in Optuna's artifact store; else ``UserError``."""
    number = target.trial.number
    local = TrialCheckpoints(Path(target.meta.artifacts)).path(number, "best")
    if local.is_file():
        return WeightsSource(local)
    store = optuna_artifact_store(Path(target.meta.artifacts).parent, create=False)
    if store is not None:
        metas = optuna.artifacts.get_all_artifact_meta(target.trial, storage=target.opened.storage)
        ids = [m.artifact_id for m in metas if m.filename.endswith(WEIGHTS_SUFFIX)] or record.artifact_ids(target.trial)
        if ids:
            return WeightsSource(None, ids[-1], store)
    retrain = f"`hpsearch retrain {target.opened.study.study_name} --trial {number}` trains it again"
    if target.trial.user_attrs.get(record.WEIGHTS_DROPPED):
        kept = target.meta.keep_weights
        raise UserError(
            f"Trial {number}'s best weights were not kept: the search keeps those of its "
            f"{kept if kept is not None else 'best'} best trials (--keep-weights) and of trials it may still "
            f"continue ({retrain})."
        )
    raise UserError(
        f"Trial {number} has no best weights: neither the checkpoint {local} nor a copy in Optuna's artifact "
        f"store exists ({retrain})."
    )


@contextlib.contextmanager
def weights_file(source: WeightsSource) -> Iterator[Path]:
    """The weights as a local file: the checkpoint itself, or a temporary download from the store."""
    if source.local is not None:
        yield source.local
        return
    with tempfile.TemporaryDirectory(prefix="hpsearch-export-") as folder:
        path = Path(folder) / f"best{WEIGHTS_SUFFIX}"
        try:
            optuna.artifacts.download_artifact(artifact_store=source.store, artifact_id=source.artifact_id,
                                               file_path=str(path))
        except Exception as error:  # noqa: BLE001 - any store failure means "the weights are not there"
            raise UserError(
                f"Cannot download artifact {source.artifact_id} from Optuna's artifact store: "
                f"{type(error).__name__}: {error}"
            ) from None
        yield path


@dataclass(frozen=True)
class ModelCheck:
    """The exported model scored on the validation split, beside the value stored for the trial."""

    metric: str
    measured: float
    stored: float


def export_model(target: TrialTarget, source: WeightsSource, output: Path) -> ModelCheck:
    """Rebuild the trial's model, load its best weights from ``source`` (no training), save it to ``output``.

    ``output`` has been checked with ``check_output_file``. Returns the model's objective on the
    validation split, which should equal the trial's stored value.
    """
    with weights_file(source) as weights:
        from hpsearch.search import training  # TensorFlow: only now that everything is checked
        from hpsearch.search.session import study_space_and_data

        space, dataset = study_space_and_data(target.meta)
        params = target.trial.params
        model = training.build_model(space.load_builder(), params, dataset.input_shape, dataset.num_classes,
                                     seed=None, sample=dataset.x_val)
        model.optimizer.build(model.trainable_variables)  # as starting_points.load_checkpoint does
        try:
            model.load_weights(weights)
        except Exception as error:  # noqa: BLE001 - h5py, Keras and OS errors all mean "this file is unusable"
            detail = " ".join(str(error).split())[:200] or type(error).__name__
            raise UserError(
                f"The best weights of trial {target.trial.number} ({source.describe()}) cannot be loaded, the "
                f"file is truncated or corrupted ({type(error).__name__}: {detail}); `hpsearch retrain "
                f"{target.opened.study.study_name} --trial {target.trial.number}` trains the model again."
            ) from None
    metric = space.objective.metric
    scores = training.evaluate(model, dataset.x_val, dataset.y_val, training.batch_size_of(space, params))
    measured = scores.get(metric.removeprefix("val_"), float("nan"))
    write_file(output, model.save)
    return ModelCheck(metric, measured, float(target.trial.value))
