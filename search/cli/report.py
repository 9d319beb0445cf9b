"""``hpsearch report STUDY...``: a comparison report from what the storage holds."""
from __future__ import annotations

import os
from pathlib import Path

import click

from hpsearch.search.cli.options import storage_option


@click.command(short_help="Compare studies in an HTML/Markdown report.")
@click.argument("study_names", metavar="[STUDY]...", nargs=-1)
@storage_option
@click.option("--all", "all_studies", is_flag=True, help="Report every study in the storage.")
@click.option("--compare", "compare_name", default=None, metavar="NAME",
              help="Report the studies of one `hpsearch compare` run.")
@click.option("--output", "-o", default=None, metavar="PATH",
              help="Where to write [default: ./hpsearch-reports/NAME.EXT].")
@click.option("--format", "fmt", type=click.Choice(["html", "md", "csv", "json"]), default=None,
              help="Output format [default: from the file suffix, else html].")
@click.option("--target", "target_text", default=None, metavar="VALUES",
              help="Objective values to reach, comma-separated, e.g. 0.98,0.99 [default: the two highest of "
                   "0.9/0.95/0.98/0.99/0.995 that some study reached].")
def report(study_names: tuple[str, ...], storage: str | None, all_studies: bool, compare_name: str | None,
           output: str | None, fmt: str | None, target_text: str | None) -> None:
    """Compare studies: which backend found what, how fast, at what cost.

    Per study: trials by state, failures by reason, best value and parameters, epochs and time to
    each target, learning curves, parameter importances. Across studies: best-so-far against
    cumulative training epochs and against time (seeds of one backend as a median with a band), a
    ranking, and whether the leader's margin exceeds the seed-to-seed spread.

    \b
    Examples:
      hpsearch report my-study
      hpsearch report study-a study-b --target 0.98,0.99 -o ab.md
      hpsearch report --compare mnist_cnn-cmp-1a2b3c
    """
    from hpsearch.reports import default_path, format_of, make_report, parse_targets, render
    from hpsearch.storage.studies import open_storage
    from hpsearch.storage.urls import mask_password, resolve_url

    targets = parse_targets(target_text) if target_text is not None else None
    chosen = format_of(output, fmt)
    url = resolve_url(storage)
    rdb = open_storage(url, must_exist=True)
    result = make_report(rdb, study_names, all_studies=all_studies, compare=compare_name, targets=targets,
                         storage_label=mask_password(url))
    path = Path(output) if output is not None else default_path(result.title, chosen)
    write_report(path, render(result, chosen), default_folder=output is None)
    for sentence in result.findings:
        click.echo(sentence)
    click.echo(f"Report: {path}")


def check_writable(path: Path, default_folder: bool) -> None:
    """One-line ``UserError`` unless ``path`` can be written (the default folder may be created later)."""
    from hpsearch.search.errors import UserError

    folder = path.parent
    try:
        if default_folder and not folder.exists():
            return
        if not folder.is_dir():
            raise UserError(f"Cannot write the report to {path}: folder {folder} does not exist.")
        if path.is_dir():
            raise UserError(f"Cannot write the report to {path}: it is a folder; give a file name.")
        writable = os.access(folder, os.W_OK) and (not path.exists() or os.access(path, os.W_OK))
    except OSError as error:  # a name too long for the file system, ...
        raise UserError(f"Cannot write the report to {str(path)[:200]}: {error.strerror or error}.") from None
    if not writable:
        raise UserError(f"Cannot write the report to {path}: permission denied.")


def write_report(path: Path, text: str, default_folder: bool) -> None:
    """Write ``text`` to ``path`` (creating the default folder only); one-line error if it cannot."""
    from hpsearch.search.errors import UserError

    check_writable(path, default_folder)
    if default_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise UserError(f"Cannot write the report to {path}: {error.strerror or error}.") from None
