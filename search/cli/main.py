"""The ``hpsearch`` root command group. Subcommands live in their own small modules."""
from __future__ import annotations

import os
import re
import sys
import unicodedata
import warnings
from typing import Any

import click

# TensorFlow's C++ start-up chatter is noise for a CLI (search.cli.quiet); users can still override it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def known_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix: shown as one line, exit code 1, no traceback."""
    from hpsearch.search.backends import BackendSettingsError, UnknownBackendError
    from hpsearch.search.errors import HpsearchError
    from hpsearch.spaces.catalog import UnknownSpaceError
    from hpsearch.spaces.data import DatasetError
    from hpsearch.reports.collect import ReportError
    from hpsearch.spaces.params import SpaceDefinitionError
    from hpsearch.spaces.references import SpaceReferenceError, UserCodeError
    from hpsearch.storage.urls import StorageError

    return (
        HpsearchError,
        ReportError,
        StorageError,
        DatasetError,
        UnknownSpaceError,
        UnknownBackendError,
        BackendSettingsError,
        SpaceDefinitionError,
        SpaceReferenceError,
        UserCodeError,
    )


class HpsearchGroup(click.Group):
    """Turns hpsearch's own errors into ``Error: <one line>`` and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        from hpsearch.search.cli import quiet

        quiet.configure(verbose=bool(ctx.params.get("verbose")))
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # hpsearch prints its own progress
        if not quiet.is_verbose():
            # Optuna marks features hpsearch relies on as experimental; the user can do nothing about it.
            warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        from sqlalchemy.exc import OperationalError

        try:
            return super().invoke(ctx)
        except known_errors() as error:
            raise click.ClickException(one_line(str(error))) from None
        except (optuna.exceptions.StorageInternalError, OperationalError) as error:
            # A safety net: the checks before writing should have caught it (read-only database...).
            raise click.ClickException(one_line(storage_failure(error))) from None


def storage_failure(error: BaseException) -> str:
    """One line on a database error, from the driver's own first line, with any password masked."""
    cause = error.__cause__ or error.__context__
    detail = str(cause if cause is not None and str(cause).strip() else error).strip()
    detail = detail.splitlines()[0] if detail else type(error).__name__
    return f"The storage refused the operation: {mask_urls(detail).rstrip('.')}."


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")


def mask_urls(text: str) -> str:
    """``text`` with the password of every URL in it masked."""
    from hpsearch.storage.urls import mask_password

    return _URL.sub(lambda match: mask_password(match[0]), text)


def one_line(message: str) -> str:
    """``message`` as one line: control characters (a newline in a name the user typed) shown escaped."""
    return "".join(
        repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in message.strip()
    )


@click.group(cls=HpsearchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hpsearch", prog_name="hpsearch")
@click.option("--verbose", "-v", is_flag=True,
              help="Show TensorFlow's, absl's and the libraries' start-up lines and warnings, and debug lines "
                   "[env HPSEARCH_VERBOSE=1].")
def cli(verbose: bool) -> None:
    """Hyperparameter search for Keras models on Optuna and Keras Tuner.

    Every trial of every backend is recorded in a standard Optuna study: watch it live with
    optuna-dashboard, read it with `optuna`, compare backends from what is stored.
    """


def _register() -> None:
    from hpsearch.search.cli import (
        catalog, compare, dashboard, export, migrate, report, retrain, show, start, studies, worker,
    )

    for command in (
        start.start,
        start.resume,
        worker.worker,
        studies.studies,
        show.show,
        retrain.retrain,
        export.export,
        compare.compare,
        report.report,
        catalog.spaces,
        catalog.backends,
        dashboard.dashboard,
        migrate.migrate,
    ):
        cli.add_command(command)


_register()


def main() -> None:
    """The ``hpsearch`` program: unlike ``cli`` called from Python, it may replace its own process
    by a fresh one when a long search has grown (``search.memory``)."""
    from hpsearch.search.cli import restart

    restart.allow_restarts()
    sys.exit(cli())
