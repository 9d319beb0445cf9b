"""Bounded memory for long searches: a search process is replaced by a fresh one once it has grown.

TensorFlow keeps 6-10 MB of every trained model after ``keras.backend.clear_session()`` (traced
functions held by its C++ runtime; neither ``gc`` nor ``malloc_trim`` gives them back), so a process
that trains hundreds of trials grows without bound. The runner asks a ``MemoryGuard`` between trials;
once the resident memory has grown by more than the allowed fraction since the process's first trial
(TensorFlow, the data and one model loaded), the run stops with ``RunSummary.recycle`` set, and the
CLI replaces the process (``os.execv``: same PID, same terminal) by ``hpsearch resume`` of the same
study, which goes on exactly where the study stands: the study is the whole state of a search.
"""
from __future__ import annotations

import os
import resource
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

MEMORY_GROWTH_ENV = "HPSEARCH_MAX_MEMORY_GROWTH"
DEFAULT_MAX_GROWTH = 0.10  # the process restarts once it holds 10% more than after its first trial
# Never restart a process that has trained for less than this many times what its start cost:
# a restart (TensorFlow imported, data loaded, backend rebuilt) costs seconds, so bounded memory never
# costs more than about 1/MIN_WORK_PER_RESTART of the search's time.
MIN_WORK_PER_RESTART = 10.0
MIN_WORK_ENV = "HPSEARCH_RESTART_MIN_WORK"  # overrides MIN_WORK_PER_RESTART (0: restart as soon as grown)


def resident_mb() -> float:
    """This process's resident memory in MB: current (Linux ``/proc``), else its peak (``getrusage``)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


def max_growth_from_env(environ: Mapping[str, str] = os.environ) -> float | None:
    """The allowed growth as a fraction from ``HPSEARCH_MAX_MEMORY_GROWTH`` (a percentage; ``0`` or
    ``off``: never restart); the default when unset. A value that is not a percentage is an error."""
    raw = environ.get(MEMORY_GROWTH_ENV, "").strip().rstrip("%").strip()
    if not raw:
        return DEFAULT_MAX_GROWTH
    if raw.lower() in ("0", "off", "never"):
        return None
    return _positive(raw, MEMORY_GROWTH_ENV, "a percentage above 0 (or 'off')") / 100


def min_work_from_env(environ: Mapping[str, str] = os.environ) -> float:
    """``MIN_WORK_PER_RESTART``, or its override from ``HPSEARCH_RESTART_MIN_WORK`` (0 allowed)."""
    raw = environ.get(MIN_WORK_ENV, "").strip()
    if not raw:
        return MIN_WORK_PER_RESTART
    return 0.0 if raw == "0" else _positive(raw, MIN_WORK_ENV, "a number of 0 or more")


def _positive(raw: str, name: str, rule: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (0 < value < float("inf")):
        raise ValueError(f"{name} must be {rule}, but got {raw!r}.")
    return value


@dataclass
class MemoryGuard:
    """Says when a process should give way to a fresh one: its memory grew past ``max_growth`` (a
    fraction of the memory after its first trial) and it has trained at least
    ``MIN_WORK_PER_RESTART`` times as long as it took to start (``process_started`` to first trial)."""

    max_growth: float
    process_started: float = field(default_factory=time.monotonic)
    min_work_per_restart: float = MIN_WORK_PER_RESTART
    first_trial_started: float | None = None
    baseline_mb: float | None = None
    trials: int = 0

    def trial_started(self) -> None:
        if self.first_trial_started is None:
            self.first_trial_started = time.monotonic()

    def trial_done(self) -> None:
        """Call after every trial: the first one sets the baseline."""
        self.trials += 1
        if self.baseline_mb is None:
            self.baseline_mb = resident_mb()

    def restart_reason(self) -> str | None:
        """Why this process should give way to a fresh one now; ``None`` to go on."""
        if self.baseline_mb is None or self.first_trial_started is None:
            return None
        now_mb = resident_mb()
        if now_mb <= self.baseline_mb * (1 + self.max_growth):
            return None
        startup = self.first_trial_started - self.process_started
        if time.monotonic() - self.first_trial_started < self.min_work_per_restart * startup:
            return None
        return (f"memory grew from {self.baseline_mb:.0f} MB to {now_mb:.0f} MB in {self.trials} trials "
                f"(TensorFlow keeps part of every model)")
