"""The backend registry, filled from the ``hpsearch.backends`` entry-point group.

A third-party package adds a backend by declaring, in its own ``pyproject.toml``::

    [project.entry-points."hpsearch.backends"]
    mybackend = "mypackage.module:MyBackend"

where ``MyBackend`` subclasses ``hpsearch.search.backends.Backend``.
"""
from __future__ import annotations

from importlib import metadata

from hpsearch.search.backends._base import Backend

ENTRY_POINT_GROUP = "hpsearch.backends"
_registered: dict[str, type[Backend]] = {}


class UnknownBackendError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register_backend(cls: type[Backend], name: str | None = None) -> type[Backend]:
    """Register ``cls`` under ``name`` (default ``cls.name``) for this process."""
    _registered[name or cls.name] = cls
    return cls


def _entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def backend_names() -> list[str]:
    return sorted(set(_entry_points()) | set(_registered))


def check_backend_name(name: str) -> None:
    """``UnknownBackendError`` unless ``name`` is registered (nothing imported: before TensorFlow)."""
    if name not in _registered and name not in _entry_points():
        raise _unknown(name)


def _unknown(name: str) -> UnknownBackendError:
    import difflib

    close = difflib.get_close_matches(name, backend_names(), n=1)
    hint = f"Did you mean '{close[0]}'? " if close else ""
    return UnknownBackendError(f"Unknown backend '{name}'. {hint}Valid backends are: {', '.join(backend_names())}.")


def get_backend(name: str) -> type[Backend]:
    """The backend class registered as ``name``; ``UnknownBackendError`` names the valid ones."""
    if name in _registered:
        return _registered[name]
    entry_point = _entry_points().get(name)
    if entry_point is None:
        raise _unknown(name)
    cls = entry_point.load()
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise UnknownBackendError(
            f"Entry point '{name}' ({entry_point.value}) is not an hpsearch Backend subclass."
        )
    return cls
