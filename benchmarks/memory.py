"""Benchmark 3: resident memory of a search as trials go by (RSS after trial 10 vs the last), with
hpsearch's process restarts (the default) and without them (`HPSEARCH_MAX_MEMORY_GROWTH=off`).

    python benchmarks/memory.py [--trials 100] [--space digits_mlp] [--backend random] [--epochs 2]

Each variant runs the `hpsearch` program (a subprocess, as a user would) on a new SQLite study of
scikit-learn's digits; the worker's RSS at the end of every trial is read back from the study
(`worker_memory_mb`). Prints, per variant, RSS after trials 1, 10, 50 and the last, the growth from
trial 10 to the last (the issue's target: < 10% over 100 trials), restarts and wall time; then the
wall-time ratio restarts/no restarts (what bounded memory costs). Appends a JSON line per variant to
benchmarks/results.jsonl.
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
from pathlib import Path

RESULTS = Path(__file__).with_name("results.jsonl")
PROGRAM = [sys.executable, "-c", "from hpsearch.search.cli.main import main; main()"]


def run_variant(args: argparse.Namespace, folder: Path, name: str, growth: str | None) -> dict:
    import optuna

    from hpsearch.storage import record

    url = f"sqlite:///{folder / 'bench.db'}"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if growth is not None:
        env["HPSEARCH_MAX_MEMORY_GROWTH"] = growth
    command = [*PROGRAM, "start", args.space, "--backend", args.backend, "--study", name, "--storage", url,
               "--trials", str(args.trials), "--max-epochs", str(args.epochs), "--seed", "0", "-q"]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder, env=env)
    wall = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{name}: hpsearch exited {done.returncode}: {done.stderr[-1000:]}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)
    rss = [t.user_attrs[record.WORKER_MEMORY_MB] for t in trials]
    tenth, last = rss[min(9, len(rss) - 1)], rss[-1]
    return {
        "benchmark": "memory", "date": _dt.date.today().isoformat(), "label": args.label, "variant": name,
        "space": args.space, "backend": args.backend, "epochs": args.epochs, "trials": len(trials),
        "restarts": done.stdout.count("Restarting: "), "wall_s": round(wall, 1),
        "rss_mb_after": {str(n): rss[n - 1] for n in (1, 10, 50, len(rss)) if n <= len(rss)},
        "rss_mb_max": max(rss),
        "growth_10_to_last_mb": round(last - tenth, 1),
        "growth_10_to_last_pct": round((last - tenth) / tenth * 100, 1),
        "growth_10_to_max_pct": round((max(rss[9:] or rss) - tenth) / tenth * 100, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--space", default="digits_mlp")
    parser.add_argument("--backend", default="random")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    lines = []
    for name, growth in (("restarts", None), ("no-restarts", "off")):
        folder = Path(tempfile.mkdtemp(prefix="hpsearch-bench-"))
        line = run_variant(args, folder, name, growth)
        print(json.dumps(line))
        lines.append(line)
    with RESULTS.open("a") as out:
        for line in lines:
            out.write(json.dumps(line) + "\n")
    on, off = lines
    print(f"RSS growth trial 10 -> {on['trials']}: {on['growth_10_to_last_pct']}% with restarts "
          f"({on['restarts']} restarts, max {on['growth_10_to_max_pct']}%), {off['growth_10_to_last_pct']}% without; "
          f"wall time ratio restarts/none {on['wall_s'] / off['wall_s']:.2f}")


if __name__ == "__main__":
    main()
