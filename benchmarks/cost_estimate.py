"""How close the epoch time estimated from a model's shape (search/cost.py) is to the measured one.

For the space's default configuration and N random ones (seeded), build the model, estimate one
epoch on TRAIN training and the validation samples, then train one epoch and time it (the first
epoch's tracing excluded: a warm-up epoch on a few batches runs first). Prints measured / estimated
per configuration and the spread; appends a JSON line to benchmarks/results.jsonl.

    python benchmarks/cost_estimate.py --space mnist_cnn --configs 8 --train 6000
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).with_name("results.jsonl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="mnist_cnn")
    parser.add_argument("--configs", type=int, default=8)
    parser.add_argument("--train", type=int, default=6000, help="training samples per epoch")
    parser.add_argument("--max-estimate", type=float, default=60.0,
                        help="skip configurations estimated above this many seconds per epoch")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import keras

    from hpsearch.search import cost, training
    from hpsearch.spaces.catalog import get_space
    from hpsearch.spaces.data.mnist import DataOptions, load_dataset

    space = get_space(args.space)
    dataset = load_dataset(space.dataset, DataOptions(train_samples=args.train))
    data = training.TrainingData(dataset.x_train, dataset.y_train, dataset.x_val, dataset.y_val)
    started = time.perf_counter()
    speed = cost.MachineSpeed.measure(dataset.input_shape, dataset.num_classes)
    calibration = time.perf_counter() - started
    print(f"calibration {calibration:.1f} s: {speed.to_dict()}")
    rng = random.Random(args.seed)
    configs = [space.default_values()] + [space.random_values(rng) for _ in range(args.configs)]
    rows = []
    for values in configs:
        keras.backend.clear_session()
        model = training.build_model(space.load_builder(), values, dataset.input_shape, dataset.num_classes, 0)
        batch_size = training.batch_size_of(space, values)
        forward = cost.forward_cost(model)
        estimate = speed.epoch_seconds(forward, len(dataset.x_train), len(dataset.x_val), batch_size)
        if estimate > args.max_estimate:
            print(f"skip  est {estimate:7.1f} s  {forward.describe()}")
            rows.append({"estimate": estimate, "measured": None})
            continue
        # Warm-up: trace the train and test functions on a few batches.
        model.fit(data.train_batches(batch_size, 0).take(3), validation_data=data.validation_batches(batch_size).take(1),
                  epochs=1, verbose=0)
        t0 = time.perf_counter()
        # With a per-batch callback, as a trial has (its monitor): Keras then runs batch by batch.
        training.fit(model, data, batch_size, 1, shuffle_seed=0,
                     callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: None)])
        measured = time.perf_counter() - t0
        rows.append({"estimate": estimate, "measured": measured, "mflops": forward.flops / 1e6,
                     "batch_size": batch_size})
        print(f"est {estimate:7.2f} s  measured {measured:7.2f} s  ratio {measured / estimate:5.2f}  "
              f"{forward.describe()}, batch {batch_size}")
    ratios = [r["measured"] / r["estimate"] for r in rows if r["measured"]]
    summary = {
        "benchmark": "cost_estimate", "space": args.space, "train": args.train, "configs": len(rows),
        "calibration_s": round(calibration, 2), "speed": speed.to_dict(),
        "ratio_median": round(statistics.median(ratios), 3), "ratio_min": round(min(ratios), 3),
        "ratio_max": round(max(ratios), 3), "measured": len(ratios),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    print(f"measured / estimated: median {summary['ratio_median']}, range {summary['ratio_min']}-"
          f"{summary['ratio_max']} over {len(ratios)} configurations")
    with RESULTS.open("a") as out:
        out.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
