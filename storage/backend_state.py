"""A backend's own state kept in its study, so any process on any host can go on with it.

Keras Tuner oracles keep trials, brackets and random state of their own; hpsearch stores them as
one JSON value in the study (system attribute ``hpsearch:backend_state``), read before and written
after every ask and tell, under the study lock (``storage.locks``). The artifacts folder holds no
backend state.
"""
from __future__ import annotations

from typing import Any

from hpsearch.storage import record


class BackendStateStore:
    """Load and save the JSON state of the backend of study ``study_id`` in ``storage``."""

    def __init__(self, storage: Any, study_id: int) -> None:
        self.storage = storage
        self.study_id = study_id

    def load(self) -> dict[str, Any] | None:
        """The saved state, or ``None`` if the backend has never saved one."""
        value = self.storage.get_study_system_attrs(self.study_id).get(record.STUDY_BACKEND_STATE)
        return value if isinstance(value, dict) else None

    def save(self, state: dict[str, Any]) -> None:
        self.storage.set_study_system_attr(self.study_id, record.STUDY_BACKEND_STATE, state)


class MemoryStateStore:
    """A ``BackendStateStore`` in memory (backends built outside a stored study: tests, tools)."""

    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None

    def load(self) -> dict[str, Any] | None:
        return self.state

    def save(self, state: dict[str, Any]) -> None:
        self.state = state
