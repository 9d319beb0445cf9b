"""Several local processes on one study, storage-bound: which local storage keeps up without
"database is locked"? (Issue 11: choose between SQLite in WAL mode with a busy timeout and Optuna's
journal file storage for `--workers N` on one machine.)

    python benchmarks/local_storage_workers.py [--processes 1,2,4] [--trials 200] [--epochs 5]

Each process runs plain Optuna ask/tell on a cheap objective (no training: the storage is the cost),
reporting ``--epochs`` intermediate values per trial as hpsearch does, until the study holds
``--trials`` finished trials. Storages: SQLite as Optuna opens it (rollback journal, SQLAlchemy's
default 5 s busy timeout), SQLite with ``journal_mode=WAL`` and a 60 s busy timeout, and
``JournalStorage(JournalFileBackend)``. Prints trials per minute, errors and duplicate trial numbers per
run, and appends each run to ``benchmarks/results.jsonl``.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import multiprocessing
import sys
import tempfile
import time
import traceback
from pathlib import Path

STORAGES = ("sqlite", "sqlite-wal", "journal")


def open_storage(kind: str, folder: Path):
    import optuna
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    if kind == "journal":
        return JournalStorage(JournalFileBackend(str(folder / "journal.log")))
    url = f"sqlite:///{folder / (kind + '.db')}"
    if kind == "sqlite":
        return RDBStorage(url)
    import sqlalchemy

    storage = RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})

    @sqlalchemy.event.listens_for(storage.engine, "connect")
    def _wal(connection, _record) -> None:  # every new connection of this process
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    with storage.engine.connect() as connection:  # the first connection: WAL is set on the file
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return storage


def worker(kind: str, folder: str, study_name: str, trials: int, epochs: int, errors) -> None:  # noqa: ANN001
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = open_storage(kind, Path(folder))
    study = optuna.load_study(study_name=study_name, storage=storage)
    while True:
        try:
            done = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))
            if done >= trials:
                return
            trial = study.ask()
            x = trial.suggest_float("x", -10, 10)
            units = trial.suggest_int("units", 32, 512, step=32)
            for step in range(1, epochs + 1):
                trial.report((x - 2) ** 2 / step + units * 1e-4, step)
                trial.set_user_attr(f"epoch_{step}", step)
            study.tell(trial, (x - 2) ** 2 + units * 1e-4)
        except Exception as error:  # noqa: BLE001 - counted, shown once per kind
            errors.append(f"{type(error).__name__}: {str(error).splitlines()[0][:120]}")
            if len(errors) > 50:
                traceback.print_exc()
                return


def one_run(kind: str, processes: int, trials: int, epochs: int) -> dict:
    import optuna

    with tempfile.TemporaryDirectory() as folder:
        storage = open_storage(kind, Path(folder))
        name = f"bench-{kind}-{processes}"
        optuna.create_study(study_name=name, storage=storage, sampler=optuna.samplers.RandomSampler(seed=0))
        del storage
        with multiprocessing.Manager() as manager:
            errors = manager.list()
            started = time.monotonic()
            workers = [multiprocessing.Process(target=worker, args=(kind, folder, name, trials, epochs, errors))
                       for _ in range(processes)]
            for process in workers:
                process.start()
            for process in workers:
                process.join()
            seconds = time.monotonic() - started
            found = list(errors)
        study = optuna.load_study(study_name=name, storage=open_storage(kind, Path(folder)))
        finished = study.get_trials(deepcopy=False)
        complete = [t for t in finished if t.state == optuna.trial.TrialState.COMPLETE]
        numbers = [t.number for t in finished]
    kinds = sorted({e.split(":")[0] for e in found})
    return {"benchmark": "local_storage_workers", "storage": kind, "processes": processes, "epochs": epochs,
            "complete": len(complete), "left_running": sum(t.state.name == "RUNNING" for t in finished),
            "seconds": round(seconds, 2), "trials_per_minute": round(len(complete) / seconds * 60, 1),
            "errors": len(found), "error_kinds": kinds, "first_error": found[0] if found else None,
            "duplicate_numbers": len(numbers) - len(set(numbers)),
            "when": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--storages", default=",".join(STORAGES))
    args = parser.parse_args()
    results = Path(__file__).with_name("results.jsonl")
    for kind in args.storages.split(","):
        for processes in (int(p) for p in args.processes.split(",")):
            row = one_run(kind, processes, args.trials, args.epochs)
            print(f"{kind:<10} {processes} processes: {row['trials_per_minute']:>7} trials/min, "
                  f"{row['complete']} complete in {row['seconds']} s, {row['errors']} errors {row['error_kinds']}, "
                  f"{row['duplicate_numbers']} duplicate numbers", flush=True)
            with results.open("a") as out:
                out.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    sys.exit(main())
