"""Which RUNNING trials count as interrupted: dead local workers, and remote workers without heartbeat."""
from __future__ import annotations

import os
import socket
import subprocess
import time

import optuna
from optuna.trial import TrialState

from hpsearch.search.recovery import fail_interrupted_trials, interrupted_without_rerun
from hpsearch.storage.studies import open_storage


def running_trial(study, worker):
    trial = study.ask()
    if worker is not None:
        trial.set_user_attr("worker", worker)
    return trial


def test_only_trials_of_dead_or_silent_workers_are_failed(sqlite_url):
    storage = open_storage(sqlite_url, heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(storage=storage, study_name="r")
    dead = subprocess.Popen(["true"])  # a worker process that has exited
    dead.wait()
    here = socket.gethostname()
    gone = running_trial(study, f"{here}:{dead.pid}")
    alive = running_trial(study, {"host": here, "pid": os.getppid()})  # as hpsearch 0.1 recorded it
    mine = running_trial(study, f"{here}:{os.getpid()}")
    silent = running_trial(study, "another-host:1")
    storage.record_heartbeat(silent._trial_id)
    time.sleep(3.5)
    beating = running_trial(study, "another-host:1")
    storage.record_heartbeat(beating._trial_id)

    failed = fail_interrupted_trials(study)

    assert sorted(t.number for t in failed) == sorted([gone.number, silent.number])
    states = {t.number: t for t in study.get_trials(deepcopy=False)}
    for number in (alive.number, mine.number, beating.number):
        assert states[number].state == TrialState.RUNNING
    assert states[gone.number].user_attrs["fail_reason"] == "interrupted: worker process is gone (killed or crashed)"
    assert states[silent.number].user_attrs["fail_reason"] == (
        "interrupted: no heartbeat from its worker (killed, crashed or lost)")
    assert [t.number for t in interrupted_without_rerun(study)] == sorted([gone.number, silent.number])
    study.enqueue_trial({}, user_attrs={"retry_of": gone.number})
    assert [t.number for t in interrupted_without_rerun(study)] == [silent.number]


def test_a_withdrawn_rerun_leaves_its_interrupted_trial_to_run_again():
    """A re-run withdrawn before training (its worker lost the study lock) did not re-run anything."""
    from hpsearch.storage import record

    study = optuna.create_study()
    interrupted = study.ask()
    study._storage.set_trial_user_attr(interrupted._trial_id, record.INTERRUPTED, True)
    study.tell(interrupted, state=TrialState.FAIL)
    rerun = study.ask()
    study._storage.set_trial_user_attr(rerun._trial_id, record.RETRY_OF, interrupted.number)
    assert interrupted_without_rerun(study) == []  # the re-run is on its way

    study._storage.set_trial_user_attr(rerun._trial_id, record.WITHDRAWN, True)
    study.tell(rerun, state=TrialState.FAIL)

    assert [t.number for t in interrupted_without_rerun(study)] == [interrupted.number]
