"""``hpsearch start SPACE --backend NAME`` and ``hpsearch resume STUDY``: run a search."""
from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

import click

from hpsearch.search.cli import restart
from hpsearch.search.cli.options import BACKEND_NAME, data_options, format_seconds, parse_key_values, storage_option
from hpsearch.search.cli.output import wrap

if TYPE_CHECKING:
    from hpsearch.search.session import SearchSession


@click.command(short_help="Start a search of a space with a backend.")
@click.argument("space")
@click.option("--backend", "-b", required=True, type=BACKEND_NAME,
              help="Search algorithm; `hpsearch backends` describes each.")
@click.option("--study", default=None, help="Study name [default: SPACE-BACKEND-TIMESTAMP].")
@storage_option
@click.option("--trials", type=int, default=None, help="Trials to run [default: the space's; Hyperband: its schedule].")
@click.option("--max-epochs", type=int, default=None, help="Epochs per trial (Hyperband: the most any trial gets).")
@click.option("--timeout", type=float, default=None, metavar="SECONDS",
              help="Stop the search after SECONDS [default: the space's].")
@click.option("--budget-epochs", type=int, default=None, metavar="N",
              help="Stop when the study's trials have trained N epochs in all (a budget fair across backends).")
@click.option("--epoch-timeout", type=float, default=None, metavar="SECONDS",
              help="Fail a trial whose epochs take (or are projected to take) longer than SECONDS each [default: the space's].")
@click.option("--seed", type=int, default=None, help="Seed for proposals and weight initialization.")
@data_options
@click.option("--option", "-o", "options", multiple=True, metavar="KEY=VALUE",
              help="Backend setting, repeatable; `hpsearch backends` lists each backend's settings.")
@click.option("--pruner", type=click.Choice(["hyperband", "median", "none"]), default=None,
              help="Per-epoch pruning for Optuna backends (same as --option pruner=...).")
@click.option("--artifacts", default=None, metavar="DIR",
              help="Folder for checkpoints and backend state [default: hpsearch-artifacts/ beside a SQLite file].")
@click.option("--keep-weights", "keep_weights_text", default=None, metavar="N|all",
              help="Keep the best weights of the N best trials (and of those Hyperband may still continue); "
                   "`all` keeps every trial's [default: 5].")
@click.option("--workers", type=int, default=1, show_default=True, metavar="N",
              help="Train in N local worker processes sharing the study (each gets an equal share of the cores; "
                   "more machines join with `hpsearch worker`).")
@click.option("--threads", type=int, default=None, metavar="N",
              help="TensorFlow threads per worker [env HPSEARCH_THREADS; default: the cores / --workers].")
@click.option("--quiet", "-q", is_flag=True, help="One line per trial, no per-epoch lines.")
def start(space: str, backend: str, study: str | None, storage: str | None, trials: int | None,
          max_epochs: int | None, timeout: float | None, budget_epochs: int | None, epoch_timeout: float | None,
          seed: int | None, data_path: str | None, image_size: str | None, color: str | None,
          val_split: float | None, test_split: float | None, train_samples: int | None, objective: str | None,
          options: tuple[str, ...], pruner: str | None,
          artifacts: str | None, keep_weights_text: str | None, workers: int, threads: int | None,
          quiet: bool) -> None:
    """Start a new search of SPACE with BACKEND, recorded in an Optuna study.

    SPACE is a built-in space (`hpsearch spaces` lists them), a registered one, or your own:
    path/to/file.py[:name] or package.module:name holding an hpsearch Space or a Keras Tuner
    hypermodel (a build_model(hp) function or a keras_tuner.HyperModel).

    \b
    Examples:
      hpsearch start mnist_cnn --backend hyperband
      hpsearch start image_cnn -b tpe --data xrays/ --image-size 32x32 --color grayscale
      hpsearch start my_space.py:build_model -b bayesian --data digits --objective val_loss
      hpsearch start mnist_cnn -b tpe --workers 4 --storage postgresql://me@db-host/hpsearch
    """
    from hpsearch.search.checks import check_start_values, parse_keep_weights
    from hpsearch.search.retention import DEFAULT_KEEP_WEIGHTS

    restart.check_environment()
    threads = thread_budget(threads, workers)
    keep_weights = parse_keep_weights(keep_weights_text, DEFAULT_KEEP_WEIGHTS)
    # The values first, before TensorFlow is imported (plan_start checks them again, and the rest).
    check_start_values(trials=trials, max_epochs=max_epochs, timeout=timeout, epoch_timeout=epoch_timeout,
                       train_samples=train_samples, budget_epochs=budget_epochs, seed=seed, study=study)
    from hpsearch.search.checks import check_names

    check_names(space, [backend])
    from hpsearch.search.data_plan import DataRequest, check_request

    check_request(space, DataRequest(source=data_path, image_size=image_size, color=color, val_split=val_split,
                                     test_split=test_split, train_samples=train_samples))
    if objective is not None:
        from hpsearch.spaces.user import parse_objective

        parse_objective(objective)  # its form, before TensorFlow is imported
    from hpsearch.search.session import SearchSession, StartRequest, plan_start

    settings = parse_key_values(options)
    if pruner is not None:
        settings["pruner"] = pruner
    if workers > 1:
        from hpsearch.search.cli.local_workers import check_shared_storage

        check_shared_storage(storage)
    else:
        from hpsearch.search.threads import limit_threads

        limit_threads(threads)  # before the data or the budget fit starts TensorFlow
    plan = plan_start(
        StartRequest(space=space, backend=backend, study=study, storage=storage, trials=trials,
                     max_epochs=max_epochs, timeout=timeout, epoch_timeout=epoch_timeout, seed=seed,
                     data_path=data_path, train_samples=train_samples, options=settings, artifacts=artifacts,
                     budget_epochs=budget_epochs, keep_weights=keep_weights, image_size=image_size, color=color,
                     val_split=val_split, test_split=test_split, objective=objective)
    )
    session = SearchSession.create(plan)
    if workers > 1:
        from hpsearch.search.cli.local_workers import run_local_workers

        run_local_workers(session, workers, threads, quiet)
    else:
        run_session(session, quiet, again=["resume", plan.study_name])


def thread_budget(threads: int | None, workers: int) -> int:
    """TensorFlow threads for each of ``workers`` local processes (``--threads``, ``HPSEARCH_THREADS``
    or an equal share of the cores); a share that does not fit the cores is a one-line error."""
    from hpsearch.search.threads import check_threads, threads_from_env, threads_per_worker

    try:
        given = threads if threads is not None else threads_from_env()
        check_threads(given, workers, "--threads" if threads is not None else "HPSEARCH_THREADS")
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    return threads_per_worker(workers, given)


@click.command(short_help="Continue a stopped or interrupted study.")
@click.argument("study_name", metavar="STUDY")
@storage_option
@click.option("--trials", type=int, default=None, help="Run N more trials than the study has finished.")
@click.option("--timeout", type=float, default=None, metavar="SECONDS", help="Allow this run SECONDS more.")
@click.option("--budget-epochs", type=int, default=None, metavar="N", help="Allow N more training epochs.")
@click.option("--quiet", "-q", is_flag=True, help="One line per trial, no per-epoch lines.")
def resume(study_name: str, storage: str | None, trials: int | None, timeout: float | None,
           budget_epochs: int | None, quiet: bool) -> None:
    """Continue STUDY with the space, backend, data and budget stored in it.

    Trials left RUNNING by a crash, kill or Ctrl-C are marked FAIL (interrupted) and their
    configuration runs again, continuing from its last finished epoch. No COMPLETE or PRUNED trial
    is run again.
    """
    from hpsearch.search.checks import check_resume_values

    restart.check_environment()
    check_resume_values(study=study_name, trials=trials, timeout=timeout, budget_epochs=budget_epochs)
    if trials is None and timeout is None and budget_epochs is None:
        from hpsearch.search.finished import finished_study

        finished = finished_study(study_name, storage)
        if finished is not None:  # nothing to train: say so without importing TensorFlow
            click.echo(f"Stopped: {finished.reason}. 0 trials run: extend the budget with --trials, --timeout "
                       f"or --budget-epochs.")
            from hpsearch.search.cli.run_lines import print_best

            from hpsearch.storage.urls import mask_password, resolve_url

            print_best(finished.storage, finished.study_name, finished.metric, mask_password(resolve_url(storage)))
            return
    from hpsearch.search.session import ResumeRequest, resume_session

    session = resume_session(ResumeRequest(study=study_name, storage=storage, trials=trials, timeout=timeout,
                                           budget_epochs=budget_epochs))
    for note in session.notes:
        click.echo(note)
    pending = session.recover()
    if pending:
        numbers = ", ".join(str(t.number) for t in pending)
        click.echo(f"interrupted trials to run again: {numbers}")
    run_session(session, quiet, again=["resume", study_name])


def run_session(session: SearchSession, quiet: bool, again: list[str], worker: str | None = None,
                relayed: bool = False) -> None:
    """Print the header, run with console progress, print the result; Ctrl-C exits 130.

    ``again`` is the command a fresh process runs to go on (``search.memory``). ``worker`` (``hpsearch
    worker``) describes this worker in the header. ``relayed``: a worker of ``start --workers``, whose
    lines its parent prints: no header or summary, one line each instead."""
    from hpsearch.search.cli.progress import ConsoleProgress
    from hpsearch.search.cli.run_lines import print_artifacts, print_best, print_header
    from hpsearch.search.memory import resident_mb
    from hpsearch.storage.urls import mask_password

    plan = session.plan
    meta = plan.meta
    url = mask_password(plan.storage_url)
    session.runner.memory_guard = restart.memory_guard()
    earlier = restart.before()
    if earlier.restarts:  # the restart is search time too (before the budget is read)
        session.add_elapsed(max(0.0, time.time() - earlier.replaced_at))
    budget = session.budget()
    if earlier.restarts:  # this process replaced a grown one: the header was printed already
        click.echo(f"(fresh process {earlier.restarts + 1}: memory back to "
                   f"{resident_mb():.0f} MB; {earlier.trials} trials before it)")
    elif relayed:
        click.echo(f"joined as {worker}")
    else:
        print_header(session, url, budget, extra=(("worker", worker),) if worker else ())
    progress = ConsoleProgress(plan.space.objective, epochs=not quiet)
    progress.carry_best(session.study.get_trials(deepcopy=False))
    session.runner.progress = progress
    try:
        summary = session.runner.run(budget)
    except KeyboardInterrupt:
        progress.close()
        if relayed:
            click.echo("interrupted: the running trial is recorded as FAIL (interrupted)")
        else:
            click.echo(
                f"\nInterrupted: the running trial is recorded as FAIL (interrupted). "
                f"Continue with: hpsearch {' '.join(again)} --storage {url}",
                err=True,
            )
        sys.exit(130)
    finally:
        progress.close()
    trials = earlier.trials + summary.trials_run
    run_started = earlier.run_started if earlier.restarts else time.time() - summary.seconds
    if summary.recycle:
        click.echo(wrap(f"Restarting: {summary.stop_reason}; the search goes on in a fresh process.", indent=12))
        session.close()
        restart.replace_process(again, plan.storage_url, quiet,
                                restart.Before(earlier.restarts + 1, trials, run_started))
    took = f"{trials} trial{'s' if trials != 1 else ''} in {format_seconds(time.time() - run_started)}"
    if relayed:
        click.echo(f"Stopped: {summary.stop_reason}. {took}.")
        session.close()
        return
    click.echo("")
    if worker:
        took = f"This worker: {took}; the study has {session.counted_trials()}"
    click.echo(f"Stopped: {summary.stop_reason}. {took}.")
    print_best(session.storage, plan.study_name, plan.space.objective.metric, url)
    print_artifacts(meta)
    session.close()
