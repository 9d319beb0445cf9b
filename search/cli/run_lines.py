"""What ``start``, ``resume`` and ``compare`` print before and after a run: the header, the best
trial, the artifacts. Plain, aligned, wrapped at the terminal's width."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from hpsearch.search.cli.options import format_seconds
from hpsearch.search.cli.output import echo_fields, user_value, wrap

if TYPE_CHECKING:
    from hpsearch.search.session import SearchSession


def storage_flag(shown_url: str | None) -> str:
    """`` --storage URL`` for a command to copy, empty for the default storage."""
    from hpsearch.storage.urls import DEFAULT_STORAGE_URL

    return f" --storage {shown_url}" if shown_url and shown_url != DEFAULT_STORAGE_URL else ""


def describe_settings(settings: dict[str, Any]) -> str:
    """``{"factor": 3, "multivariate": True}`` -> ``factor 3, multivariate true``."""
    return ", ".join(f"{key} {user_value(value)}" for key, value in settings.items())


def print_header(session: SearchSession, url: str, budget: Any, extra: tuple[tuple[str, str], ...] = ()) -> None:
    plan = session.plan
    meta = plan.meta
    settings = describe_settings(meta.backend_settings or {})
    rows = [("study", plan.study_name),
            ("space", f"{plan.space.name} ({len(plan.space.params)} parameters)"),
            ("backend", plan.backend_cls.name + (f" ({settings})" if settings else "")),
            ("storage", url),
            ("artifacts", meta.artifacts),
            ("data", plan.dataset.summary())]
    imbalance = getattr(plan.dataset, "imbalance", lambda: None)()
    if imbalance:
        rows.append(("", imbalance))
    limits = [f"max {meta.max_epochs} epochs per trial" + (" (fitted to the timeout)" if meta.budget_fit else "")]
    if budget.trials:
        limits.append(f"{budget.trials} trials")
    if budget.epochs:
        limits.append(f"{budget.epochs} epochs in all")
    schedule = session.backend.describe_budget()
    if schedule:
        limits.append(schedule)
    if budget.timeout:
        limits.append(f"timeout {format_seconds(budget.timeout)}")
    if budget.epoch_timeout:
        limits.append(f"epoch limit {format_seconds(budget.epoch_timeout)}")
    rows.append(("budget", "; ".join(limits)))
    if meta.budget_fit:
        fit = meta.budget_fit
        if "planned_seconds" in fit:
            rows.append(("schedule", f"max {fit['max_epochs']} epochs per trial: the schedule's first "
                         f"{format_seconds(fit['planned_seconds'])} fit the timeout (epochs estimated on this "
                         f"machine: {fit['default_epoch_seconds']:.0f} s default, "
                         f"{fit['mean_epoch_seconds']:.0f} s on average)"))
        else:  # a study fitted by hpsearch 0.2's first rule
            rows.append(("schedule", f"max {fit['max_epochs']} epochs per trial (fitted to the timeout)"))
    rows.extend(extra)
    rows.append(("watch", f"hpsearch dashboard{storage_flag(url)}"))
    echo_fields(rows, whole=("watch", "storage", "artifacts"))
    click.echo("")


def print_best(storage: Any, study_name: str, metric: str, shown_url: str | None) -> None:
    """The best trial, found by one SQL query (not by reading every trial of a big study)."""
    from optuna.study import StudyDirection

    from hpsearch.search.cli.progress import format_params
    from hpsearch.storage.bulk import top_trials

    study_id = storage.get_study_id_from_name(study_name)
    maximize = storage.get_study_directions(study_id)[0] == StudyDirection.MAXIMIZE
    found = top_trials(storage, study_id, maximize, 1)
    if not found:
        click.echo("No trial completed.")
        return
    best = found[0]
    click.echo(f"Best trial {best.number}: {metric} {best.value:.4f}")
    click.echo(wrap(f"  params: {format_params(best.params)}", indent=10))
    click.echo(f"Details: hpsearch show {study_name}{storage_flag(shown_url)}")  # one line: a command to copy


def print_artifacts(meta: Any) -> None:
    """The study's artifacts folder, its size, and what of it is kept."""
    from pathlib import Path

    from hpsearch.search.retention import folder_bytes

    folder = Path(meta.artifacts)
    kept = ("every trial's best weights" if meta.keep_weights is None else
            f"best weights of the top {meta.keep_weights} trials and of those the backend may continue")
    click.echo(wrap(f"Artifacts: {folder_bytes(folder) / 1e6:.1f} MB in {folder} ({kept}; --keep-weights)", indent=11))
