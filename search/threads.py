"""The CPU threads TensorFlow may use in this process: workers on one machine share its cores.

``hpsearch start --workers N`` gives each of its N worker processes ``cores // N`` threads (through
``HPSEARCH_THREADS``); ``hpsearch worker --threads N`` sets them by hand. TensorFlow fixes its thread
pools when it first runs an operation, so ``limit_threads`` runs before any data or model exists.
"""
from __future__ import annotations

import os

THREADS_ENV = "HPSEARCH_THREADS"
_limited: int | None = None  # what limit_threads set in this process (handed to a memory-restarted one)


def cpu_cores() -> int:
    """The CPU cores this process may run on (its affinity: a container's or taskset's share)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def threads_from_env() -> int | None:
    """``HPSEARCH_THREADS`` as a number of threads; ``ValueError`` names the rule and the value."""
    text = os.environ.get(THREADS_ENV, "").strip()
    if not text:
        return None
    try:
        threads = int(text)
    except ValueError:
        threads = 0
    if threads < 1:
        raise ValueError(f"{THREADS_ENV} must be a whole number of threads of at least 1, not {text!r}.")
    return threads


def check_threads(threads: int | None, workers: int = 1, option: str = "--threads") -> None:
    """``ValueError`` unless ``workers`` processes of ``threads`` threads each fit this machine's cores."""
    cores = cpu_cores()
    if workers < 1:
        raise ValueError(f"--workers must be at least 1, not {workers}.")
    if workers > cores:
        raise ValueError(f"--workers {workers} exceeds this machine's {cores} CPU cores (each worker needs one); "
                         f"add workers on other machines with `hpsearch worker`.")
    if threads is None:
        return
    if threads < 1:
        raise ValueError(f"{option} must be at least 1, not {threads}.")
    if workers * threads > cores:
        what = f"{workers} workers x {threads} threads" if workers > 1 else f"{option} {threads}"
        raise ValueError(f"{what} exceeds this machine's {cores} CPU cores.")


def limited() -> int | None:
    """The threads ``limit_threads`` gave TensorFlow in this process, if it was called."""
    return _limited


def threads_per_worker(workers: int, threads: int | None = None) -> int:
    """Threads for each of ``workers`` local processes: ``threads`` or an equal share of the cores."""
    return threads if threads is not None else max(1, cpu_cores() // workers)


def limit_threads(threads: int) -> int:
    """Have TensorFlow use ``threads`` threads within and across operations; the number it reports.

    Call before TensorFlow runs anything (later, its pools are fixed and the call changes nothing)."""
    global _limited
    _limited = threads
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already started its pools in this process
        pass
    return tf.config.threading.get_intra_op_parallelism_threads() or cpu_cores()
