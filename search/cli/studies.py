"""``hpsearch studies`` and ``hpsearch show STUDY``: read what the storage holds."""
from __future__ import annotations

from typing import Any

import click

from hpsearch.search.cli.options import format_seconds, storage_option

STATES = ("COMPLETE", "PRUNED", "FAIL", "RUNNING")


def _format_counts(counts: dict[str, int]) -> str:
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
    from hpsearch.storage.bulk import study_overviews
    from hpsearch.storage.studies import read_meta
    from hpsearch.storage.urls import mask_password

    rdb, url = _open(storage)
    overviews = study_overviews(rdb) or []
    if not overviews:
        click.echo(f"No studies in {mask_password(url)}.")
        return
    rows = [("STUDY", "SPACE", "BACKEND", "TRIALS (complete pruned fail running)", "BEST", "STARTED")]
    for overview in overviews:
        meta = read_meta(rdb.get_study_system_attrs(overview.study_id), rdb.get_study_user_attrs(overview.study_id))
        best = overview.best_value
        rows.append((
            overview.name,
            meta.space_name if meta else "-",
            meta.backend if meta else "-",
            _format_counts(overview.states),
            f"{best:.4f}" if best is not None else "-",
            f"{overview.started:%Y-%m-%d %H:%M}" if overview.started else "-",
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
    from hpsearch.search.cli.progress import format_params
    from hpsearch.storage import record
    from hpsearch.storage.bulk import study_overviews, top_trials
    from hpsearch.storage.studies import load_study, study_meta

    rdb, _ = _open(storage)
    study = load_study(rdb, study_name)
    meta = study_meta(rdb, study_name)
    study_id = rdb.get_study_id_from_name(study_name)
    maximize = reverse_metric(study)
    overview = next(o for o in study_overviews(rdb) or [] if o.study_id == study_id)
    counts, total = overview.states, sum(overview.states.values())
    ranked = top_trials(rdb, study_id, maximize, top)
    metric = (study.metric_names or ["value"])[0]
    click.echo(f"study:    {study_name}")
    if meta is not None:
        click.echo(f"space:    {meta.space_name} | backend: {meta.backend} {meta.backend_settings}")
        click.echo(
            f"budget:   trials={meta.trials} max_epochs={meta.max_epochs} timeout={meta.timeout} "
            f"seed={meta.seed} (hpsearch {meta.hpsearch_version})"
        )
        from hpsearch.search.data_plan import describe_stored

        click.echo(f"data:     {describe_stored(meta.space.get('dataset', ''), meta.data)}")
    click.echo(f"trials:   {total} ({_format_counts(counts)})")
    if not ranked:
        click.echo("No trial completed yet.")
        return
    best = ranked[0]
    click.echo(f"best:     trial {best.number}, {metric} {best.value}")
    click.echo(f"          best at epoch {record.best_step(best, maximize)}, "
               f"{best.user_attrs.get(record.PARAM_COUNT)} params, "
               f"trained {format_seconds(record.train_seconds(best))}")
    if record.TEST_ACCURACY in best.user_attrs:
        click.echo(f"          test accuracy {best.user_attrs[record.TEST_ACCURACY]:.4f}, "
                   f"test loss {best.user_attrs.get(record.TEST_LOSS, float('nan')):.4f} "
                   f"(hpsearch retrain, {best.user_attrs.get(record.RETRAIN_EPOCHS)} epochs on train+validation)")
    for name, value in best.params.items():
        click.echo(f"          {name} = {value}")
    click.echo(f"top {len(ranked)}:")
    for trial in ranked:
        click.echo(f"  #{trial.number:<4} {trial.value:.4f}  {format_params(trial.params)}")


def reverse_metric(study: Any) -> bool:
    """Whether bigger values are better in ``study``."""
    return study.direction.name == "MAXIMIZE"
