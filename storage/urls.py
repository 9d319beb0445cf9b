"""Storage URLs: defaults, validation, password masking, opening an Optuna RDB storage."""
from __future__ import annotations

import os
from pathlib import Path

DEFAULT_STORAGE_URL = "sqlite:///hpsearch.db"
STORAGE_ENV = "HPSEARCH_STORAGE"


class StorageError(Exception):
    """A storage URL is malformed or its database cannot be reached; never shows a password."""


def resolve_url(url: str | None) -> str:
    """The URL to use: the one given, else ``$HPSEARCH_STORAGE``, else ``sqlite:///hpsearch.db``."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE_URL


def mask_password(url: str) -> str:
    """``url`` with any password replaced by ``***`` (unparsable URLs are shown only by scheme)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        scheme = url.split(":", 1)[0] if ":" in url else "?"
        return f"{scheme}://<unparsable URL>"


def sqlite_path(url: str) -> Path | None:
    """The database file of a file-backed SQLite URL, else ``None``."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def check_url(url: str, must_exist: bool = False) -> None:
    """Raise ``StorageError`` for a malformed URL, an unknown driver or a missing SQLite folder.

    With ``must_exist``, a SQLite file that does not exist yet is an error too (read-only commands
    must not create an empty database).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(url)
        parsed.get_dialect().import_dbapi()
    except NoSuchModuleError:  # a subclass of ArgumentError: catch it first
        raise StorageError(
            f"Unsupported storage URL '{mask_password(url)}': SQLAlchemy has no driver "
            f"'{parsed.drivername}'."
        ) from None
    except (ArgumentError, ValueError):
        raise StorageError(
            f"Malformed storage URL '{mask_password(url)}': expected a SQLAlchemy URL such as "
            f"sqlite:///hpsearch.db or postgresql://user:password@host/db."
        ) from None
    except ImportError as error:
        raise StorageError(
            f"The database driver for '{mask_password(url)}' is not installed: "
            f"no module named '{error.name}'; pip install it."
        ) from None
    path = sqlite_path(url)
    if path is not None:
        if must_exist and not path.is_file():
            raise StorageError(f"No hpsearch database at {path} (storage '{mask_password(url)}').")
        if not path.parent.is_dir():
            raise StorageError(f"Cannot create SQLite database {path}: folder {path.parent} does not exist.")
