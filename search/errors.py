"""Errors that steer a search, after Keras Tuner's split.

``FailedTrialError``: this trial failed; record it as FAIL with the reason and go on.
``FatalError``: the search cannot go on; stop and tell the user why.
``UserError``: bad input; the CLI prints the one-line message and exits non-zero.
"""
from __future__ import annotations


class HpsearchError(Exception):
    """Base of hpsearch's own errors; ``str()`` is a complete one-line message."""


class UserError(HpsearchError):
    """Bad input from the user (names, budgets, URLs, files)."""


class FailedTrialError(HpsearchError):
    """One trial failed (exception while building or training, NaN loss); the search goes on."""


class FatalError(HpsearchError):
    """The search must stop (too many failures in a row, storage lost)."""


class StorageLost(FatalError):
    """The study's database stopped answering (after retries): the search stops; nothing is lost,
    the trial it was training stays RUNNING and ``resume`` runs it again."""


class TrialInterrupted(HpsearchError):
    """A trial was stopped from outside (Ctrl-C) before it finished; its configuration runs again."""


class LimitReached(HpsearchError):
    """A limit stopped a trial: the study's time or epoch budget, or the per-epoch time limit.

    A trial with at least one finished epoch keeps its best epoch's value (COMPLETE, the reason in
    ``stop_reason``). Without one, a study budget leaves it interrupted (run again by ``resume``
    when there is budget), a per-trial limit fails it.
    """

    def __init__(self, reason: str, study_budget: bool) -> None:
        super().__init__(reason)
        self.study_budget = study_budget
