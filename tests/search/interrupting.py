"""Start ``hpsearch`` in a subprocess and press Ctrl-C (SIGINT) once its first trial has a finished epoch."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import optuna

HPSEARCH = [sys.executable, "-c", "from hpsearch.search.cli.main import cli; cli()"]


def ctrl_c_after_first_epoch(args: list[str], study: str, storage: str, wait: float = 120) -> tuple[int, str, str]:
    """Run ``hpsearch *args``; SIGINT once trial 0 of ``study`` recorded an epoch (or after ``wait`` s).
    Returns ``(exit code, stdout, stderr)``."""
    process = subprocess.Popen([*HPSEARCH, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            trials = optuna.load_study(study_name=study, storage=storage).trials
        except KeyError:
            continue
        if trials and trials[0].intermediate_values:
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err
