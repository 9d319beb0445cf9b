"""What a report says, as plain data: every number every format shows comes from these objects.

``reports.compute`` fills them from the stored studies once; ``reports.html``, ``reports.markdown``
and ``reports.tables`` (CSV / JSON) only render them. Steps and epochs count epochs done (1-based);
seconds are the study's own search time (pauses between runs excluded).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class TargetResult:
    """When a study first reached ``target``: at the end of ``trial``, after ``epochs`` cumulative
    training epochs and ``seconds`` of search time (all ``None``: not reached)."""

    target: float
    trial: int | None = None
    epochs: int | None = None
    seconds: float | None = None

    @property
    def reached(self) -> bool:
        return self.trial is not None


@dataclass
class CurvePoint:
    """The best value so far, at the end of ``trial``."""

    epochs: int
    seconds: float
    best: float | None
    trial: int


@dataclass
class TrialCurve:
    """One trial's per-epoch values; steps before ``first_own_step`` were carried over from the
    trial it continues (a Hyperband promotion or a re-run)."""

    trial: int
    value: float
    steps: list[int]
    values: list[float]
    first_own_step: int
    params: dict[str, Any]
    continues: int | None = None  # the trial whose weights and steps it continues (promoted_from / retry_of)


@dataclass
class FailureGroup:
    """Failed trials whose reasons differ only by numbers; ``example`` is one of the reasons."""

    pattern: str
    example: str
    count: int


@dataclass
class Pivot:
    """The objective by two parameters (best value per cell; ``None``: no COMPLETE trial there)."""

    row_param: str
    col_param: str
    rows: list[Any]
    cols: list[Any]
    cells: list[list[float | None]]


@dataclass
class GradientNorms:
    """Mean gradient norm per dense layer (input side first) over a trial's first epoch."""

    trial: int
    label: str
    norms: list[float]


@dataclass
class StudySummary:
    name: str
    space: str
    backend: str
    settings: dict[str, Any]
    seed: int | None
    compare: str | None
    made_by_hpsearch: bool
    metric: str
    direction: str
    budget: dict[str, Any]
    trials: int
    complete: int
    pruned: int
    failed: int
    running: int
    interrupted: int
    failure_rate: float | None
    failures: list[FailureGroup]
    best_value: float | None
    best_trial: int | None
    best_epoch: int | None
    best_params: dict[str, Any]
    test_accuracy: float | None
    test_loss: float | None
    epochs: int
    train_seconds: float
    seconds: float
    targets: list[TargetResult]
    anytime: list[CurvePoint]
    top_curves: list[TrialCurve] = field(default_factory=list)
    importances: dict[str, float] | None = None
    importance_note: str = ""
    parallel_params: list[str] = field(default_factory=list)
    parallel_rows: list[dict[str, Any]] = field(default_factory=list)
    pivot: Pivot | None = None
    gradient_norms: list[GradientNorms] = field(default_factory=list)


@dataclass
class Band:
    """A median line with its interquartile band over the seeds of a group, on the points ``x``."""

    x: list[float]
    median: list[float | None]
    low: list[float | None]
    high: list[float | None]


@dataclass
class GroupTarget:
    """How the seeds of a group reached a target: how many, and the medians over those that did."""

    target: float
    reached: int
    runs: int
    epochs: float | None
    seconds: float | None


@dataclass
class GroupSummary:
    """The studies of one space and backend (and settings) that differ only by seed."""

    label: str
    space: str
    backend: str
    studies: list[str]
    seeds: list[int | None]
    best_median: float | None
    best_low: float | None  # the worst seed's best value
    best_high: float | None  # the best seed's best value
    targets: list[GroupTarget]
    failure_rate: float | None
    epochs_median: float
    seconds_median: float
    best_study: str | None
    best_trial: int | None
    best_params: dict[str, Any]
    by_epochs: Band
    by_seconds: Band

    @property
    def runs(self) -> int:
        return len(self.studies)

    @property
    def spread(self) -> float | None:
        if self.best_low is None or self.best_high is None:
            return None
        return abs(self.best_high - self.best_low)


@dataclass
class Report:
    title: str
    generated_at: str
    storage: str
    metric: str
    direction: str
    targets: list[float]
    studies: list[StudySummary]
    groups: list[GroupSummary]  # ranked, leader first
    findings: list[str]  # plain sentences: who reached each target first, the leader's margin
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
