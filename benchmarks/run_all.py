"""Run the benchmarks one after the other; each prints its figures and appends JSON lines to results.jsonl.

    python benchmarks/run_all.py --quick     # a few minutes: small sizes, 3 A/B pairs
    python benchmarks/run_all.py --full      # the README's figures: bigger sizes, 5 pairs
    python benchmarks/run_all.py --quick --only loop_ratio_digits

Measure on an otherwise idle machine: anything else running skews the timings (ratios of A/B pairs
run side by side are the figures to trust, not single wall times).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
POSTGRES = os.environ.get("HPSEARCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

# name -> (script, quick arguments, full arguments)
BENCHMARKS: dict[str, tuple[str, list[str], list[str]]] = {
    "loop_ratio_digits": ("loop_ratio.py",
                          ["--space", "digits_mlp", "--trials", "8", "--epochs", "5", "--pairs", "3"],
                          ["--space", "digits_mlp", "--trials", "16", "--epochs", "5", "--pairs", "5"]),
    "loop_ratio_mnist": ("loop_ratio.py",
                         ["--space", "mnist_cnn", "--train-samples", "5000", "--trials", "4", "--epochs", "2",
                          "--pairs", "3"],
                         ["--space", "mnist_cnn", "--train-samples", "10000", "--trials", "8", "--epochs", "3",
                          "--pairs", "5"]),
    "plain_scripts": ("plain_scripts.py", ["--trials", "6", "--epochs", "3", "--rounds", "3"],
                      ["--trials", "12", "--epochs", "5", "--rounds", "3"]),
    "memory": ("memory.py", ["--trials", "30"], ["--trials", "100"]),
    "concurrent_resume": ("concurrent_resume.py",
                          ["--processes", "1,2", "--backends", "random", "--trials", "8"],
                          ["--processes", "1,2,4", "--backends", "random,tpe,hyperband", "--trials", "8",
                           "--max-epochs", "4"]),
    "cost_estimate": ("cost_estimate.py", ["--configs", "4", "--train", "6000"],
                      ["--configs", "12", "--train", "50000"]),
    "time_to_accuracy": ("time_to_accuracy.py", ["--seeds", "1", "--timeout", "120", "--train-samples", "10000"],
                         ["--seeds", "5", "--retrain"]),
    "local_storage_workers": ("local_storage_workers.py", ["--trials", "100"],
                              ["--trials", "500", "--processes", "1,2,4,8"]),
    "eta_accuracy": ("eta_accuracy.py", [], ["--space", "mnist_cnn", "--train-samples", "5000"]),
    "report_large_study": ("report_large_study.py", ["--trials", "2000", "--repeat", "1"],
                           ["--trials", "10000", "--repeat", "3"]),
    "report_large_study_postgres": ("report_large_study.py",
                                    ["--trials", "2000", "--repeat", "1", "--storage", POSTGRES],
                                    ["--trials", "10000", "--repeat", "3", "--storage", POSTGRES]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--quick", action="store_true")
    size.add_argument("--full", action="store_true")
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--label", default="", help="stored with each result line that takes one")
    args = parser.parse_args()
    chosen = [name for name in args.only.split(",") if name] or list(BENCHMARKS)
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; valid: {', '.join(BENCHMARKS)}")
    failed = []
    for name in chosen:
        script, quick, full = BENCHMARKS[name]
        command = [sys.executable, str(HERE / script), *(quick if args.quick else full)]
        if args.label and script == "loop_ratio.py":
            command += ["--label", args.label]
        print(f"== {name}: {' '.join(command[1:])}", flush=True)
        started = time.monotonic()
        if subprocess.run(command).returncode != 0:
            failed.append(name)
        print(f"== {name}: {time.monotonic() - started:.0f} s", flush=True)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
