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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpsearch.storage.urls import sqlite_path

ARTIFACTS_ENV = "HPSEARCH_ARTIFACTS"
ARTIFACTS_FOLDER = "hpsearch-artifacts"


READABLE_LENGTH = 60  # characters of the study name in its folder name (255 bytes at most in UTF-8)


def safe_name(study_name: str) -> str:
    """A readable folder name for ``study_name``: letters (any script), digits and ``._-`` kept,
    the rest ``_``, at most ``READABLE_LENGTH`` characters; not unique (see ``study_folder_name``)."""
    readable = re.sub(r"[^\w.-]", "_", study_name)[:READABLE_LENGTH].strip(".")
    return readable or "_"


def new_folder_token() -> str:
    """A random token that makes a study's folder its own (8 hex digits)."""
    import uuid

    return uuid.uuid4().hex[:8]


def study_folder_name(study_name: str, token: str) -> str:
    """``<readable name>-<token>``: two studies never share a folder, whatever their names."""
    return f"{safe_name(study_name)}-{token}"


def artifact_root(storage_url: str, root: str | None = None) -> Path:
    """The folder holding every study's artifacts for ``storage_url``; not created here."""
    if root is None:
        root = os.environ.get(ARTIFACTS_ENV)
    if root is None:
        database = sqlite_path(storage_url)
        base = database.parent if database is not None else Path.cwd()
        root = str(base / ARTIFACTS_FOLDER)
    return Path(root).expanduser().resolve()


def artifact_dir(storage_url: str, study_name: str, root: str | None = None, token: str | None = None) -> Path:
    """The folder that will hold the artifacts of a new study ``study_name``; not created here.

    Its name is the readable study name plus ``token`` (a new random one by default), so studies
    whose names differ only in characters a file name cannot hold, or that live in different
    databases sharing one artifacts root, never share a folder.
    """
    return artifact_root(storage_url, root) / study_folder_name(study_name, token or new_folder_token())


OPTUNA_STORE_FOLDER = "optuna-artifacts"


def optuna_artifact_store(root: Path, create: bool = True) -> Any:
    """Optuna's ``FileSystemArtifactStore`` in ``root/optuna-artifacts`` (``None`` if absent and not created).

    Each finished trial's best weights are uploaded here and linked to the trial, so
    optuna-dashboard (``hpsearch dashboard``) lists and serves them.
    """
    folder = Path(root) / OPTUNA_STORE_FOLDER
    if not folder.is_dir():
        if not create:
            return None
        folder.mkdir(parents=True, exist_ok=True)
    return _linking_store_class()(str(folder))


def study_store_folder(study_artifacts: str | Path) -> Path:
    """The folder of Optuna's artifact store holding the uploads of the study whose own folder
    (``StudyMeta.artifacts``, ``<root>/<study>-<token>``) is ``study_artifacts``: ``<root>/optuna-artifacts``.
    A relative path is taken from the working directory, as ``start`` takes ``--artifacts``."""
    return Path(study_artifacts).expanduser().resolve().parent / OPTUNA_STORE_FOLDER


def _linking_store_class() -> type:
    """Optuna's ``FileSystemArtifactStore``, except that a file uploaded from this file system becomes
    a hard link to it instead of a second copy (checkpoint files are written to a new file and renamed,
    never rewritten in place, so the link keeps the uploaded content). Elsewhere it copies."""
    from optuna.artifacts import FileSystemArtifactStore

    class LinkingArtifactStore(FileSystemArtifactStore):
        def write(self, artifact_id: str, content_body: Any) -> None:
            source = getattr(content_body, "name", None)
            if isinstance(source, str) and os.path.isfile(source):
                target = self._get_filepath(artifact_id)
                try:
                    os.link(source, target)
                    return
                except OSError:  # another file system, or links not allowed: copy
                    pass
            super().write(artifact_id, content_body)

    return LinkingArtifactStore


class TrialCheckpoints:
    """Checkpoint files of one study's trials, in ``checkpoints/trial-NNNNN/``.

    Two kinds of file, each with a JSON note beside it (``best.json``, ``last.json``: the epoch and
    objective value it holds):

    - ``{best,last}.state.npz``: a trial's training state (every weight and optimizer variable, in
      the model's order) written after each epoch while it trains (``save_state``): a plain array
      file, a few milliseconds where Keras' ``save_weights`` costs ~30 ms per call. ``last`` is what
      an interrupted trial's re-run continues from; both are removed when the trial ends for good.
    - ``best.weights.h5``: the finished trial's best weights in Keras' own format (``save``), what
      ``export --model``, Hyperband promotions and the dashboard use.

    Every file is written to a temporary name first and renamed, so a kill never leaves a torn file.
    """

    KINDS = ("best", "last")
    STATE_SUFFIX = ".state.npz"

    def __init__(self, study_dir: Path) -> None:
        self.root = Path(study_dir) / "checkpoints"

    def folder(self, trial_number: int) -> Path:
        return self.root / f"trial-{trial_number:05d}"

    def path(self, trial_number: int, which: str = "best") -> Path:
        """The Keras ``.weights.h5`` file of ``which`` (``last`` ones exist only in older studies)."""
        return self.folder(trial_number) / f"{self._kind(which)}.weights.h5"

    def state_path(self, trial_number: int, which: str) -> Path:
        return self.folder(trial_number) / f"{self._kind(which)}{self.STATE_SUFFIX}"

    def _kind(self, which: str) -> str:
        if which not in self.KINDS:
            raise ValueError(f"which must be 'best' or 'last', but got {which!r}.")
        return which

    def prepare(self, trial_number: int) -> None:
        self.folder(trial_number).mkdir(parents=True, exist_ok=True)

    def exists(self, trial_number: int, which: str = "best") -> bool:
        """Whether the Keras weights file of ``which`` exists."""
        return self.path(trial_number, which).is_file()

    def has_state(self, trial_number: int, which: str) -> bool:
        return self.state_path(trial_number, which).is_file()

    def save(self, model: Any, trial_number: int, which: str, epoch: int, value: float) -> None:
        """Save ``model``'s weights (and optimizer state) in Keras' format, as they are after ``epoch``."""
        target = self.path(trial_number, which)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{which}.partial.weights.h5")
        model.save_weights(partial)
        os.replace(partial, target)
        self._write_note(trial_number, which, epoch, value)

    def save_state(self, values: Sequence[Any], trial_number: int, which: str, epoch: int, value: float) -> None:
        """Save a training state (arrays in the model's variable order) as it is after ``epoch``."""
        import numpy as np

        target = self.state_path(trial_number, which)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{which}.partial{self.STATE_SUFFIX}")
        with open(partial, "wb") as out:
            np.savez(out, *values)
        os.replace(partial, target)
        self._write_note(trial_number, which, epoch, value)

    def link_state(self, trial_number: int, source: str, target: str) -> None:
        """Make ``target``'s state the one ``source`` holds now (a hard link where possible), with its note."""
        from_path, to_path = self.state_path(trial_number, source), self.state_path(trial_number, target)
        partial = to_path.with_name(f"{target}.partial{self.STATE_SUFFIX}")
        partial.unlink(missing_ok=True)
        try:
            os.link(from_path, partial)
        except OSError:  # a file system without hard links
            shutil.copyfile(from_path, partial)
        os.replace(partial, to_path)
        note = self.note(trial_number, source)
        if note is not None:
            self._write_note(trial_number, target, note["epoch"], note["value"])

    def load_state(self, trial_number: int, which: str) -> list[Any]:
        """The arrays ``save_state`` wrote; raises ``OSError``/``ValueError`` for a damaged file."""
        import numpy as np

        with np.load(self.state_path(trial_number, which), allow_pickle=False) as saved:
            return [saved[f"arr_{index}"] for index in range(len(saved.files))]

    def discard_states(self, trial_number: int) -> None:
        """Remove a trial's training states (it ended for good: nothing will continue it)."""
        for which in self.KINDS:
            self.state_path(trial_number, which).unlink(missing_ok=True)
        if not self.exists(trial_number, "last"):
            self.folder(trial_number).joinpath("last.json").unlink(missing_ok=True)

    def discard_best(self, trial_number: int) -> int:
        """Remove a finished trial's best weights file and its note (``search.retention``); the bytes
        freed (none for a file still hard-linked from Optuna's artifact store). The folder goes too
        once empty."""
        freed = 0
        weights = self.path(trial_number, "best")
        try:
            stat = weights.stat()
            weights.unlink()
            freed = stat.st_size if stat.st_nlink == 1 else 0
        except FileNotFoundError:
            pass
        if not self.has_state(trial_number, "best"):
            self.folder(trial_number).joinpath("best.json").unlink(missing_ok=True)
        try:
            self.folder(trial_number).rmdir()
        except OSError:  # not empty (states of an older layout, a last file), or gone
            pass
        return freed

    def _write_note(self, trial_number: int, which: str, epoch: int, value: float) -> None:
        note = self.folder(trial_number) / f"{which}.json.partial"
        note.write_text(json.dumps({"epoch": epoch, "value": value}))
        os.replace(note, note.with_name(f"{which}.json"))

    def note(self, trial_number: int, which: str) -> dict[str, Any] | None:
        """``{"epoch": ..., "value": ...}`` of a saved checkpoint (state or weights), or ``None``."""
        note = self.folder(trial_number) / f"{self._kind(which)}.json"
        if not note.is_file() or not (self.exists(trial_number, which) or self.has_state(trial_number, which)):
            return None
        return json.loads(note.read_text())

    def copy(self, source: int, target: int, which: str) -> None:
        """Copy ``source``'s ``which`` files (state, weights, note: those that exist) to ``target``."""
        self.prepare(target)
        for suffix in (".weights.h5", self.STATE_SUFFIX, ".json"):
            name = f"{self._kind(which)}{suffix}"
            if (self.folder(source) / name).is_file():
                shutil.copyfile(self.folder(source) / name, self.folder(target) / name)


def check_artifact_root(path: Path, what: str = "artifacts folder") -> None:
    """``StorageError`` unless ``path`` is, or can be created as, a writable folder; creates nothing.

    Refuses a path that is a file or lies under a file, a folder (or the nearest existing folder
    above a missing one) that is not writable, and a name longer than the file system allows.
    ``start`` checks the study's artifacts folder with it before anything is written.
    """
    from hpsearch.storage.urls import StorageError

    path = Path(path)
    limit = _name_max(path)
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > limit:
            name = repr(part) if len(part) <= 40 else f"{part[:40]!r}..."
            shown = str(path) if len(str(path)) <= 120 else f"{str(path)[:120]}..."
            raise StorageError(
                f"Cannot use {what} {shown}: its name {name} is {size} bytes long, more than the "
                f"{limit} a file name may have here; pick a shorter study name or --artifacts folder."
            )
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing == path and not path.is_dir():
        raise StorageError(f"Cannot use {what} {path}: it is a file, not a folder.")
    if not existing.is_dir():
        raise StorageError(f"Cannot use {what} {path}: {existing} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise StorageError(f"Cannot use {what} {path}: folder {existing} is not writable.")


def _name_max(path: Path) -> int:
    """The longest file name (bytes) the file system of ``path``'s nearest existing folder allows."""
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        return int(os.pathconf(existing if existing.is_dir() else existing.parent, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255
