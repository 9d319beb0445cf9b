"""Drive a backend through ask/tell without training: the same recording path as the runner, with a
synthetic objective computed from the proposed values (so runs are fast and reproducible)."""
from __future__ import annotations

import math
import zlib
from pathlib import Path

import optuna

from hpsearch.search.backends import BackendContext, Outcome, Proposal, get_backend
from hpsearch.search.recorder import TrialRecorder
from hpsearch.spaces import Space
from hpsearch.storage.backend_state import BackendStateStore


def synthetic_value(params: dict, step: int) -> float:
    """A deterministic score in (0, 1) that grows with the epochs done (``step``, 1-based)."""
    digest = zlib.crc32(repr(sorted(params.items())).encode()) / 2**32
    return 0.5 + 0.4 * digest * (1 - math.exp(-step))


def make_backend(name: str, space: Space, tmp: Path, seed: int | None = 1, max_epochs: int = 4, settings=None,
                 storage=None):
    cls = get_backend(name)
    study = optuna.create_study(storage=storage, direction="maximize")
    context = BackendContext(
        space=space, study=study, settings=cls.validate_settings(settings or {}), seed=seed,
        max_epochs=max_epochs, state=BackendStateStore(study._storage, study._study_id),
    )
    return cls(context), study


def finish(backend, study, proposal: Proposal, fail: bool = False) -> Outcome:
    recorder = TrialRecorder(study, study._storage, proposal)
    history: dict[int, float] = {}
    state = "COMPLETE"
    for step in range(proposal.initial_epoch + 1, proposal.epochs + 1):
        if fail:
            break
        value = synthetic_value(proposal.params, step)
        history[step] = value
        recorder.record_epoch(step, value, {"val_accuracy": value}, step - proposal.initial_epoch)
        if backend.should_prune(proposal, step):
            state = "PRUNED"
            break
    outcome = (Outcome("FAIL", None, {}, "synthetic failure") if fail
               else Outcome(state, max(history.values()), history))
    recorder.finish(outcome, {}, elapsed=None)
    backend.tell(proposal, outcome)
    return outcome


def run(backend, study, trials: int, fail_every: int = 0) -> list[Proposal]:
    proposals = []
    for index in range(trials):
        proposal = backend.ask()
        if proposal is None:
            break
        proposals.append(proposal)
        finish(backend, study, proposal, fail=bool(fail_every) and index % fail_every == fail_every - 1)
    return proposals
