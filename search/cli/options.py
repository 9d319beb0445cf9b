"""Options shared by several commands, defined once."""
from __future__ import annotations

import click

from hpsearch.storage.urls import DEFAULT_STORAGE_URL, STORAGE_ENV

storage_option = click.option(
    "--storage",
    "storage",
    envvar=STORAGE_ENV,
    default=None,
    metavar="URL",
    help=f"SQLAlchemy storage URL [env {STORAGE_ENV}; default {DEFAULT_STORAGE_URL}].",
)


def parse_key_values(values: tuple[str, ...]) -> dict[str, str]:
    """``("factor=3", ...)`` -> ``{"factor": "3"}``; a malformed item is a usage error."""
    parsed: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected key=value, but got {item!r}.", param_hint="--option")
        parsed[key.strip()] = value.strip()
    return parsed


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
