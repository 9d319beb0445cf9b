"""Benchmark 2: hpsearch against a plain Keras Tuner script and a plain Optuna script, same space.

    python benchmarks/plain_scripts.py [--trials 8] [--epochs 5] [--rounds 3]

The scripts are what a user writes by hand (below: `kt_script`, `optuna_script`): a `build_model(hp)`
for a digits MLP with the parameters and ranges of hpsearch's `digits_mlp` space (1-3 dense layers of
32-512 units, activation, batch norm, dropout, learning rate; batch size 64 for all, since a plain
`tuner.search` cannot vary it), `kt.RandomSearch(...).search(...)` and an Optuna objective calling
`model.fit` on a SQLite study with a median pruner. hpsearch runs `hpsearch start digits_mlp --backend
random` and `--backend tpe` with batch size fixed the same way. Every run is a fresh process (the
TensorFlow import and the data loading are left out of the figures), the four interleaved in each
round. Printed per tool, median over rounds: wall time of the search, total time inside `model.fit`,
wall / fit, and the time outside `fit` per trial (what the tool itself costs). One JSON line per tool
goes to benchmarks/results.jsonl.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("results.jsonl")
BATCH_SIZE = 64
TOOLS = ("keras-tuner", "optuna", "hpsearch-random", "hpsearch-tpe")


def digits() -> tuple[Any, Any, Any, Any]:
    """scikit-learn's digits as hpsearch splits them (train / validation), pixels in [0, 1]."""
    from hpsearch.spaces.data.mnist import DataOptions, load_dataset

    data = load_dataset("digits", DataOptions())
    return data.x_train, data.y_train, data.x_val, data.y_val


def mlp(values: dict[str, Any], input_shape: tuple[int, ...]) -> Any:
    """The model a user would write for these parameters (hpsearch's digits_mlp builds the same)."""
    import keras
    from keras import layers

    x = inputs = keras.Input(input_shape)
    x = layers.Flatten()(x)
    for index in range(1, values["dense_layers"] + 1):
        x = layers.Dense(values[f"units_{index}"], use_bias=not values["batch_norm"])(x)
        if values["batch_norm"]:
            x = layers.BatchNormalization()(x)
        x = layers.Activation(values["activation"])(x)
        if values["dropout"] > 0:
            x = layers.Dropout(values["dropout"])(x)
    model = keras.Model(inputs, layers.Dense(10, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=values["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class FitTimer:
    """Seconds spent inside ``keras.Model.fit``, whoever calls it."""

    def __init__(self) -> None:
        import keras

        self.seconds = 0.0
        self.calls = 0
        original = keras.Model.fit

        def timed(model: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(model, *args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started
                self.calls += 1

        keras.Model.fit = timed


def kt_script(args: argparse.Namespace, folder: Path) -> float:
    import keras_tuner as kt

    x, y, x_val, y_val = digits()

    def build_model(hp: Any) -> Any:
        depth = hp.Int("dense_layers", 1, 3, default=2)
        values = {"dense_layers": depth}
        for index in range(1, 4):
            with hp.conditional_scope("dense_layers", list(range(index, 4))):
                units = hp.Int(f"units_{index}", 32, 512, step=32, default=128)
            if index <= depth:
                values[f"units_{index}"] = units
        values["activation"] = hp.Choice("activation", ["relu", "tanh", "sigmoid", "leaky_relu"])
        values["batch_norm"] = hp.Boolean("batch_norm")
        values["dropout"] = hp.Float("dropout", 0.0, 0.5, step=0.1, default=0.2)
        values["learning_rate"] = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log", default=1e-3)
        return mlp(values, x.shape[1:])

    tuner = kt.RandomSearch(build_model, objective="val_accuracy", max_trials=args.trials, seed=args.seed,
                            directory=str(folder), project_name="plain", overwrite=True)
    started = time.perf_counter()
    tuner.search(x, y, epochs=args.epochs, batch_size=BATCH_SIZE, validation_data=(x_val, y_val), verbose=0)
    return time.perf_counter() - started


def optuna_script(args: argparse.Namespace, folder: Path) -> float:
    import keras
    import optuna

    x, y, x_val, y_val = digits()

    class Report(keras.callbacks.Callback):
        def __init__(self, trial: optuna.Trial) -> None:
            super().__init__()
            self.trial = trial

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            self.trial.report(logs["val_accuracy"], epoch + 1)
            if self.trial.should_prune():
                self.model.stop_training = True
                self.trial.set_user_attr("pruned", True)

    def objective(trial: optuna.Trial) -> float:
        depth = trial.suggest_int("dense_layers", 1, 3)
        values: dict[str, Any] = {"dense_layers": depth}
        for index in range(1, depth + 1):
            values[f"units_{index}"] = trial.suggest_int(f"units_{index}", 32, 512, step=32)
        values["activation"] = trial.suggest_categorical("activation", ["relu", "tanh", "sigmoid", "leaky_relu"])
        values["batch_norm"] = trial.suggest_categorical("batch_norm", [False, True])
        values["dropout"] = trial.suggest_float("dropout", 0.0, 0.5, step=0.1)
        values["learning_rate"] = trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True)
        model = mlp(values, x.shape[1:])
        history = model.fit(x, y, epochs=args.epochs, batch_size=BATCH_SIZE, validation_data=(x_val, y_val),
                            verbose=0, callbacks=[Report(trial)])
        keras.backend.clear_session()
        if trial.user_attrs.get("pruned"):
            raise optuna.TrialPruned()
        return max(history.history["val_accuracy"])

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", storage=f"sqlite:///{folder / 'plain.db'}",
                                sampler=optuna.samplers.TPESampler(seed=args.seed),
                                pruner=optuna.pruners.MedianPruner())
    started = time.perf_counter()
    study.optimize(objective, n_trials=args.trials)
    return time.perf_counter() - started


def hpsearch_search(args: argparse.Namespace, folder: Path, backend: str) -> float:
    import dataclasses

    from hpsearch.search.session import SearchSession, StartRequest, plan_start
    from hpsearch.spaces.catalog import get_space
    from hpsearch.spaces.space import Space

    # Batch size fixed as in the plain scripts: without a batch_size parameter, the space's default.
    definition = get_space("digits_mlp").to_dict()
    definition["params"] = [p for p in definition["params"] if p["name"] != "batch_size"]
    fixed = Space.from_dict({**definition, "default_batch_size": BATCH_SIZE})
    plan = plan_start(StartRequest(space="digits_mlp", backend=backend, study="plain",
                                   storage=f"sqlite:///{folder / 'hp.db'}", trials=args.trials,
                                   max_epochs=args.epochs, seed=args.seed, unlimited_time=True))
    plan = dataclasses.replace(plan, space=fixed, meta=dataclasses.replace(plan.meta, space=fixed.to_dict()))
    session = SearchSession.create(plan)
    started = time.perf_counter()
    session.runner.run(session.budget())
    return time.perf_counter() - started


def run_tool(args: argparse.Namespace) -> dict[str, Any]:
    """One tool's search in this process: wall time of the search and the time inside ``fit``."""
    folder = Path(tempfile.mkdtemp(prefix="hpsearch-plain-"))
    os.chdir(folder)
    import keras  # noqa: F401 - imported before the clock starts, as in every variant

    fits = FitTimer()
    if args.role == "keras-tuner":
        wall = kt_script(args, folder)
    elif args.role == "optuna":
        wall = optuna_script(args, folder)
    else:
        wall = hpsearch_search(args, folder, args.role.removeprefix("hpsearch-"))
    return {"wall_s": wall, "fit_s": fits.seconds, "fits": fits.calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--label", default="")
    parser.add_argument("--role", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        print(json.dumps(run_tool(args)))
        return
    runs: dict[str, list[dict[str, Any]]] = {tool: [] for tool in TOOLS}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for round_number in range(args.rounds):
        for tool in TOOLS:
            command = [sys.executable, __file__, "--role", tool, "--seed", str(round_number),
                       "--trials", str(args.trials), "--epochs", str(args.epochs)]
            done = subprocess.run(command, capture_output=True, text=True, env=env)
            if done.returncode != 0:
                raise SystemExit(f"{tool} failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            runs[tool].append(result)
            print(f"  round {round_number + 1} {tool}: wall {result['wall_s']:.2f} s, fit {result['fit_s']:.2f} s "
                  f"({result['fits']} fits)", flush=True)
    print("\n| tool | wall s | fit s | wall / fit | outside fit per trial |")
    print("|---|---:|---:|---:|---:|")
    lines = []
    for tool, results in runs.items():
        wall = statistics.median(r["wall_s"] for r in results)
        fit = statistics.median(r["fit_s"] for r in results)
        outside = statistics.median((r["wall_s"] - r["fit_s"]) / args.trials * 1000 for r in results)
        ratio = statistics.median(r["wall_s"] / r["fit_s"] for r in results)
        print(f"| {tool} | {wall:.2f} | {fit:.2f} | {ratio:.3f} | {outside:.0f} ms |")
        lines.append({"benchmark": "plain_scripts", "date": _dt.date.today().isoformat(), "label": args.label,
                      "tool": tool, "trials": args.trials, "epochs": args.epochs, "rounds": args.rounds,
                      "wall_s": [round(r["wall_s"], 2) for r in results],
                      "fit_s": [round(r["fit_s"], 2) for r in results],
                      "wall_over_fit_median": round(ratio, 3), "outside_fit_ms_per_trial_median": round(outside, 1)})
    with RESULTS.open("a") as out:
        for line in lines:
            out.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
