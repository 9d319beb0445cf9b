"""Console progress for a running search: one line per trial start, epoch and end."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import click
from optuna.trial import FrozenTrial, TrialState

from hpsearch.search.backends._base import Outcome, Proposal
from hpsearch.search.cli.options import format_seconds
from hpsearch.spaces.space import Objective


def format_params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


class ConsoleProgress:
    """Prints trial i/n, per-epoch values, best so far and ETA."""

    def __init__(self, objective: Objective, epochs: bool = True, suffix: Callable[[], str] | None = None) -> None:
        self.objective = objective
        self.show_epochs = epochs
        self.suffix = suffix  # more to say at the end of each finished trial's line (a compare's overall ETA)
        self.best: float | None = None
        self.best_trial: int | None = None
        self.index = 0
        self.total: int | None = None

    def carry_best(self, trials: Iterable[FrozenTrial]) -> None:
        """Start "best so far" from the study's finished trials (a resumed or restarted search)."""
        for trial in trials:
            if trial.state in (TrialState.COMPLETE, TrialState.PRUNED) and trial.value is not None \
                    and self.objective.is_better(trial.value, self.best):
                self.best, self.best_trial = trial.value, trial.number

    def trial_started(self, proposal: Proposal, index: int, total: int | None) -> None:
        self.index, self.total = index, total
        where = ""
        if "hyperband_bracket" in proposal.user_attrs:
            where = f" bracket {proposal.user_attrs['hyperband_bracket']} round {proposal.user_attrs['hyperband_round']}"
        start = proposal.initial_epoch
        warm = f" from trial {proposal.promoted_from}" if proposal.promoted_from is not None else ""
        epochs = f"epochs {start + 1}-{proposal.epochs}" if proposal.epochs > start + 1 else f"epoch {proposal.epochs}"
        click.echo(
            f"{self._counter()} trial {proposal.trial_number}{where}, {epochs}{warm}: "
            f"{format_params(proposal.params)}"
        )

    def epoch_finished(self, proposal: Proposal, step: int, value: float) -> None:
        if self.show_epochs:
            click.echo(f"{' ' * len(self._counter())}   epoch {step}: {self.objective.metric} {value:.4f}")

    def trial_finished(self, proposal: Proposal, outcome: Outcome, seconds: float, eta: float | None) -> None:
        if outcome.value is not None and outcome.state != "FAIL" and self.objective.is_better(outcome.value, self.best):
            self.best, self.best_trial = outcome.value, proposal.trial_number
        value = f" {self.objective.metric} {outcome.value:.4f}" if outcome.value is not None else ""
        reason = f" ({outcome.reason})" if outcome.reason else ""
        best = f"best {self.best:.4f} (trial {self.best_trial})" if self.best is not None else "no best yet"
        more = f" | {self.suffix()}" if self.suffix is not None else ""
        click.echo(
            f"{self._counter()} trial {proposal.trial_number} {outcome.state}{value}{reason} in "
            f"{format_seconds(seconds)} | {best} | ETA {format_seconds(eta) if eta is not None else '?'}{more}"
        )

    def waiting(self, reason: str) -> None:
        click.echo(f"waiting: {reason}")

    def _counter(self) -> str:
        total = str(self.total) if self.total is not None else "?"
        return f"[{self.index:>{len(total)}}/{total}]"
