"""Time to accuracy of the headline command, `hpsearch start mnist_cnn --backend hyperband`, over seeds.

Runs the command as a user would (a subprocess, its own defaults: timeout, epoch limit, max_epochs
fitted to the timeout), one seed after the other, then reads each study: the best validation accuracy
at the end, the minutes (study time, at the end of the trial that first reached it) to each threshold,
the trials that failed and why, and optionally the winner retrained (`hpsearch retrain`) with its test
accuracy. Prints a table and appends one JSON line per seed to benchmarks/results.jsonl.

    python benchmarks/time_to_accuracy.py --seeds 5 --retrain        # the README's table (about 80 min)
    python benchmarks/time_to_accuracy.py --seeds 1 --timeout 120 --train-samples 10000   # a quick look
"""
from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results.jsonl")
THRESHOLDS = (0.985, 0.99, 0.992)


def hpsearch(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", "from hpsearch.search.cli.main import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True)


def study_figures(storage: str, name: str) -> dict:
    import optuna
    from optuna.trial import TrialState

    from hpsearch.storage import record
    from hpsearch.storage.studies import open_storage, study_meta

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=storage)
    trials = sorted(study.get_trials(deepcopy=False),
                    key=lambda t: t.system_attrs.get(record.TRIAL_ELAPSED_AT_END, float("inf")))
    reached: dict[str, float | None] = {f"{t:.3f}": None for t in THRESHOLDS}  # at the end of the trial
    reached_epoch: dict[str, float | None] = {f"{t:.3f}": None for t in THRESHOLDS}  # at the end of the epoch
    best = None
    for trial in trials:
        if trial.state != TrialState.COMPLETE or trial.value is None:
            continue
        best = trial.value if best is None else max(best, trial.value)
        times = record.epoch_elapsed(trial)
        for threshold in THRESHOLDS:
            key = f"{threshold:.3f}"
            if reached[key] is None and trial.value >= threshold:
                reached[key] = round(trial.system_attrs[record.TRIAL_ELAPSED_AT_END] / 60, 2)
            at = [times[step - 1] for step, value in trial.intermediate_values.items()
                  if value >= threshold and step - 1 < len(times) and times[step - 1] is not None]
            if at and (reached_epoch[key] is None or min(at) / 60 < reached_epoch[key]):
                reached_epoch[key] = round(min(at) / 60, 2)
    failed = collections.Counter()
    for trial in trials:
        if trial.state == TrialState.FAIL:
            reason = str(trial.user_attrs.get(record.FAIL_REASON, "?"))
            failed[reason.split(":")[0] + (": estimated" if "estimated" in reason else "")] += 1
    default = next((t for t in trials if t.user_attrs.get(record.DEFAULT_CONFIGURATION)), None)
    meta = study_meta(open_storage(storage), name)
    return {
        "best_val": best, "minutes_to": reached, "minutes_to_epoch": reached_epoch, "trials": len(trials),
        "complete": sum(t.state == TrialState.COMPLETE for t in trials), "failed": dict(failed),
        "default_value": None if default is None else default.value,
        "study_minutes": round(record.study_elapsed(
            study._storage.get_study_system_attrs(study._study_id)) / 60, 2),
        "max_epochs": meta.max_epochs if meta else None, "budget_fit": meta.budget_fit if meta else None,
        "best_trial": study.best_trial.number if best is not None else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--space", default="mnist_cnn")
    parser.add_argument("--backend", default="hyperband")
    parser.add_argument("--timeout", type=float, default=None, help="[default: the space's]")
    parser.add_argument("--train-samples", type=int, default=None)
    parser.add_argument("--retrain", action="store_true", help="retrain each winner and report its test accuracy")
    parser.add_argument("--folder", default=None, help="where the studies go [default: a new temporary folder]")
    parser.add_argument("--label", default="")
    args = parser.parse_args()

    folder = Path(args.folder or tempfile.mkdtemp(prefix="hpsearch-tta-"))
    folder.mkdir(parents=True, exist_ok=True)
    storage = f"sqlite:///{folder / 'tta.db'}"
    print(f"studies in {storage}")
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        name = f"tta-{args.backend}-s{seed}-{int(time.time())}"
        command = ["start", args.space, "--backend", args.backend, "--seed", str(seed), "--study", name,
                   "--storage", storage, "-q"]
        if args.timeout is not None:
            command += ["--timeout", str(args.timeout)]
        if args.train_samples is not None:
            command += ["--train-samples", str(args.train_samples)]
        started = time.monotonic()
        done = hpsearch(*command)
        wall = time.monotonic() - started
        if done.returncode != 0:
            print(f"seed {seed}: exit {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
            continue
        row = {"benchmark": "time_to_accuracy", "space": args.space, "backend": args.backend, "seed": seed,
               "wall_minutes": round(wall / 60, 2), "label": args.label,
               "restarts": done.stdout.count("Restarting: "), **study_figures(storage, name)}
        if args.retrain and row["best_trial"] is not None:
            retrained = hpsearch("retrain", name, "--storage", storage)
            row["retrain_output"] = retrained.stdout.strip().splitlines()[-3:]
            import optuna

            from hpsearch.storage import record

            trial = optuna.load_study(study_name=name, storage=storage).trials[row["best_trial"]]
            row["test_accuracy"] = trial.user_attrs.get(record.TEST_ACCURACY)
        row["time"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        rows.append(row)
        with RESULTS.open("a") as out:
            out.write(json.dumps(row) + "\n")
        reached = ", ".join(f"{k}: {row['minutes_to_epoch'][k] if row['minutes_to_epoch'][k] is not None else '-'} "
                            f"min (trial end {v if v is not None else '-'})" for k, v in row["minutes_to"].items())
        print(f"seed {seed}: best {row['best_val']:.4f} (default config {row['default_value']}), {reached}; "
              f"{row['trials']} trials, failed {row['failed'] or 0}; max_epochs {row['max_epochs']}; "
              f"{row['wall_minutes']} min wall" + (f"; retrained test {row.get('test_accuracy')}" if args.retrain else ""),
              flush=True)
    if rows:
        print("\nMinutes of study time at the end of the first epoch that reached the value (at the end of its trial):")
        print("| seed | best val | min to 98.5% | min to 99.0% | min to 99.2% | trials (failed) | test (retrain) |")
        print("|---|---|---|---|---|---|---|")
        for row in rows:
            m, e = row["minutes_to"], row["minutes_to_epoch"]
            cells = [(e[f"{t:.3f}"], m[f"{t:.3f}"]) for t in THRESHOLDS]
            print(f"| {row['seed']} | {row['best_val']:.4f} | "
                  + " | ".join("-" if c is None else f"{c} ({t})" for c, t in cells)
                  + f" | {row['trials']} ({sum(row['failed'].values())}) | {row.get('test_accuracy', '-')} |")


if __name__ == "__main__":
    main()
