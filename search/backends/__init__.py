"""Backends: they propose configurations and learn from results, never train."""
from __future__ import annotations

from hpsearch.search.backends._base import (
    Backend,
    BackendContext,
    BackendSettingsError,
    Outcome,
    Proposal,
    Setting,
)
from hpsearch.search.backends.registry import UnknownBackendError, backend_names, get_backend, register_backend

__all__ = [
    "Backend", "BackendContext", "BackendSettingsError", "Outcome", "Proposal", "Setting",
    "UnknownBackendError", "backend_names", "get_backend", "register_backend",
]
