"""Every study's Optuna artifacts, read from the folder each study was started with (``hpsearch dashboard``).

An hpsearch study stores its own folder (``StudyMeta.artifacts``: ``<root>/<study>-<token>``); the best
weights it uploads to Optuna's artifact store lie beside it, in ``<root>/optuna-artifacts``
(``study_store_folder``). The studies of one storage may have different roots (``start --artifacts``),
so ``StudyArtifactStore`` is one Optuna ``ArtifactStore`` over all their folders: a read finds the
artifact in whichever folder holds it (artifact ids are random UUIDs), looking the studies up again
when it is in none of the folders known (a study started since), and writes and removals are refused
unless the store was made writable.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from hpsearch.storage.artifacts import OPTUNA_STORE_FOLDER, artifact_root, study_store_folder


class ArtifactsReadOnly(PermissionError):
    """An upload or a removal refused: the artifacts are served read-only."""


@dataclass(frozen=True)
class StudyFolder:
    """Where the Optuna artifacts of one study are."""

    study_id: int
    study_name: str
    folder: Path  # the study's Optuna artifact store folder
    stored: bool  # the folder the study was started with; False: the storage's default (a plain Optuna study)

    @property
    def present(self) -> bool:
        return self.folder.is_dir()


def store_folder_in(root: str | Path) -> Path:
    """The Optuna artifact store folder of an artifacts root the user names (``--artifacts DIR``):
    ``DIR/optuna-artifacts``, or ``DIR`` itself when it is that folder."""
    root = Path(root).expanduser().resolve()
    if root.name == OPTUNA_STORE_FOLDER and not (root / OPTUNA_STORE_FOLDER).is_dir():
        return root
    return root / OPTUNA_STORE_FOLDER


def study_folders(storage: Any, storage_url: str) -> list[StudyFolder]:
    """Each study's Optuna artifact store folder: the one stored in the study, or, for a study hpsearch
    did not start, the storage's default folder (as ``start`` picks it); studies in creation order."""
    from hpsearch.storage.studies import read_meta

    default = artifact_root(storage_url) / OPTUNA_STORE_FOLDER
    folders = []
    for study in storage.get_all_studies():
        meta = read_meta(study.system_attrs, study.user_attrs)
        if meta is not None and meta.artifacts:
            folders.append(StudyFolder(study._study_id, study.study_name, study_store_folder(meta.artifacts), True))
        else:
            folders.append(StudyFolder(study._study_id, study.study_name, default, False))
    return folders


class StudyArtifactStore:
    """Optuna's ``ArtifactStore`` protocol (``open_reader``, ``write``, ``remove``) over the studies' folders.

    ``locate`` lists the studies' folders (``study_folders``); it is called once here and again when
    an artifact or a study is not found (at most once a second), so studies started after this store
    was made are served too. ``override`` (``--artifacts DIR``) is searched first and receives every
    write. Unless ``writable``, ``write`` and ``remove`` raise ``ArtifactsReadOnly`` and touch nothing;
    a write goes to the folder of the study ``writing_study()`` names (the study a request is for).
    """

    REFRESH_SECONDS = 1.0

    def __init__(
        self,
        locate: Callable[[], Sequence[StudyFolder]],
        *,
        override: Path | None = None,
        writable: bool = False,
        writing_study: Callable[[], int | None] | None = None,
    ) -> None:
        self._locate = locate
        self.override = override
        self.writable = writable
        self._writing_study = writing_study or (lambda: None)
        self._lock = threading.Lock()
        self._folders: list[StudyFolder] = list(locate())
        self._located_at = time.monotonic()

    def folders(self) -> list[StudyFolder]:
        """The studies' folders as last looked up."""
        return list(self._folders)

    def _refresh(self) -> bool:
        """Look the studies up again unless that was done within ``REFRESH_SECONDS``; whether it was."""
        with self._lock:
            if time.monotonic() - self._located_at < self.REFRESH_SECONDS:
                return False
            self._folders = list(self._locate())
            self._located_at = time.monotonic()
            return True

    def _search_order(self) -> list[Path]:
        order = [self.override] if self.override is not None else []
        for entry in self._folders:
            if entry.folder not in order:
                order.append(entry.folder)
        return order

    def find(self, artifact_id: str) -> Path | None:
        """The file holding ``artifact_id``, or ``None``."""
        for attempt in range(2):
            for folder in self._search_order():
                path = folder / _file_name(artifact_id)
                if path.is_file():
                    return path
            if attempt == 0 and not self._refresh():
                break
        return None

    def open_reader(self, artifact_id: str) -> BinaryIO:
        from optuna.artifacts.exceptions import ArtifactNotFound

        path = self.find(artifact_id)
        if path is None:
            raise ArtifactNotFound(f"Artifact {artifact_id} is in none of the studies' artifact folders.")
        try:
            return open(path, "rb")
        except FileNotFoundError:  # removed meanwhile
            raise ArtifactNotFound(f"Artifact {artifact_id} was removed.") from None

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        self._check_writable("upload")
        folder = self.folder_for_write()
        if not folder.is_dir():
            raise FileNotFoundError(f"Artifacts folder {folder} not found.")
        _store(folder).write(artifact_id, content_body)

    def remove(self, artifact_id: str) -> None:
        from optuna.artifacts.exceptions import ArtifactNotFound

        self._check_writable("delete")
        path = self.find(artifact_id)
        if path is None:
            raise ArtifactNotFound(f"Artifact {artifact_id} is in none of the studies' artifact folders.")
        path.unlink(missing_ok=True)

    def folder_for_write(self) -> Path:
        """``override``, else the folder of the study being written to; ``LookupError`` if none is known."""
        if self.override is not None:
            return self.override
        study_id = self._writing_study()
        for attempt in range(2):
            for entry in self._folders:
                if entry.study_id == study_id:
                    return entry.folder
            if attempt == 0 and not self._refresh():
                break
        raise LookupError(f"No study with id {study_id} in this storage." if study_id is not None
                          else "No study named for the upload.")

    def _check_writable(self, action: str) -> None:
        if not self.writable:
            raise ArtifactsReadOnly(f"Artifacts are read-only: cannot {action} them.")


def _file_name(artifact_id: str) -> str:
    """``artifact_id`` as a file name in a store folder; ``ValueError`` for one that would leave it."""
    if artifact_id in ("", ".", "..") or any(c in artifact_id for c in "/\\\0"):
        raise ValueError(f"Invalid artifact id: {artifact_id!r}")
    return artifact_id


def _store(folder: Path) -> Any:
    from optuna.artifacts import FileSystemArtifactStore

    return FileSystemArtifactStore(folder)
