"""What ``hpsearch show`` says of a study, as plain data read from the storage: its settings, the best
trial, the best configurations (a Hyperband promotion continues its parent's configuration in a new
trial: one entry per configuration), the failures grouped by reason, and the next useful commands.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from hpsearch.storage import record

# Optuna's trial states in the words a listing uses, in the order it lists them.
STATE_WORDS = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running",
               "WAITING": "waiting"}


def state_counts(counts: dict[str, int]) -> dict[str, int]:
    """Every state's count under its listing word, zeros included, and the total."""
    result = {word: counts.get(state, 0) for state, word in STATE_WORDS.items()}
    result["total"] = sum(counts.values())
    return result


def describe_counts(counts: dict[str, int]) -> str:
    """``{"complete": 8, "pruned": 3, "failed": 0, ...}`` (``state_counts``) -> ``8 complete, 3 pruned``."""
    parts = [f"{counts[word]} {word}" for word in STATE_WORDS.values() if counts.get(word)]
    return ", ".join(parts) or "none"


def iso_time(moment: Any) -> str | None:
    """A naive local time (as Optuna hands them out) in ISO 8601 with its offset."""
    if moment is None:
        return None
    aware = moment.astimezone() if moment.tzinfo is None else moment
    return aware.isoformat(timespec="seconds")


def collect(rdb: Any, study_name: str, meta: Any, top: int, metric: str, storage_flag: str = "") -> dict[str, Any]:
    """What ``show`` says of a study, as plain data (the JSON / YAML output)."""
    from hpsearch.search.finished import spent_reason
    from hpsearch.storage.bulk import load_trials

    study_id = rdb.get_study_id_from_name(study_name)
    maximize = rdb.get_study_directions(study_id)[0].name == "MAXIMIZE"
    trials = load_trials(rdb, study_id, skip_system_attrs={record.TRIAL_HISTORY})
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    elapsed = record.study_elapsed(rdb.get_study_system_attrs(study_id))
    started = min((t.datetime_start for t in trials if t.datetime_start), default=None)
    summary: dict[str, Any] = {
        "study": study_name,
        "metric": metric,
        "direction": "maximize" if maximize else "minimize",
        "trials": state_counts(counts),
        "workers": _workers(trials),
        "search_seconds": round(elapsed, 1),
        "started": iso_time(started),
        "_started": started,
    }
    if meta is not None:
        summary.update(_settings(meta))
    ranked = _configurations(trials, maximize, top)
    summary["best"] = _best(ranked[0][0], maximize) if ranked else None
    summary["top"] = [_top_entry(best, also) for best, also in ranked]
    summary["failures"] = _failures(trials)
    spent = spent_reason(meta, trials, elapsed) if meta is not None else None
    summary["next"] = _next_steps(study_name, storage_flag, trials, ranked, spent,
                                  schedule=meta is not None and meta.trials is None and _schedule_based(meta.backend))
    return summary


def _schedule_based(backend: str) -> bool:
    """Whether ``backend`` runs a schedule in epochs (Hyperband) rather than a number of trials."""
    from hpsearch.search.backends import UnknownBackendError, get_backend

    try:
        return bool(get_backend(backend).epochs_as_budget)
    except UnknownBackendError:
        return False


def _settings(meta: Any) -> dict[str, Any]:
    from hpsearch.search.data_plan import describe_stored

    return {
        "space": meta.space_name,
        "parameters": len(meta.space.get("params", [])),
        "backend": meta.backend,
        "backend_settings": dict(meta.backend_settings),
        "budget": {"trials": meta.trials, "max_epochs": meta.max_epochs, "timeout_seconds": meta.timeout,
                   "budget_epochs": meta.budget_epochs, "epoch_timeout_seconds": meta.epoch_timeout,
                   "seed": meta.seed, "keep_weights": meta.keep_weights},
        "data": describe_stored(meta.space.get("dataset", ""), meta.data),
        "artifacts": meta.artifacts,
        "compare": meta.compare,
        "hpsearch_version": meta.hpsearch_version,
    }


def _root(trial: FrozenTrial, by_number: dict[int, FrozenTrial]) -> int:
    """The first trial of the configuration ``trial`` continues (Hyperband promotions, re-runs)."""
    seen = {trial.number}
    while True:
        parent = trial.user_attrs.get(record.PROMOTED_FROM, trial.user_attrs.get(record.RETRY_OF))
        if not isinstance(parent, int) or parent in seen or parent not in by_number:
            return trial.number
        seen.add(parent)
        trial = by_number[parent]


def _configurations(trials: list[FrozenTrial], maximize: bool,
                    top: int) -> list[tuple[FrozenTrial, list[FrozenTrial]]]:
    """The ``top`` best configurations, each as its best COMPLETE trial and the other trials of it
    (a Hyperband promotion continues its parent's configuration in a new trial)."""
    by_number = {t.number: t for t in trials}
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    done.sort(key=lambda t: (-t.value if maximize else t.value, t.number))
    lineage: dict[int, list[FrozenTrial]] = {}
    order: list[int] = []
    for trial in done:
        root = _root(trial, by_number)
        if root not in lineage:
            lineage[root] = []
            order.append(root)
        lineage[root].append(trial)
    return [(lineage[root][0], lineage[root][1:]) for root in order[:top]]


def _workers(trials: list[FrozenTrial]) -> list[dict[str, Any]]:
    """Each worker (``host:pid``) that trained trials of the study, with how many and how many run now;
    the most trials first."""
    workers: dict[str, dict[str, Any]] = {}
    for trial in trials:
        name = trial.user_attrs.get(record.WORKER)
        if not isinstance(name, str):
            continue
        entry = workers.setdefault(name, {"worker": name, "trials": 0, "running": 0})
        entry["trials"] += 1
        entry["running"] += trial.state == TrialState.RUNNING
    return sorted(workers.values(), key=lambda w: (-w["trials"], w["worker"]))


def _epochs(trial: FrozenTrial) -> int | None:
    target = trial.user_attrs.get(record.TARGET_EPOCHS)
    return target if isinstance(target, int) else (trial.last_step if trial.last_step is not None else None)


def _best(trial: FrozenTrial, maximize: bool) -> dict[str, Any]:
    attrs = trial.user_attrs
    best = {"trial": trial.number, "value": trial.value, "best_epoch": record.best_step(trial, maximize),
            "epochs": _epochs(trial), "parameters": attrs.get(record.PARAM_COUNT),
            "train_seconds": record.train_seconds(trial), "continues": attrs.get(record.PROMOTED_FROM),
            "params": dict(trial.params)}
    if record.TEST_ACCURACY in attrs:
        best["retrain"] = {"test_accuracy": attrs[record.TEST_ACCURACY], "test_loss": attrs.get(record.TEST_LOSS),
                           "epochs": attrs.get(record.RETRAIN_EPOCHS)}
    return best


def _top_entry(trial: FrozenTrial, also: list[FrozenTrial]) -> dict[str, Any]:
    return {"trial": trial.number, "value": trial.value, "epochs": _epochs(trial),
            "same_configuration": [{"trial": t.number, "value": t.value, "epochs": _epochs(t)} for t in also],
            "params": dict(trial.params)}


def failure_kind(reason: str) -> str:
    """The kind of a failure: the words before the first colon (``too slow``, ``interrupted``,
    ``ValueError``), or the whole reason when it has none."""
    head, sep, _ = reason.partition(":")
    return head.strip() if sep and 0 < len(head.strip()) <= 40 else reason.strip()


def _failures(trials: list[FrozenTrial]) -> list[dict[str, Any]]:
    """FAIL trials grouped by kind of reason, the most frequent first, with the first message of each."""
    groups: dict[str, dict[str, Any]] = {}
    rerun = {t.user_attrs.get(record.RETRY_OF) for t in trials}
    for trial in trials:
        if trial.state != TrialState.FAIL:
            continue
        reason = str(trial.user_attrs.get(record.FAIL_REASON) or "no reason recorded")
        group = groups.setdefault(failure_kind(reason), {"reason": failure_kind(reason), "count": 0, "trials": [],
                                                         "example": reason, "run_again": 0})
        group["count"] += 1
        group["trials"].append(trial.number)
        group["run_again"] += trial.number in rerun
    return sorted(groups.values(), key=lambda g: (-g["count"], g["trials"][0]))


def _next_steps(name: str, storage_flag: str, trials: list[FrozenTrial], ranked: Sequence[Any],
                spent: str | None, schedule: bool) -> list[dict[str, str]]:
    """The commands that take the study further, each with what it does in a few words."""
    steps = [{"does": "browse trials, curves", "command": f"hpsearch dashboard{storage_flag}"}]
    waiting = [t for t in trials if record.is_interrupted(t) or t.state == TrialState.RUNNING]
    rerun = {t.user_attrs.get(record.RETRY_OF) for t in trials}
    resume = f"hpsearch resume {name}{storage_flag}"
    if any(t.number not in rerun for t in waiting):
        steps.append({"does": "go on, interrupted first", "command": resume})
    elif schedule:  # Hyperband: its schedule, not a count, is the budget
        steps.append({"does": "go on with the schedule", "command": resume})
    elif spent is None:
        steps.append({"does": "go on with the budget", "command": resume})
    else:
        steps.append({"does": "run 10 more trials", "command": f"hpsearch resume {name} --trials 10{storage_flag}"})
    if ranked:
        steps.append({"does": f"test trial {ranked[0][0].number}", "command": f"hpsearch retrain {name}{storage_flag}"})
        steps.append({"does": "an HTML report", "command": f"hpsearch report {name}{storage_flag}"})
        steps.append({"does": "the best model", "command": f"hpsearch export {name} --model best.keras{storage_flag}"})
    return steps
