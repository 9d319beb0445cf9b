"""The ``hpsearch`` root command group. Subcommands live in their own small modules."""
from __future__ import annotations

import os
import sys
import warnings
from typing import Any

import click

# TensorFlow's C++ start-up chatter is noise for a CLI; users can still override it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def known_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix: shown as one line, exit code 1, no traceback."""
    from hpsearch.search.backends import BackendSettingsError, UnknownBackendError
    from hpsearch.search.errors import HpsearchError
    from hpsearch.spaces.catalog import UnknownSpaceError
    from hpsearch.spaces.datasets import DatasetError
    from hpsearch.reports.collect import ReportError
    from hpsearch.spaces.params import SpaceDefinitionError
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
    )


class HpsearchGroup(click.Group):
    """Turns hpsearch's own errors into ``Error: <one line>`` and exit code 1."""

    def invoke(self, ctx: click.Context) -> Any:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)  # hpsearch prints its own progress
        # Optuna marks features hpsearch relies on as experimental; the user can do nothing about it.
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        try:
            return super().invoke(ctx)
        except known_errors() as error:
            raise click.ClickException(str(error)) from None


@click.group(cls=HpsearchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hpsearch", prog_name="hpsearch")
def cli() -> None:
    """Hyperparameter search for Keras models on Optuna and Keras Tuner.

    Every trial of every backend is recorded in a standard Optuna study: watch it live with
    optuna-dashboard, read it with `optuna`, compare backends from what is stored.
    """


def _register() -> None:
    from hpsearch.search.cli import catalog, compare, dashboard, export, report, retrain, start, studies

    for command in (
        start.start,
        start.resume,
        studies.studies,
        studies.show,
        retrain.retrain,
        export.export,
        compare.compare,
        report.report,
        catalog.spaces,
        catalog.backends,
        dashboard.dashboard,
    ):
        cli.add_command(command)


_register()


def main() -> None:  # pragma: no cover - console entry convenience
    sys.exit(cli())
