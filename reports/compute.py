"""One computation from stored studies to a ``Report``: per study, then across studies.

Per study: trials by state, failures grouped by reason, the best trial, cumulative training epochs
and seconds, when each target was first reached, the best-so-far ("anytime") curve, the top trials'
learning curves, parameter importances, parallel coordinates, a pivot by two parameters, gradient
norms. Across studies: groups of studies that differ only by seed, ranked, with median curves and
interquartile bands, and plain sentences for who reached each target first and whether the leader's
margin is larger than the seed-to-seed spread.
"""
from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence

from optuna.trial import TrialState

from hpsearch.reports.anytime import anytime_curve, band, target_results
from hpsearch.reports.collect import StudyData
from hpsearch.reports.model import GroupSummary, GroupTarget, Report, StudySummary
from hpsearch.reports.study_parts import (
    failure_groups,
    gradient_norms,
    importances,
    parallel_rows,
    pivot,
    top_curves,
)
from hpsearch.reports.wording import findings, group_label
from hpsearch.storage import record

# Default targets: the two highest of these that some study reached, and the next (metrics maximized in [0, 1]).
TARGET_LEVELS = (0.5, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999)


def summarize_study(study: StudyData, targets: Sequence[float]) -> StudySummary:
    trials = study.trials
    states = [t.state for t in trials]
    interrupted = [t for t in trials if record.is_interrupted(t)]
    counted = [t for t in trials if record.counts_toward_budget(t)]
    failed = [t for t in counted if t.state == TrialState.FAIL]
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    best = None
    if complete:
        chooser = max if study.maximize else min
        best = chooser(complete, key=lambda t: (t.value, -t.number) if study.maximize else (t.value, t.number))
    meta = study.meta
    budget = {}
    if meta is not None:
        budget = {"trials": meta.trials, "max_epochs": meta.max_epochs, "budget_epochs": meta.budget_epochs,
                  "timeout": meta.timeout, "epoch_timeout": meta.epoch_timeout}
    curve = anytime_curve(trials, study.maximize)
    seconds_total = curve[-1].seconds if curve else 0.0
    if study.elapsed:
        seconds_total = max(seconds_total, study.elapsed)
    params, rows = parallel_rows(complete, study.maximize)
    found_importances, note = importances(complete, study.maximize)
    return StudySummary(
        name=study.name,
        space=study.space,
        backend=study.backend,
        settings=dict(meta.backend_settings) if meta else {},
        seed=study.seed,
        compare=study.compare,
        made_by_hpsearch=study.made_by_hpsearch,
        metric=study.metric,
        direction=study.direction,
        budget=budget,
        trials=len(trials),
        complete=states.count(TrialState.COMPLETE),
        pruned=states.count(TrialState.PRUNED),
        failed=states.count(TrialState.FAIL),
        running=states.count(TrialState.RUNNING) + states.count(TrialState.WAITING),
        interrupted=len(interrupted),
        failure_rate=len(failed) / len(counted) if counted else None,
        failures=failure_groups(failed),
        best_value=best.value if best else None,
        best_trial=best.number if best else None,
        best_epoch=record.best_step(best, study.maximize) if best else None,
        best_params=dict(best.params) if best else {},
        test_accuracy=_number(best.user_attrs.get(record.TEST_ACCURACY)) if best else None,
        test_loss=_number(best.user_attrs.get(record.TEST_LOSS)) if best else None,
        epochs=record.epochs_spent(trials),
        train_seconds=round(sum(record.train_seconds(t) or 0.0 for t in trials), 3),
        seconds=round(seconds_total, 3),
        targets=target_results(trials, targets, study.maximize),
        anytime=curve,
        top_curves=top_curves(complete, study.maximize),
        importances=found_importances,
        importance_note=note,
        parallel_params=params,
        parallel_rows=rows,
        pivot=pivot(trials, study.maximize),
        gradient_norms=gradient_norms(trials),
    )


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _median(values: Sequence[float]) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def group_key(study: StudySummary) -> str:
    """Studies with the same key differ only by seed."""
    if not study.made_by_hpsearch:
        return f"study:{study.name}"
    return json.dumps([study.space, study.backend, study.settings, study.budget], sort_keys=True, default=str)


def summarize_group(label: str, members: list[StudySummary], targets: Sequence[float], maximize: bool) -> GroupSummary:
    bests = [s.best_value for s in members if s.best_value is not None]
    group_targets = []
    for index, target in enumerate(targets):
        reached = [s.targets[index] for s in members if s.targets[index].reached]
        group_targets.append(GroupTarget(
            target=target,
            reached=len(reached),
            runs=len(members),
            epochs=_median([r.epochs for r in reached if r.epochs is not None]),
            seconds=_median([r.seconds for r in reached if r.seconds is not None]),
        ))
    counted = [s for s in members if s.failure_rate is not None]
    failures = sum(s.failure_rate * (s.trials - s.running - s.interrupted) for s in counted)
    finished = sum(s.trials - s.running - s.interrupted for s in counted)
    best_member = None
    with_best = [s for s in members if s.best_value is not None]
    if with_best:
        best_member = (max if maximize else min)(with_best, key=lambda s: s.best_value)
    return GroupSummary(
        label=label,
        space=members[0].space,
        backend=members[0].backend,
        studies=[s.name for s in members],
        seeds=[s.seed for s in members],
        best_median=_median(bests),
        best_low=(min(bests) if maximize else max(bests)) if bests else None,
        best_high=(max(bests) if maximize else min(bests)) if bests else None,
        targets=group_targets,
        failure_rate=failures / finished if finished else None,
        epochs_median=_median([s.epochs for s in members]) or 0,
        seconds_median=_median([s.seconds for s in members]) or 0.0,
        best_study=best_member.name if best_member else None,
        best_trial=best_member.best_trial if best_member else None,
        best_params=dict(best_member.best_params) if best_member else {},
        by_epochs=band([s.anytime for s in members], "epochs"),
        by_seconds=band([s.anytime for s in members], "seconds"),
    )


def rank_key(group: GroupSummary, maximize: bool) -> tuple:
    """Best median value first; then the fewest median epochs to the highest target reached."""
    if group.best_median is None:
        return (1, 0.0, 0.0)
    value = -group.best_median if maximize else group.best_median
    last = group.targets[-1] if group.targets else None
    epochs = last.epochs if last is not None and last.epochs is not None else float("inf")
    return (0, value, epochs)


def default_targets(studies: Sequence[StudyData]) -> list[float]:
    """The two highest of ``TARGET_LEVELS`` that some study reached, and the next one, which none reached
    (the report then says how far every study stayed from it); none for minimized metrics."""
    if not studies or not all(s.maximize for s in studies):
        return []
    values = [t.value for s in studies for t in s.trials if t.state == TrialState.COMPLETE and t.value is not None]
    if not values or not 0.0 <= max(values) <= 1.0:
        return []
    reached = [level for level in TARGET_LEVELS if level <= max(values)]
    missed = [level for level in TARGET_LEVELS if level > max(values)]
    return reached[-2:] + missed[:1]


def build_report(studies: Sequence[StudyData], targets: Sequence[float] | None = None, title: str = "",
                 storage: str = "") -> Report:
    """The report on ``studies`` (non-empty); ``targets`` default to ``default_targets``."""
    chosen = sorted(set(targets)) if targets else default_targets(studies)
    summaries = [summarize_study(s, chosen) for s in studies]
    directions = {s.direction for s in summaries}
    metrics = {s.metric for s in summaries}
    warnings = []
    if len(directions) > 1 or len(metrics) > 1:
        warnings.append(
            f"These studies optimize different objectives ({', '.join(sorted(metrics))}; "
            f"{', '.join(sorted(directions))}): their values are not comparable."
        )
    spaces = sorted({s.space for s in summaries if s.made_by_hpsearch})
    if len(spaces) > 1:
        warnings.append(f"These studies search different spaces ({', '.join(spaces)}): compare their values with care.")
    maximize = summaries[0].direction == "maximize"
    grouped: dict[str, list[StudySummary]] = {}
    for summary in summaries:
        grouped.setdefault(group_key(summary), []).append(summary)
    labels = group_label([members[0] for members in grouped.values()], len(spaces) > 1)
    groups = [summarize_group(label, members, chosen, maximize) for label, members in zip(labels, grouped.values())]
    groups.sort(key=lambda g: rank_key(g, maximize))
    return Report(
        title=title or (summaries[0].name if len(summaries) == 1 else f"{len(summaries)} studies"),
        generated_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        storage=storage,
        metric=summaries[0].metric,
        direction=summaries[0].direction,
        targets=chosen,
        studies=summaries,
        groups=groups,
        findings=findings(groups, chosen, summaries[0].metric),
        warnings=warnings,
    )
