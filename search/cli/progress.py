"""Console progress for a running search: a line per trial start, epoch and end, and on a terminal a
``rich`` progress bar below them (trial, epoch, best so far, ETA counting down between epochs).

Lines wrap at the terminal's width (``output.PLAIN_WIDTH`` when not a terminal); colour and the bar
appear only on a terminal.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import click
from optuna.trial import FrozenTrial, TrialState

from hpsearch.search.backends._base import Outcome, Proposal
from hpsearch.search.cli.options import format_seconds
from hpsearch.search.cli.output import console, param_value, wrap
from hpsearch.spaces.space import Objective

STATE_STYLES = {"COMPLETE": "green", "PRUNED": "yellow", "FAIL": "red"}


def format_params(params: dict[str, Any]) -> str:
    return " ".join(f"{k}={param_value(v)}" for k, v in params.items())


class ConsoleProgress:
    """Prints trial i/n, per-epoch values, best so far and the ETA; draws a bar on a terminal."""

    def __init__(self, objective: Objective, epochs: bool = True, suffix: Callable[[], str] | None = None,
                 bar: bool | None = None) -> None:
        self.objective = objective
        self.show_epochs = epochs
        self.suffix = suffix  # more to say at the end of each finished trial's line (a compare's overall ETA)
        self.best: float | None = None
        self.best_trial: int | None = None
        self.index = 0
        self.total: int | None = None
        self.out = console()
        self.width = self.out.width
        self._bar = _Bar(self.out.color) if (self.out.terminal if bar is None else bar) else None

    def carry_best(self, trials: Iterable[FrozenTrial]) -> None:
        """Take "best so far" from the study's finished trials (a resumed or restarted search, other
        workers' trials)."""
        for trial in trials:
            if trial.state in (TrialState.COMPLETE, TrialState.PRUNED) and trial.value is not None \
                    and self.objective.is_better(trial.value, self.best):
                self.best, self.best_trial = trial.value, trial.number

    def trial_started(self, proposal: Proposal, index: int, total: int | None) -> None:
        self.index, self.total = index, total
        where = ""
        if "hyperband_bracket" in proposal.user_attrs:
            where = f", bracket {proposal.user_attrs['hyperband_bracket']} round {proposal.user_attrs['hyperband_round']}"
        start = proposal.initial_epoch
        warm = f" from trial {proposal.promoted_from}" if proposal.promoted_from is not None else ""
        epochs = f"epochs {start + 1}-{proposal.epochs}" if proposal.epochs > start + 1 else f"epoch {proposal.epochs}"
        self._line(f"{self._counter()} trial {proposal.trial_number}{where}, {epochs}{warm}: "
                   f"{format_params(proposal.params)}")
        if self._bar is not None:
            self._bar.trial(f"trial {proposal.trial_number} ({index}/{total or '?'})", start, proposal.epochs,
                            self._best_text())

    def epoch_finished(self, proposal: Proposal, step: int, value: float, eta: float | None = None) -> None:
        if self.show_epochs:
            self._line(f"{' ' * len(self._counter())}   epoch {step}: {self.objective.metric} {value:.4f}")
        if self._bar is not None:
            self._bar.epoch(step, eta)

    def trial_finished(self, proposal: Proposal, outcome: Outcome, seconds: float, eta: float | None) -> None:
        if outcome.value is not None and outcome.state != "FAIL" and self.objective.is_better(outcome.value, self.best):
            self.best, self.best_trial = outcome.value, proposal.trial_number
        value = f" {self.objective.metric} {outcome.value:.4f}" if outcome.value is not None else ""
        reason = f" ({outcome.reason})" if outcome.reason else ""
        more = f" | {self.suffix()}" if self.suffix is not None else ""
        state = outcome.state
        self._line(
            f"{self._counter()} trial {proposal.trial_number} {state}{value}{reason} in "
            f"{format_seconds(seconds)} | {self._best_text()} | ETA {format_seconds(eta) if eta is not None else '?'}"
            f"{more}", style=STATE_STYLES.get(state), parts=" | ")
        if self._bar is not None:
            self._bar.between(eta, self._best_text())

    def waiting(self, reason: str) -> None:
        self._line(f"waiting: {reason}")

    def close(self) -> None:
        """Take the bar off the screen (before the run's last lines, or on Ctrl-C)."""
        if self._bar is not None:
            self._bar.stop()

    def _best_text(self) -> str:
        return f"best {self.best:.4f} (trial {self.best_trial})" if self.best is not None else "no best yet"

    def _line(self, text: str, style: str | None = None, parts: str | None = None) -> None:
        """``text`` wrapped at the width; with ``parts``, broken only between the parts it separates."""
        width, indent = max(40, self.width), len(self._counter()) + 1
        if parts is None or len(text) <= width:
            lines = wrap(text, indent=indent, width=width).split("\n")
        else:
            pieces = text.split(parts)
            lines = wrap(pieces[0], indent=indent, width=width).split("\n")
            for piece in pieces[1:]:
                if len(lines[-1]) + len(parts) + len(piece) <= width:
                    lines[-1] += parts + piece
                else:
                    lines.append(" " * indent + "| " + piece)
        if self._bar is not None:
            self._bar.print("\n".join(lines), style)
        else:
            click.echo("\n".join(lines))

    def _counter(self) -> str:
        total = str(self.total) if self.total is not None else "?"
        return f"[{self.index:>{len(total)}}/{total}]"


class _Bar:
    """A transient ``rich`` bar of the running trial's epochs, with the run's ETA counting down."""

    def __init__(self, color: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.console = Console(highlight=False, emoji=False, no_color=not color or None)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(bar_width=24), MofNCompleteColumn(),
            TextColumn("epochs"), TextColumn("{task.fields[best]}"), _EtaColumn(),
            console=self.console, transient=True, auto_refresh=True, refresh_per_second=4,
        )
        self.task: Any = None
        self.eta: float | None = None
        self.eta_at = time.monotonic()
        self.started = False

    def _start(self) -> None:
        if not self.started:
            self.progress.start()
            self.started = True

    def trial(self, description: str, start: int, epochs: int, best: str) -> None:
        self._start()
        if self.task is None:
            self.task = self.progress.add_task(description, total=epochs, completed=start, best=best, bar=self)
        else:
            self.progress.update(self.task, description=description, total=epochs, completed=start, best=best)

    def epoch(self, step: int, eta: float | None) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=step)
        self._eta(eta)

    def between(self, eta: float | None, best: str) -> None:
        if self.task is not None:
            self.progress.update(self.task, best=best)
        self._eta(eta)

    def _eta(self, eta: float | None) -> None:
        self.eta, self.eta_at = eta, time.monotonic()

    def seconds_left(self) -> float | None:
        return None if self.eta is None else max(0.0, self.eta - (time.monotonic() - self.eta_at))

    def print(self, text: str, style: str | None) -> None:
        from rich.text import Text

        line = Text(text, style=style or "")
        (self.progress.console if self.started else self.console).print(line, highlight=False)

    def stop(self) -> None:
        if self.started:
            self.progress.stop()
            self.started = False


def _eta_column_class() -> type:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class EtaColumn(ProgressColumn):
        """The run's ETA (epochs left x measured seconds per epoch), counting down between epochs."""

        def render(self, task: Any) -> Text:
            bar = task.fields.get("bar")
            left = bar.seconds_left() if bar is not None else None
            return Text(f"ETA {format_seconds(left) if left is not None else '?'}", style="cyan")

    return EtaColumn


def _EtaColumn() -> Any:  # noqa: N802 - built lazily: rich is imported only when a bar is drawn
    return _eta_column_class()()
