"""Per-study artifact folders: checkpoints, the backend's own state, saved models.

A study's artifacts live in ``<db folder>/hpsearch-artifacts/<study>/`` next to a SQLite file, or in
``$HPSEARCH_ARTIFACTS/<study>/`` (default ``./hpsearch-artifacts``) for server databases, unless the
user names a folder. The resolved absolute path is stored with the study.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from hpsearch.storage.urls import sqlite_path

ARTIFACTS_ENV = "HPSEARCH_ARTIFACTS"
ARTIFACTS_FOLDER = "hpsearch-artifacts"


def safe_name(study_name: str) -> str:
    """A folder name for ``study_name`` (anything but letters, digits, ``._-`` becomes ``_``)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", study_name) or "_"


def artifact_root(storage_url: str, root: str | None = None) -> Path:
    """The folder holding every study's artifacts for ``storage_url``; not created here."""
    if root is None:
        root = os.environ.get(ARTIFACTS_ENV)
    if root is None:
        database = sqlite_path(storage_url)
        base = database.parent if database is not None else Path.cwd()
        root = str(base / ARTIFACTS_FOLDER)
    return Path(root).expanduser().resolve()


def artifact_dir(storage_url: str, study_name: str, root: str | None = None) -> Path:
    """The folder that holds the artifacts of ``study_name``; not created here."""
    return artifact_root(storage_url, root) / safe_name(study_name)


OPTUNA_STORE_FOLDER = "optuna-artifacts"


def optuna_artifact_store(root: Path, create: bool = True) -> Any:
    """Optuna's ``FileSystemArtifactStore`` in ``root/optuna-artifacts`` (``None`` if absent and not created).

    Each finished trial's best weights are uploaded here and linked to the trial, so
    optuna-dashboard (``hpsearch dashboard``) lists and serves them.
    """
    from optuna.artifacts import FileSystemArtifactStore

    folder = Path(root) / OPTUNA_STORE_FOLDER
    if not folder.is_dir():
        if not create:
            return None
        folder.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(folder))


class TrialCheckpoints:
    """Weights files of one study's trials: ``last`` (after the last finished epoch) and ``best``.

    Each weights file has a JSON note beside it saying which epoch (and objective value) it holds.
    Both are written to a temporary file first and renamed, so a kill never leaves a torn file.
    """

    KINDS = ("best", "last")

    def __init__(self, study_dir: Path) -> None:
        self.root = Path(study_dir) / "checkpoints"

    def path(self, trial_number: int, which: str = "best") -> Path:
        if which not in self.KINDS:
            raise ValueError(f"which must be 'best' or 'last', but got {which!r}.")
        return self.root / f"trial-{trial_number:05d}" / f"{which}.weights.h5"

    def prepare(self, trial_number: int) -> None:
        self.path(trial_number).parent.mkdir(parents=True, exist_ok=True)

    def exists(self, trial_number: int, which: str = "best") -> bool:
        return self.path(trial_number, which).is_file()

    def save(self, model: Any, trial_number: int, which: str, epoch: int, value: float) -> None:
        """Save ``model``'s weights (and optimizer state) as they are after ``epoch``."""
        target = self.path(trial_number, which)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{which}.partial.weights.h5")
        model.save_weights(partial)
        os.replace(partial, target)
        note = target.with_name(f"{which}.json.partial")
        note.write_text(json.dumps({"epoch": epoch, "value": value}))
        os.replace(note, target.with_name(f"{which}.json"))

    def note(self, trial_number: int, which: str) -> dict[str, Any] | None:
        """``{"epoch": ..., "value": ...}`` of a saved checkpoint, or ``None`` if there is none."""
        note = self.path(trial_number, which).with_name(f"{which}.json")
        if not note.is_file() or not self.exists(trial_number, which):
            return None
        return json.loads(note.read_text())

    def copy(self, source: int, target: int, which: str) -> None:
        self.prepare(target)
        for suffix in (".weights.h5", ".json"):
            shutil.copyfile(
                self.path(source, which).with_name(f"{which}{suffix}"),
                self.path(target, which).with_name(f"{which}{suffix}"),
            )
