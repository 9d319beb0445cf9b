"""The report's tables, built once from a ``Report`` and rendered by HTML and Markdown alike; and the
machine formats: CSV (one row per study) and JSON (the whole report)."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from hpsearch.reports.model import GroupSummary, Pivot, Report, StudySummary
from hpsearch.reports.wording import epochs, minutes, param, settings, value


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    right: set[int] = field(default_factory=set)  # columns aligned right (numbers)
    note: str = ""


def _target_cell(reached: int, runs: int, epochs_: float | None, seconds: float | None) -> str:
    if not reached:
        return "not reached"
    cell = f"{epochs(epochs_)} ep / {minutes(seconds)}"
    return f"{cell} ({reached}/{runs})" if runs > 1 else cell


def _range(group: GroupSummary) -> str:
    if group.runs < 2 or group.best_low is None:
        return "one seed"
    low, high = sorted((group.best_low, group.best_high))
    return f"{value(low)}–{value(high)}"


def summary_table(report: Report) -> Table:
    """The ranking: one row per backend (seeds grouped), leader first."""
    headers = ["#", "backend", "runs", f"best {report.metric} (median)", "over seeds"]
    headers += [f"to {t:g}" for t in report.targets]
    headers += ["failed", "epochs", "search time"]
    rows = []
    for rank, group in enumerate(report.groups, start=1):
        row = [str(rank), group.label, str(group.runs), value(group.best_median), _range(group)]
        row += [_target_cell(t.reached, t.runs, t.epochs, t.seconds) for t in group.targets]
        row += [
            "-" if group.failure_rate is None else f"{group.failure_rate:.0%}",
            epochs(group.epochs_median),
            minutes(group.seconds_median),
        ]
        rows.append(row)
    note = ("Targets: cumulative training epochs / search time until the first trial reaching the value ended"
            " (medians over the seeds that reached it; k/n seeds reached). Epochs and time: spent in all (medians).")
    right = {0, 2, 3} | set(range(5, len(headers)))
    return Table(headers, rows, right, note)


def studies_table(report: Report) -> Table:
    headers = ["study", "backend", "seed", "trials", "complete / pruned / failed", "best", "at epoch", "test acc."]
    headers += [f"to {t:g}" for t in report.targets] + ["epochs", "search time"]
    rows = []
    for study in report.studies:
        row = [
            study.name,
            study.backend,
            "-" if study.seed is None else str(study.seed),
            str(study.trials),
            f"{study.complete} / {study.pruned} / {study.failed}",
            value(study.best_value),
            epochs(study.best_epoch),
            value(study.test_accuracy),
        ]
        row += [_target_cell(1 if t.reached else 0, 1, t.epochs, t.seconds) for t in study.targets]
        row += [epochs(study.epochs), minutes(study.seconds)]
        rows.append(row)
    return Table(headers, rows, {2, 3, 5, 6, 7} | set(range(8, len(headers))))


def best_params_table(report: Report) -> Table:
    """Each backend's best configuration (best over its seeds), side by side."""
    groups = [g for g in report.groups if g.best_study is not None]
    names = list(dict.fromkeys(name for g in groups for name in g.best_params))
    headers = ["parameter"] + [g.label for g in groups]
    rows = [[report.metric] + [value(_best_of(g, report)) for g in groups]]
    rows.append(["study / trial"] + [f"{g.best_study} #{g.best_trial}" for g in groups])
    for name in names:
        rows.append([name] + [param(g.best_params[name]) if name in g.best_params else "–" for g in groups])
    return Table(headers, rows, set(range(1, len(headers))))


def _best_of(group: GroupSummary, report: Report) -> float | None:
    for study in report.studies:
        if study.name == group.best_study:
            return study.best_value
    return None


def pivot_table(pivot: Pivot, metric: str) -> Table:
    headers = [f"{pivot.row_param} \\ {pivot.col_param}"] + [param(c) for c in pivot.cols]
    rows = [[param(r)] + [value(c) for c in cells] for r, cells in zip(pivot.rows, pivot.cells)]
    return Table(headers, rows, set(range(1, len(headers))), f"Best {metric} per combination (– : no COMPLETE trial).")


def failures_table(study: StudySummary) -> Table:
    rows = [[str(g.count), g.example if g.count == 1 else g.pattern] for g in study.failures]
    return Table(["trials", "reason"], rows, {0})


def importances_table(study: StudySummary) -> Table:
    rows = [[name, f"{share:.3f}"] for name, share in (study.importances or {}).items()]
    return Table(["parameter", "importance"], rows, {1}, study.importance_note)


def top_trials_table(study: StudySummary) -> Table:
    names = list(dict.fromkeys(name for c in study.top_curves for name in c.params))
    headers = ["trial", study.metric, "epochs", "continues"] + names
    rows = []
    for curve in study.top_curves:
        rows.append([f"#{curve.trial}", value(curve.value), str(curve.steps[-1] if curve.steps else "-"),
                     "-" if curve.continues is None else f"#{curve.continues}"]
                    + [param(curve.params[n]) if n in curve.params else "–" for n in names])
    return Table(headers, rows, {1, 2}, "continues: the trial whose weights and epochs it goes on from "
                                        "(a Hyperband promotion, or a re-run of an interrupted trial).")


def gradient_table(study: StudySummary) -> Table:
    """First, middle and last layer's mean gradient norm, and their ratio (how much the signal fades)."""
    rows = []
    for series in study.gradient_norms:
        norms = series.norms
        ratio = norms[0] / norms[-1] if norms[-1] else float("inf")
        rows.append([series.label, str(len(norms)), f"{norms[0]:.3g}", f"{norms[len(norms) // 2]:.3g}",
                     f"{norms[-1]:.3g}", f"{ratio:.3g}"])
    return Table(["trial", "layers", "first layer", "middle layer", "last layer", "first / last"], rows,
                 {1, 2, 3, 4, 5}, "Mean gradient norm of each dense layer's kernel over the first epoch's batches.")


def settings_line(study: StudySummary) -> str:
    parts = [f"space {study.space}", f"backend {study.backend} ({settings(study.settings)})"]
    if study.seed is not None:
        parts.append(f"seed {study.seed}")
    budget = {k: v for k, v in study.budget.items() if v is not None}
    if budget:
        parts.append("budget " + settings(budget))
    if study.compare:
        parts.append(f"compare run {study.compare}")
    if not study.made_by_hpsearch:
        parts = ["a plain Optuna study (no hpsearch settings): epochs are its reported steps, time its trials' running time"]
    return "; ".join(parts)


# --- machine formats ------------------------------------------------------------------------------

def study_row(study: StudySummary) -> dict[str, object]:
    """One CSV row: a study's settings and every number the report shows for it."""
    row: dict[str, object] = {
        "study": study.name, "space": study.space, "backend": study.backend, "seed": study.seed,
        "compare": study.compare, "metric": study.metric, "direction": study.direction,
        "settings": json.dumps(study.settings, sort_keys=True), "trials": study.trials,
        "complete": study.complete, "pruned": study.pruned, "failed": study.failed, "running": study.running,
        "interrupted": study.interrupted, "failure_rate": study.failure_rate, "best_value": study.best_value,
        "best_trial": study.best_trial, "best_epoch": study.best_epoch, "test_accuracy": study.test_accuracy,
        "test_loss": study.test_loss, "epochs": study.epochs, "train_seconds": study.train_seconds,
        "search_seconds": study.seconds, "best_params": json.dumps(study.best_params, sort_keys=True),
    }
    for target in study.targets:
        row[f"epochs_to_{target.target:g}"] = target.epochs
        row[f"seconds_to_{target.target:g}"] = target.seconds
        row[f"trial_to_{target.target:g}"] = target.trial
    return row


def to_csv(report: Report) -> str:
    rows = [study_row(s) for s in report.studies]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=1, default=str) + "\n"
