"""Benchmark: loading a folder of image files, and a CSV list of the same files, with hpsearch.spaces.data.

    python benchmarks/load_images.py [--images 10000] [--size 32] [--classes 4] [--repeat 3]

Writes ``--images`` grayscale PNGs of ``--size`` x ``--size`` pixels (random noise) into ``--classes``
class folders under a temporary folder, and a CSV listing them; then, for each, times
``load(DataSpec(path))`` in a fresh Python process (nothing cached in memory by hpsearch; the files
themselves are in the OS page cache, having just been written) and prints seconds and images/s, plus
the import time of the package. ``--repeat`` runs each that many times and reports the best and the
median.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TIMER = """
import json, sys, time
started = time.perf_counter()
from hpsearch.spaces.data import DataSpec, load
imported = time.perf_counter()
data = load(DataSpec(sys.argv[1]))
done = time.perf_counter()
print(json.dumps({"import_s": imported - started, "load_s": done - imported,
                  "images": len(data.x_train) + len(data.x_val) + len(data.x_test), "shape": data.input_shape}))
"""


def write_images(root: Path, images: int, size: int, classes: int) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    rows = ["path,label"]
    for i in range(images):
        label = f"class_{i % classes}"
        path = root / "folder" / label / f"{i:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(path)
        rows.append(f"folder/{label}/{path.name},{label}")
    (root / "list.csv").write_text("\n".join(rows) + "\n")
    return root


def time_load(source: Path) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, "-c", TIMER, str(source)], capture_output=True, text=True, env=env)
    if run.returncode != 0:
        raise SystemExit(f"loading {source} failed:\n{run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hpsearch-load-images-") as folder:
        started = time.perf_counter()
        root = write_images(Path(folder), args.images, args.size, args.classes)
        print(f"wrote {args.images} {args.size}x{args.size} PNGs in {args.classes} class folders "
              f"({time.perf_counter() - started:.1f} s); {os.cpu_count()} CPUs")
        for name, source in (("folder", root / "folder"), ("csv list", root / "list.csv")):
            runs = [time_load(source) for _ in range(args.repeat)]
            loads = [r["load_s"] for r in runs]
            best, median = min(loads), statistics.median(loads)
            print(f"{name:9s}: load {best:.2f} s best / {median:.2f} s median of {len(runs)} "
                  f"({runs[0]['images'] / best:,.0f} images/s best), shape {tuple(runs[0]['shape'])}; "
                  f"package import {min(r['import_s'] for r in runs):.2f} s")


if __name__ == "__main__":
    main()
