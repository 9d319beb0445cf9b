"""Search spaces: parameters, model builders, datasets and objectives, as plain data."""
from __future__ import annotations

from hpsearch.spaces.catalog import SPACES, UnknownSpaceError, get_space
from hpsearch.spaces.params import Boolean, Choice, Condition, Float, Int, Param, SpaceDefinitionError
from hpsearch.spaces.space import Budget, Objective, Space, when_at_least

__all__ = [
    "SPACES", "UnknownSpaceError", "get_space", "Boolean", "Choice", "Condition", "Float", "Int",
    "Param", "SpaceDefinitionError", "Budget", "Objective", "Space", "when_at_least",
]
