"""The run's ETA: epochs left (budget, schedule, trials) x the seconds per epoch measured in the run."""
from __future__ import annotations

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


class Clock:
    """A clock the test moves by hand: the arithmetic of the estimate, not the machine's speed."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def train(eta: EtaClock, clock: Clock, epochs: int, start_seconds: float, epoch_seconds: float) -> None:
    """One trial through the clock: its start-up, then ``epochs`` epochs."""
    eta.trial_started()
    clock.now += start_seconds
    for _ in range(epochs):
        clock.now += epoch_seconds
        eta.epoch_done()
    eta.trial_finished(epochs)


def test_a_schedule_in_epochs_counts_the_long_trials_still_to_come():
    # Hyperband's end: 4 trials of 2 epochs done (1 s to start, 2 s an epoch), one of 20 epochs left.
    clock = Clock()
    eta = EtaClock(max_epochs=20, prunes=False, clock=clock)
    done = [finished(n, 2) for n in range(4)]
    for _ in done:
        train(eta, clock, 2, start_seconds=1.0, epoch_seconds=2.0)
    assert eta.seconds_per_epoch() == pytest.approx(2.0) and eta.seconds_per_trial() == pytest.approx(1.0)
    eta.plan(done, total_trials=5, budget_epochs=None, schedule_epochs=28, deadline=None)
    assert eta.epochs_left == 20 and eta.trials_left == 1
    assert eta.eta() == pytest.approx(20 * 2.0 + 1.0)  # a count of trials would say 1 x 5 s
    train(eta, clock, 20, start_seconds=1.0, epoch_seconds=2.0)  # the plan moves on without reading the study
    assert eta.epochs_left == 0 and eta.trials_left == 0 and eta.eta() == 0


def test_workers_running_trials_of_the_study_share_what_is_left():
    # 10 trials of 2 epochs in the budget, 4 done; two other workers are each running one (the same
    # worker twice counts once): three workers share the 6 left.
    clock = Clock()
    eta = EtaClock(max_epochs=2, prunes=False, clock=clock)
    done = [finished(n, 2) for n in range(4)]
    for _ in done:
        train(eta, clock, 2, start_seconds=1.0, epoch_seconds=2.0)
    eta.plan(done, total_trials=10, budget_epochs=None, schedule_epochs=None, deadline=None)
    assert eta.workers == 1
    alone = eta.eta()
    assert alone == pytest.approx(6 * 2 * 2.0 + 6 * 1.0)
    running = []
    for number, worker in ((4, "hostA:1"), (5, "hostB:2"), (6, "hostB:2")):
        trial = create_trial(state=TrialState.RUNNING, params={"units": 32},
                             distributions={"units": IntDistribution(16, 64)}, user_attrs={record.WORKER: worker})
        trial.number = number
        running.append(trial)
    eta.plan(done + running, total_trials=10, budget_epochs=None, schedule_epochs=None, deadline=None)
    assert eta.workers == 3
    assert eta.eta() == pytest.approx(alone / 3)
    eta.plan(done + running, total_trials=10, budget_epochs=None, schedule_epochs=None, deadline=clock.now + 1)
    assert eta.eta() == pytest.approx(1.0)  # the deadline still caps it


def test_the_least_of_trial_budget_epoch_budget_and_deadline():
    clock = Clock()
    eta = EtaClock(max_epochs=5, prunes=False, clock=clock)
    done = [finished(0, 5), finished(1, 5), finished(2, 3, TrialState.FAIL, interrupted=True)]
    train(eta, clock, 5, start_seconds=0.0, epoch_seconds=2.0)
    train(eta, clock, 5, start_seconds=0.0, epoch_seconds=2.0)
    eta.plan(done, total_trials=10, budget_epochs=None, schedule_epochs=None, deadline=None)
    assert eta.epochs_left == 8 * 5  # the interrupted trial does not count: it runs again
    assert eta.eta() == pytest.approx(80.0)
    eta.plan(done, total_trials=10, budget_epochs=20, schedule_epochs=None, deadline=None)
    assert eta.epochs_left == 20 - 13  # every epoch trained counts against an epoch budget
    eta.plan(done, total_trials=10, budget_epochs=None, schedule_epochs=None, deadline=clock.now + 30)
    assert eta.eta() == pytest.approx(30.0)


def test_pruned_searches_plan_on_the_epochs_trials_really_train():
    clock = Clock()
    eta = EtaClock(max_epochs=20, prunes=True, clock=clock)
    done = [finished(n, 2, TrialState.PRUNED) for n in range(4)]
    for _ in done:
        train(eta, clock, 2, start_seconds=0.0, epoch_seconds=2.0)
    eta.plan(done, total_trials=14, budget_epochs=None, schedule_epochs=None, deadline=None)
    assert eta.epochs_left == 10 * 2
    assert eta.eta() == pytest.approx(40.0)


def test_within_a_trial_the_eta_falls_with_each_epoch():
    clock = Clock()
    eta = EtaClock(max_epochs=3, prunes=False, clock=clock)
    eta.plan([], total_trials=2, budget_epochs=None, schedule_epochs=None, deadline=None)
    eta.trial_started()
    assert eta.eta() is None  # nothing measured yet
    clock.now += 4.0
    eta.epoch_done()
    assert eta.eta(done=1) == pytest.approx(5 * 4.0)  # start-up and epoch not told apart yet
    clock.now += 3.0
    eta.epoch_done()
    assert eta.eta(done=2) == pytest.approx(4 * 3.0)  # an epoch: 3 s, measured between two ends


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
