"""``hpsearch studies``: the studies a storage holds, as a table, JSON or YAML."""
from __future__ import annotations

from typing import Any

import click

from hpsearch.search.cli.output import console, emit_data, format_option, local_time, table, zone_name
from hpsearch.search.cli.options import storage_option
from hpsearch.search.study_summary import describe_counts, iso_time, state_counts

def open_existing(storage: str | None) -> tuple[Any, str]:
    """The storage ``--storage`` (or the default) names, which must exist, and its URL."""
    from hpsearch.storage.studies import open_storage
    from hpsearch.storage.urls import resolve_url

    url = resolve_url(storage)
    return open_storage(url, must_exist=True), url


@click.command(short_help="List the studies in the storage.")
@storage_option
@format_option
def studies(storage: str | None, output_format: str) -> None:
    """List the studies in the storage: space, backend, trials by state, best value, start time.

    \b
    Examples:
      hpsearch studies
      hpsearch studies --storage postgresql://user@host/db --format json
    """
    from hpsearch.storage.bulk import study_overviews
    from hpsearch.storage.studies import read_meta
    from hpsearch.storage.urls import mask_password

    rdb, url = open_existing(storage)
    rows: list[dict[str, Any]] = []
    for overview in study_overviews(rdb) or []:
        meta = read_meta(rdb.get_study_system_attrs(overview.study_id), rdb.get_study_user_attrs(overview.study_id))
        rows.append({
            "name": overview.name,
            "space": meta.space_name if meta else None,
            "backend": meta.backend if meta else None,
            "direction": "maximize" if overview.maximize else "minimize",
            "trials": state_counts(overview.states),
            "best_value": overview.best_value,
            "started": iso_time(overview.started),
            "_started": overview.started,
        })
    if output_format != "table":
        emit_data([{k: v for k, v in row.items() if not k.startswith("_")} for row in rows], output_format)
        return
    if not rows:
        click.echo(f"No studies in {mask_password(url)}.")
        return
    zone = zone_name()
    console().print(table(
        ["STUDY", "SPACE", "BACKEND", "TRIALS", "BEST", f"STARTED ({zone})"],
        [(row["name"], row["space"] or "-", row["backend"] or "-",
          f"{row['trials']['total']}: {describe_counts(row['trials'])}" if row["trials"]["total"] else "none",
          f"{row['best_value']:.4f}" if row["best_value"] is not None else "-",
          local_time(row["_started"]).removesuffix(f" {zone}")) for row in rows],
        wrap=["TRIALS", "SPACE"], right=["BEST"],  # a study's name is never broken
    ))
