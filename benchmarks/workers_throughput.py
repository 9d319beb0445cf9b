"""Trials per minute of N hpsearch workers on one study, storage-bound (issue 11).

    python benchmarks/workers_throughput.py [--workers 1,2,4] [--trials 120] [--epochs 3]
        [--storages sqlite,postgres] [--backends tpe,random] [--postgres URL]

Each worker is a process that opens the study as `hpsearch worker` does (``resume_session``: the study
lock, WAL for SQLite, heartbeats) and runs the real runner loop: recovery, budget claim, the backend's
ask, the trial's record (attributes, one record per epoch), the finish and the backend's tell. Only the
training is replaced, by a cheap objective of the parameters, so the figure is hpsearch's coordination
and storage cost per trial: what bounds many workers on a study of short trials. Prints trials per
minute, trials counted against the budget, duplicates (configurations trained twice) and errors, and
appends each run to ``benchmarks/results.jsonl``. PostgreSQL: a fresh database per run on the server of
``--postgres`` (default postgresql://postgres@127.0.0.1/test), dropped afterwards.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

PG_DEFAULT = "postgresql://postgres@127.0.0.1/test"


def cheap_run_trial(runner, proposal, limits=None, announce=None):  # noqa: ANN001 - the runner's signature
    """The runner's ``run_trial`` without training: the same records, a made-up curve."""
    from hpsearch.search.backends._base import Outcome
    from hpsearch.search.recorder import TrialRecorder
    from hpsearch.search.recovery import Heartbeat
    from hpsearch.storage import record

    recorder = TrialRecorder(runner.study, runner.storage, proposal, clock=runner.elapsed)
    score = sum(hash((k, str(v))) % 1000 for k, v in sorted(proposal.params.items())) / (1000 * max(1, len(proposal.params)))
    history = {}
    with Heartbeat(runner.storage, proposal.trial_id):
        for step in range(proposal.initial_epoch + 1, proposal.epochs + 1):
            value = score * step / proposal.epochs
            history[step] = value
            recorder.record_epoch(step, value, {"val_accuracy": value, "loss": 1 - value}, step - proposal.initial_epoch)
    outcome = Outcome("COMPLETE", max(history.values()) if history else None, history)
    with runner.lock:
        recorder.finish(outcome, {record.TRAIN_SECONDS: 0.0}, elapsed=runner.elapsed())
        runner.backend.tell(proposal, outcome)
    if announce is not None:
        announce()
    return outcome


def worker(url: str, study: str, errors) -> None:  # noqa: ANN001
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import warnings

    warnings.filterwarnings("ignore")
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        from hpsearch.search.session import ResumeRequest, resume_session

        session = resume_session(ResumeRequest(study=study, storage=url, worker=True))
        runner = session.runner
        runner.run_trial = lambda proposal, limits=None, announce=None: cheap_run_trial(runner, proposal, limits,
                                                                                        announce)
        runner.run(session.budget())
    except Exception as error:  # noqa: BLE001 - counted and shown
        errors.append(f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}")


def create(url: str, study: str, backend: str, trials: int, epochs: int, artifacts: str) -> None:
    from hpsearch.search.session import SearchSession, StartRequest, plan_start

    plan = plan_start(StartRequest(space="digits_mlp", backend=backend, study=study, storage=url, trials=trials,
                                   max_epochs=epochs, seed=1, train_samples=300, artifacts=artifacts,
                                   unlimited_time=True))
    SearchSession.create(plan).close()


def fresh_postgres(server: str, name: str) -> str:
    import sqlalchemy

    engine = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return str(sqlalchemy.engine.make_url(server).set(database=name))


def drop_postgres(server: str, name: str) -> None:
    import sqlalchemy

    engine = sqlalchemy.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


def one_run(storage: str, backend: str, workers: int, trials: int, epochs: int, server: str) -> dict:
    import optuna

    from hpsearch.storage import record

    with tempfile.TemporaryDirectory() as folder:
        db_name = f"hpsearch_bench_{os.getpid()}_{workers}"
        url = f"sqlite:///{folder}/bench.db" if storage == "sqlite" else fresh_postgres(server, db_name)
        try:
            study = f"bench-{backend}-{workers}"
            create(url, study, backend, trials, epochs, str(Path(folder) / "artifacts"))
            ctx = multiprocessing.get_context("spawn")
            with ctx.Manager() as manager:
                errors = manager.list()
                processes = [ctx.Process(target=worker, args=(url, study, errors)) for _ in range(workers)]
                started = time.monotonic()
                for process in processes:
                    process.start()
                for process in processes:
                    process.join()
                found = list(errors)
            # Each process starts by importing TensorFlow and opening the study (~5 s): measured from
            # the first trial's start to the last trial's end, as the study recorded them.
            loaded = optuna.load_study(study_name=study, storage=url).get_trials(deepcopy=False)
            wall = time.monotonic() - started
        finally:
            if storage == "postgres":
                drop_postgres(server, db_name)
    counted = [t for t in loaded if record.counts_toward_budget(t)]
    begin = min(t.datetime_start for t in loaded)
    end = max(t.datetime_complete for t in loaded if t.datetime_complete is not None)
    seconds = (end - begin).total_seconds()
    fresh = [t for t in counted if record.PROMOTED_FROM not in t.user_attrs]
    configurations = Counter(tuple(sorted(t.params.items())) for t in fresh)
    return {"benchmark": "workers_throughput", "storage": storage, "backend": backend, "workers": workers,
            "epochs": epochs, "counted": len(counted), "budget": trials,
            "running_left": sum(t.state.name == "RUNNING" for t in loaded),
            "duplicates": sum(n - 1 for n in configurations.values()),
            "trial_workers": len({t.user_attrs.get(record.WORKER) for t in loaded}),
            "seconds": round(seconds, 2), "wall_seconds": round(wall, 1),
            "trials_per_minute": round(len(counted) / seconds * 60, 1), "errors": found,
            "when": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--trials", type=int, default=120)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--storages", default="sqlite,postgres")
    parser.add_argument("--backends", default="tpe,random")
    parser.add_argument("--postgres", default=PG_DEFAULT)
    args = parser.parse_args()
    results = Path(__file__).with_name("results.jsonl")
    for storage in args.storages.split(","):
        for backend in args.backends.split(","):
            for count in (int(n) for n in args.workers.split(",")):
                row = one_run(storage, backend, count, args.trials, args.epochs, args.postgres)
                print(f"{storage:<8} {backend:<7} {count} workers: {row['trials_per_minute']:>6} trials/min "
                      f"({row['counted']}/{row['budget']} trials in {row['seconds']} s, by {row['trial_workers']} "
                      f"workers), duplicates {row['duplicates']}, running left {row['running_left']}, "
                      f"errors {row['errors'] or 0}", flush=True)
                with results.open("a") as out:
                    out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    sys.exit(main())
