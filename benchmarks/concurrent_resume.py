"""N `hpsearch resume` processes on one study: trials per minute, duplicates, budget overshoot.

    python benchmarks/concurrent_resume.py [--processes 1,2,4] [--backends random,tpe]
        [--storage sqlite|postgresql://postgres@127.0.0.1:5432/test] [--trials 16] [--max-epochs 2] [--repeat 1]

Each run creates a fresh study (scikit-learn's digits, ``--train-samples 600``, 2 epochs per trial;
a backend with its own schedule, Hyperband or grid, runs that schedule instead of ``--trials``)
without running it, starts N resume processes at once, and waits for all of them. Wall time runs
from the launch to the last exit, so it includes every process' start-up (importing TensorFlow).
Prints one line per run and appends it to ``benchmarks/results.jsonl``.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import optuna

from hpsearch.search.session import SearchSession, StartRequest, plan_start
from hpsearch.storage import record

HPSEARCH = [sys.executable, "-c", "from hpsearch.search.cli.main import main; main()"]


def one_run(url: str, backend: str, processes: int, trials: int, max_epochs: int) -> dict:
    study = f"bench-{backend}-{processes}-{uuid.uuid4().hex[:6]}"
    plan = plan_start(StartRequest(space="digits_mlp", backend=backend, study=study, storage=url, trials=trials,
                                   max_epochs=max_epochs, seed=1, train_samples=600))
    schedule = SearchSession.create(plan).backend.expected_trials()
    if schedule is not None:  # Hyperband and grid: their own schedule is the budget
        trials = schedule
    started = time.monotonic()
    running = [subprocess.Popen([*HPSEARCH, "resume", study, "--storage", url, "-q"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    codes = [p.wait() for p in running]
    wall = time.monotonic() - started
    found = optuna.load_study(study_name=study, storage=url).get_trials(deepcopy=False)
    counted = [t for t in found if record.counts_toward_budget(t)]
    # Hyperband trains one configuration in several rounds (trials with promoted_from): not duplicates.
    configurations = Counter(tuple(sorted(t.params.items())) for t in counted
                             if record.PROMOTED_FROM not in t.user_attrs)
    return {
        "benchmark": "concurrent_resume", "date": _dt.date.today().isoformat(), "backend": backend,
        "storage": url.split(":", 1)[0], "processes": processes, "budget": trials, "max_epochs": max_epochs, "wall_s": round(wall, 1),
        "trials_per_min": round(len(counted) / wall * 60, 1), "duplicates": sum(n - 1 for n in configurations.values()),
        "overshoot": len(counted) - trials, "running_left": sum(t.state.name == "RUNNING" for t in found),
        "workers": len({t.user_attrs.get(record.WORKER) for t in counted}), "exit_codes": codes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--backends", default="random,tpe")
    parser.add_argument("--storage", default="sqlite")
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--max-epochs", type=int, default=2,
                        help="epochs per trial (Hyperband: its largest round; 4 gives a 10-trial schedule)")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="hpsearch-bench-"))
    os.chdir(folder)
    url = f"sqlite:///{folder / 'bench.db'}" if args.storage == "sqlite" else args.storage
    results = Path(__file__).with_name("results.jsonl")
    for _ in range(args.repeat):
        for backend in args.backends.split(","):
            for processes in (int(n) for n in args.processes.split(",")):
                line = one_run(url, backend, processes, args.trials, args.max_epochs)
                print(json.dumps(line), flush=True)
                with results.open("a") as out:
                    out.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
