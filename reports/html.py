"""The report as one self-contained HTML file: summary table first, then charts and per-study details.

plotly.js is embedded once (from the installed ``plotly`` package), nothing is loaded from a network,
and the page fits a laptop screen's width: wide tables scroll inside their own box, never the page.
"""
from __future__ import annotations

import html
import json
from typing import Any

from hpsearch.reports import charts, tables
from hpsearch.reports.model import Report, StudySummary
from hpsearch.reports.tables import Table

STYLE = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:0;color:#222;background:#fff}
main{max-width:1100px;margin:0 auto;padding:16px 20px 40px}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:16px;margin:22px 0 6px}p.meta{color:#555;margin:0 0 12px;font-size:13px;overflow-wrap:anywhere}
.tablebox{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top;overflow-wrap:break-word}
th{background:#f3f5f8}td.r,th.r{text-align:right;white-space:nowrap}
tbody tr:first-child td{font-weight:600}table.plain tbody tr:first-child td{font-weight:normal}
ul.findings li{margin:4px 0}.warn{color:#a40}.note{color:#666;font-size:12px;margin:2px 0 10px}
.chart{width:100%;min-height:240px}.grid2{display:grid;grid-template-columns:1fr 1fr;gap:8px}
@media (max-width:900px){.grid2{grid-template-columns:1fr}}
details{margin:10px 0}summary{cursor:pointer;font-weight:600}
"""


def _table(table: Table, plain: bool = True, heat: list[list[float | None]] | None = None) -> str:
    if not table.rows:
        return ""
    right = table.right
    head = "".join(f'<th class="r">{_breakable(h)}</th>' if i in right else f"<th>{_breakable(h)}</th>"
                   for i, h in enumerate(table.headers))
    body = []
    for r, row in enumerate(table.rows):
        cells = []
        for i, cell in enumerate(row):
            style = ""
            if heat is not None and i > 0 and heat[r][i - 1] is not None:
                style = f' style="background:{_heat_color(heat, heat[r][i - 1])}"'
            css = ' class="r"' if i in right else ""
            cells.append(f"<td{css}{style}>{html.escape(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    css = ' class="plain"' if plain else ""
    return (f'<div class="tablebox"><table{css}><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody>'
            f"</table></div>{note}")


def _breakable(name: str) -> str:
    """A header that may wrap after its underscores ("conv_blocks" -> "conv_" / "blocks"), never mid-word."""
    return "_<wbr>".join(html.escape(part) for part in name.split("_"))


def _heat_color(cells: list[list[float | None]], value: float) -> str:
    known = [v for row in cells for v in row if v is not None]
    low, high = min(known), max(known)
    share = 0.5 if high == low else (value - low) / (high - low)
    return f"rgba(44,160,44,{0.12 + 0.5 * share:.2f})"


class _Figures:
    """Collects figures; each gets a div now and is drawn by one script at the end of the page."""

    def __init__(self) -> None:
        self.figures: dict[str, dict[str, Any]] = {}

    def div(self, figure: dict[str, Any]) -> str:
        if not figure["data"]:
            return ""
        name = f"fig{len(self.figures)}"
        self.figures[name] = figure
        return f'<div class="chart" id="{name}"></div>'

    def script(self) -> str:
        data = json.dumps(self.figures, separators=(",", ":"), default=str).replace("</", "<\\/")
        return (
            "<script>\n"
            f"const FIGURES = {data};\n"
            "const CONFIG = {responsive: true, displaylogo: false, displayModeBar: 'hover'};\n"
            "for (const [id, fig] of Object.entries(FIGURES)) { Plotly.newPlot(id, fig.data, fig.layout, CONFIG); }\n"
            "document.body.setAttribute('data-charts-drawn', String(Object.keys(FIGURES).length));\n"
            "</script>"
        )


def _study_section(study: StudySummary, figures: _Figures) -> str:
    parts = [f'<h3 id="study-{html.escape(study.name)}">{html.escape(study.name)}</h3>',
             f'<p class="meta">{html.escape(tables.settings_line(study))}.</p>']
    if study.pivot is not None:
        table = tables.pivot_table(study.pivot, study.metric)
        parts.append(_table(table, heat=study.pivot.cells))
    if study.gradient_norms:
        parts.append(figures.div(charts.gradient_norms(study)))
        parts.append(_table(tables.gradient_table(study)))
    if study.failures:
        parts.append("<p><b>Failures</b> (grouped by reason):</p>" + _table(tables.failures_table(study)))
    if study.top_curves:
        parts.append(figures.div(charts.learning_curves(study)))
        parts.append(_table(tables.top_trials_table(study)))
    row = []
    if study.importances:
        row.append(figures.div(charts.importances(study)) + f'<p class="note">{html.escape(study.importance_note)}</p>')
    elif study.importance_note:
        row.append(f'<p class="note">{html.escape(study.importance_note)}</p>')
    if study.parallel_rows and study.parallel_params:
        row.append(figures.div(charts.parallel(study)))
    parts += row
    return "\n".join(p for p in parts if p)


def render(report: Report, plotly_js: str | None = None) -> str:
    """The HTML page; ``plotly_js`` defaults to the installed plotly package's plotly.min.js."""
    if plotly_js is None:
        from plotly.offline import get_plotlyjs

        plotly_js = get_plotlyjs()
    figures = _Figures()
    findings = "".join(f"<li>{html.escape(s)}</li>" for s in report.findings)
    findings += "".join(f'<li class="warn">{html.escape(w)}</li>' for w in report.warnings)
    studies = ", ".join(f'<a href="#study-{html.escape(s.name)}">{html.escape(s.name)}</a>' for s in report.studies)
    body = [
        f"<h1>hpsearch report: {html.escape(report.title)}</h1>",
        f'<p class="meta">Generated {html.escape(report.generated_at)} from {html.escape(report.storage)}; '
        f"objective {html.escape(report.metric)} ({html.escape(report.direction)}); studies: {studies}.</p>",
        "<h2>Summary</h2>",
        _table(tables.summary_table(report), plain=False),
        f'<ul class="findings">{findings}</ul>',
        '<div class="grid2">' + figures.div(charts.anytime(report, "epochs")) + figures.div(charts.anytime(report, "seconds"))
        + "</div>",
        "<h2>Best parameters</h2>",
        _table(tables.best_params_table(report)),
        "<h2>Studies</h2>",
        _table(tables.studies_table(report)),
    ]
    body += [_study_section(study, figures) for study in report.studies]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>hpsearch report: {html.escape(report.title)}</title><style>{STYLE}</style>"
        f"<script>{plotly_js}</script></head>\n<body><main>\n"
        + "\n".join(b for b in body if b)
        + "\n</main>\n"
        + figures.script()
        + "\n</body></html>\n"
    )
