"""The run's ETA: epochs left (budget, schedule, trials) x the seconds per epoch measured in the run."""
from __future__ import annotations

import time

import optuna
import pytest
from optuna.distributions import IntDistribution
from optuna.trial import TrialState, create_trial

from hpsearch.search.eta import EtaClock
from hpsearch.storage import record


def finished(number: int, epochs: int, state: TrialState = TrialState.COMPLETE, interrupted: bool = False):
    attrs = {record.EPOCHS_TRAINED: epochs, record.INITIAL_EPOCH: 0, record.TARGET_EPOCHS: epochs}
    if interrupted:
        attrs[record.INTERRUPTED] = True
    trial = create_trial(state=state, value=None if state == TrialState.FAIL else 0.5, params={"units": 32},
                         distributions={"units": IntDistribution(16, 64)}, user_attrs=attrs,
                         intermediate_values={step: 0.5 for step in range(1, epochs + 1)})
    trial.number = number
    return trial


def test_a_schedule_in_epochs_counts_the_long_trials_still_to_come():
    # Hyperband's end: 4 short trials done (1 epoch each), one trial of 20 epochs left, 2 s per epoch.
    clock = EtaClock(max_epochs=20, prunes=False)
    done = [finished(n, 1) for n in range(4)]
    for _ in done:
        clock.trial_finished(seconds=2.0, epochs=1)
    clock.plan(done, total_trials=5, budget_epochs=None, schedule_epochs=24, deadline=None)
    assert clock.epochs_left == 20
    assert clock.eta() == pytest.approx(40.0)  # a count of trials would say 1 trial x 2 s


def test_the_least_of_trial_budget_epoch_budget_and_deadline():
    clock = EtaClock(max_epochs=5, prunes=False)
    done = [finished(0, 5), finished(1, 5), finished(2, 3, TrialState.FAIL, interrupted=True)]
    clock.trial_finished(seconds=10.0, epochs=5)
    clock.trial_finished(seconds=10.0, epochs=5)
    clock.plan(done, total_trials=10, budget_epochs=None, schedule_epochs=None, deadline=None)
    assert clock.epochs_left == 8 * 5  # the interrupted trial does not count: it runs again
    assert clock.eta() == pytest.approx(80.0)
    clock.plan(done, total_trials=10, budget_epochs=20, schedule_epochs=None, deadline=None)
    assert clock.epochs_left == 20 - 13  # every epoch trained counts against an epoch budget
    clock.plan(done, total_trials=10, budget_epochs=None, schedule_epochs=None, deadline=time.monotonic() + 30)
    assert clock.eta() == pytest.approx(30.0, abs=1.0)


def test_pruned_searches_plan_on_the_epochs_trials_really_train():
    clock = EtaClock(max_epochs=20, prunes=True)
    done = [finished(n, 2, TrialState.PRUNED) for n in range(4)]
    for _ in done:
        clock.trial_finished(seconds=4.0, epochs=2)
    clock.plan(done, total_trials=14, budget_epochs=None, schedule_epochs=None, deadline=None)
    assert clock.epochs_left == 10 * 2
    assert clock.eta() == pytest.approx(40.0)


def test_within_a_trial_the_eta_falls_with_each_epoch():
    clock = EtaClock(max_epochs=3, prunes=False)
    clock.plan([], total_trials=2, budget_epochs=None, schedule_epochs=None, deadline=None)
    clock.trial_started()
    assert clock.eta() is None  # nothing measured yet
    time.sleep(0.05)
    first = clock.eta(done=1)
    assert first is not None and first > 0
    per_epoch = clock.seconds_per_epoch(done=1)
    assert first == pytest.approx(5 * per_epoch, rel=0.2)


def test_a_real_hyperband_run_reports_an_eta_from_its_schedule(sqlite_url):
    from click.testing import CliRunner

    from hpsearch.search.cli.main import cli

    result = CliRunner().invoke(cli, ["start", "digits_mlp", "-b", "hyperband", "--max-epochs", "3",
                                      "--storage", sqlite_url, "--study", "eta", "-q"])
    assert result.exit_code == 0, result.output
    etas = [line.rsplit("ETA ", 1)[1] for line in result.output.splitlines() if "| ETA " in line]
    study = optuna.load_study(study_name="eta", storage=sqlite_url)
    assert len(etas) == len(study.trials) and etas[-1] == "0s"
    assert all(eta != "?" for eta in etas)
