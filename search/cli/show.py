"""``hpsearch show STUDY``: one study's settings, best trial, top configurations, failures, next steps."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
from optuna.trial import FrozenTrial, TrialState

from hpsearch.search.cli.options import format_seconds, storage_option
from hpsearch.search.cli.output import (
    console,
    emit_data,
    escape,
    format_option,
    iso_time,
    local_time,
    number_ranges,
    table,
    user_value,
)
from hpsearch.search.cli.studies import describe_counts, open_existing, state_counts
from hpsearch.storage import record


@click.command(short_help="Show a study: settings, best trial, failures.")
@click.argument("study_name", metavar="STUDY")
@storage_option
@click.option("--top", default=5, show_default=True, type=click.IntRange(1),
              help="How many of the best configurations to list.")
@format_option
def show(study_name: str, storage: str | None, top: int, output_format: str) -> None:
    """Show STUDY: its settings, the best trial, the best configurations, the failures grouped by
    reason, and the commands that take it further.

    \b
    Examples:
      hpsearch show mnist_cnn-hyperband-20261203-203012
      hpsearch show my-study --top 10 --format yaml
    """
    from hpsearch.storage.studies import load_study, study_meta
    from hpsearch.storage.urls import DEFAULT_STORAGE_URL, mask_password

    rdb, url = open_existing(storage)
    study = load_study(rdb, study_name)  # a missing study: one line naming the storage's studies
    shown_url = mask_password(url)
    summary = collect(rdb, study_name, study_meta(rdb, study_name), top, (study.metric_names or ["value"])[0],
                      storage_flag=f" --storage {shown_url}" if url != DEFAULT_STORAGE_URL else "")
    summary["storage"] = shown_url
    if output_format != "table":
        emit_data({k: v for k, v in summary.items() if not k.startswith("_")}, output_format)
    else:
        render(summary)


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
    steps = [{"command": f"hpsearch dashboard{storage_flag}", "why": "trials and per-epoch curves in optuna-dashboard"}]
    waiting = [t for t in trials if record.is_interrupted(t) or t.state == TrialState.RUNNING]
    rerun = {t.user_attrs.get(record.RETRY_OF) for t in trials}
    if any(t.number not in rerun for t in waiting):
        steps.append({"command": f"hpsearch resume {name}{storage_flag}",
                      "why": "go on: interrupted trials run again first"})
    elif schedule:  # Hyperband: its schedule, not a count, is the budget
        steps.append({"command": f"hpsearch resume {name}{storage_flag}",
                      "why": "go on with the rest of the schedule, if any is left"})
    elif spent is None:
        steps.append({"command": f"hpsearch resume {name}{storage_flag}", "why": "go on with the stored budget"})
    else:
        steps.append({"command": f"hpsearch resume {name} --trials 10{storage_flag}", "why": "run 10 more trials"})
    if ranked:
        best = ranked[0][0]
        steps.append({"command": f"hpsearch retrain {name}{storage_flag}",
                      "why": f"train trial {best.number} on train+validation, score it on the test split"})
        steps.append({"command": f"hpsearch report {name}{storage_flag}", "why": "an HTML report with the curves"})
        steps.append({"command": f"hpsearch export {name} --model best.keras{storage_flag}",
                      "why": "the best model as a .keras file"})
    return steps


def _params_text(params: dict[str, Any]) -> str:
    return "  ".join(f"{k}={_value(v)}" for k, v in params.items())


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return user_value(value)


def render(summary: dict[str, Any]) -> None:
    """``summary`` (from ``collect``) for people: aligned, no wider than the terminal."""
    from rich.table import Table

    out = console()
    metric = summary["metric"]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    rows = [("study", summary["study"])]
    if "space" in summary:
        settings = ", ".join(f"{k} {user_value(v)}" for k, v in summary["backend_settings"].items())
        rows += [("space", f"{summary['space']} ({summary['parameters']} parameters)"),
                 ("backend", summary["backend"] + (f" ({settings})" if settings else "")),
                 ("budget", _describe_budget(summary["budget"])),
                 ("data", summary["data"])]
    rows += [("objective", f"{metric} ({summary['direction']})"),
             ("trials", f"{summary['trials']['total']}: {describe_counts(summary['trials'])}" if summary["trials"]["total"]
              else "none yet"),
             ("time", f"{format_seconds(summary['search_seconds'])} of search, started {local_time(summary['_started'])}"),
             ("storage", summary["storage"])]
    if "artifacts" in summary:
        rows.append(("artifacts", summary["artifacts"]))
    for key, value in rows:
        grid.add_row(key, escape(str(value)))
    out.print(grid)
    best = summary["best"]
    out.print()
    if best is None:
        out.print("No trial has completed yet.")
    else:
        _render_best(out, best, metric)
        out.print()
        out.print(table(
            ["TRIAL", metric.upper(), "EPOCHS", "PARAMETERS"],
            [(_trial_label(entry), f"{entry['value']:.4f}", str(entry["epochs"] or "-"), _params_text(entry["params"]))
             for entry in summary["top"]],
            title=f"Top {len(summary['top'])} configurations", wrap=["PARAMETERS", "TRIAL"],
            right=[metric.upper(), "EPOCHS"],
        ))
        if any(entry["same_configuration"] for entry in summary["top"]):
            out.print("(+N): the same configuration's other trials (Hyperband continues a configuration in a new "
                      "trial); each configuration is listed once, under its best trial.", style="dim")
    if summary["failures"]:
        out.print()
        failed = sum(group["count"] for group in summary["failures"])
        out.print(table(
            ["REASON", "TRIALS", "FIRST MESSAGE"],
            [(group["reason"] + (f" ({group['run_again']} run again)" if group["run_again"] else ""),
              f"{group['count']}: {number_ranges(group['trials'])}", group["example"])
             for group in summary["failures"]],
            title=f"{failed} failed trial{'s' if failed != 1 else ''}", wrap=["REASON", "TRIALS", "FIRST MESSAGE"],
        ))
    out.print()
    steps = Table.grid(padding=(0, 3))
    steps.add_column(no_wrap=True)
    steps.add_column(style="dim", overflow="fold")
    for step in summary["next"]:
        steps.add_row(escape(step["command"]), escape(step["why"]))
    out.print("[bold]Next[/bold]")
    out.print(steps)


def _trial_label(entry: dict[str, Any]) -> str:
    others = [str(t["trial"]) for t in entry["same_configuration"]]
    return f"{entry['trial']} (+{', +'.join(others)})" if others else str(entry["trial"])


def _render_best(out: Any, best: dict[str, Any], metric: str) -> None:
    from rich.columns import Columns

    where = f"epoch {best['best_epoch']} of {best['epochs']}" if best["epochs"] else f"epoch {best['best_epoch']}"
    continues = f", continues trial {best['continues']}" if best["continues"] is not None else ""
    size = f"{best['parameters']:,} weights, " if isinstance(best["parameters"], int) else ""
    out.print(f"[bold]Best trial {best['trial']}[/bold]: {metric} {best['value']:.4f} at {where} "
              f"({size}trained {format_seconds(best['train_seconds'])}{continues})")
    if "retrain" in best:
        retrain = best["retrain"]
        loss = retrain.get("test_loss")
        out.print(f"  retrained on train+validation for {retrain.get('epochs')} epochs: test accuracy "
                  f"{retrain['test_accuracy']:.4f}" + (f", test loss {loss:.4f}" if loss is not None else ""))
    cells = [escape(f"{name} = {_value(value)}") for name, value in best["params"].items()]
    if cells:
        out.print(Columns(cells, padding=(0, 3), column_first=True, expand=False), style=None)


def _describe_budget(budget: dict[str, Any]) -> str:
    parts = [f"max {budget['max_epochs']} epochs per trial"]
    if budget["trials"] is not None:
        parts.append(f"{budget['trials']} trials")
    if budget["budget_epochs"] is not None:
        parts.append(f"{budget['budget_epochs']} epochs in all")
    if budget["timeout_seconds"] is not None:
        parts.append(f"timeout {format_seconds(budget['timeout_seconds'])}")
    if budget["epoch_timeout_seconds"] is not None:
        parts.append(f"epoch limit {format_seconds(budget['epoch_timeout_seconds'])}")
    parts.append(f"seed {user_value(budget['seed'])}")
    kept = "every trial's" if budget["keep_weights"] is None else f"top {budget['keep_weights']} trials'"
    parts.append(f"weights kept: {kept}")
    return ", ".join(parts)
