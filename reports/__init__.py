"""Comparison reports built from stored studies: HTML, Markdown, CSV and JSON from one computation.

Reads storage only: importing this package never imports ``hpsearch.search`` or TensorFlow.

    from hpsearch.reports import make_report, render
    report = make_report(storage, ["study-a", "study-b"], targets=[0.98, 0.99])
    text = render(report, "html")
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hpsearch.reports.collect import ReportError, collect
from hpsearch.reports.compute import build_report
from hpsearch.reports.model import Report

FORMATS = {"html": "html", "md": "md", "csv": "csv", "json": "json"}
SUFFIXES = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", ".csv": "csv", ".json": "json"}
DEFAULT_FOLDER = "hpsearch-reports"


def make_report(
    storage: Any,
    names: Sequence[str] = (),
    all_studies: bool = False,
    compare: str | None = None,
    targets: Sequence[float] | None = None,
    storage_label: str = "",
) -> Report:
    """Read the studies from ``storage`` and compute the report (``ReportError`` if there is nothing)."""
    studies = collect(storage, names, all_studies=all_studies, compare=compare)
    if compare is not None:
        title = compare
    elif all_studies:
        title = "all studies"
    else:
        title = studies[0].name if len(studies) == 1 else f"{studies[0].name} and {len(studies) - 1} more"
    return build_report(studies, targets, title=title, storage=storage_label)


def render(report: Report, fmt: str) -> str:
    """The report as text in ``fmt`` (``html``, ``md``, ``csv`` or ``json``)."""
    if fmt == "html":
        from hpsearch.reports.html import render as render_html

        return render_html(report)
    if fmt == "md":
        from hpsearch.reports.markdown import render as render_markdown

        return render_markdown(report)
    from hpsearch.reports.tables import to_csv, to_json

    if fmt == "csv":
        return to_csv(report)
    if fmt == "json":
        return to_json(report)
    raise ReportError(f"Unknown report format '{fmt}'. Valid formats are: {', '.join(FORMATS)}.")


def parse_targets(text: str) -> list[float]:
    """``"0.98,0.99"`` -> ``[0.98, 0.99]``; ``ReportError`` names what is wrong."""
    values = []
    for item in text.split(","):
        item = item.strip()
        try:
            value = float(item)
        except ValueError:
            raise ReportError(
                f"--target takes numbers separated by commas (e.g. 0.98,0.99), but got {text!r}."
            ) from None
        if not math.isfinite(value):
            raise ReportError(f"--target takes finite numbers (not inf or nan), but got {text!r}.")
        values.append(value)
    return values


def format_of(path: str | None, fmt: str | None) -> str:
    """The format asked for, else the one the output file's suffix names, else HTML."""
    if fmt is not None:
        return fmt
    if path is not None:
        suffix = Path(path).suffix.lower()
        if suffix in SUFFIXES:
            return SUFFIXES[suffix]
        if suffix:
            raise ReportError(
                f"Cannot tell the report format from '{path}': use a .html, .md, .csv or .json file, or --format."
            )
    return "html"


def default_path(title: str, fmt: str) -> Path:
    """``./hpsearch-reports/<title>.<ext>`` (never inside the package's own ``reports/`` folder)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", title).strip("_") or "report"
    if len(safe) > 100:  # a file name has at most 255 bytes: shorten, and keep long titles apart
        import hashlib

        safe = f"{safe[:90]}-{hashlib.sha256(title.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"
    return Path.cwd() / DEFAULT_FOLDER / f"{safe}.{FORMATS[fmt]}"


__all__ = ["FORMATS", "Report", "ReportError", "build_report", "collect", "default_path", "format_of",
           "make_report", "parse_targets", "render"]
