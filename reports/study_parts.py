"""The parts of one study's report computed from its trials: failures by reason, top learning curves,
parameter importances, parallel coordinates, a pivot by two parameters, gradient norms by layer."""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from hpsearch.reports.model import FailureGroup, GradientNorms, Pivot, TrialCurve
from hpsearch.storage import record

TOP_CURVES = 8
PARALLEL_TRIALS = 300  # the best trials drawn in parallel coordinates
PARALLEL_MIN_TRIALS = 3
IMPORTANCE_MIN_TRIALS = 10
# fANOVA's cost grows with trials x trees (400 trials x 32 trees: 4.4 s on the 2-core CPU; 200 x 32:
# 1.9 s): an evenly spaced subset of a bigger study keeps a report of 10,000 trials within seconds.
IMPORTANCE_MAX_TRIALS = 200
IMPORTANCE_TREES = 64  # Optuna's default forest; halved past IMPORTANCE_FULL_FOREST trials
IMPORTANCE_FULL_FOREST = 100
PIVOT_MAX_VALUES = 12

_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?")


def failure_groups(failed: Sequence[FrozenTrial]) -> list[FailureGroup]:
    """Failed trials grouped by reason, numbers aside ("projected 72 s" and "projected 288 s" agree).

    A group's ``pattern`` keeps the numbers all its reasons share and gives the range of the others:
    "too slow: projected 72-288 s per epoch exceeds the epoch time limit of 60 s (--epoch-timeout)".
    """
    reasons: dict[str, list[str]] = {}
    for trial in failed:
        reason = str(trial.user_attrs.get(record.FAIL_REASON) or "no reason recorded")
        reasons.setdefault(_NUMBER.sub("N", reason), []).append(reason)
    groups = [FailureGroup(pattern=_ranges(found), example=found[0], count=len(found)) for found in reasons.values()]
    return sorted(groups, key=lambda g: -g.count)


def _ranges(reasons: list[str]) -> str:
    """The first reason, each of its numbers replaced by the range of that number over ``reasons``."""
    numbers = [_NUMBER.findall(reason) for reason in reasons]
    parts = _NUMBER.split(reasons[0])
    text = parts[0]
    for index, rest in enumerate(parts[1:]):
        values = sorted({column[index] for column in numbers}, key=float)
        text += values[0] if len(values) == 1 else f"{values[0]}-{values[-1]}"
        text += rest
    return text


def ranked(complete: Sequence[FrozenTrial], maximize: bool) -> list[FrozenTrial]:
    return sorted(complete, key=lambda t: (-t.value if maximize else t.value, t.number))


def top_curves(complete: Sequence[FrozenTrial], maximize: bool, count: int = TOP_CURVES) -> list[TrialCurve]:
    curves = []
    for trial in ranked(complete, maximize)[:count]:
        steps = sorted(trial.intermediate_values)
        copied = record.copied_steps(trial)
        curves.append(TrialCurve(
            trial=trial.number,
            value=float(trial.value),
            steps=steps,
            values=[trial.intermediate_values[s] for s in steps],
            first_own_step=(max(copied) + 1) if copied else (steps[0] if steps else 1),
            params=dict(trial.params),
            continues=_parent(trial),
        ))
    return curves


def _parent(trial: FrozenTrial) -> int | None:
    for key in (record.PROMOTED_FROM, record.RETRY_OF):
        value = trial.user_attrs.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _evenly(trials: Sequence[FrozenTrial], limit: int) -> list[FrozenTrial]:
    if len(trials) <= limit:
        return list(trials)
    stride = len(trials) / limit
    return [trials[int(i * stride)] for i in range(limit)]


def importances(complete: Sequence[FrozenTrial], maximize: bool) -> tuple[dict[str, float] | None, str]:
    """fANOVA importances (Optuna's evaluator) over the parameters every COMPLETE trial has."""
    import optuna

    if len(complete) < IMPORTANCE_MIN_TRIALS:
        return None, f"Parameter importances need at least {IMPORTANCE_MIN_TRIALS} COMPLETE trials ({len(complete)} here)."
    sample = _evenly(sorted(complete, key=lambda t: t.number), IMPORTANCE_MAX_TRIALS)
    common = set.intersection(*(set(t.params) for t in sample))
    varied = [p for p in common if len({repr(t.params[p]) for t in sample}) > 1]
    if len(varied) < 2:
        return None, "Parameter importances need at least two parameters that vary across COMPLETE trials."
    study = optuna.create_study(direction="maximize" if maximize else "minimize")
    study.add_trials(sample)
    try:
        found = optuna.importance.get_param_importances(
            study, params=sorted(varied), evaluator=optuna.importance.FanovaImportanceEvaluator(
                n_trees=IMPORTANCE_TREES if len(sample) <= IMPORTANCE_FULL_FOREST else IMPORTANCE_TREES // 2, seed=0
            )
        )
    except Exception as error:  # noqa: BLE001 - an importance failure must not cost the whole report
        return None, f"Parameter importances could not be computed: {type(error).__name__}: {error}"
    note = f"fANOVA (Optuna) over {len(sample)} COMPLETE trials"
    if len(sample) < len(complete):
        note += f" (an evenly spaced sample of {len(complete)})"
    note += "; parameters present in every trial."
    return {name: round(float(value), 4) for name, value in found.items()}, note


def parallel_rows(complete: Sequence[FrozenTrial], maximize: bool) -> tuple[list[str], list[dict[str, Any]]]:
    """The best trials' values of the parameters they all have and that vary among them, for parallel
    coordinates (a parameter with one value draws an axis that says nothing); none below
    ``PARALLEL_MIN_TRIALS`` trials."""
    best = ranked(complete, maximize)[:PARALLEL_TRIALS]
    if len(best) < PARALLEL_MIN_TRIALS:
        return [], []
    common = set.intersection(*(set(t.params) for t in best))
    order = [name for name in best[0].params
             if name in common and len({repr(t.params[name]) for t in best}) > 1]
    rows = [{"trial": t.number, "value": float(t.value), **{p: t.params[p] for p in order}} for t in best]
    return order, rows


def _sort_key(value: Any) -> tuple:
    return (0, value, "") if isinstance(value, (int, float)) and not isinstance(value, bool) else (1, 0, str(value))


def _choices(trials: Sequence[FrozenTrial], name: str) -> list[Any]:
    """The values of parameter ``name`` in the order its distribution declares them (if categorical)."""
    seen = {repr(t.params[name]): t.params[name] for t in trials}
    distribution = trials[0].distributions.get(name)
    declared = getattr(distribution, "choices", None)
    if declared is not None:
        return [c for c in declared if repr(c) in seen]
    return sorted(seen.values(), key=_sort_key)


def pivot(trials: Sequence[FrozenTrial], maximize: bool) -> Pivot | None:
    """The objective by two parameters, when exactly two parameters vary (a two-parameter grid)."""
    finished = [t for t in trials if t.state.is_finished() and t.params]
    if not finished:
        return None
    names = list(dict.fromkeys(name for t in finished for name in t.params))
    if any(set(t.params) != set(names) for t in finished):
        return None
    varied = [n for n in names if len({repr(t.params[n]) for t in finished}) > 1]
    if len(varied) != 2:
        return None
    rows, cols = (_choices(finished, name) for name in varied)
    if len(rows) > PIVOT_MAX_VALUES or len(cols) > PIVOT_MAX_VALUES:
        return None
    cells: list[list[float | None]] = [[None] * len(cols) for _ in rows]
    row_index = {repr(v): i for i, v in enumerate(rows)}
    col_index = {repr(v): i for i, v in enumerate(cols)}
    for trial in finished:
        if trial.state != TrialState.COMPLETE or trial.value is None:
            continue
        i, j = row_index[repr(trial.params[varied[0]])], col_index[repr(trial.params[varied[1]])]
        current = cells[i][j]
        if current is None or (trial.value > current if maximize else trial.value < current):
            cells[i][j] = float(trial.value)
    return Pivot(row_param=varied[0], col_param=varied[1], rows=rows, cols=cols, cells=cells)


def gradient_norms(trials: Sequence[FrozenTrial]) -> list[GradientNorms]:
    found = []
    for trial in trials:
        norms = trial.user_attrs.get(record.GRADIENT_NORMS)
        if isinstance(norms, list) and norms and all(isinstance(n, (int, float)) and math.isfinite(n) for n in norms):
            label = ", ".join(f"{k}={v}" for k, v in trial.params.items())
            found.append(GradientNorms(trial=trial.number, label=label, norms=[float(n) for n in norms]))
    return found
