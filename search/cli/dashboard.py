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
    check_port(host, port)
    store = optuna_artifact_store(artifact_root(url, artifacts), create=False)
    click.echo(f"optuna-dashboard for {mask_password(url)} on http://{host}:{port}/ (Ctrl-C to stop)")
    run_server(rdb, host=host, port=port, artifact_store=store)


def check_port(host: str, port: int) -> None:
    """``UserError`` unless the dashboard can listen on ``host``:``port`` (checked by binding it, then let go)."""
    import errno
    import socket

    from hpsearch.search.errors import UserError

    # The dashboard's server (wsgiref's HTTPServer) binds an IPv4 TCP socket with SO_REUSEADDR: so does the probe.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except (socket.gaierror, UnicodeError) as error:
            raise UserError(f"Cannot listen on --host {host!r}: {getattr(error, 'strerror', None) or error} "
                            f"(an IPv4 address or host name, e.g. 127.0.0.1 or 0.0.0.0).") from None
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise UserError(f"Port {port} on {host} is in use: pick another with --port.") from None
            if error.errno in (errno.EACCES, errno.EPERM):
                raise UserError(f"Cannot listen on port {port} on {host}: permission denied "
                                f"(ports below 1024 need privileges); pick another with --port.") from None
            if error.errno == errno.EADDRNOTAVAIL:
                raise UserError(f"Cannot listen on {host}: it is not an address of this machine (--host).") from None
            raise UserError(f"Cannot listen on port {port} on {host}: {error.strerror or error}.") from None
