"""``hpsearch dashboard``: optuna-dashboard on the study storage, with each study's weights served from the
artifacts folder stored in the study (``hpsearch.storage.study_artifacts``), read-only unless --allow-upload.

optuna-dashboard offers uploads and deletions whenever it has an artifact store (the upload box on a study's
page and on running trials: its UI has no read-only mode), so the store itself refuses them: the API answers
403 with a reason the UI shows, and nothing is written.
"""
from __future__ import annotations

import re
from typing import Any

import click

from hpsearch.search.cli.options import storage_option


@click.command(short_help="Serve optuna-dashboard, with the trials' weights.")
@storage_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--artifacts", default=None, metavar="DIR",
              help="Artifacts folder to serve every study's weights from, e.g. after it moved (the DIR given to "
                   "`start --artifacts`) [default: the folder each study was started with].")
@click.option("--allow-upload", is_flag=True,
              help="Let the dashboard upload and delete artifacts in the studies' folders.")
@click.option("--verbose", "-v", is_flag=True, help="Show the web server's banner and a line per request.")
def dashboard(storage: str | None, host: str, port: int, artifacts: str | None, allow_upload: bool,
              verbose: bool) -> None:
    """Run optuna-dashboard on the storage (as `optuna-dashboard URL` does), with each study's weights
    served read-only from the folder it was started with."""
    import bottle
    from optuna_dashboard import wsgi

    from hpsearch.search.cli import quiet
    from hpsearch.storage.studies import open_storage
    from hpsearch.storage.study_artifacts import StudyArtifactStore, store_folder_in, study_folders
    from hpsearch.storage.urls import mask_password, resolve_url

    url = resolve_url(storage)
    rdb = open_storage(url, must_exist=True)
    check_port(host, port)
    store = StudyArtifactStore(lambda: study_folders(rdb, url),
                               override=store_folder_in(artifacts) if artifacts is not None else None,
                               writable=allow_upload, writing_study=requested_study)
    for line in missing_folders(store):
        click.echo(line, err=True)
    access = "uploads and deletions allowed" if allow_upload else "read-only"
    click.echo(f"optuna-dashboard for {mask_password(url)} on http://{host}:{port}/ "
               f"(artifacts {access}; Ctrl-C to stop)")
    app = wsgi(rdb, artifact_store=HttpArtifactStore(store))
    # The server optuna-dashboard's run_server starts (bottle's wsgiref one); its banner and its line per
    # request (and per malformed request) only with -v.
    if verbose or quiet.is_verbose():
        bottle.run(app, host=host, port=port)
    else:
        bottle.run(app, host=host, port=port, quiet=True, handler_class=silent_request_handler())


def silent_request_handler() -> type:
    """wsgiref's request handler logging nothing (errors of the application itself still reach stderr)."""
    from wsgiref.simple_server import WSGIRequestHandler

    class SilentRequestHandler(WSGIRequestHandler):
        def address_string(self) -> str:  # no reverse DNS lookup (as bottle's own handler)
            return self.client_address[0]

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's signature)
            pass

    return SilentRequestHandler


def missing_folders(store: Any) -> list[str]:
    """One line for each study whose artifacts folder is not there (and for a missing ``--artifacts``)."""
    lines = []
    override_present = store.override is not None and store.override.is_dir()
    if store.override is not None and not override_present:
        lines.append(f"--artifacts: folder {store.override} not found: no weights will be shown from it")
    if not override_present:
        for entry in store.folders():
            if entry.stored and not entry.present:
                lines.append(f"study {entry.study_name}: artifacts folder {entry.folder} not found: "
                             f"its weights will not be shown (moved? pass --artifacts DIR)")
    return lines


_ARTIFACT_API = re.compile(r"/api/artifacts/(\d+)(?:/|$)")


def requested_study() -> int | None:
    """The study id of the artifact upload being served (``/api/artifacts/<study_id>[/<trial_id>]``)."""
    from bottle import request

    match = _ARTIFACT_API.match(request.path)
    return int(match[1]) if match else None


class HttpArtifactStore:
    """The studies' artifact store as the dashboard's web server uses it: refusals and misses become
    HTTP answers (bottle's ``HTTPError``, which optuna-dashboard's API turns into a status and a JSON
    ``reason``) instead of a server error with a traceback on the console."""

    READ_ONLY = ("Artifacts are read-only in this dashboard: start `hpsearch dashboard --allow-upload` "
                 "to upload or delete them.")

    def __init__(self, store: Any) -> None:
        self.store = store

    def open_reader(self, artifact_id: str) -> Any:
        from bottle import HTTPError
        from optuna.artifacts.exceptions import ArtifactNotFound

        try:
            return self.store.open_reader(artifact_id)
        except (ArtifactNotFound, ValueError) as error:
            raise HTTPError(404, str(error)) from None

    def write(self, artifact_id: str, content_body: Any) -> None:
        from bottle import HTTPError

        from hpsearch.storage.study_artifacts import ArtifactsReadOnly

        try:
            self.store.write(artifact_id, content_body)
        except ArtifactsReadOnly:
            raise HTTPError(403, self.READ_ONLY) from None
        except (LookupError, FileNotFoundError) as error:
            raise HTTPError(404, str(error)) from None

    def remove(self, artifact_id: str) -> None:
        from bottle import HTTPError

        from hpsearch.storage.study_artifacts import ArtifactsReadOnly

        try:
            self.store.remove(artifact_id)
        except ArtifactsReadOnly:
            raise HTTPError(403, self.READ_ONLY) from None


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
