"""How true the ETA on the console is: one Hyperband run without a time budget, each trial's end line
timestamped as it arrives, then per trial: the seconds the run really had left, the ETA printed (epochs
left x seconds per epoch + trials left x a trial's own cost, search/eta.py), and what the old rule (trials
left x seconds per trial so far) would have said.

    python benchmarks/eta_accuracy.py                       # digits_cnn, max 9 epochs (24 trials, ~1 min)
    python benchmarks/eta_accuracy.py --space mnist_cnn --max-epochs 9 --train-samples 5000
"""
from __future__ import annotations

import argparse
import itertools
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

END_LINE = re.compile(r"^\[\s*(\d+)/(\d+)\] trial \d+ [A-Z]+.*\| ETA (\S+)")


def seconds(text: str) -> float | None:
    """``1m05s`` -> 65 (``?`` -> None): the console's format_seconds read back."""
    if text == "?":
        return None
    return float(sum(int(v) * {"h": 3600, "m": 60, "s": 1}[u] for v, u in re.findall(r"(\d+)([hms])", text)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="digits_cnn")
    parser.add_argument("--max-epochs", type=int, default=9)
    parser.add_argument("--train-samples", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        command = [sys.executable, "-c", "from hpsearch.search.cli.main import main; main()", "start", args.space,
                   "--backend", "hyperband", "--max-epochs", str(args.max_epochs), "-q",
                   "--storage", f"sqlite:///{Path(folder) / 'eta.db'}", "--study", "eta", "--seed", "0"]
        if args.train_samples:
            command += ["--train-samples", str(args.train_samples)]
        started = time.monotonic()
        rows = []
        with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=folder) as process:
            logical, arrived = "", 0.0  # a wrapped line's parts (continuations start with a blank)
            for line in itertools.chain(process.stdout, ["END\n"]):  # read as the lines come
                if line.startswith(" ") and logical:
                    logical, arrived = logical + " " + line.strip(), time.monotonic() - started
                    continue
                found = END_LINE.match(logical)
                if found:
                    rows.append((arrived, int(found[1]), int(found[2]), seconds(found[3])))
                logical, arrived = line.strip(), time.monotonic() - started
        ended = time.monotonic() - started
    print(f"{args.space}, hyperband, max {args.max_epochs} epochs: {len(rows)} trials in {ended:.0f} s")
    print("trial    true left   ETA printed   old rule (trials x s/trial)")
    for at, index, total, eta in rows:
        old = (total - index) * at / index
        printed = "?" if eta is None else f"{eta:.0f} s"
        print(f"{index:>3}/{total:<3} {ended - at:8.0f} s {printed:>11} {old:12.0f} s")


if __name__ == "__main__":
    main()
