"""Benchmark 3: resident memory of one search process as trials go by (RSS after trial 10 vs 100).

    python benchmarks/memory.py [--trials 100] [--space digits_mlp] [--backend random] [--epochs 2]

One `hpsearch`-equivalent search in this process (a new SQLite study, scikit-learn's digits); the
RSS is read from /proc after every trial. Prints RSS after trials 1, 10, 50 and the last, the
growth from trial 10 to the last (absolute and in percent; the issue's target is < 10% over 100
trials) and MB per trial; appends a JSON line to benchmarks/results.jsonl.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results.jsonl")


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--space", default="digits_mlp")
    parser.add_argument("--backend", default="random")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    folder = Path(tempfile.mkdtemp(prefix="hpsearch-bench-"))
    os.chdir(folder)

    from hpsearch.search.runner import SilentProgress
    from hpsearch.search.session import SearchSession, StartRequest, plan_start

    after: list[float] = []

    class Watch(SilentProgress):
        def trial_finished(self, proposal, outcome, seconds, eta) -> None:  # noqa: ANN001 - Progress protocol
            after.append(rss_mb())

    plan = plan_start(StartRequest(space=args.space, backend=args.backend, study="memory",
                                   storage=f"sqlite:///{folder / 'bench.db'}", trials=args.trials,
                                   max_epochs=args.epochs, seed=0, unlimited_time=True))
    session = SearchSession.create(plan)
    session.runner.progress = Watch()
    started = time.monotonic()
    session.runner.run(session.budget())
    wall = time.monotonic() - started
    tenth, last = after[min(9, len(after) - 1)], after[-1]
    line = {
        "benchmark": "memory", "date": _dt.date.today().isoformat(), "label": args.label, "space": args.space,
        "backend": args.backend, "epochs": args.epochs, "trials": len(after), "wall_s": round(wall, 1),
        "rss_mb_after": {str(n): round(after[n - 1], 1) for n in (1, 10, 50, len(after)) if n <= len(after)},
        "growth_10_to_last_mb": round(last - tenth, 1),
        "growth_10_to_last_pct": round((last - tenth) / tenth * 100, 1),
        "mb_per_trial_after_10": round((last - tenth) / max(1, len(after) - 10), 2),
    }
    print(json.dumps(line, indent=1))
    with RESULTS.open("a") as out:
        out.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
