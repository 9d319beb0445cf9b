"""The report as Markdown (GitHub-flavoured): the same tables and sentences as the HTML, no charts."""
from __future__ import annotations

from hpsearch.reports import tables
from hpsearch.reports.model import Report
from hpsearch.reports.tables import Table


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(table: Table) -> str:
    if not table.rows:
        return ""
    lines = ["| " + " | ".join(_cell(h) for h in table.headers) + " |"]
    lines.append("| " + " | ".join("---:" if i in table.right else "---" for i in range(len(table.headers))) + " |")
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", f"_{table.note}_"]
    return "\n".join(lines)


def render(report: Report) -> str:
    parts = [
        f"# hpsearch report: {report.title}",
        "",
        f"Generated {report.generated_at} from `{report.storage}`: {len(report.studies)} "
        f"stud{'y' if len(report.studies) == 1 else 'ies'}, objective {report.metric} ({report.direction}).",
        "",
        "## Summary",
        "",
        render_table(tables.summary_table(report)),
        "",
    ]
    parts += [f"- {sentence}" for sentence in report.findings]
    parts += [f"- **Warning:** {w}" for w in report.warnings]
    parts += ["", "## Best parameters", "", render_table(tables.best_params_table(report)), ""]
    parts += ["## Studies", "", render_table(tables.studies_table(report)), ""]
    for study in report.studies:
        parts += [f"### {study.name}", "", tables.settings_line(study) + ".", ""]
        if study.pivot is not None:
            parts += [render_table(tables.pivot_table(study.pivot, study.metric)), ""]
        if study.gradient_norms:
            parts += [render_table(tables.gradient_table(study)), ""]
        if study.failures:
            parts += ["Failures:", "", render_table(tables.failures_table(study)), ""]
        if study.top_curves:
            parts += ["Top trials:", "", render_table(tables.top_trials_table(study)), ""]
        if study.importances:
            parts += ["Parameter importances:", "", render_table(tables.importances_table(study)), ""]
        elif study.importance_note:
            parts += [f"_{study.importance_note}_", ""]
    return "\n".join(parts).rstrip() + "\n"
