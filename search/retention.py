"""Which finished trials keep their best weights on disk, so a long search's artifacts stay bounded.

A search keeps the best-weights file of its ``keep`` best COMPLETE trials (by the objective), of every
trial its backend may still continue (a Hyperband round's candidates for promotion) and of every trial
a running trial continues. Any other finished trial's weights are removed, from the checkpoints folder
and from Optuna's artifact store (with the trial's link to them, so the dashboard lists only what
exists), and the trial gets the user attribute ``weights_dropped``. What a resume needs (a running or
interrupted trial's training states) is never touched, and ``hpsearch retrain`` rebuilds any trial
from its parameters. ``keep=None`` keeps every trial's weights.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from hpsearch.storage import record
from hpsearch.storage.artifacts import TrialCheckpoints

DEFAULT_KEEP_WEIGHTS = 5


def trials_to_drop(trials: Iterable[FrozenTrial], keep: int | None, maximize: bool,
                   continuable: set[int]) -> list[FrozenTrial]:
    """The finished trials whose best weights may go: not among the ``keep`` best COMPLETE ones, not
    ``continuable`` by the backend, not continued by a running trial, not an interrupted trial waiting
    for its re-run, and not dropped already."""
    if keep is None:
        return []
    trials = list(trials)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None
                and not t.user_attrs.get(record.WEIGHTS_DROPPED)]
    complete.sort(key=lambda t: (t.value if maximize else -t.value, -t.number), reverse=True)
    kept = {t.number for t in complete[:keep]} | set(continuable)
    for trial in trials:
        if trial.state in (TrialState.RUNNING, TrialState.WAITING):
            kept.add(trial.number)
            for link in (record.PROMOTED_FROM, record.RETRY_OF):
                source = trial.user_attrs.get(link)
                if isinstance(source, int):
                    kept.add(source)
    return [t for t in trials
            if t.state in record.FINISHED and t.number not in kept and not record.is_interrupted(t)
            and not t.user_attrs.get(record.WEIGHTS_DROPPED)]


def drop_weights(trials: Iterable[FrozenTrial], checkpoints: TrialCheckpoints, artifact_store: Any,
                 storage: Any) -> int:
    """Remove the best weights of ``trials`` (files, artifact-store copies and links) and mark each
    trial ``weights_dropped``; the bytes freed."""
    freed = 0
    for trial in trials:
        freed += checkpoints.discard_best(trial.number)
        for artifact_id in record.artifact_ids(trial):
            if artifact_store is not None:
                freed += _remove_artifact(artifact_store, artifact_id)
            record.delete_trial_system_attr(storage, trial._trial_id, record.ARTIFACT_PREFIX + artifact_id)
        record.set_finished_trial_user_attr(storage, trial._trial_id, record.WEIGHTS_DROPPED, True)
    return freed


def _remove_artifact(artifact_store: Any, artifact_id: str) -> int:
    """Remove one artifact from Optuna's store; the bytes freed (0 when it was gone already or is a
    hard link whose checkpoint was removed just before: then nothing more is freed)."""
    path = Path(getattr(artifact_store, "_base_path", "")) / artifact_id
    size = path.stat().st_size if path.is_file() and path.stat().st_nlink == 1 else 0
    try:
        artifact_store.remove(artifact_id)
    except Exception:  # noqa: BLE001 - a store that lost it already: nothing to remove
        return 0
    return size


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder``, each hard-linked file counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                stat = os.stat(os.path.join(root, name))
            except OSError:
                continue
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_size
    return total


__all__ = ["DEFAULT_KEEP_WEIGHTS", "drop_weights", "folder_bytes", "trials_to_drop"]
