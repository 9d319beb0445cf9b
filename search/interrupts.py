"""Ctrl-C that never tears a write: the first one asks the running trial to stop at the next batch.

Python raises ``KeyboardInterrupt`` wherever the main thread happens to be, possibly inside a
storage commit, which can leave a SQLite connection locked and the trial unrecorded. While a search
runs, the first Ctrl-C only sets a flag; the trial monitor checks it after every batch (a safe
point), the trial is recorded as interrupted, and the search stops. A second Ctrl-C stops at once.
"""
from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class GracefulInterrupt:
    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> GracefulInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
