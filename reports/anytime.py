"""Best-so-far against cost: cumulative training epochs (the fair compute axis) and search seconds.

Trials are taken in the order they ended. Each adds its own trained epochs to the cumulative count
(failed and interrupted trials too: their compute was spent); a COMPLETE trial's value improves the
best so far. Seconds are the study's search time when the trial ended, as hpsearch records it; for
trials without that record (plain Optuna studies) they are the time trials were running, counted from
the first start, with pauses longer than ``PAUSE_SECONDS`` between trials left out.
"""
from __future__ import annotations

import bisect
from collections.abc import Sequence

from optuna.trial import FrozenTrial, TrialState

from hpsearch.reports.model import Band, CurvePoint, TargetResult
from hpsearch.storage import record

PAUSE_SECONDS = 60.0


def finished_in_order(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    ended = [t for t in trials if t.state.is_finished() and t.datetime_complete is not None]
    return sorted(ended, key=lambda t: (t.datetime_complete, t.number))


def active_seconds(trials: Sequence[FrozenTrial]) -> dict[int, float]:
    """Seconds of running time from the first start to each trial's end (pauses left out)."""
    spans = sorted(
        (t.datetime_start, t.datetime_complete, t.number)
        for t in trials
        if t.datetime_start is not None and t.datetime_complete is not None
    )
    seconds: dict[int, float] = {}
    done = 0.0  # active seconds before the current merged span
    span_start = span_end = None
    ends = []
    for start, end, number in spans:
        if span_end is not None and (start - span_end).total_seconds() > PAUSE_SECONDS:
            done += (span_end - span_start).total_seconds()
            span_start = span_end = None
        if span_start is None:
            span_start, span_end = start, end
        span_end = max(span_end, end)
        ends.append((end, number, done, span_start))
    for end, number, before, began in ends:
        seconds[number] = before + max(0.0, (end - began).total_seconds())
    return seconds


def anytime_curve(trials: Sequence[FrozenTrial], maximize: bool) -> list[CurvePoint]:
    """The best-so-far curve: a point where the best improves, and one at the last trial's end."""
    fallback = None
    points: list[CurvePoint] = []
    epochs = 0
    seconds = 0.0
    best: float | None = None
    ordered = finished_in_order(trials)
    for index, trial in enumerate(ordered):
        epochs += record.epochs_trained(trial)
        at_end = record.elapsed_at_end(trial)
        if at_end is None:
            if fallback is None:
                fallback = active_seconds(trials)
            at_end = fallback.get(trial.number)
        seconds = max(seconds, at_end or 0.0)
        improved = False
        if trial.state == TrialState.COMPLETE and trial.value is not None:
            if best is None or (trial.value > best if maximize else trial.value < best):
                best, improved = trial.value, True
        if improved or index == len(ordered) - 1:
            points.append(CurvePoint(epochs=epochs, seconds=round(seconds, 3), best=best, trial=trial.number))
    return points


def reaches(value: float, target: float, maximize: bool) -> bool:
    return value >= target if maximize else value <= target


def target_results(trials: Sequence[FrozenTrial], targets: Sequence[float], maximize: bool) -> list[TargetResult]:
    """For each target, the first trial (in end order) whose value reaches it, with its cost."""
    results = [TargetResult(target) for target in targets]
    curve = anytime_curve(trials, maximize)
    for result in results:
        for point in curve:
            if point.best is not None and reaches(point.best, result.target, maximize):
                result.trial, result.epochs, result.seconds = point.trial, point.epochs, point.seconds
                break
    return results


def _value_at(curve: Sequence[CurvePoint], xs: Sequence[float], x: float) -> float | None:
    """The best so far at cost ``x`` (the last point at or before it), ``None`` before the first."""
    index = bisect.bisect_right(xs, x) - 1
    return curve[index].best if index >= 0 else None


def _quantile(ordered: Sequence[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def band(curves: Sequence[Sequence[CurvePoint]], axis: str) -> Band:
    """Median and interquartile range of several best-so-far curves at every point where one changes.

    A value is given where at least half of the curves have one; after a curve's last point its
    final best carries on (the study's budget was spent).
    """
    usable = [list(c) for c in curves if c]
    coords = [[float(getattr(p, axis)) for p in c] for c in usable]
    xs = sorted({x for c in coords for x in c})
    result = Band(x=xs, median=[], low=[], high=[])
    for x in xs:
        values = sorted(v for c, cx in zip(usable, coords) if (v := _value_at(c, cx, x)) is not None)
        if values and len(values) * 2 >= len(usable):
            result.median.append(_quantile(values, 0.5))
            result.low.append(_quantile(values, 0.25))
            result.high.append(_quantile(values, 0.75))
        else:
            result.median.append(None)
            result.low.append(None)
            result.high.append(None)
    return result
