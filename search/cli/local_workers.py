"""``hpsearch start --workers N``: N local ``hpsearch worker`` processes on the study just created.

The starting process trains nothing itself: it starts the workers (each with its share of the
cores, the storage URL handed down through the environment, never on a command line), prints their
lines prefixed ``w1 |``, ``w2 |`` ..., and when all have stopped, the study's result. Ctrl-C (or
SIGTERM) is passed on to every worker: each records its running trial as interrupted and stops.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

import click

from hpsearch.search.cli.options import format_seconds
from hpsearch.search.errors import UserError
from hpsearch.storage.urls import STORAGE_ENV, mask_password, resolve_url, sqlite_path

if TYPE_CHECKING:
    from hpsearch.search.session import SearchSession

STOP_GRACE_SECONDS = 60  # after Ctrl-C: how long workers may take to record their trials before they are killed


def check_shared_storage(storage: str | None) -> None:
    """``UserError`` when the storage cannot be shared by processes (an in-memory SQLite database)."""
    from sqlalchemy.engine import make_url

    url = resolve_url(storage)
    if make_url(url).get_backend_name() == "sqlite" and sqlite_path(url) is None:
        raise UserError(f"--workers needs a storage every worker process opens (a SQLite file or a database "
                        f"server), not '{mask_password(url)}'.")


class LocalWorkers:
    """Worker processes of one study whose output lines are printed here, each prefixed."""

    def __init__(self, study: str, storage_url: str, count: int, threads: int, quiet: bool) -> None:
        self.study = study
        self.storage_url = storage_url
        self.count = count
        self.threads = threads
        self.quiet = quiet
        self.processes: list[subprocess.Popen[str]] = []
        self.last_lines: dict[int, str] = {}
        self._readers: list[threading.Thread] = []
        self._print = threading.Lock()

    def start(self) -> None:
        env = {**os.environ, STORAGE_ENV: self.storage_url, "PYTHONUNBUFFERED": "1"}
        argv = [sys.executable, "-c", "from hpsearch.search.cli.main import main; main()", "worker", self.study,
                "--threads", str(self.threads), "--relayed"]
        if self.quiet:
            argv.append("--quiet")
        for index in range(1, self.count + 1):
            # Their own session: a Ctrl-C reaches them once, from here, not twice (terminal and here).
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                       bufsize=1, start_new_session=True)
            self.processes.append(process)
            reader = threading.Thread(target=self._relay, args=(index, process), daemon=True)
            reader.start()
            self._readers.append(reader)

    def _relay(self, index: int, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        prefix = f"w{index} | "
        for line in process.stdout:
            line = line.rstrip()
            if not line:
                continue
            self.last_lines[index] = line
            with self._print:
                click.echo(prefix + line)

    def wait(self) -> list[int]:
        """Wait for every worker to stop; their exit codes."""
        codes = [process.wait() for process in self.processes]
        for reader in self._readers:
            reader.join(timeout=5)
        return codes

    def interrupt(self) -> list[int]:
        """Ask every worker to stop (as Ctrl-C does), wait, then kill those that have not; exit codes."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()  # its trial stays RUNNING: the next resume or worker fails it and runs it again
        return self.wait()


def run_local_workers(session: SearchSession, count: int, threads: int, quiet: bool) -> None:
    """Run the study of ``session`` in ``count`` worker processes; print their lines and the result."""
    from hpsearch.search.cli.run_lines import print_artifacts, print_best, print_header
    from hpsearch.search.finished import spent_reason

    plan = session.plan
    url = mask_password(plan.storage_url)
    budget = session.budget()
    print_header(session, url, budget,
                 extra=(("workers", f"{count} processes x {threads} thread{'s' if threads != 1 else ''} "
                                    f"(their lines: w1 | ... w{count} |)"),))
    session.close()  # this process trains nothing: its connections are not needed while they run
    workers = LocalWorkers(plan.study_name, plan.storage_url, count, threads, quiet)
    started = time.time()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        workers.start()
        codes = workers.wait()
    except KeyboardInterrupt:
        click.echo("\nInterrupted: stopping the workers (each records its running trial as FAIL (interrupted))...",
                   err=True)
        workers.interrupt()
        click.echo(f"Continue with: hpsearch resume {plan.study_name} --storage {url}", err=True)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
    trials = session.study.get_trials(deepcopy=False)
    failed = [(index, code) for index, code in enumerate(codes, 1) if code != 0]
    reason = spent_reason(plan.meta, trials, session.elapsed()) or "the backend has no more configurations to propose"
    from hpsearch.storage import record

    click.echo("")
    click.echo(f"Stopped: {reason}. {record.counted_trials(trials)} trials in {format_seconds(time.time() - started)} "
               f"by {count} workers.")
    print_best(session.storage, plan.study_name, plan.space.objective.metric, url)
    print_artifacts(plan.meta)
    session.close()
    if failed:
        index, code = failed[0]
        raise UserError(f"worker w{index} stopped with exit code {code}: {workers.last_lines.get(index, '(no output)')}")


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
