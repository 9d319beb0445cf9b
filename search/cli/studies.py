"""``hpsearch studies`` and ``hpsearch show STUDY``: read what the storage holds."""
from __future__ import annotations

from collections import Counter
from typing import Any

import click

from hpsearch.search.cli.options import format_seconds, storage_option

STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING")


def _counts(trials: list[Any]) -> str:
    counts = Counter(t.state.name for t in trials)
    return " ".join(f"{counts.get(s, 0)}{s[0].lower()}" for s in STATES)


def _open(storage: str | None) -> tuple[Any, str]:
    from hpsearch.storage.studies import open_storage
    from hpsearch.storage.urls import resolve_url

    url = resolve_url(storage)
    return open_storage(url, must_exist=True), url


@click.command()
@storage_option
def studies(storage: str | None) -> None:
    """List the studies in the storage: space, backend, trials by state, best value."""
    import optuna

    from hpsearch.storage import record
    from hpsearch.storage.bulk import load_trials
    from hpsearch.storage.studies import read_meta
    from hpsearch.storage.urls import mask_password

    rdb, url = _open(storage)
    summaries = optuna.get_all_study_summaries(rdb, include_best_trial=True)
    if not summaries:
        click.echo(f"No studies in {mask_password(url)}.")
        return
    rows = [("STUDY", "SPACE", "BACKEND", "TRIALS (complete pruned fail running)", "BEST", "STARTED")]
    for summary in summaries:
        study_id = rdb.get_study_id_from_name(summary.study_name)
        meta = read_meta(rdb.get_study_system_attrs(study_id), summary.user_attrs)
        trials = load_trials(rdb, study_id, skip_system_attrs={record.TRIAL_HISTORY})
        best = summary.best_trial.value if summary.best_trial is not None else None
        rows.append((
            summary.study_name,
            meta.space_name if meta else "-",
            meta.backend if meta else "-",
            _counts(trials),
            f"{best:.4f}" if best is not None else "-",
            f"{summary.datetime_start:%Y-%m-%d %H:%M}" if summary.datetime_start else "-",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@click.command()
@click.argument("study_name", metavar="STUDY")
@storage_option
@click.option("--top", default=5, show_default=True, type=click.IntRange(1), help="How many best trials to list.")
def show(study_name: str, storage: str | None, top: int) -> None:
    """Show STUDY: its settings, the best trial and the top trials."""
    from optuna.trial import TrialState

    from hpsearch.search.cli.progress import format_params
    from hpsearch.storage import record
    from hpsearch.storage.studies import load_study, study_meta

    rdb, _ = _open(storage)
    study = load_study(rdb, study_name)
    meta = study_meta(rdb, study_name)
    trials = study.get_trials(deepcopy=False)
    metric = (study.metric_names or ["value"])[0]
    click.echo(f"study:    {study_name}")
    if meta is not None:
        click.echo(f"space:    {meta.space_name} | backend: {meta.backend} {meta.backend_settings}")
        click.echo(
            f"budget:   trials={meta.trials} max_epochs={meta.max_epochs} timeout={meta.timeout} "
            f"seed={meta.seed} data={meta.data} (hpsearch {meta.hpsearch_version})"
        )
    click.echo(f"trials:   {len(trials)} ({_counts(trials)})")
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        click.echo("No trial completed yet.")
        return
    best = study.best_trial
    click.echo(f"best:     trial {best.number}, {metric} {best.value}")
    click.echo(f"          best at epoch {record.best_step(best, reverse_metric(study))}, "
               f"{best.user_attrs.get(record.PARAM_COUNT)} params, "
               f"trained {format_seconds(record.train_seconds(best))}")
    if record.TEST_ACCURACY in best.user_attrs:
        click.echo(f"          test accuracy {best.user_attrs[record.TEST_ACCURACY]:.4f}, "
                   f"test loss {best.user_attrs.get(record.TEST_LOSS, float('nan')):.4f} "
                   f"(hpsearch retrain, {best.user_attrs.get(record.RETRAIN_EPOCHS)} epochs on train+validation)")
    for name, value in best.params.items():
        click.echo(f"          {name} = {value}")
    reverse = study.direction.name == "MAXIMIZE"
    ranked = sorted(complete, key=lambda t: t.value, reverse=reverse)[:top]
    click.echo(f"top {len(ranked)}:")
    for trial in ranked:
        click.echo(f"  #{trial.number:<4} {trial.value:.4f}  {format_params(trial.params)}")


def reverse_metric(study: Any) -> bool:
    """Whether bigger values are better in ``study``."""
    return study.direction.name == "MAXIMIZE"
