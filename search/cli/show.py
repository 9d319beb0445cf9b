"""``hpsearch show STUDY``: one study's settings, best trial, top configurations, failures, next steps."""
from __future__ import annotations

from typing import Any

import click

from hpsearch.search.cli.options import format_seconds, storage_option
from hpsearch.search.cli.output import (
    console,
    emit_data,
    escape,
    format_option,
    local_time,
    number_ranges,
    param_value,
    table,
    user_value,
)
from hpsearch.search.cli.studies import open_existing
from hpsearch.search.study_summary import collect, describe_counts


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
    from hpsearch.search.cli.run_lines import storage_flag
    from hpsearch.storage.urls import mask_password

    rdb, url = open_existing(storage)
    study = load_study(rdb, study_name)  # a missing study: one line naming the storage's studies
    shown_url = mask_password(url)
    summary = collect(rdb, study_name, study_meta(rdb, study_name), top, (study.metric_names or ["value"])[0],
                      storage_flag=storage_flag(shown_url))
    summary["storage"] = shown_url
    if output_format != "table":
        emit_data({k: v for k, v in summary.items() if not k.startswith("_")}, output_format)
    else:
        render(summary)


def _workers_row(workers: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """A ``workers`` row when more than one process trained the study: each with its trials (those
    running now), the first six named."""
    if len(workers) < 2:
        return []
    named = [f"{w['worker']} ({w['trials']} trial{'s' if w['trials'] != 1 else ''}"
             + (f", {w['running']} running)" if w["running"] else ")") for w in workers[:6]]
    more = f", {len(workers) - 6} more" if len(workers) > 6 else ""
    return [("workers", f"{len(workers)}: " + ", ".join(named) + more)]


def _params_text(params: dict[str, Any]) -> str:
    return "  ".join(f"{k}={param_value(v)}" for k, v in params.items())


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
             *_workers_row(summary["workers"]),
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
    out.print("[bold]Next[/bold]")
    width = max(len(step["does"]) for step in summary["next"]) + 2
    for step in summary["next"]:  # a command to copy stays on one line
        click.echo(f"{step['does']:<{width}}{step['command']}")


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
    cells = [escape(f"{name} = {param_value(value)}") for name, value in best["params"].items()]
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
    parts.append("every trial's weights kept" if budget["keep_weights"] is None
                 else f"weights of the top {budget['keep_weights']} kept")
    return ", ".join(parts)
