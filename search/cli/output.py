"""How commands print: aligned tables (``rich``), or the same data as JSON / YAML for scripts.

``--format table|json|yaml`` as ``optuna studies -f`` has. A table command builds plain data first
(lists of dicts of str/int/float/bool/None), prints it as JSON or YAML as it is, or as a table.
Colour and styles turn themselves off when stdout is not a terminal (and under ``NO_COLOR``).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import shutil
from collections.abc import Iterable, Sequence
from typing import Any

import click

FORMATS = ("table", "json", "yaml")
# Lines are kept within this width when stdout is not a terminal (a pipe, a file, CI logs).
PLAIN_WIDTH = 100

format_option = click.option(
    "--format", "-f", "output_format", type=click.Choice(FORMATS), default="table", show_default=True,
    help="Output format: an aligned table for people, or JSON / YAML for scripts.",
)


def console(stderr: bool = False) -> Any:
    """A ``rich`` console that prints through ``click`` (so ``CliRunner`` and pipes see it), styled only
    on a terminal, as wide as the terminal or ``PLAIN_WIDTH`` when not one, with no trailing blanks."""
    return _EchoConsole(stderr)


class _EchoConsole:
    """``print(*renderables)`` like ``rich.console.Console.print``: rendered to text, lines stripped of
    the padding rich adds, written with ``click.echo``."""

    def __init__(self, stderr: bool = False) -> None:
        self.stderr = stderr
        self.terminal = _isatty(click.get_text_stream("stderr" if stderr else "stdout"))
        self.color = self.terminal and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        self.width = terminal_width(stderr)

    def print(self, *renderables: Any, style: str | None = None) -> None:
        import io

        from rich.console import Console

        buffer = io.StringIO()
        rich_console = Console(file=buffer, width=self.width, force_terminal=self.color,
                               color_system="auto" if self.color else None,
                               highlight=False, soft_wrap=False, emoji=False)
        rich_console.print(*renderables, style=style)
        text = "\n".join(_TRAILING.sub(r"\1", line) for line in buffer.getvalue().rstrip("\n").split("\n"))
        click.echo(text, err=self.stderr, color=self.color or None)


_TRAILING = re.compile(r"[ ]+((?:\x1b\[[0-9;]*m)*)$")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None,
          wrap: Sequence[str] = (), right: Sequence[str] = ()) -> Any:
    """A borderless ``rich`` table: bold headers, columns in ``wrap`` fold long text, ``right`` align right."""
    from rich import box
    from rich.table import Table

    result = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", title_style="bold",
                   header_style="bold", pad_edge=False, show_edge=False, expand=False, padding=(0, 1, 0, 0))
    for name in columns:
        result.add_column(name, justify="right" if name in right else "left",
                          no_wrap=name not in wrap, overflow="fold", max_width=None)
    for row in rows:
        result.add_row(*(cell if not isinstance(cell, str) else escape(cell) for cell in row))
    return result


def escape(text: str) -> str:
    """``text`` shown as it is (rich would read ``[tpe]`` as markup)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def emit_data(data: Any, output_format: str) -> None:
    """Print ``data`` as JSON (indented) or YAML (block style, keys in the order given)."""
    if output_format == "json":
        click.echo(json.dumps(data, indent=2, default=_plain, ensure_ascii=False))
        return
    import yaml

    click.echo(yaml.safe_dump(_plain_tree(data), sort_keys=False, allow_unicode=True, default_flow_style=False)
               .rstrip("\n"))


def _plain(value: Any) -> Any:
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    return str(value)


def _plain_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain_tree(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_tree(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return _plain(value)


def user_value(value: Any) -> str:
    """A setting's value as a user types it: ``true``, ``0.001``, ``median``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def param_value(value: Any) -> str:
    """A parameter's value as the console shows it: ``user_value``, floats to 3 significant digits."""
    return f"{value:.3g}" if isinstance(value, float) else user_value(value)


def local_time(moment: _dt.datetime | None) -> str:
    """A naive local time (as Optuna hands them out) with its zone: ``2026-12-03 20:30 UTC``."""
    if moment is None:
        return "-"
    aware = moment.astimezone() if moment.tzinfo is None else moment
    return f"{aware:%Y-%m-%d %H:%M} {aware.tzname() or aware.strftime('%z')}"


def zone_name() -> str:
    """This machine's time zone as ``local_time`` names it (``UTC``, ``CET``...)."""
    now = _dt.datetime.now().astimezone()
    return now.tzname() or now.strftime("%z")


def number_ranges(numbers: Iterable[int]) -> str:
    """``[0, 1, 2, 5, 7, 8]`` -> ``0-2, 5, 7-8``."""
    ordered = sorted(set(numbers))
    parts: list[str] = []
    start = previous = None
    for number in ordered + [None]:  # type: ignore[list-item]
        if start is not None and (number is None or number != previous + 1):
            parts.append(str(start) if start == previous else f"{start}-{previous}")
            start = None
        if number is not None and start is None:
            start = number
        previous = number
    return ", ".join(parts)


def terminal_width(stderr: bool = False) -> int:
    """The width lines wrap at: the terminal's, ``PLAIN_WIDTH`` when stdout (stderr) is not a terminal."""
    if _isatty(click.get_text_stream("stderr" if stderr else "stdout")):
        return max(40, shutil.get_terminal_size((PLAIN_WIDTH, 24)).columns)
    return PLAIN_WIDTH


def wrap(text: str, indent: int = 2, width: int | None = None) -> str:
    """``text`` wrapped at the terminal's width, later lines indented by ``indent``."""
    import textwrap

    lines = textwrap.wrap(text, width=width or terminal_width(), subsequent_indent=" " * indent,
                          break_long_words=False, break_on_hyphens=False)
    return "\n".join(lines) or ""


def echo_fields(rows: Sequence[tuple[str, str]], whole: Sequence[str] = ()) -> None:
    """``key  value`` lines, values aligned and wrapped under themselves, except the keys in ``whole``
    (a command to copy stays on one line)."""
    import textwrap

    if not rows:
        return
    key_width = max(len(key) for key, _ in rows) + 2
    width = max(20, terminal_width() - key_width)
    for key, value in rows:
        lines = [str(value)] if key in whole else textwrap.wrap(
            str(value), width=width, break_long_words=False, break_on_hyphens=False) or [""]
        click.echo(f"{key:<{key_width}}{lines[0]}".rstrip())
        for line in lines[1:]:
            click.echo(" " * key_width + line)
