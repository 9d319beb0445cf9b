"""A resume of a study whose stored budget is already spent, answered from the storage alone.

``hpsearch resume`` on such a study has nothing to train; finding that out through the full session
(TensorFlow, the data, the backend) costs seconds. This reads the study's trials and settings only.
"""
from __future__ import annotations

from dataclasses import dataclass

from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from hpsearch.search.compatibility import check_compatible
from hpsearch.storage import record
from hpsearch.storage.bulk import load_trials
from hpsearch.storage.studies import StudyMeta, open_storage, study_meta
from hpsearch.storage.urls import check_url, check_writable, resolve_url


@dataclass(frozen=True)
class FinishedStudy:
    """A study with nothing left to run, why, and the name of its objective."""

    storage: BaseStorage
    study_name: str
    reason: str
    metric: str


def spent_reason(meta: StudyMeta, trials: list[FrozenTrial], elapsed: float) -> str | None:
    """Which stored budget is spent, in the words the runner stops with; ``None`` when none is."""
    if meta.trials is not None and record.counted_trials(trials) >= meta.trials:
        return f"trial budget reached ({meta.trials} trials)"
    if meta.budget_epochs is not None and record.epochs_spent(trials) >= meta.budget_epochs:
        return f"epoch budget reached ({meta.budget_epochs} epochs)"
    if meta.timeout is not None and elapsed >= meta.timeout:
        return f"time budget spent ({meta.timeout:g} s)"
    return None


def finished_study(study_name: str, storage: str | None) -> FinishedStudy | None:
    """The study, when its stored budget is spent and no trial of it is running or left running;
    ``None`` otherwise, or when anything is amiss (the full resume then says what)."""
    url = resolve_url(storage)
    try:
        check_url(url, must_exist=True)
        check_writable(url)  # resume is a writing command: a read-only URL is refused even with nothing to run
        opened = open_storage(url)
        study_id = opened.get_study_id_from_name(study_name)
    except Exception:  # noqa: BLE001 - the full path reports every such problem in its own words
        return None
    meta = study_meta(opened, study_name)
    if meta is None:
        return None
    check_compatible(meta)  # a study of another version or space is refused either way
    # The bulk reader: Optuna's own takes ~17 s on 10,000 trials of 20 epochs; the curves are not needed.
    trials = load_trials(opened, study_id, skip_system_attrs={record.TRIAL_HISTORY})
    if any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials):
        return None  # recovery or queued work: the full path decides
    elapsed = record.study_elapsed(opened.get_study_system_attrs(study_id))
    reason = spent_reason(meta, trials, elapsed)
    if reason is None:
        return None
    return FinishedStudy(opened, study_name, reason, meta.space.get("objective", {}).get("metric", "value"))


__all__ = ["FinishedStudy", "finished_study", "spent_reason"]
