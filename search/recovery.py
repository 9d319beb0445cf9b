"""Finding trials whose worker died, and keeping the heartbeat that lets other workers find ours.

Every trial records ``worker`` (``host:pid``) when it starts, and a heartbeat (Optuna's RDB
heartbeat table) every ``HEARTBEAT_SECONDS`` while it trains. A RUNNING trial is *interrupted* when
its worker process on this host no longer exists, or when its heartbeat is older than the storage's
grace period (a worker on another host), or when it has no ``worker`` at all: hpsearch creates a
trial with its worker in one commit, or (Optuna's ``study.ask``) records it before releasing the
study lock, and recovery runs under that lock, so a trial without a worker lost its creator.
Interrupted trials are marked FAIL with
``fail_reason = "interrupted: ..."`` and ``interrupted = True``; a resumed search runs their
configuration again.
"""
from __future__ import annotations

import os
import socket
import threading
from typing import Any

from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import FrozenTrial, TrialState

from hpsearch.storage import record

HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 30


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale_by_heartbeat(storage: Any, study_id: int) -> set[int]:
    finder = getattr(storage, "_get_stale_trial_ids", None)
    if finder is None or not storage.get_heartbeat_interval():
        return set()
    return set(finder(study_id))


def _dead_reason(trial: FrozenTrial, stale_ids: set[int]) -> str | None:
    worker = record.parse_worker(trial.user_attrs.get(record.WORKER))
    if worker is not None and worker[0] == socket.gethostname():
        if worker[1] == os.getpid():
            return None
        return None if _process_alive(worker[1]) else "worker process is gone (killed or crashed)"
    if trial._trial_id in stale_ids:
        return "no heartbeat from its worker (killed, crashed or lost)"
    if worker is None:
        return "its worker died before it started training it"
    return None


def fail_interrupted_trials(study: Any) -> list[FrozenTrial]:
    """Mark every RUNNING trial whose worker is dead as FAIL (interrupted); return them.

    Call it holding the study lock (``storage.locks``). A trial another process finishes meanwhile
    (its worker was only slow to beat) is left as that process recorded it.
    """
    storage = study._storage
    study_id = storage.get_study_id_from_name(study.study_name)
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return []
    stale_ids = _stale_by_heartbeat(storage, study_id)
    failed = []
    for trial in running:
        reason = _dead_reason(trial, stale_ids)
        if reason is None:
            continue
        try:
            storage.set_trial_user_attr(trial._trial_id, record.INTERRUPTED, True)
            storage.set_trial_user_attr(trial._trial_id, record.FAIL_REASON, f"interrupted: {reason}")
            storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        except UpdateFinishedTrialError:  # its worker finished it first: that record stands
            continue
        failed.append(storage.get_trial(trial._trial_id))
    return failed


def interrupted_without_rerun(study: Any) -> list[FrozenTrial]:
    """Interrupted trials whose configuration has not been run again yet (oldest first)."""
    trials = study.get_trials(deepcopy=False)
    rerun = {t.user_attrs.get(record.RETRY_OF) for t in trials if not record.is_withdrawn(t)}  # withdrawn: never ran
    return [t for t in trials if t.state == TrialState.FAIL and record.is_interrupted(t) and t.number not in rerun]


class Heartbeat:
    """Records a heartbeat for one trial every ``HEARTBEAT_SECONDS`` in a daemon thread."""

    def __init__(self, storage: Any, trial_id: int) -> None:
        self.storage = storage
        self.trial_id = trial_id
        self.enabled = bool(getattr(storage, "get_heartbeat_interval", lambda: None)())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"hpsearch-heartbeat-{trial_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        if self.enabled:
            self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.enabled:
            self._stop.set()
            self._thread.join(timeout=HEARTBEAT_SECONDS)

    def _beat(self) -> None:
        interval = self.storage.get_heartbeat_interval()
        while True:
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:  # noqa: BLE001 - a missed beat is retried; training must go on
                pass
            if self._stop.wait(timeout=interval):
                return


def running_trial_workers(study: Any) -> list[tuple[FrozenTrial, str | None, str]]:
    """Each RUNNING trial of ``study`` as ``(trial, dead_reason, worker)``, read only.

    ``dead_reason`` is what ``fail_interrupted_trials`` would record (after ``"interrupted: "``), or
    ``None`` when the trial's worker counts as alive (a process of this host that exists, this very
    process, or a worker elsewhere whose heartbeat is within the grace period): such a trial must not
    be touched. ``worker`` is its ``worker`` attribute as ``host:pid`` (``"unknown worker"`` without one).
    Nothing is written; the storage needs a heartbeat interval for workers on other hosts to be judged.
    """
    storage = study._storage
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if not running:
        return []
    stale_ids = _stale_by_heartbeat(storage, storage.get_study_id_from_name(study.study_name))
    classified = []
    for trial in running:
        parsed = record.parse_worker(trial.user_attrs.get(record.WORKER))
        worker = record.format_worker(*parsed) if parsed is not None else "unknown worker"
        classified.append((trial, _dead_reason(trial, stale_ids), worker))
    return classified
