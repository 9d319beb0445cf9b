"""One transaction on an Optuna ``RDBStorage``'s own session, for writes Optuna's API has no call for
(a study created with its settings in one commit, trials copied in bulk, a finished trial's attribute)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def transaction(storage: Any) -> Iterator[Any]:
    """``storage``'s SQLAlchemy session: committed when the block ends, rolled back on any exception
    (Ctrl-C included), closed either way. Retrying after a lost connection is the caller's
    (``storage.resilient.call_with_retries``)."""
    session = storage.scoped_session()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
