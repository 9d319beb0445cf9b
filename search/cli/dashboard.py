"""``hpsearch dashboard``: optuna-dashboard on the study storage."""
from __future__ import annotations

import click

from hpsearch.search.cli.options import storage_option


@click.command()
@storage_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--artifacts", default=None, metavar="DIR",
              help="Artifacts folder the studies were started with [default: as `start`].")
def dashboard(storage: str | None, host: str, port: int, artifacts: str | None) -> None:
    """Run optuna-dashboard on the storage (the same as `optuna-dashboard URL`), with the trials' weights."""
    from optuna_dashboard import run_server

    from hpsearch.storage.artifacts import artifact_root, optuna_artifact_store
    from hpsearch.storage.studies import open_storage
    from hpsearch.storage.urls import mask_password, resolve_url

    url = resolve_url(storage)
    rdb = open_storage(url, must_exist=True)
    store = optuna_artifact_store(artifact_root(url, artifacts), create=False)
    click.echo(f"optuna-dashboard for {mask_password(url)} on http://{host}:{port}/ (Ctrl-C to stop)")
    run_server(rdb, host=host, port=port, artifact_store=store)
