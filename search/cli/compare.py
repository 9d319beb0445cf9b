"""``hpsearch compare SPACE --backends a,b,c``: every backend (and seed) under one budget, then a report."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from hpsearch.search.cli.options import data_options, format_seconds, storage_option


@click.command(short_help="Run several backends on one space, then report.")
@click.argument("space", required=False)
@click.option("--backends", "-b", "backends", default=None, metavar="A,B,...",
              help="Backends to compare, comma-separated; `hpsearch backends` lists them.")
@click.option("--seeds", type=int, default=1, show_default=True, metavar="N",
              help="Run each backend with seeds 0..N-1 (seed-to-seed spread needs N >= 2).")
@click.option("--budget-epochs", type=int, default=None, metavar="N",
              help="Training epochs each backend and seed may spend [default: the space's; mnist_cnn: 16, "
                   "at most 450 s].")
@click.option("--timeout", type=float, default=None, metavar="SECONDS",
              help="Seconds each backend and seed may spend (with --budget-epochs too: whichever comes first).")
@click.option("--name", default=None, help="Compare run name [default: SPACE-cmp-<hash of the settings>].")
@click.option("--resume", "resume_name", default=None, metavar="NAME",
              help="Continue compare run NAME with the settings stored in its studies.")
@storage_option
@click.option("--max-epochs", type=int, default=None, help="Epochs per trial [default: the space's].")
@click.option("--epoch-timeout", type=float, default=None, metavar="SECONDS",
              help="Stop a trial whose epochs take longer than SECONDS [default: the space's].")
@data_options
@click.option("--artifacts", default=None, metavar="DIR", help="Folder for checkpoints and backend state.")
@click.option("--target", "target_text", default=None, metavar="VALUES",
              help="Objective values the report times, comma-separated, e.g. 0.98,0.99.")
@click.option("--output", "-o", default=None, metavar="PATH",
              help="Report file [default: ./hpsearch-reports/NAME.html].")
@click.option("--quiet", "-q", is_flag=True, help="One line per trial, no per-epoch lines.")
def compare(space: str | None, backends: str | None, seeds: int, budget_epochs: int | None, timeout: float | None,
            name: str | None, resume_name: str | None, storage: str | None, max_epochs: int | None,
            epoch_timeout: float | None, data_path: str | None, image_size: str | None, color: str | None,
            val_split: float | None, test_split: float | None, train_samples: int | None, objective: str | None,
            artifacts: str | None, target_text: str | None, output: str | None, quiet: bool) -> None:
    """Run SPACE with each backend (and seed) under the same budget, in sequence, then report.

    Each backend x seed is an ordinary study (`NAME-BACKEND-sSEED`) tagged with the compare run's
    name. Running the same command again, or `--resume NAME`, continues an interrupted compare:
    finished studies are kept, an interrupted one resumes.

    \b
    Examples:
      hpsearch compare mnist_cnn --backends random,hyperband,bayesian,tpe
      hpsearch compare digits_mlp -b tpe,random --seeds 3 --budget-epochs 60
      hpsearch compare --resume mnist_cnn-cmp-1a2b3c
    """
    from hpsearch.reports import format_of, parse_targets
    from hpsearch.search.checks import check_compare_values

    # The values first, before TensorFlow is imported (plan_compare checks them again, and the rest).
    check_compare_values(backends=(backends or "").split(","), seeds=seeds, budget_epochs=budget_epochs,
                         timeout=timeout, max_epochs=max_epochs, epoch_timeout=epoch_timeout,
                         train_samples=train_samples, name=name)
    if resume_name is None and space is not None and backends is not None:
        from hpsearch.search.checks import check_names

        check_names(space, backends.split(","))
    targets = parse_targets(target_text) if target_text is not None else None
    from hpsearch.search.compare import CompareRequest, check_runs, plan_compare, stored_plan
    from hpsearch.search.errors import UserError
    from hpsearch.storage.studies import open_storage
    from hpsearch.storage.urls import resolve_url, sqlite_path

    fmt = format_of(output, None)
    url = resolve_url(storage)
    if resume_name is not None:
        if space is not None or backends is not None:
            raise UserError("--resume NAME continues a compare run with its stored settings: give no SPACE or --backends.")
        database = sqlite_path(url)
        plan = None if database is not None and not database.is_file() else stored_plan(open_storage(url), resume_name)
        if plan is None:
            raise UserError(f"No compare run named '{resume_name}' in this storage: start it with hpsearch compare SPACE --backends ...")
    else:
        if space is None or backends is None:
            raise UserError("Name a SPACE and --backends (e.g. hpsearch compare mnist_cnn --backends random,tpe), "
                            "or --resume NAME.")
        plan = plan_compare(CompareRequest(
            space=space, backends=backends.split(","), seeds=seeds, budget_epochs=budget_epochs, timeout=timeout,
            name=name, max_epochs=max_epochs, epoch_timeout=epoch_timeout, train_samples=train_samples,
            data_path=data_path, artifacts=artifacts, image_size=image_size, color=color, val_split=val_split,
            test_split=test_split, objective=objective,
        ))
    if output is not None:
        from hpsearch.search.cli.report import check_writable

        check_writable(Path(output), default_folder=False)
    check_runs(plan, url)  # every run's input, before the first study is written
    _run(plan, url, quiet)
    _report(plan.name, url, targets, output, fmt)


def _run(plan, url: str, quiet: bool) -> None:
    from hpsearch.search.cli.output import wrap
    from hpsearch.search.cli.progress import ConsoleProgress
    from hpsearch.search.compare import CompareProgress, compare_sessions, epochs_spent
    from hpsearch.search.errors import FatalError
    from hpsearch.search.session import open_working_storage
    from hpsearch.storage.urls import mask_password

    runs = plan.runs()
    click.echo(wrap(f"compare:   {plan.name} ({plan.space}; {', '.join(plan.backends)}; "
                    f"{len(plan.seeds)} seed{'s' if len(plan.seeds) > 1 else ''}; {plan.describe_budget()})", indent=11))
    click.echo(f"storage:   {mask_password(url)}")
    progress = CompareProgress(plan)
    progress.load_existing(open_working_storage(url))
    stopped: list[str] = []
    for index, (backend, seed, session, action) in enumerate(compare_sessions(plan, url), start=1):
        study = plan.study_name(backend, seed)
        progress.opened(study, epochs_spent(session), session.elapsed())
        budget = session.budget()
        click.echo(f"\n[{index}/{len(runs)}] {backend}, seed {seed}: study {study} ({action})")

        def overall(session=session, study=study, index=index) -> str:
            progress.update(study, epochs_spent(session), session.runner.elapsed())
            eta = progress.eta()
            return f"compare {index}/{len(runs)} ETA {format_seconds(eta) if eta is not None else '?'}"

        progress_line = ConsoleProgress(session.plan.space.objective, epochs=not quiet, suffix=overall)
        session.runner.progress = progress_line
        try:
            summary = session.runner.run(budget)
        except KeyboardInterrupt:
            progress_line.close()
            click.echo(f"\nInterrupted. Continue with: hpsearch compare --resume {plan.name} --storage "
                       f"{mask_password(url)}", err=True)
            sys.exit(130)
        except FatalError as error:
            progress_line.close()
            stopped.append(f"{study}: {error}")
            click.echo(f"Stopped {study}: {error}", err=True)
            continue
        progress_line.close()
        click.echo(f"{study}: {summary.stop_reason}; {summary.trials_run} trials in {format_seconds(summary.seconds)}.")
    if stopped:
        click.echo(f"{len(stopped)} run(s) stopped early: {'; '.join(stopped)}", err=True)


def _report(name: str, url: str, targets, output: str | None, fmt: str) -> None:
    from hpsearch.search.cli.output import wrap
    from hpsearch.reports import default_path, make_report, render
    from hpsearch.search.cli.report import write_report
    from hpsearch.storage.studies import open_storage
    from hpsearch.storage.urls import mask_password

    result = make_report(open_storage(url), compare=name, targets=targets, storage_label=mask_password(url))
    path = Path(output) if output is not None else default_path(result.title, fmt)
    write_report(path, render(result, fmt), default_folder=output is None)
    click.echo("")
    for sentence in result.findings:
        click.echo(wrap(sentence, indent=0))
    leader = result.groups[0] if result.groups else None
    if leader is not None and leader.best_study is not None:
        click.echo(f"Best: {leader.best_study} trial {leader.best_trial} ({result.metric} {leader.best_high:.4f})")
        click.echo(f"Its test accuracy: hpsearch retrain {leader.best_study} --storage {mask_password(url)}")
    click.echo(f"Report: {path}")
    click.echo(f"Again: hpsearch report --compare {name} --storage {mask_password(url)}")
