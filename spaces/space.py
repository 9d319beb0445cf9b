"""A search space: parameters, a model builder, a dataset and an objective, all plain data.

The builder is referenced by import path (``"package.module:function"``) so a space serializes to
JSON, is stored with its study, and importing a space never imports TensorFlow. A builder is called
as ``build(values, input_shape, num_classes)`` with the resolved values (a plain dict of the active
parameters) and returns a compiled ``keras.Model``. Builders never see a backend object.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

from hpsearch.spaces.params import Condition, Int, Param, SpaceDefinitionError, Value, param_from_dict


@dataclass(frozen=True)
class Objective:
    """The metric Keras logs after each epoch and whether bigger is better."""

    metric: str = "val_accuracy"
    direction: str = "maximize"

    def __post_init__(self) -> None:
        if self.direction not in ("maximize", "minimize"):
            raise SpaceDefinitionError(
                f"Objective direction must be 'maximize' or 'minimize', but got {self.direction!r}."
            )

    def is_better(self, candidate: float, incumbent: float | None) -> bool:
        if incumbent is None:
            return True
        return candidate > incumbent if self.direction == "maximize" else candidate < incumbent


@dataclass(frozen=True)
class Budget:
    """A space's default budget: what ``hpsearch start`` uses when the user gives none.

    ``trials`` bounds backends without a schedule of their own; ``timeout`` bounds the whole run and
    ``epoch_timeout`` each trial, in seconds. ``fit_max_epochs = (low, high)``: a backend whose
    schedule is in epochs (Hyperband) gets the ``max_epochs`` in that range whose schedule fits the
    timeout on this machine, unless the user gives ``--max-epochs``. ``compare_epochs`` is the training epochs each backend
    gets in an ``hpsearch compare`` run (default: ``max_epochs`` x ``trials``), ``compare_timeout``
    the seconds it may take at most (so that the default compare fits a known time).
    """

    trials: int | None = 20
    max_epochs: int = 5
    timeout: float | None = None
    epoch_timeout: float | None = None
    compare_epochs: int | None = None
    compare_timeout: float | None = None
    fit_max_epochs: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.fit_max_epochs is not None:
            object.__setattr__(self, "fit_max_epochs", tuple(self.fit_max_epochs))

    def compare_budget(self) -> int:
        return self.compare_epochs or self.max_epochs * (self.trials or 10)

    def to_dict(self) -> dict[str, Any]:
        return {
            "trials": self.trials,
            "max_epochs": self.max_epochs,
            "timeout": self.timeout,
            "epoch_timeout": self.epoch_timeout,
            "compare_epochs": self.compare_epochs,
            "compare_timeout": self.compare_timeout,
            "fit_max_epochs": None if self.fit_max_epochs is None else list(self.fit_max_epochs),
        }


BUILDER = "builder"  # ``builder(values, input_shape, num_classes)`` with every parameter declared up front
HYPERMODEL = "hypermodel"  # a Keras Tuner hypermodel: ``build(hp)``, parameters asked for as it runs
SPACE_KINDS = (BUILDER, HYPERMODEL)


@dataclass(frozen=True)
class Space:
    """An ordered set of parameters plus what is needed to build and score a model.

    ``builder`` is a reference (``module:function``, or ``path/file.py:function`` for a user's file),
    or the function itself in a user's file (made a reference when the file is loaded). ``dataset``
    names a built-in dataset, or is empty when the data is given with ``--data``. ``kind`` is
    ``builder`` (every parameter declared in ``params``) or ``hypermodel`` (a Keras Tuner hypermodel:
    ``params`` are those found up front). ``source`` describes a user's space file (path, hash, code).
    """

    name: str
    description: str
    params: tuple[Param, ...]
    builder: str
    dataset: str
    objective: Objective = field(default_factory=Objective)
    budget: Budget = field(default_factory=Budget)
    default_batch_size: int = 128
    kind: str = "builder"
    source: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.kind not in SPACE_KINDS:
            raise SpaceDefinitionError(f"A space's kind must be one of {', '.join(SPACE_KINDS)}, but got {self.kind!r}.")
        object.__setattr__(self, "params", tuple(self.params))
        seen: dict[str, Param] = {}
        for param in self.params:
            if param.name in seen:
                raise SpaceDefinitionError(f"Parameter names must be unique, but '{param.name}' appears twice.")
            if param.condition is not None and param.condition.parent not in seen:
                raise SpaceDefinitionError(
                    f"A condition must refer to an earlier parameter, but '{param.name}' "
                    f"depends on '{param.condition.parent}'."
                )
            seen[param.name] = param
        if isinstance(self.builder, str) and ":" not in self.builder:
            raise SpaceDefinitionError(
                f"A builder is given as 'module:function', but got {self.builder!r}."
            )

    def param(self, name: str) -> Param:
        for param in self.params:
            if param.name == name:
                return param
        raise KeyError(f"Space '{self.name}' has no parameter '{name}'.")

    def is_active(self, param: Param, values: dict[str, Value]) -> bool:
        """Whether ``param`` gets a value, given the values of the parameters before it."""
        return param.condition is None or param.condition.holds(values)

    def active_params(self, values: dict[str, Value]) -> list[Param]:
        return [p for p in self.params if self.is_active(p, values)]

    def validate(self, values: dict[str, Value]) -> None:
        """Raise ``SpaceDefinitionError`` unless ``values`` sets exactly the active parameters, in range."""
        active = {p.name for p in self.active_params(values)}
        missing = sorted(active - values.keys())
        extra = sorted(values.keys() - active)
        if missing or extra:
            raise SpaceDefinitionError(
                f"Values must set exactly the active parameters of '{self.name}', "
                f"but got missing={missing}, inactive or unknown={extra}."
            )
        for name in active:
            param = self.param(name)
            if not param.contains(values[name]):
                raise SpaceDefinitionError(
                    f"'{name}' must be {param.describe_range()}, but got {values[name]!r}."
                )

    def default_values(self) -> dict[str, Value]:
        """The default configuration: each active parameter at its default (the first trial of a search)."""
        values: dict[str, Value] = {}
        for param in self.params:
            if self.is_active(param, values):
                values[param.name] = param.default_value()
        return values

    def random_values(self, rng: random.Random) -> dict[str, Value]:
        """One configuration drawn uniformly (log-uniformly for log-scale ranges) from the space."""
        values: dict[str, Value] = {}
        for param in self.params:
            if self.is_active(param, values):
                values[param.name] = param.sample(rng)
        return values

    @property
    def is_hypermodel(self) -> bool:
        return self.kind == HYPERMODEL

    @property
    def needs_data(self) -> bool:
        """Whether the data comes from ``--data`` (no built-in dataset of its own)."""
        return not self.dataset

    def load_builder(self) -> Callable[..., Any]:
        """The builder: ``build(values, input_shape, num_classes)`` (a hypermodel's: ``HypermodelBuilder``).

        A reference to a user file (``path.py:name``) is imported from that file; an error inside it
        is a ``UserCodeError`` naming the user's file and line.
        """
        if callable(self.builder):
            return self.builder
        from hpsearch.spaces.references import Reference, resolve

        reference = Reference.parse(self.builder)
        builder = resolve(reference)
        if self.is_hypermodel:
            from hpsearch.spaces.hypermodel import Hypermodel, HypermodelBuilder

            return HypermodelBuilder(Hypermodel(builder, reference.label))
        return builder

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "params": [p.to_dict() for p in self.params],
            "builder": self.builder,
            "dataset": self.dataset,
            "objective": {"metric": self.objective.metric, "direction": self.objective.direction},
            "budget": self.budget.to_dict(),
            "default_batch_size": self.default_batch_size,
            "kind": self.kind,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Space:
        return cls(
            name=data["name"],
            description=data["description"],
            params=tuple(param_from_dict(p) for p in data["params"]),
            builder=data["builder"],
            dataset=data["dataset"],
            objective=Objective(**data["objective"]),
            budget=Budget(**data["budget"]),
            default_batch_size=data["default_batch_size"],
            kind=data.get("kind", "builder"),
            source=data.get("source"),
        )

    def describe(self) -> str:
        """A human-readable listing, as ``hpsearch spaces show`` prints it."""
        width = max((len(p.name) for p in self.params), default=4)
        lines = [
            f"{self.name}: {self.description}",
            f"  dataset:    {self.dataset or 'given with --data'}",
            f"  objective:  {self.objective.metric} ({self.objective.direction})",
            f"  builder:    {self.builder}",
            "  defaults:   "
            + ", ".join(  # wrapped below
                [f"max_epochs={self.budget.max_epochs}"]
                + ([f"trials={self.budget.trials}"] if self.budget.trials else [])
                + ([f"timeout={self.budget.timeout:g}s"] if self.budget.timeout else [])
                + ([f"epoch_timeout={self.budget.epoch_timeout:g}s"] if self.budget.epoch_timeout else [])
                + [f"compare_epochs={self.budget.compare_budget()}"]
                + ([f"compare_timeout={self.budget.compare_timeout:g}s"] if self.budget.compare_timeout else [])
            ),
            "  parameters:",
        ]
        import textwrap

        lines = [wrapped for line in lines for wrapped in textwrap.wrap(
            line, width=100, subsequent_indent=" " * 14, break_long_words=False, break_on_hyphens=False)]
        lines += [f"    {p.name.ljust(width)}  {p.describe()}" for p in self.params]
        if self.is_hypermodel:
            lines.append("  (a Keras Tuner hypermodel: parameters it asks for only in some trials are added as found)")
        return "\n".join(lines)


def when_at_least(parent: Int, minimum: int) -> Condition:
    """A condition that holds when the int parameter ``parent`` is ``>= minimum``."""
    values = tuple(v for v in parent.grid() if v >= minimum)
    return Condition(parent.name, values)
