"""Benchmark 1: hpsearch against the hand-written `model.fit` loop, at equal work.

    python benchmarks/loop_ratio.py [--space digits_mlp] [--trials 8] [--epochs 5] [--pairs 3]
        [--train-samples N] [--backend random] [--storage sqlite|URL]

Each pair runs, in fresh processes one after the other (A/B interleaved over the pairs):
  A. an hpsearch search (a new study, seed = pair number, no time limits), timed around its trial
     loop; the process also times hpsearch's own work by wrapping its functions (see BREAKDOWN);
  B. the plain loop a user would write: the trials' parameters and epochs read back from A's study,
     each model built by the same builder, trained by `model.fit` with the same batch size, epochs
     and validation data, then `keras.backend.clear_session()`.
Both exclude the TensorFlow import and data loading. Printed: the median ratio A/B of wall times
(<= 0.9 is the issue's target), hpsearch's own milliseconds per trial (A - B), and the breakdown.
One JSON line per run goes to benchmarks/results.jsonl.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import inspect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results.jsonl")


class Timers:
    """Seconds and calls per label, by wrapping functions (nested labels each count their own time)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - started
                self.calls[label] += 1

        static = isinstance(inspect.getattr_static(owner, name), staticmethod)
        setattr(owner, name, staticmethod(timed) if static else timed)

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {label: {"s": round(s, 4), "calls": self.calls[label]} for label, s in sorted(self.seconds.items())}


def run_search(args: argparse.Namespace) -> dict[str, Any]:
    """Side A, in its own process: a fresh search, its trial loop timed and broken down."""
    import keras

    from hpsearch.search import cost
    from hpsearch.search import runner as runner_module
    from hpsearch.search import training
    from hpsearch.search.backends._base import Backend
    from hpsearch.search.monitor import TrialMonitor
    from hpsearch.search.recorder import TrialRecorder
    from hpsearch.search.recovery import Heartbeat
    from hpsearch.search.session import SearchSession, StartRequest, plan_start
    from hpsearch.spaces.catalog import get_space
    from hpsearch.storage.artifacts import TrialCheckpoints

    timers = Timers()
    timers.wrap(training, "fit", "fit (Keras, callbacks included)")
    timers.wrap(training, "build_model", "build model")
    timers.wrap(TrialMonitor, "on_epoch_end", "in fit: per-epoch callback (all of it)")
    timers.wrap(TrialMonitor, "on_train_batch_end", "in fit: per-batch callback")
    timers.wrap(TrialMonitor, "on_test_batch_end", "in fit: per-batch callback (validation)")
    timers.wrap(TrialRecorder, "record_epoch", "  of which: storage writes per epoch")
    timers.wrap(TrialCheckpoints, "save", "checkpoint: Keras weights file")
    if hasattr(TrialCheckpoints, "save_state"):  # training states (since 0.2 + issue 8)
        timers.wrap(TrialCheckpoints, "save_state", "  of which: training state saves")
    timers.wrap(TrialRecorder, "__init__", "storage: trial start attrs")
    timers.wrap(TrialRecorder, "finish", "storage: trial end (attrs + tell)")
    timers.wrap(runner_module, "starting_point", "starting point")
    timers.wrap(runner_module, "publish_best_weights", "artifact upload (best weights)")
    timers.wrap(runner_module.SearchRunner, "_claim", "claim (recover + budget)")
    timers.wrap(keras.backend, "clear_session", "clear_session")
    timers.wrap(Heartbeat, "__enter__", "heartbeat start")
    timers.wrap(Heartbeat, "__exit__", "heartbeat stop")
    timers.wrap(cost.MachineSpeed, "measure", "epoch cost calibration (once per process)")
    plan = plan_start(StartRequest(
        space=args.space, backend=args.backend, study=args.study, storage=args.url, trials=args.trials,
        max_epochs=args.epochs, seed=args.seed, train_samples=args.train_samples, unlimited_time=True,
        # an epoch limit where the space has one (its user pays for the calibration too), but one never
        # reached (1e9 s), so that no configuration is refused and the loop trains the same ones
        epoch_timeout=1e9 if get_space(args.space).budget.epoch_timeout else None,
        options={"pruner": "none"} if args.backend in PRUNING_BACKENDS else None,
    ))
    session = SearchSession.create(plan)
    backend_type: type[Backend] = type(session.backend)
    timers.wrap(backend_type, "ask", "backend ask")
    timers.wrap(backend_type, "tell", "backend tell")
    started = time.perf_counter()
    session.runner.run(session.budget())
    wall = time.perf_counter() - started
    return {"wall_s": wall, "timers": timers.as_dict(), "rss_mb": _rss_mb()}


PRUNING_BACKENDS = {"tpe", "bohb", "cmaes", "optuna-random", "qmc"}


def run_loop(args: argparse.Namespace) -> dict[str, Any]:
    """Side B, in its own process: A's configurations trained by a plain `model.fit` loop."""
    import keras
    import optuna
    from optuna.trial import TrialState

    from hpsearch.search import training
    from hpsearch.spaces.catalog import get_space
    from hpsearch.spaces.data.mnist import DataOptions, load_dataset
    from hpsearch.storage import record

    space = get_space(args.space)
    data = load_dataset(space.dataset, DataOptions(train_samples=args.train_samples))
    builder = space.load_builder()
    trials = [t for t in optuna.load_study(study_name=args.study, storage=args.url).get_trials(deepcopy=False)
              if t.state != TrialState.RUNNING]
    fit_s = build_s = clear_s = 0.0
    started = time.perf_counter()
    for trial in trials:
        epochs = int(trial.user_attrs.get(record.EPOCHS_TRAINED, 0))
        if epochs == 0:
            continue
        t0 = time.perf_counter()
        if args.seed is not None:
            keras.utils.set_random_seed(args.seed + trial.number)
        model = builder(dict(trial.params), data.input_shape, data.num_classes)
        batch_size = training.batch_size_of(space, trial.params)
        # what the hand-written loop would write for the same schedule: Keras' CosineDecay over the epochs
        training.schedule_learning_rate(model, trial.params, epochs, training.steps_per_epoch(len(data.x_train), batch_size))
        t1 = time.perf_counter()
        model.fit(data.x_train, data.y_train, batch_size=batch_size, epochs=epochs,
                  validation_data=(data.x_val, data.y_val), verbose=0)
        t2 = time.perf_counter()
        keras.backend.clear_session()
        t3 = time.perf_counter()
        build_s, fit_s, clear_s = build_s + t1 - t0, fit_s + t2 - t1, clear_s + t3 - t2
    wall = time.perf_counter() - started
    return {"wall_s": wall, "timers": {"fit": {"s": round(fit_s, 4)}, "build model": {"s": round(build_s, 4)},
                                       "clear_session": {"s": round(clear_s, 4)}},
            "trials": len(trials), "epochs": sum(int(t.user_attrs.get(record.EPOCHS_TRAINED, 0)) for t in trials),
            "rss_mb": _rss_mb()}


def _rss_mb() -> float:
    from hpsearch.search.memory import resident_mb

    return round(resident_mb(), 1)


def _side(role: str, args: argparse.Namespace, study: str, seed: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--role", role, "--study", study, "--seed", str(seed), "--url", args.url,
               "--space", args.space, "--backend", args.backend, "--trials", str(args.trials),
               "--epochs", str(args.epochs)]
    if args.train_samples is not None:
        command += ["--train-samples", str(args.train_samples)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{role} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run ``args.pairs`` A/B pairs; returns the summary line (also appended to results.jsonl)."""
    pairs = []
    for pair in range(args.pairs):
        study = f"loop-ratio-{args.space}-{pair}-{os.getpid()}-{time.time_ns() % 10**6}"
        a = _side("search", args, study, seed=pair)
        b = _side("loop", args, study, seed=pair)
        pairs.append((a, b))
        print(f"  pair {pair + 1}: hpsearch {a['wall_s']:.2f} s, loop {b['wall_s']:.2f} s, "
              f"ratio {a['wall_s'] / b['wall_s']:.3f}", flush=True)
    ratios = [a["wall_s"] / b["wall_s"] for a, b in pairs]
    trials = statistics.median(b["trials"] for _, b in pairs)
    own_ms = [(a["wall_s"] - b["wall_s"]) / b["trials"] * 1000 for a, b in pairs]
    median_a = sorted(pairs, key=lambda p: p[0]["wall_s"])[len(pairs) // 2][0]
    per_trial = {label: round(v["s"] / trials * 1000, 1) for label, v in median_a["timers"].items()}
    line = {
        "benchmark": "loop_ratio", "date": _dt.date.today().isoformat(), "space": args.space,
        "backend": args.backend, "storage": args.url.split(":", 1)[0], "trials": trials, "epochs": args.epochs,
        "train_samples": args.train_samples, "pairs": args.pairs, "label": args.label,
        "ratio_median": round(statistics.median(ratios), 3), "ratios": [round(r, 3) for r in ratios],
        "hpsearch_wall_s": [round(a["wall_s"], 2) for a, _ in pairs],
        "loop_wall_s": [round(b["wall_s"], 2) for _, b in pairs],
        "own_ms_per_trial_median": round(statistics.median(own_ms), 1),
        "loop_outside_fit_ms_per_trial": round(statistics.median(
            (b["wall_s"] - b["timers"]["fit"]["s"]) / b["trials"] * 1000 for _, b in pairs), 1),
        "hpsearch_ms_per_trial": per_trial,
        "loop_ms_per_trial": {label: round(v["s"] / trials * 1000, 1)
                              for label, v in sorted(pairs, key=lambda p: p[1]["wall_s"])[len(pairs) // 2][1]["timers"].items()},
    }
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="digits_mlp")
    parser.add_argument("--backend", default="random")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--train-samples", type=int, default=None)
    parser.add_argument("--storage", default="sqlite", help="sqlite (a new file) or a storage URL")
    parser.add_argument("--label", default="", help="a note stored with the result (e.g. 'before')")
    parser.add_argument("--role", choices=["search", "loop"], help=argparse.SUPPRESS)
    parser.add_argument("--study", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        result = run_search(args) if args.role == "search" else run_loop(args)
        print(json.dumps(result))
        return
    folder = Path(tempfile.mkdtemp(prefix="hpsearch-bench-"))
    os.chdir(folder)
    args.url = f"sqlite:///{folder / 'bench.db'}" if args.storage == "sqlite" else args.storage
    line = measure(args)
    print(json.dumps(line, indent=1))
    with RESULTS.open("a") as out:
        out.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
