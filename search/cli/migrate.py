"""``hpsearch migrate SRC_URL DST_URL``: copy studies to another storage (SQLite <-> PostgreSQL)."""
from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hpsearch.search.cli.output import wrap
from hpsearch.search.errors import UserError

PROGRESS_EVERY = 1000  # trials between progress lines (studies this large take seconds to copy)
MAX_NAMES_SHOWN = 20  # study names listed in an error

if TYPE_CHECKING:
    from hpsearch.storage.migrate import CopiedStudy


@click.command(short_help="Copy studies to another storage.")
@click.argument("src_url", metavar="SRC_URL")
@click.argument("dst_url", metavar="DST_URL")
@click.option("--study", "studies", multiple=True, metavar="NAME",
              help="A study to copy; repeatable [default: every study in SRC_URL].")
@click.option("--artifacts", default=None, metavar="DIR",
              help="Copy each study's artifacts folder (checkpoints, weights, models) and its files in Optuna's "
                   "artifact store into DIR, and store the new path in the copy [default: the copies keep the "
                   "folders where they are].")
def migrate(src_url: str, dst_url: str, studies: tuple[str, ...], artifacts: str | None) -> None:
    """Copy studies from the storage SRC_URL to DST_URL, e.g. from a laptop's SQLite file to a
    PostgreSQL server, so that `hpsearch resume` and workers go on there with nothing lost or repeated.

    Each study is copied whole: its settings, space, backend state (a Keras Tuner oracle's), search
    time and every trial with its number, parameters, values, per-epoch values and attributes. A trial
    left RUNNING by a dead worker is copied as FAIL (interrupted), as `resume` would record it, so
    `resume` runs its configuration again. A study with trials still running on a live worker is
    refused: stop those workers (Ctrl-C) first. SRC_URL is only read; a study whose copy fails leaves nothing in
    DST_URL, and a name that is already a study in DST_URL is refused before anything is written.

    \b
    Examples:
      hpsearch migrate sqlite:///hpsearch.db postgresql://user:password@server/db
      hpsearch migrate sqlite:///hpsearch.db postgresql://user@server/db --study my-study \\
          --artifacts /shared/hpsearch-artifacts
      hpsearch migrate postgresql://user@server/db sqlite:///back.db --study my-study
    """
    from hpsearch.search.recovery import GRACE_SECONDS, HEARTBEAT_SECONDS
    from hpsearch.storage import migrate as migrating
    from hpsearch.storage.studies import open_storage
    from hpsearch.storage.urls import StorageError, check_url, check_writable, mask_password

    check_url(src_url, must_exist=True)
    check_url(dst_url)
    check_writable(dst_url)
    if migrating.same_database(src_url, dst_url):
        raise StorageError(f"SRC_URL and DST_URL are one database ('{mask_password(dst_url)}'): migrate copies "
                           f"studies to another storage.")
    src = open_storage(src_url, must_exist=True, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS)
    names = choose_studies([s.study_name for s in src.get_all_studies()], studies, src_url)
    check_names_free(names, migrating.existing_study_names(dst_url), dst_url)
    interrupted = {name: dead_workers(src, name) for name in names}
    folder = Path(artifacts) if artifacts is not None else None
    plans = [migrating.plan_study(src, name, folder) for name in names]
    dst = open_storage(dst_url)  # a SQLite file is created here, once every check passed
    shown = mask_password(dst_url)
    copied: list[CopiedStudy] = []
    for plan in plans:
        try:
            result = migrating.copy_study(src, dst, plan, interrupted[plan.name], _progress(plan.name))
        except migrating.MigrationInterrupted as interrupted_copy:
            before = f" (copied before it: {', '.join(c.plan.name for c in copied)})" if copied else ""
            click.echo(f"\nInterrupted: study {plan.name} was not copied; {interrupted_copy} ({shown}){before}.",
                       err=True)
            sys.exit(130)
        except migrating.MigrationError as error:
            from hpsearch.search.cli.main import mask_urls

            before = f" (copied before it: {', '.join(c.plan.name for c in copied)})" if copied else ""
            raise migrating.MigrationError(mask_urls(f"{error}{before}")) from None
        copied.append(result)
        click.echo(_summary(result))  # one line per study: a path is never wrapped
        for note in result.notes:
            click.echo(f"  note: {note}.")
    _echo_next_steps(copied, shown)


def dead_workers(storage: Any, name: str) -> dict[int, str]:
    """The RUNNING trials of study ``name`` whose worker is dead, with why; ``UserError`` (nothing
    written) when a worker of one is alive."""
    import optuna

    from hpsearch.search.recovery import GRACE_SECONDS, running_trial_workers

    study = optuna.load_study(study_name=name, storage=storage)
    dead: dict[int, str] = {}
    alive: list[str] = []
    for trial, reason, worker in running_trial_workers(study):
        if reason is None:
            alive.append(f"trial {trial.number} on worker {worker}")
        else:
            dead[trial.number] = reason
    if alive:
        raise UserError(
            f"Study '{name}' is being searched: {', '.join(alive)} (a process alive on this host, or a heartbeat "
            f"within {GRACE_SECONDS} s). Stop those workers (Ctrl-C) first, then migrate: trials of dead workers "
            f"are copied as interrupted.")
    return dead


def choose_studies(available: list[str], wanted: tuple[str, ...], url: str) -> list[str]:
    """``wanted`` (every study of ``available`` when empty), each once; ``UserError`` for an unknown one."""
    from hpsearch.storage.urls import mask_password

    if not available:
        raise UserError(f"No studies in '{mask_password(url)}': nothing to migrate.")
    chosen = list(dict.fromkeys(wanted)) if wanted else list(available)
    unknown = [name for name in chosen if name not in set(available)]
    if unknown:
        raise UserError(f"No study named {_names(unknown)} in '{mask_password(url)}'. Studies there: "
                        f"{_names(sorted(available), quote=False)}.")
    return chosen


def check_names_free(chosen: list[str], existing: list[str], url: str) -> None:
    """``UserError`` if any chosen name is already a study in the DST."""
    from hpsearch.storage.urls import mask_password

    taken = [name for name in chosen if name in set(existing)]
    if taken:
        one = len(taken) == 1
        raise UserError(
            f"{'Study' if one else 'Studies'} {_names(taken)} already exist{'s' if one else ''} in "
            f"'{mask_password(url)}': a study is never merged into another; delete {'it' if one else 'them'} there "
            f"first (optuna delete-study --study-name NAME --storage URL) or choose others with --study NAME.")


def _names(names: list[str], quote: bool = True) -> str:
    shown = [f"'{n}'" if quote else n for n in names[:MAX_NAMES_SHOWN]]
    more = f" and {len(names) - MAX_NAMES_SHOWN} more" if len(names) > MAX_NAMES_SHOWN else ""
    return ", ".join(shown) + more


def _progress(name: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        if total >= PROGRESS_EVERY and (done % PROGRESS_EVERY == 0 or done == total):
            click.echo(f"  {name}: {done}/{total} trials copied", err=True)

    return report


def _summary(result: CopiedStudy) -> str:
    """``copied NAME: N trials (...), backend state, artifacts PATH (...)``."""
    plan, count = result.plan, len(result.interrupted)
    text = f"copied {plan.name}: {result.trials} trial{'' if result.trials == 1 else 's'}"
    if count:
        numbers = ", ".join(str(n) for n in result.interrupted)
        text += (f" ({count} running trial{' of a dead worker' if count == 1 else 's of dead workers'} recorded "
                 f"as interrupted: {numbers})")
    parts = [text]
    if result.backend_state:
        parts.append("backend state")
    if not plan.hpsearch:
        parts.append("a plain Optuna study")
    if plan.target is not None:
        parts.append(f"artifacts {plan.target} (copied: {result.copied_files} files, "
                     f"{result.copied_bytes / 1e6:.1f} MB)")
    elif plan.artifacts is not None:
        parts.append(f"artifacts {plan.artifacts} (kept there)")
    return ", ".join(parts)


def _echo_next_steps(copied: list[CopiedStudy], storage: str) -> None:
    kept = [c.plan.artifacts for c in copied if c.plan.target is None and c.plan.artifacts is not None]
    if kept:
        click.echo(wrap(
            "The artifacts stay in their folders, now shared by the studies in both storages (go on with one of "
            "them only). Workers on other hosts need those folders: mounted at the same paths, or given as "
            "`hpsearch worker STUDY --artifacts DIR` (DIR: their mount of the folder holding the study's folder); "
            "or migrate with --artifacts DIR to copy them.", indent=2))
    resumable = [c.plan.name for c in copied if c.plan.hpsearch]
    if resumable:
        click.echo("Continue with (more workers, on this host or others: hpsearch worker STUDY --storage URL):")
        for name in resumable:
            click.echo(f"  hpsearch resume {shlex.quote(name)} --storage {storage}")
