"""Bounded memory: a grown search process is replaced by a fresh ``hpsearch resume`` of its study."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from hpsearch.search.cli.main import cli
from hpsearch.search.memory import (MEMORY_GROWTH_ENV, MIN_WORK_ENV, MIN_WORK_PER_RESTART, MemoryGuard,
                                    max_growth_from_env, min_work_from_env, resident_mb)
from hpsearch.storage import record

# The hpsearch program (``main``), which may replace its process; ``cli`` called from Python never does.
PROGRAM = [sys.executable, "-c", "from hpsearch.search.cli.main import main; main()"]


def test_the_allowed_growth_is_a_percentage_from_the_environment():
    assert max_growth_from_env({}) == pytest.approx(0.10)
    assert max_growth_from_env({MEMORY_GROWTH_ENV: "25"}) == pytest.approx(0.25)
    assert max_growth_from_env({MEMORY_GROWTH_ENV: " 5% "}) == pytest.approx(0.05)
    for off in ("0", "off", "OFF", "never"):
        assert max_growth_from_env({MEMORY_GROWTH_ENV: off}) is None
    for bad in ("-5", "ten", "inf", "nan"):
        with pytest.raises(ValueError, match=f"{MEMORY_GROWTH_ENV} must be a percentage above 0.*{bad!r}"):
            max_growth_from_env({MEMORY_GROWTH_ENV: bad})
    assert min_work_from_env({}) == MIN_WORK_PER_RESTART
    assert min_work_from_env({MIN_WORK_ENV: "0"}) == 0.0 and min_work_from_env({MIN_WORK_ENV: "2.5"}) == 2.5
    with pytest.raises(ValueError, match=MIN_WORK_ENV):
        min_work_from_env({MIN_WORK_ENV: "-1"})


def test_the_guard_asks_for_a_restart_only_once_memory_grew_and_enough_work_was_done():
    guard = MemoryGuard(max_growth=0.05, min_work_per_restart=0.0)
    assert guard.restart_reason() is None  # no trial yet: no baseline
    guard.trial_started()
    guard.trial_done()
    assert guard.baseline_mb == pytest.approx(resident_mb(), rel=0.05)
    assert guard.restart_reason() is None
    grown = bytearray(b"\x01") * int(guard.baseline_mb * 0.2 * 2**20)  # written, so resident
    reason = guard.restart_reason()
    assert reason is not None and f"from {guard.baseline_mb:.0f} MB" in reason and "in 1 trials" in reason
    # The same growth in a process that has not yet worked ten times its start-up time: go on.
    busy = MemoryGuard(max_growth=0.05, process_started=guard.process_started,
                       first_trial_started=guard.first_trial_started, baseline_mb=guard.baseline_mb,
                       min_work_per_restart=1e9)
    assert busy.restart_reason() is None
    del grown


def run_program(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PROGRAM, *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONUNBUFFERED": "1", **env})


@pytest.mark.slow
def test_a_grown_search_goes_on_in_a_fresh_process_and_ends_exactly_on_its_budget(sqlite_url):
    args = ["start", "digits_mlp", "--backend", "hyperband", "--max-epochs", "3", "--train-samples", "300",
            "--storage", sqlite_url, "--study", "grown", "--seed", "1", "-q"]
    done = run_program(args, **{MEMORY_GROWTH_ENV: "2", MIN_WORK_ENV: "0"})
    assert done.returncode == 0, done.stderr[-2000:]
    restarts = done.stdout.count("Restarting: memory grew from ")
    assert restarts >= 1, done.stdout
    assert done.stdout.count("fresh process ") == restarts
    assert done.stdout.count("study      grown") == 1  # the header once, the summary once
    assert done.stdout.count("Stopped: ") == 1 and " 7 trials in " in done.stdout
    trials = optuna.load_study(study_name="grown", storage=sqlite_url).get_trials(deepcopy=False)
    # Hyperband's whole schedule (the reference trial, then 6 trials for max_epochs 3), each
    # configuration once, none cut short.
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 7
    assert max(Counter(t.user_attrs["backend_trial_id"] for t in trials).values()) == 1
    assert not any(t.user_attrs.get(record.INTERRUPTED) for t in trials)
    promoted = [t for t in trials if t.user_attrs.get("initial_epoch", 0) > 0]
    assert promoted and all(record.copied_steps(t) for t in promoted)  # continued from their parents
    # The restarts kept the process (one PID, so `kill` and job control keep working).
    workers = {t.user_attrs[record.WORKER] for t in trials}
    assert len(workers) == 1, workers
    # A restart's start-up (TensorFlow imported, data loaded: seconds) is the search's time, which
    # --timeout counts: the first trial of each fresh process ends that much later in the study's time.
    at_end = [t.system_attrs[record.TRIAL_ELAPSED_AT_END] for t in trials]
    for before in map(int, re.findall(r"; (\d+) trials before it\)", done.stdout)):
        gap = at_end[before] - at_end[before - 1] - trials[before].user_attrs[record.TRAIN_SECONDS]
        assert gap > 1.0, (before, at_end, done.stdout)

    # The same search run from Python (``cli``, as a notebook or this test runner would) never restarts.
    in_process = CliRunner().invoke(cli, ["start", "digits_mlp", "--backend", "tpe", "--trials", "3",
                                          "--max-epochs", "1", "--train-samples", "300", "--storage", sqlite_url,
                                          "--study", "kept", "-q"],
                                    env={MEMORY_GROWTH_ENV: "1", MIN_WORK_ENV: "0"})
    assert in_process.exit_code == 0, in_process.output
    assert "Restarting" not in in_process.output and " 3 trials in " in in_process.output


def test_a_bad_growth_setting_is_one_line_before_anything_starts(sqlite_url):
    done = run_program(["start", "digits_mlp", "--backend", "tpe", "--storage", sqlite_url], **{MEMORY_GROWTH_ENV: "lots"})
    assert done.returncode == 1
    assert done.stderr.strip() == (f"Error: {MEMORY_GROWTH_ENV} must be a percentage above 0 (or 'off'), "
                                   f"but got 'lots'.")
    assert not os.path.exists(sqlite_url.removeprefix("sqlite:///"))
