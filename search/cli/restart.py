"""Replacing a grown search process by a fresh ``hpsearch resume`` of its study (``search.memory``).

Only the ``hpsearch`` program itself restarts (``main`` calls ``allow_restarts``); the command group
called from Python (a test's ``CliRunner``, a notebook) never replaces the process that called it.
The fresh process gets the storage URL through the environment (never on a command line other users
can read) and the totals of the processes before it, so the last one prints the search's summary.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import click

from hpsearch.search.memory import MemoryGuard, max_growth_from_env, min_work_from_env
from hpsearch.storage.urls import STORAGE_ENV

PROCESS_STARTED = time.monotonic()  # about when Python started this process (this module is imported early)
_RESTARTS_ENV = "HPSEARCH_RESTARTED"  # "restarts trials run_started replaced_at" of the processes before
_allowed = False


def allow_restarts() -> None:
    """This process is the ``hpsearch`` program: it may replace itself."""
    global _allowed
    _allowed = True


@dataclass(frozen=True)
class Before:
    """What the processes this one replaced did: how many there were, their trials, and when (wall
    clock, ``time.time()``) the first one began to run trials."""

    restarts: int = 0
    trials: int = 0
    run_started: float = 0.0
    replaced_at: float = 0.0  # when the last one replaced itself: this process's start-up counts as search time


def before() -> Before:
    """The totals handed down by the process this one replaced (zeros in a process started by a user)."""
    parts = os.environ.get(_RESTARTS_ENV, "").split()
    try:
        return Before(int(parts[0]), int(parts[1]), float(parts[2]), float(parts[3]))
    except (IndexError, ValueError):
        return Before()


def check_environment() -> None:
    """A bad ``HPSEARCH_MAX_MEMORY_GROWTH`` or ``HPSEARCH_RESTART_MIN_WORK`` as one line, before anything is imported or opened."""
    try:
        max_growth_from_env()
        min_work_from_env()
    except ValueError as error:
        raise click.ClickException(str(error)) from None


def memory_guard() -> MemoryGuard | None:
    """The guard for this process's run; ``None`` where it may not restart or restarts are off."""
    growth = max_growth_from_env()
    if not _allowed or growth is None:
        return None
    return MemoryGuard(max_growth=growth, process_started=PROCESS_STARTED, min_work_per_restart=min_work_from_env())


def replace_process(command: list[str], storage_url: str, quiet: bool, done: Before) -> None:
    """Become ``hpsearch COMMAND...`` (``resume STUDY`` or ``worker STUDY ...``; never returns): stdout
    flushed, the storage URL and ``done`` handed down through the environment."""
    from hpsearch.search.threads import THREADS_ENV, limited

    environ = dict(os.environ)
    environ[STORAGE_ENV] = storage_url
    if limited() is not None:  # the fresh process keeps this one's share of the cores
        environ[THREADS_ENV] = str(limited())
    environ[_RESTARTS_ENV] = f"{done.restarts} {done.trials} {done.run_started:.3f} {time.time():.3f}"
    argv = [sys.executable, "-c", "from hpsearch.search.cli.main import main; main()", *command]
    if quiet:
        argv.append("--quiet")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, argv, environ)
