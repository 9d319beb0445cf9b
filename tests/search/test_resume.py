"""Kill a search (SIGKILL, SIGINT) in the middle of a trial, resume it, and check nothing is lost.

For every backend: the budget ends exact, no finished trial runs again, the interrupted
configuration runs again (continuing from its last finished epoch), per-epoch values stay intact.
"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from hpsearch.search.backends import backend_names
from hpsearch.search.cli.main import cli
from hpsearch.storage import record

HPSEARCH = [sys.executable, "-c", "from hpsearch.search.cli.main import cli; cli()"]
# Hyperband's schedule with max_epochs=6 (factor 3): the reference trial (the default configuration,
# 6 epochs); bracket 1: 5 trials of 2 epochs, 2 promoted to 6; bracket 0: 3 trials of 6 epochs.
HYPERBAND_TRIALS = 11


def budget_args(backend: str) -> list[str]:
    if backend == "hyperband":
        return ["--max-epochs", "6"]
    return ["--max-epochs", "8", "--trials", "3"]


def expected_trials(backend: str) -> int:
    return HYPERBAND_TRIALS if backend == "hyperband" else 3


def start_args(url: str, backend: str, study: str) -> list[str]:
    return ["start", "digits_mlp", "--backend", backend, "--storage", url, "--study", study, "--seed", "3",
            "--train-samples", "300", *budget_args(backend), "-q"]


def load(url: str, study: str) -> list:
    return optuna.load_study(study_name=study, storage=url).get_trials(deepcopy=False)


def interrupt_mid_trial(url: str, backend: str, study: str, sig: int) -> subprocess.CompletedProcess:
    """Start a search in a child process and send ``sig`` once a later trial is mid-training."""
    process = subprocess.Popen([*HPSEARCH, *start_args(url, backend, study)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                trials = load(url, study)
            except Exception:  # noqa: BLE001 - the study may not exist yet, or the database is busy
                continue
            finished = [t for t in trials if t.state.is_finished()]
            # Optuna reads a trial's tables one query after another: its attrs may already count epochs
            # whose values the earlier query did not see (digits epochs take milliseconds).
            running = [t for t in trials if t.state == TrialState.RUNNING and t.user_attrs.get("epochs_trained", 0) >= 2
                       and t.intermediate_values
                       and max(t.intermediate_values) + 2 < t.user_attrs.get("target_epochs", 0)]
            if finished and running:
                process.send_signal(sig)
                break
        else:
            pytest.fail("the search never reached a trial in the middle of training")
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def snapshot(trials) -> dict:
    return {t.number: (t.state, t.value, t.params, dict(t.intermediate_values)) for t in trials if t.state.is_finished()}


# SIGKILL for one backend of each kind of state, to keep the suite's time in check: Optuna samplers
# whose state is the trials (TPE; Optuna's random sampler and BOHB keep theirs there too), CMA-ES (its
# optimizer in trial system attributes), QMC (its sequence position in a study attribute), Keras
# Tuner's oracle state in the study (random search; Bayesian optimization saves the same state) and
# Hyperband's brackets; grid is killed twice in test_deterministic_backends_resume_... Ctrl-C is
# handled by the runner alike for all of them, so it is tried on one backend of each family
# (Hyperband's promotions included).
COVERED_ELSEWHERE = {"grid", "optuna-random", "bohb", "bayesian"}
INTERRUPTS = [(backend, signal.SIGKILL) for backend in backend_names() if backend not in COVERED_ELSEWHERE] + [
    ("hyperband", signal.SIGINT), ("tpe", signal.SIGINT)]


@pytest.mark.parametrize(("backend", "sig"), INTERRUPTS,
                         ids=[f"{b}-{'SIGKILL' if s == signal.SIGKILL else 'SIGINT'}" for b, s in INTERRUPTS])
def test_resume_after_an_interrupt_loses_and_repeats_nothing(backend, sig, sqlite_url, tmp_path):
    study = f"kill-{backend}"
    stopped = interrupt_mid_trial(sqlite_url, backend, study, sig)
    if sig == signal.SIGINT:
        assert stopped.returncode == 130, stopped.stderr
        assert f"hpsearch resume {study}" in stopped.stderr
    else:
        assert stopped.returncode == -signal.SIGKILL
    before = load(sqlite_url, study)
    finished_before = snapshot(before)
    cut = [t for t in before if t.state == TrialState.RUNNING or t.user_attrs.get("interrupted")]
    assert len(cut) == 1, [(t.number, t.state) for t in before]
    cut = cut[0]

    resumed = CliRunner().invoke(cli, ["resume", study, "--storage", sqlite_url, "-q"])
    assert resumed.exit_code == 0, resumed.output
    assert f"interrupted trials to run again: {cut.number}" in resumed.output

    after = load(sqlite_url, study)
    assert all(t.state.is_finished() for t in after)
    # Nothing finished before the interrupt changed or ran again.
    assert {n: v for n, v in snapshot(after).items() if n in finished_before} == finished_before
    interrupted = after[cut.number]
    assert interrupted.state == TrialState.FAIL and interrupted.user_attrs["interrupted"] is True
    assert interrupted.user_attrs["fail_reason"].startswith("interrupted: ")
    # The budget ends exact: interrupted trials are replaced, not counted.
    counted = [t for t in after if not t.user_attrs.get("interrupted")]
    assert len(counted) == expected_trials(backend)
    # The interrupted configuration ran again, once, continuing from its last finished epoch.
    reruns = [t for t in after if t.user_attrs.get("retry_of") == cut.number]
    assert len(reruns) == 1
    rerun = reruns[0]
    assert rerun.params == interrupted.params
    if backend == "hyperband":
        for key in ("backend_trial_id", "hyperband_bracket", "hyperband_round", "hyperband_reference",
                    "target_epochs", "initial_epoch"):
            assert rerun.user_attrs.get(key) == interrupted.user_attrs.get(key)
    kept = dict(interrupted.intermediate_values)
    carried = record.copied_steps(rerun)
    start = interrupted.user_attrs["initial_epoch"]
    notes = sorted(str(p.relative_to(tmp_path)) + ": " + p.read_text()
                   for p in tmp_path.glob(f"hpsearch-artifacts/{study}/checkpoints/trial-{cut.number:05d}/*.json"))
    context = (carried, kept, interrupted.params, rerun.params, interrupted.user_attrs, rerun.user_attrs, notes)
    if interrupted.user_attrs["epochs_trained"] >= 1:
        # It continued from the interrupted trial's checkpoint: at least one of that trial's own epochs
        # is carried over (same values), and only the epochs after it were trained again.
        assert carried and max(carried) > start, context
    else:
        # The signal landed before the trial's first own epoch ended (the trial seen mid-training had
        # finished by then): nothing of its own to continue from, so it trains again from its start.
        assert all(step <= start for step in carried), context
    for step in carried:
        assert rerun.intermediate_values[step] == kept[step]
    if rerun.state == TrialState.COMPLETE:
        assert sorted(rerun.intermediate_values) == list(range(1, rerun.user_attrs["target_epochs"] + 1))
        assert rerun.user_attrs["epochs_trained"] == rerun.user_attrs["target_epochs"] - max(carried, default=0)
    # No configuration finished twice (Keras Tuner backends: one finished trial per oracle trial).
    if backend in ("hyperband", "random", "bayesian", "grid"):
        ids = Counter(t.user_attrs["backend_trial_id"] for t in counted)
        assert max(ids.values()) == 1


def kill_at_random_moments(url: str, backend: str, study: str, kills: int, seed: int) -> None:
    """SIGKILL the search ``kills`` times, each at a random moment of a (re)started process."""
    rng = random.Random(seed)
    for kill in range(kills):
        command = start_args(url, backend, study) if kill == 0 else ["resume", study, "--storage", url, "-q"]
        process = subprocess.Popen([*HPSEARCH, *command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while kill == 0 and time.monotonic() < deadline:  # the study must exist before the first kill
            time.sleep(0.1)
            try:
                load(url, study)
                break
            except Exception:  # noqa: BLE001 - not created yet, or the database is busy
                continue
        time.sleep(rng.uniform(0.5, 6.0))
        process.kill()
        process.wait(timeout=60)


@pytest.mark.parametrize("backend", ["hyperband", "grid"])
def test_deterministic_backends_resume_to_the_same_schedule_as_an_uninterrupted_run(backend, sqlite_url):
    kill_at_random_moments(sqlite_url, backend, "cut", kills=2, seed=len(backend))
    assert CliRunner().invoke(cli, ["resume", "cut", "--storage", sqlite_url, "-q"]).exit_code == 0
    cut = load(sqlite_url, "cut")
    assert all(t.state.is_finished() for t in cut)
    counted = [t for t in cut if not t.user_attrs.get("interrupted")]
    assert len(counted) == expected_trials(backend)
    assert max(Counter(t.user_attrs["backend_trial_id"] for t in counted).values()) == 1
    whole = CliRunner().invoke(cli, start_args(sqlite_url, backend, "whole"))
    assert whole.exit_code == 0, whole.output

    def schedule(study):
        counted = [t for t in load(sqlite_url, study) if not t.user_attrs.get("interrupted")]
        if backend == "grid":
            return sorted(repr(sorted(t.params.items())) for t in counted)
        return sorted((t.user_attrs.get("hyperband_bracket", -1), t.user_attrs.get("hyperband_round", -1),
                       t.user_attrs["initial_epoch"], t.user_attrs["target_epochs"]) for t in counted)

    assert schedule("cut") == schedule("whole")


def test_resume_extends_the_budget_when_asked(sqlite_url):
    args = ["start", "digits_mlp", "--backend", "tpe", "--storage", sqlite_url, "--study", "more",
            "--trials", "2", "--max-epochs", "1", "-q"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    again = CliRunner().invoke(cli, ["resume", "more", "--storage", sqlite_url, "-q"])
    assert "Stopped: trial budget reached (2 trials). 0 trials" in again.output
    extended = CliRunner().invoke(cli, ["resume", "more", "--storage", sqlite_url, "--trials", "3", "-q"])
    assert "Stopped: trial budget reached (5 trials). 3 trials" in extended.output
    assert len(load(sqlite_url, "more")) == 5


def test_resuming_a_study_whose_budget_is_spent_answers_without_tensorflow(sqlite_url):
    from tests.fresh_process import heavy_modules_loaded

    args = ["start", "digits_mlp", "--backend", "tpe", "--storage", sqlite_url, "--study", "done",
            "--trials", "2", "--max-epochs", "1", "-q"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    resume = ["resume", "done", "--storage", sqlite_url, "-q"]
    assert heavy_modules_loaded([resume], exit_codes=(0,), output_prefix="Stopped: trial budget reached (2 trials). "
                                "0 trials run") == []
    result = CliRunner().invoke(cli, resume)
    best = optuna.load_study(study_name="done", storage=sqlite_url).best_trial
    assert f"Best trial {best.number}: val_accuracy {best.value:.4f}" in result.output
    # An extension of the budget trains, through the full path.
    assert len(load(sqlite_url, "done")) == 2
    extended = CliRunner().invoke(cli, [*resume, "--trials", "1"])
    assert extended.exit_code == 0 and len(load(sqlite_url, "done")) == 3


def test_resume_refuses_a_changed_space_or_another_version(sqlite_url):
    args = ["start", "digits_mlp", "--backend", "tpe", "--storage", sqlite_url, "--study", "old",
            "--trials", "1", "--max-epochs", "1", "-q"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    storage = optuna.storages.RDBStorage(sqlite_url)
    study_id = storage.get_study_id_from_name("old")
    stored = storage.get_study_system_attrs(study_id)
    space = stored["hpsearch:space"]
    changed = {**space, "params": [{**p, "high": 256} if p["name"] == "units_1" else p for p in space["params"]]}
    storage.set_study_system_attr(study_id, "hpsearch:space", changed)
    result = CliRunner().invoke(cli, ["resume", "old", "--storage", sqlite_url])
    assert result.exit_code == 1
    assert ("Error: Space 'digits_mlp' changed since the study was created: "
            "units_1: int 32..256 step 32 -> int 32..512 step 32.") in result.output
    storage.set_study_system_attr(study_id, "hpsearch:space", space)
    storage.set_study_system_attr(study_id, "hpsearch:meta", {**stored["hpsearch:meta"], "hpsearch_version": "0.0.1"})
    result = CliRunner().invoke(cli, ["resume", "old", "--storage", sqlite_url])
    assert result.exit_code == 1 and "created with hpsearch 0.0.1" in result.output
    assert len(load(sqlite_url, "old")) == 1


def test_a_study_whose_stored_space_has_no_defaults_resumes(sqlite_url):
    # Studies made before parameters had defaults: the default picks the first trial only.
    args = ["start", "digits_mlp", "--backend", "tpe", "--storage", sqlite_url, "--study", "nodefaults",
            "--trials", "1", "--max-epochs", "1", "-q"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    storage = optuna.storages.RDBStorage(sqlite_url)
    study_id = storage.get_study_id_from_name("nodefaults")
    space = storage.get_study_system_attrs(study_id)["hpsearch:space"]
    assert any("default" in p for p in space["params"])
    bare = {**space, "params": [{k: v for k, v in p.items() if k != "default"} for p in space["params"]]}
    storage.set_study_system_attr(study_id, "hpsearch:space", bare)
    result = CliRunner().invoke(cli, ["resume", "nodefaults", "--storage", sqlite_url, "--trials", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert len(load(sqlite_url, "nodefaults")) == 2


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(["resume", "x"], "No hpsearch database at hpsearch.db"),
     (["resume", "x", "--trials", "0"], "--trials must be > 0, but got 0.")],
)
def test_resume_bad_input_is_one_line(args, fragment, isolated):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1 and fragment in result.output and result.output.count("\n") == 1
    assert list(isolated.iterdir()) == []
