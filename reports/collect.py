"""Reading studies for a report: storage only (never ``hpsearch.search``, never TensorFlow).

``collect`` turns study names (or every study, or the studies of one ``hpsearch compare`` run) into
``StudyData``: the study's stored settings when hpsearch made it, its direction and metric, and its
trials as Optuna ``FrozenTrial`` objects, read once.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from hpsearch.storage import record
from hpsearch.storage.bulk import load_trials
from hpsearch.storage.studies import StudyMeta, read_meta
from hpsearch.storage.urls import StorageError


class ReportError(Exception):
    """Nothing can be reported as asked (unknown study, empty study, unknown compare name...)."""


@dataclass
class StudyData:
    """One study as a report reads it."""

    name: str
    direction: str  # "maximize" or "minimize"
    metric: str
    trials: list[FrozenTrial]
    meta: StudyMeta | None = None
    user_attrs: dict[str, Any] = field(default_factory=dict)
    elapsed: float | None = None  # seconds all its runs spent (hpsearch studies)

    @property
    def maximize(self) -> bool:
        return self.direction == "maximize"

    @property
    def made_by_hpsearch(self) -> bool:
        return self.meta is not None

    @property
    def backend(self) -> str:
        return self.meta.backend if self.meta else "optuna"

    @property
    def space(self) -> str:
        return self.meta.space_name if self.meta else "-"

    @property
    def seed(self) -> int | None:
        return self.meta.seed if self.meta else None

    @property
    def compare(self) -> str | None:
        return self.user_attrs.get(record.STUDY_COMPARE)


def study_names(storage: Any) -> list[str]:
    return sorted(s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False))


def compare_studies(storage: Any, compare: str) -> list[str]:
    """Names of the studies tagged with compare run ``compare``, in their creation order."""
    summaries = optuna.get_all_study_summaries(storage, include_best_trial=False)
    tagged = [s for s in summaries if s.user_attrs.get(record.STUDY_COMPARE) == compare]
    if not tagged:
        runs = sorted({str(s.user_attrs[record.STUDY_COMPARE]) for s in summaries if record.STUDY_COMPARE in s.user_attrs})
        shown = ", ".join(runs) if runs else "none"
        raise ReportError(f"No studies of compare run '{compare}' in this storage. Compare runs here: {shown}.")
    return sorted((s.study_name for s in tagged), key=storage.get_study_id_from_name)


def load_study_data(storage: Any, name: str) -> StudyData:
    """Read study ``name``: settings, direction, metric and trials (``ReportError`` if unknown)."""
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        names = study_names(storage)
        raise ReportError(
            f"No study named '{name}' in this storage. Studies here: {', '.join(names) if names else 'none'}."
        ) from None
    directions = storage.get_study_directions(study_id)
    if len(directions) != 1:
        raise ReportError(f"Study '{name}' has {len(directions)} objectives; reports compare single-objective studies.")
    system_attrs = storage.get_study_system_attrs(study_id)
    user_attrs = storage.get_study_user_attrs(study_id)
    metrics = optuna.load_study(study_name=name, storage=storage).metric_names or ["value"]
    meta = read_meta(system_attrs, user_attrs)
    return StudyData(
        name=name,
        direction="maximize" if directions[0] == optuna.study.StudyDirection.MAXIMIZE else "minimize",
        metric=str(metrics[0]),
        trials=load_trials(storage, study_id, skip_system_attrs={record.TRIAL_HISTORY}),
        meta=meta,
        user_attrs=user_attrs,
        elapsed=record.study_elapsed(system_attrs, user_attrs) if meta else None,
    )


def collect(storage: Any, names: Sequence[str] = (), all_studies: bool = False, compare: str | None = None
            ) -> list[StudyData]:
    """The studies to report, in the order asked; each must have at least one trial."""
    chosen = list(dict.fromkeys(names))
    if compare is not None:
        chosen += [n for n in compare_studies(storage, compare) if n not in chosen]
    if all_studies:
        chosen += [n for n in study_names(storage) if n not in chosen]
        if not chosen:
            raise ReportError("There are no studies in this storage.")
    if not chosen:
        raise ReportError("Name at least one study, or use --all or --compare NAME.")
    studies = [load_study_data(storage, name) for name in chosen]
    empty = [s.name for s in studies if not s.trials]
    if empty and (len(empty) == len(studies) or not all_studies):
        raise ReportError(f"Study '{empty[0]}' has no trials yet: nothing to report.")
    return [s for s in studies if s.trials]


__all__ = ["ReportError", "StorageError", "StudyData", "collect", "compare_studies", "load_study_data", "study_names"]
