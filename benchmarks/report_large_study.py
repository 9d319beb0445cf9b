"""How long `hpsearch report`, `studies`, `show` and `resume` take on a study of 10,000 trials (a
measurement, never a test).

Builds a synthetic hpsearch study with ``optuna.create_trial`` (mnist_cnn's parameters, conditions
honoured; 20 intermediate values per trial by default; the attributes the runner writes; some FAIL
and PRUNED trials) in SQLite or in the database ``--storage`` names (PostgreSQL: a study of its own,
deleted afterwards), then times each command end to end (a fresh process each time: imports, reading
the storage, computing, writing), repeated, and prints the figures. One JSON line per run is
appended to ``benchmarks/results.jsonl``.

    python benchmarks/report_large_study.py [--trials 10000] [--steps 20] [--repeat 3] [--keep PATH.db]
    python benchmarks/report_large_study.py --storage postgresql://postgres@127.0.0.1:5432/test
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from hpsearch.spaces.catalog import get_space
from hpsearch.spaces.params import Boolean, Choice, Float, Int
from hpsearch.storage import record
from hpsearch.storage.studies import StudyMeta, open_storage, save_meta

RESULTS = Path(__file__).with_name("results.jsonl")
STUDY = "large"


def sample(space, rng):
    values, distributions = {}, {}
    for param in space.params:
        if not space.is_active(param, values):
            continue
        if isinstance(param, Int):
            values[param.name] = int(rng.choice(param.grid()))
            distributions[param.name] = IntDistribution(param.low, param.high, step=param.step)
        elif isinstance(param, Float):
            if param.log:
                value = math.exp(rng.uniform(math.log(param.low), math.log(param.high)))
            elif param.step:
                value = round(param.low + param.step * rng.integers(0, round((param.high - param.low) / param.step) + 1), 10)
            else:
                value = rng.uniform(param.low, param.high)
            values[param.name] = float(value)
            distributions[param.name] = FloatDistribution(param.low, param.high, log=param.log, step=param.step)
        elif isinstance(param, Choice):
            values[param.name] = param.values[int(rng.integers(len(param.values)))]
            distributions[param.name] = CategoricalDistribution(list(param.values))
        elif isinstance(param, Boolean):
            values[param.name] = bool(rng.integers(2))
            distributions[param.name] = CategoricalDistribution([False, True])
    return values, distributions


def build_study(url: str, artifacts: Path, trials: int, steps: int, seed: int = 0) -> float:
    """Create the synthetic study; returns the seconds it took."""
    started = time.perf_counter()
    storage = open_storage(url)
    space = get_space("mnist_cnn")
    study = optuna.create_study(study_name=STUDY, storage=storage, direction="maximize")
    study.set_metric_names(["val_accuracy"])
    meta = StudyMeta(space_name=space.name, space=space.to_dict(), backend="tpe", backend_settings={"pruner": "median"},
                     trials=trials, max_epochs=4, timeout=None, epoch_timeout=60, seed=seed,
                     data={"path": None, "train_samples": None}, artifacts=str(artifacts))
    save_meta(storage, storage.get_study_id_from_name(STUDY), meta)
    rng = np.random.default_rng(seed)
    clock = dt.datetime(2026, 1, 1)
    elapsed = 0.0
    batch = []
    for number in range(trials):
        params, distributions = sample(space, rng)
        quality = rng.uniform(0.9, 0.995)
        epochs = steps if steps else int(rng.integers(1, 5))
        curve = {step: float(quality - 0.02 / step + rng.normal(0, 0.002)) for step in range(1, epochs + 1)}
        seconds = float(rng.uniform(5, 60)) * epochs
        state = TrialState.COMPLETE
        roll = rng.uniform()
        user_attrs = {record.INITIAL_EPOCH: 0, record.TARGET_EPOCHS: max(4, epochs), record.EPOCHS_TRAINED: epochs,
                      record.WORKER: "bench:1", record.PARAM_COUNT: int(rng.integers(10_000, 2_000_000)),
                      record.TRAIN_SECONDS: round(seconds, 3)}
        if roll < 0.05:
            state, curve = TrialState.FAIL, {}
            user_attrs[record.FAIL_REASON] = f"too slow: projected {int(rng.integers(61, 300))} s per epoch exceeds the epoch time limit of 60 s (--epoch-timeout)"
            user_attrs[record.EPOCHS_TRAINED] = 0
        elif roll < 0.25:
            state = TrialState.PRUNED
        elapsed += seconds + 0.5
        history = {"val_accuracy": list(curve.values()), "loss": [0.1] * len(curve)}
        batch.append(optuna.create_trial(
            state=state,
            value=max(curve.values()) if state == TrialState.COMPLETE else None,
            params=params,
            distributions=distributions,
            user_attrs=user_attrs,
            system_attrs={record.TRIAL_HISTORY: history, record.TRIAL_ELAPSED_AT_END: round(elapsed, 3)},
            intermediate_values=curve,
        ))
        clock += dt.timedelta(seconds=seconds + 0.5)
        if len(batch) == 500:
            study.add_trials(batch)
            batch = []
    study.add_trials(batch)
    storage.set_study_system_attr(storage.get_study_id_from_name(STUDY), record.STUDY_ELAPSED, round(elapsed, 3))
    return time.perf_counter() - started


def time_report(url: str, fmt: str, out: Path) -> float:
    command = [sys.executable, "-c", "from hpsearch.search.cli.main import main; main()", "report", STUDY,
               "--storage", url, "--target", "0.98,0.99", "--format", fmt, "-o", str(out)]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def time_command(url: str, *args: str) -> float:
    """``hpsearch ARGS --storage URL`` in a fresh process (imports included), in seconds."""
    command = [sys.executable, "-c", "from hpsearch.search.cli.main import main; main()", *args, "--storage", url]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def time_optuna_best_trial(url: str) -> float:
    optuna_cli = str(Path(sys.executable).parent / "optuna")
    started = time.perf_counter()
    subprocess.run([optuna_cli, "best-trial", "--study-name", STUDY, "--storage", url, "-f", "json"],
                   check=True, capture_output=True, text=True)
    return time.perf_counter() - started


def main() -> None:
    global STUDY
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=20, help="intermediate values per trial (0: 1 to 4 at random)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--storage", default=None, help="a database URL [default: a new SQLite file]")
    parser.add_argument("--keep", type=Path, default=None, help="Reuse (or create) this SQLite file.")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="hpsearch-bench-"))
    build_seconds = None
    if args.storage:
        url = args.storage
        STUDY = f"large-{int(time.time())}"
        build_seconds = build_study(url, folder / "artifacts", args.trials, args.steps)
    else:
        path = args.keep or folder / "large.db"
        url = f"sqlite:///{path}"
        if not path.is_file():
            build_seconds = build_study(url, folder / "artifacts", args.trials, args.steps)
    if build_seconds is not None:
        print(f"built a {args.trials}-trial study ({args.steps or '1-4'} steps each) in {build_seconds:.1f} s: {STUDY}")
    figures: dict[str, list[float]] = {}
    try:
        for _ in range(args.repeat):  # interleaved: each command once per round
            for fmt in ("html", "json", "csv"):
                figures.setdefault(fmt, []).append(time_report(url, fmt, folder / f"report.{fmt}"))
            figures.setdefault("optuna best-trial", []).append(time_optuna_best_trial(url))
            figures.setdefault("hpsearch studies", []).append(time_command(url, "studies"))
            figures.setdefault("hpsearch show", []).append(time_command(url, "show", STUDY))
            figures.setdefault("hpsearch resume", []).append(time_command(url, "resume", STUDY))
    finally:
        if args.storage:
            optuna.delete_study(study_name=STUDY, storage=url)
    for name, seconds in figures.items():
        print(f"{name:>18}: median {statistics.median(seconds):5.2f} s  (runs: {', '.join(f'{s:.2f}' for s in seconds)})")
    size = (folder / "report.html").stat().st_size / 1e6
    print(f"HTML report: {size:.1f} MB")
    line = {
        "benchmark": "report_large_study", "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": platform.node(), "python": platform.python_version(), "trials": args.trials,
        "steps": args.steps, "storage": "sqlite" if not args.storage else args.storage.split(":")[0],
        "build_seconds": build_seconds, "median_seconds": {k: round(statistics.median(v), 3) for k, v in figures.items()},
        "runs": figures, "html_mb": round(size, 2),
    }
    with RESULTS.open("a") as handle:
        handle.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
