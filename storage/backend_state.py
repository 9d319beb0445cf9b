"""A backend's own state kept in its study, so any process on any host can go on with it.

Keras Tuner oracles keep trials, brackets and random state of their own; hpsearch stores them as
one JSON value in the study (system attribute ``hpsearch:backend_state``), read before and written
after every ask and tell, under the study lock (``storage.locks``). The artifacts folder holds no
backend state.

The lock alone is not a fence: a server's lock goes with its connection, and a worker whose
connection dropped in the middle of a step still writes what it read before another worker took
the lock. So on a database the save is also a compare-and-swap: it writes only if the stored
value is still the one this store loaded, and raises ``StateConflict`` otherwise; the backend then
loads again and redoes its step. Two workers can never both build on the same state.
"""
from __future__ import annotations

import json
from typing import Any

from hpsearch.storage import record

class StateConflict(Exception):
    """Another process saved the state after this store loaded it: load again, redo the step."""


class BackendStateStore:
    """Load and save the JSON state of the backend of study ``study_id`` in ``storage``.

    ``save`` writes only over the value ``load`` read (on an Optuna RDB storage; other storages
    live in one process and write unconditionally)."""

    def __init__(self, storage: Any, study_id: int) -> None:
        from optuna.storages import RDBStorage

        self.storage = storage
        self.study_id = study_id
        self._rdb = isinstance(storage, RDBStorage)
        self._loaded: str | None = None  # the stored JSON text load() read (None: no state yet)

    def load(self) -> dict[str, Any] | None:
        """The saved state, or ``None`` if the backend has never saved one."""
        if not self._rdb:
            value = self.storage.get_study_system_attrs(self.study_id).get(record.STUDY_BACKEND_STATE)
            return value if isinstance(value, dict) else None
        from hpsearch.storage.resilient import call_with_retries

        text = call_with_retries(self.storage, "load backend state", self._stored_text)
        self._loaded = text
        value = json.loads(text) if text is not None else None
        return value if isinstance(value, dict) else None

    def save(self, state: dict[str, Any]) -> None:
        """Store ``state``; ``StateConflict`` if the stored state changed since ``load`` (without a
        ``load``: if any state was stored)."""
        if not self._rdb:
            self.storage.set_study_system_attr(self.study_id, record.STUDY_BACKEND_STATE, state)
            return
        from hpsearch.storage.resilient import call_with_retries

        text = json.dumps(state)
        expected = self._loaded

        def attempt() -> None:
            import sqlalchemy as sa
            from optuna.storages._rdb import models

            table = models.StudySystemAttributeModel.__table__
            with self.storage.engine.begin() as connection:
                if expected is None:
                    try:
                        connection.execute(sa.insert(table).values(
                            study_id=self.study_id, key=record.STUDY_BACKEND_STATE, value_json=text))
                    except sa.exc.IntegrityError:
                        raise StateConflict("another process saved the first state") from None
                    return
                changed = connection.execute(
                    sa.update(table)
                    .where(table.c.study_id == self.study_id, table.c.key == record.STUDY_BACKEND_STATE,
                           table.c.value_json == expected)
                    .values(value_json=text)
                ).rowcount
                if changed != 1:
                    raise StateConflict("another process saved the state since it was loaded")

        def settled() -> tuple[bool, None]:
            """After a lost connection during the commit: did this very state land?"""
            return self._stored_text() == text, None

        call_with_retries(self.storage, "save backend state", attempt, settled)
        self._loaded = text

    def _stored_text(self) -> str | None:
        import sqlalchemy as sa
        from optuna.storages._rdb import models

        table = models.StudySystemAttributeModel.__table__
        with self.storage.engine.connect() as connection:
            return connection.execute(
                sa.select(table.c.value_json)
                .where(table.c.study_id == self.study_id, table.c.key == record.STUDY_BACKEND_STATE)
            ).scalar()


class MemoryStateStore:
    """A ``BackendStateStore`` in memory (backends built outside a stored study: tests, tools)."""

    def __init__(self) -> None:
        self.state: dict[str, Any] | None = None

    def load(self) -> dict[str, Any] | None:
        return self.state

    def save(self, state: dict[str, Any]) -> None:
        self.state = state
