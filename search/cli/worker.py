"""``hpsearch worker STUDY``: one more process training trials of a study, on this machine or another."""
from __future__ import annotations

import click

from hpsearch.search.cli import restart
from hpsearch.search.cli.options import storage_option


@click.command(short_help="Join a study as one more worker, on this machine or another.")
@click.argument("study_name", metavar="STUDY")
@storage_option
@click.option("--artifacts", default=None, metavar="DIR",
              help="The shared artifacts folder (the one holding the study's folder) as this machine mounts it "
                   "[default: the path the study was started with].")
@click.option("--threads", type=int, default=None, metavar="N",
              help="TensorFlow threads for this worker [env HPSEARCH_THREADS; default: every core].")
@click.option("--quiet", "-q", is_flag=True, help="One line per trial, no per-epoch lines.")
@click.option("--relayed", is_flag=True, hidden=True, help="Started by `start --workers`, which prints its lines.")
def worker(study_name: str, storage: str | None, artifacts: str | None, threads: int | None, quiet: bool,
           relayed: bool) -> None:
    """Train trials of STUDY until its stored budget is spent, then exit 0.

    Any number of workers, on any machines that reach the storage, share one study: each takes the
    next configuration from the study's backend under the study's lock, so no configuration is
    trained twice and the budget ends exact. Several machines need a database server (PostgreSQL,
    MySQL); a SQLite file serves the workers of one machine. Checkpoints are shared through the
    artifacts folder: give each machine's path to it with --artifacts. A worker that dies is
    noticed by the others (its process, or its heartbeat within 30 s): its trial is recorded as
    FAIL (interrupted) and its configuration trained again, once.

    \b
    Examples:
      hpsearch worker mnist_cnn-tpe-20261203-101500 --storage postgresql://me@db-host/hpsearch
      hpsearch worker my-study --artifacts /mnt/shared/hpsearch-artifacts --threads 4
    """
    from hpsearch.search.checks import check_resume_values
    from hpsearch.search.cli.start import run_session, thread_budget

    restart.check_environment()
    check_resume_values(study=study_name, trials=None, timeout=None, budget_epochs=None)
    threads = thread_budget(threads, 1)
    from hpsearch.search.finished import finished_study

    finished = finished_study(study_name, storage)
    if finished is not None:  # nothing to train: say so without importing TensorFlow
        click.echo(f"Nothing to do: study '{study_name}' has spent its budget ({finished.reason}); this worker "
                   f"trained 0 trials. `hpsearch resume {study_name} --trials N` extends it.")
        return
    from hpsearch.search.recorder import worker_identity
    from hpsearch.search.session import ResumeRequest, resume_session
    from hpsearch.search.threads import limit_threads

    threads = limit_threads(threads)
    session = resume_session(ResumeRequest(study=study_name, storage=storage, artifacts=artifacts, worker=True))
    for note in session.notes:
        click.echo(note)
    pending = session.recover()
    if pending:
        click.echo(f"interrupted trials to run again: {', '.join(str(t.number) for t in pending)}")
    again = ["worker", study_name, "--threads", str(threads)]
    if artifacts is not None:
        again += ["--artifacts", artifacts]
    if relayed:
        again.append("--relayed")
    described = f"{worker_identity()}, {threads} thread{'s' if threads != 1 else ''}"
    run_session(session, quiet, again=again, worker=described, relayed=relayed)
