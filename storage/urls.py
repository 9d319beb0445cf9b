"""Storage URLs: defaults, validation, password masking, opening an Optuna RDB storage."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

DEFAULT_STORAGE_URL = "sqlite:///hpsearch.db"
STORAGE_ENV = "HPSEARCH_STORAGE"


class StorageError(Exception):
    """A storage URL is malformed or its database cannot be reached; never shows a password."""


def resolve_url(url: str | None) -> str:
    """The URL to use: the one given, else ``$HPSEARCH_STORAGE``, else ``sqlite:///hpsearch.db``."""
    return url or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE_URL


# scheme://user: -- what comes after the user's ':' may be a password, up to an '@'.
_USER_COLON = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*:)(?P<tail>.*)", re.DOTALL)
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&]*", re.IGNORECASE)


def mask_password(url: str) -> str:
    """``url`` with any password replaced by ``***`` (unparsable URLs are shown only by scheme).

    The password is everything between the user's ``:`` and the last ``@`` of the authority part,
    so a password holding a raw ``@``, ``:`` or ``/`` is hidden whole. The authority part ends at the
    query (the first ``?`` after the first ``@``); an ``@`` in the database name counts too, so the
    mask may then cover more than the password, never less.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)
    except (ArgumentError, ValueError):
        scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]*(?=://)", url)
        return f"{scheme[0] if scheme else '?'}://<unparsable URL>"
    masked = _QUERY_PASSWORD.sub(r"\1***", url)  # libpq also takes ?password=...
    match = _USER_COLON.match(masked)
    if match is None:
        return masked
    tail = match["tail"]
    first_at = tail.find("@")
    if first_at == -1:  # host:port, no password
        return masked
    query = tail.find("?", first_at)
    last_at = tail.rfind("@", 0, query if query != -1 else len(tail))
    if last_at == 0:  # "user:@host": an empty password
        return masked
    return f"{match['head']}***{tail[last_at:]}"


def sqlite_path(url: str) -> Path | None:
    """The database file of a file-backed SQLite URL, else ``None``."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    database = parsed.database
    if _is_sqlite_uri(parsed):  # sqlite:///file:PATH?mode=ro&uri=true: SQLite's own URI filename
        if parsed.query.get("mode") == "memory":
            return None
        database = database.removeprefix("file:")
        if database.startswith("//"):  # file:///abs/path or file://localhost/abs/path
            database = "/" + database[2:].partition("/")[2]
        if not database or database == ":memory:":
            return None
    return Path(database)


def _is_sqlite_uri(parsed: Any) -> bool:
    """Whether a parsed SQLite URL names its database as SQLite's own ``file:`` URI (``uri=true``)."""
    return str(parsed.query.get("uri")).lower() in ("true", "1") and (parsed.database or "").startswith("file:")


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
    if parsed.host and "@" in parsed.host:
        raise StorageError(
            f"Storage URL '{mask_password(url)}' has an '@' in its user name or password: percent-encode it "
            f"as %40 (e.g. postgresql://user:p%40ss@host/db)."
        )
    path = sqlite_path(url)
    if path is not None:
        if must_exist and not path.is_file():
            raise StorageError(f"No hpsearch database at {path} (storage '{mask_password(url)}').")
        if not path.parent.is_dir():
            raise StorageError(f"Cannot create SQLite database {path}: folder {path.parent} does not exist.")


def check_writable(url: str) -> None:
    """``StorageError`` if a SQLite storage cannot be written: read-only file or folder, or ``mode=ro``.

    ``start`` and ``resume`` check this before they write anything. Server databases are not checked
    here (their permissions are the server's); SQLite needs its folder writable too, for its journal.
    """
    from sqlalchemy.engine import make_url

    path = sqlite_path(url)
    if path is None:
        return
    parsed = make_url(url)
    if _is_sqlite_uri(parsed) and (parsed.query.get("mode") == "ro" or
                                   str(parsed.query.get("immutable")).lower() in ("1", "true")):
        reason = "the URL opens it read-only (mode=ro)" if parsed.query.get("mode") == "ro" else \
            "the URL opens it as immutable"
    elif path.exists() and not path.is_file():
        reason = "it is not a file"
    elif path.is_file() and not os.access(path, os.R_OK | os.W_OK):
        reason = "the file is read-only"
    elif path.parent.is_dir() and not os.access(path.parent, os.W_OK | os.X_OK):
        reason = f"its folder {path.parent} is read-only (SQLite writes its journal there)"
    else:
        return
    raise StorageError(f"Cannot write to SQLite database {path}: {reason} (storage '{mask_password(url)}').")
