"""Search-space parameters: plain data that every backend can translate.

A parameter is one of ``Int``, ``Float``, ``Choice`` or ``Boolean``. Any of them may carry a
``Condition``: it is *active* (gets a value) only when an earlier parameter holds one of the
listed values, as in Keras Tuner's ``conditional_scope``.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

Value = Union[int, float, str, bool]


class SpaceDefinitionError(ValueError):
    """A search space or one of its parameters is malformed."""


@dataclass(frozen=True)
class Condition:
    """The owning parameter is active only when ``parent`` takes one of ``values``."""

    parent: str
    values: tuple[Value, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise SpaceDefinitionError(
                f"A condition on '{self.parent}' needs at least one value, but got none."
            )
        object.__setattr__(self, "values", tuple(self.values))

    def holds(self, values: dict[str, Value]) -> bool:
        return self.parent in values and values[self.parent] in self.values

    def to_dict(self) -> dict[str, Any]:
        return {"parent": self.parent, "values": list(self.values)}

    def describe(self) -> str:
        shown = ", ".join(str(v) for v in self.values)
        return f"when {self.parent} in [{shown}]"


@dataclass(frozen=True)
class Param:
    """Base of all parameter kinds. ``name`` must be unique within a space.

    ``default`` is the value of the space's default configuration (Keras Tuner's ``default=``), the
    first one every search trains; when not given, the kind's own (the low end, the first choice, False).
    """

    name: str
    condition: Condition | None = field(default=None, kw_only=True)
    default: Value | None = field(default=None, kw_only=True)
    kind: ClassVar[str] = ""

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise SpaceDefinitionError(f"A parameter name must be a non-empty string, but got {self.name!r}.")

    def _check_default(self) -> None:
        if self.default is not None and not self.contains(self.default):
            raise SpaceDefinitionError(
                f"The default of '{self.name}' must be {self._describe_range()}, but got {self.default!r}."
            )

    def contains(self, value: Any) -> bool:
        raise NotImplementedError

    def default_value(self) -> Value:
        """The declared ``default``, else the kind's own."""
        return self.default if self.default is not None else self._kind_default()

    def _kind_default(self) -> Value:
        raise NotImplementedError

    def sample(self, rng: random.Random) -> Value:
        """A value drawn uniformly (log-uniformly for a log scale) from the range."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "name": self.name}
        data.update(self._fields())
        if self.condition is not None:
            data["condition"] = self.condition.to_dict()
        if self.default is not None:
            data["default"] = self.default
        return data

    def _fields(self) -> dict[str, Any]:
        return {}

    def describe_range(self) -> str:
        """The values allowed, as an error message states them (``int 32..512 step 32``)."""
        return self._describe_range()

    def describe(self) -> str:
        text = self._describe_range()
        if self.default is not None:
            text += f", default {self.default:g}" if isinstance(self.default, float) else f", default {self.default}"
        if self.condition is not None:
            text += f"  ({self.condition.describe()})"
        return text

    def _describe_range(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Int(Param):
    """An integer in ``[low, high]`` on the grid ``low + k * step`` (``log`` needs ``step == 1``)."""

    low: int = 0
    high: int = 0
    step: int = 1
    log: bool = False
    kind: ClassVar[str] = "int"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.low <= self.high:
            raise SpaceDefinitionError(
                f"`low <= high` must hold for '{self.name}', but got low={self.low}, high={self.high}."
            )
        if self.step < 1:
            raise SpaceDefinitionError(f"`step >= 1` must hold for '{self.name}', but got step={self.step}.")
        if self.log and (self.low < 1 or self.step != 1):
            raise SpaceDefinitionError(
                f"A log-scale int needs low >= 1 and step == 1 ('{self.name}'), "
                f"but got low={self.low}, step={self.step}."
            )
        if (self.high - self.low) % self.step:
            raise SpaceDefinitionError(
                f"`high - low` must be a multiple of step for '{self.name}', "
                f"but got low={self.low}, high={self.high}, step={self.step}."
            )
        self._check_default()

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        return self.low <= value <= self.high and (value - self.low) % self.step == 0

    def _kind_default(self) -> int:
        return self.low

    def sample(self, rng: random.Random) -> int:
        if self.log:
            return min(self.high, int(math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))))
        return rng.choice(self.grid())

    def grid(self) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))

    def _fields(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "step": self.step, "log": self.log}

    def _describe_range(self) -> str:
        text = f"int {self.low}..{self.high}"
        if self.step != 1:
            text += f" step {self.step}"
        return text + (" (log)" if self.log else "")


@dataclass(frozen=True)
class Float(Param):
    """A float in ``[low, high]``; ``log`` samples on a log scale, ``step`` discretizes."""

    low: float = 0.0
    high: float = 1.0
    step: float | None = None
    log: bool = False
    kind: ClassVar[str] = "float"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.low <= self.high:
            raise SpaceDefinitionError(
                f"`low <= high` must hold for '{self.name}', but got low={self.low}, high={self.high}."
            )
        if self.log and self.low <= 0:
            raise SpaceDefinitionError(
                f"A log-scale float needs low > 0 ('{self.name}'), but got low={self.low}."
            )
        if self.log and self.step is not None:
            raise SpaceDefinitionError(f"A float cannot have both log and step ('{self.name}').")
        if self.step is not None and self.step <= 0:
            raise SpaceDefinitionError(f"`step > 0` must hold for '{self.name}', but got step={self.step}.")
        self._check_default()

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
            return False
        tolerance = 1e-9 * max(1.0, abs(self.high))
        if not self.low - tolerance <= value <= self.high + tolerance:
            return False
        if self.step is None:
            return True
        k = (value - self.low) / self.step
        return abs(k - round(k)) < 1e-6

    def _kind_default(self) -> float:
        return self.low

    def sample(self, rng: random.Random) -> float:
        if self.log:
            return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        if self.step is not None:
            return round(self.low + rng.randint(0, int(round((self.high - self.low) / self.step))) * self.step, 12)
        return rng.uniform(self.low, self.high)

    def _fields(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "step": self.step, "log": self.log}

    def _describe_range(self) -> str:
        text = f"float {self.low:g}..{self.high:g}"
        if self.step is not None:
            text += f" step {self.step:g}"
        return text + (" (log)" if self.log else "")


@dataclass(frozen=True)
class Choice(Param):
    """One of a fixed, ordered list of values of one type (int, float or str)."""

    values: tuple[Value, ...] = ()
    kind: ClassVar[str] = "choice"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "values", tuple(self.values))
        if not self.values:
            raise SpaceDefinitionError(f"A choice needs at least one value ('{self.name}'), but got none.")
        if len(set(self.values)) != len(self.values):
            raise SpaceDefinitionError(f"Choice values must be distinct ('{self.name}'), but got {list(self.values)}.")
        types = {type(v) for v in self.values}
        if len(types) != 1 or types.pop() not in (int, float, str):
            raise SpaceDefinitionError(
                f"Choice values must all be int, all float or all str ('{self.name}'), but got {list(self.values)}."
            )
        self._check_default()

    def contains(self, value: Any) -> bool:
        return any(type(value) is type(v) and value == v for v in self.values)

    def _kind_default(self) -> Value:
        return self.values[0]

    def sample(self, rng: random.Random) -> Value:
        return rng.choice(self.values)

    def _fields(self) -> dict[str, Any]:
        return {"values": list(self.values)}

    def _describe_range(self) -> str:
        return "choice [" + ", ".join(str(v) for v in self.values) + "]"


@dataclass(frozen=True)
class Boolean(Param):
    """``True`` or ``False``."""

    kind: ClassVar[str] = "boolean"

    def __post_init__(self) -> None:
        super().__post_init__()
        self._check_default()

    def contains(self, value: Any) -> bool:
        return isinstance(value, bool)

    def _kind_default(self) -> bool:
        return False

    def sample(self, rng: random.Random) -> bool:
        return rng.random() < 0.5

    def _describe_range(self) -> str:
        return "boolean"


PARAM_KINDS: dict[str, type[Param]] = {cls.kind: cls for cls in (Int, Float, Choice, Boolean)}


def param_from_dict(data: dict[str, Any]) -> Param:
    """Inverse of ``Param.to_dict``."""
    data = dict(data)
    kind = data.pop("kind", None)
    if kind not in PARAM_KINDS:
        raise SpaceDefinitionError(
            f"Unknown parameter kind {kind!r}. Valid kinds are: {', '.join(PARAM_KINDS)}."
        )
    condition = data.pop("condition", None)
    if "values" in data:
        data["values"] = tuple(data["values"])
    if condition is not None:
        data["condition"] = Condition(condition["parent"], tuple(condition["values"]))
    return PARAM_KINDS[kind](**data)
