"""The backend contract: a backend proposes configurations and learns from results; it never trains.

Life of one trial, as the runner drives it:

1. ``proposal = backend.ask()`` creates a RUNNING trial in the Optuna study and returns what to
   train (``None`` once the backend has nothing left to propose; ``BackendBusy`` when it has
   nothing *yet*, waiting for trials other workers are running).
2. The runner trains, recording each epoch's objective in the study, then asks
   ``backend.should_prune(proposal, step)`` (Optuna-style early stopping; ``step`` counts epochs
   done, 1-based, as the study's intermediate values do).
3. The runner finishes the Optuna trial (COMPLETE / PRUNED / FAIL) and calls
   ``backend.tell(proposal, outcome)`` so the backend can learn.

Many processes, on any hosts, may run one study. The runner calls ``recover``, ``ask`` and
``tell`` holding the study's lock (``hpsearch.storage.locks``), so they never overlap across
processes; a backend with state of its own loads it from ``context.state`` at the start of each
call and saves it there before returning, never keeping it only in memory or in a local file.
The trial ``ask`` creates carries ``context.trial_attrs`` (the worker) from its first commit.
"""
from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from hpsearch.spaces.params import Param, Value
from hpsearch.spaces.space import Space
from hpsearch.storage.backend_state import MemoryStateStore


class BackendSettingsError(ValueError):
    """A backend setting is unknown or has a bad value."""


class BackendBusy(Exception):
    """``ask`` has nothing to propose until trials running elsewhere finish (Hyperband's round)."""


@dataclass(frozen=True)
class ScheduleFit:
    """A schedule in epochs fitted to a time budget: its ``max_epochs``, the seconds its part that must
    fit is planned to take, and backend settings that go with it."""

    max_epochs: int
    planned_seconds: float
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Setting:
    """One ``--option key=value`` a backend accepts."""

    name: str
    type: type
    default: Any
    help: str
    minimum: float | None = None
    choices: tuple[Any, ...] | None = None

    def parse(self, raw: Any) -> Any:
        """Convert ``raw`` (a string from the CLI, or an already-typed value) and validate it."""
        try:
            if self.type is bool and isinstance(raw, str):
                lowered = raw.strip().lower()
                if lowered not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(raw)
                value: Any = lowered in ("true", "1", "yes")
            else:
                value = self.type(raw)
        except (TypeError, ValueError):
            raise BackendSettingsError(
                f"Setting '{self.name}' must be {self.type.__name__}, but got {raw!r}."
            ) from None
        if isinstance(value, float) and not math.isfinite(value):
            raise BackendSettingsError(
                f"Setting '{self.name}' must be a finite number (not inf or nan), but got {raw!r}."
            )
        if self.minimum is not None and value < self.minimum:
            raise BackendSettingsError(
                f"Setting '{self.name}' must be >= {self.minimum:g}, but got {value!r}."
            )
        if self.choices is not None and value not in self.choices:
            raise BackendSettingsError(
                f"Setting '{self.name}' must be one of {', '.join(map(str, self.choices))}, but got {value!r}."
            )
        return value


@dataclass
class Proposal:
    """One configuration to train, tied to a RUNNING trial of the Optuna study.

    Train from ``initial_epoch`` epochs done up to ``epochs`` epochs done (Keras' ``fit`` arguments);
    a Hyperband promotion starts from the weights of Optuna trial ``promoted_from``.

    A hypermodel space's parameters are asked for while its model is built (define-by-run):
    ``params`` then holds what the backend decided up front (possibly nothing), and each parameter
    the build asks for beyond them is answered by ``resolve(param)``, the backend's (an Optuna
    trial's ``suggest_*``; a Keras Tuner oracle's default for an entry it has not seen, recorded on
    the trial). The runner then sets ``params`` to every value the build used and ``found`` to the
    parameters ``resolve`` answered, before ``tell``.
    ``user_attrs`` are already recorded on the Optuna trial by ``ask`` (at least
    ``backend_trial_id``, the backend's own id; Hyperband adds bracket and round).
    """

    trial_number: int
    trial_id: int
    params: dict[str, Any]
    epochs: int
    initial_epoch: int = 0
    promoted_from: int | None = None
    user_attrs: dict[str, Any] = field(default_factory=dict)
    resolve: Callable[[Param], Value] | None = field(default=None, repr=False)
    found: dict[str, Param] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """How a proposal ended. ``state`` is ``"COMPLETE"``, ``"PRUNED"`` or ``"FAIL"``.

    ``value`` is the best objective over the proposal's epochs (``None`` if no epoch finished);
    ``history`` maps each of those steps (epochs done, 1-based) to its objective. ``reason`` says why
    a trial failed or stopped early; ``by_limit`` is true when a limit stopped it (the per-epoch time
    limit, the study's time or epoch budget) rather than an error.
    """

    state: str
    value: float | None
    history: dict[int, float]
    reason: str | None = None
    by_limit: bool = False


@dataclass(frozen=True)
class BackendContext:
    """Everything a backend is built from.

    ``state`` keeps the backend's own state in the study (``load() -> dict | None``, ``save(dict)``);
    ``legacy_state_dir`` is where hpsearch 0.2 kept a Keras Tuner oracle's files, read once to carry
    such a study's state into the database. ``trial_attrs`` go on every trial from its creation.
    """

    space: Space
    study: Any
    settings: dict[str, Any]
    seed: int | None
    max_epochs: int
    state: Any = field(default_factory=MemoryStateStore)
    legacy_state_dir: Path | None = None
    trial_attrs: dict[str, Any] = field(default_factory=dict)


class Backend(abc.ABC):
    """Base class of every backend; subclasses are registered through the ``hpsearch.backends`` entry points."""

    name: ClassVar[str]
    family: ClassVar[str]
    algorithm: ClassVar[str]
    prunes: ClassVar[bool] = False
    epochs_as_budget: ClassVar[bool] = False
    settings_spec: ClassVar[tuple[Setting, ...]] = ()
    # How it works with several workers (`hpsearch backends`, the README): what it does with the trials
    # other workers are still running when asked for the next configuration.
    workers: ClassVar[str] = "parallel: every worker takes the next configuration at once"

    def __init__(self, context: BackendContext) -> None:
        self.context = context
        self.space = context.space
        self.study = context.study
        self.settings = context.settings

    @classmethod
    def validate_settings(cls, raw: dict[str, Any]) -> dict[str, Any]:
        """All settings with defaults filled in; ``BackendSettingsError`` names the valid keys."""
        spec = {s.name: s for s in cls.settings_spec}
        unknown = sorted(set(raw) - set(spec))
        if unknown:
            valid = ", ".join(spec) if spec else "none"
            raise BackendSettingsError(
                f"Unknown setting '{unknown[0]}' for backend '{cls.name}'. Valid settings are: {valid}."
            )
        return {name: (s.parse(raw[name]) if name in raw else s.default) for name, s in spec.items()}

    @classmethod
    def settings_for_budget(cls, settings: dict[str, Any], max_epochs: int, budget_epochs: int | None) -> dict[str, Any]:
        """Settings under which the backend can spend a whole shared budget (``hpsearch compare``):
        ``budget_epochs`` training epochs, or, when ``None``, a time budget. Most need no change;
        Hyperband adds iterations so that its schedule does not end first."""
        return dict(settings)

    @classmethod
    def fit_schedule(cls, settings: dict[str, Any], seconds: float, default_epoch_seconds: float,
                     mean_epoch_seconds: float, low: int, high: int) -> ScheduleFit | None:
        """For a backend whose schedule is in epochs: the largest ``max_epochs`` in ``[low, high]``
        whose schedule (the part of it that must fit, see the backend) takes at most ``seconds``, given
        the default configuration's and an average configuration's epoch time (``low`` when none
        fits), with settings that go with it. ``None``: the backend has no such schedule."""
        return None

    def continuable_trials(self) -> set[int]:
        """Numbers of finished trials the backend may still continue from their weights (Hyperband's
        candidates for promotion): their weights are kept whatever their rank. Called right after
        ``tell``, with the study lock held."""
        return set()

    @abc.abstractmethod
    def ask(self) -> Proposal | None:
        """Create a RUNNING Optuna trial and return what to train, or ``None`` when exhausted."""

    def should_prune(self, proposal: Proposal, step: int) -> bool:
        """After ``step`` (epochs done) was recorded in the study: stop this trial early?"""
        return False

    @abc.abstractmethod
    def tell(self, proposal: Proposal, outcome: Outcome) -> None:
        """Learn from a finished trial. The Optuna trial is already finished by the runner."""

    def recover(self, interrupted: list[Any]) -> None:
        """Before a resumed search: arrange for each interrupted trial's configuration to run again.

        ``interrupted`` holds the FAIL (interrupted) Optuna trials not yet re-run. The proposal that
        re-runs trial ``n`` carries ``user_attrs["retry_of"] = n`` (recorded on its trial by ``ask``).
        """

    def check_state(self) -> None:
        """Raise ``FatalError`` if the backend's stored state cannot be used; writes nothing."""

    def expected_trials(self) -> int | None:
        """How many trials the backend will propose in all, when it knows (Hyperband's schedule)."""
        return None

    def expected_epochs(self) -> int | None:
        """How many epochs its trials will train in all, when it knows (Hyperband's schedule): what
        the run's ETA is counted in."""
        return None

    def describe_budget(self) -> str:
        return ""
