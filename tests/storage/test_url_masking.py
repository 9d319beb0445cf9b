"""Passwords never show, whatever they hold; SQLite URI filenames; which storages can be written."""
from __future__ import annotations

import pytest

from hpsearch.storage.urls import StorageError, check_url, check_writable, mask_password, sqlite_path


@pytest.mark.parametrize(
    ("url", "shown", "secret"),
    [
        ("postgresql://postgres:p@ss@tail@host/db", "postgresql://postgres:***@host/db", "tail"),
        ("postgresql://u:pa/ss@host:5432/db", "postgresql://u:***@host:5432/db", "pa/ss"),
        ("postgresql://u:p:w@host:5432/db", "postgresql://u:***@host:5432/db", "p:w"),
        ("postgresql://u:p%40ss@host/db", "postgresql://u:***@host/db", "p%40ss"),
        ("postgresql+psycopg://u:p?w@host/db", "postgresql+psycopg://u:***@host/db", "p?w"),
        ("postgresql://u:p@s/s@host/db", "postgresql://u:***@host/db", "s/s"),
        ("postgresql://u:pw@host/db?application_name=a@b", "postgresql://u:***@host/db?application_name=a@b", "pw@"),
        ("postgresql://u@host/db?password=sec&sslmode=require", "postgresql://u@host/db?password=***&sslmode=require",
         "sec"),
        ("mysql+pymysql://root:r00t@localhost/hp", "mysql+pymysql://root:***@localhost/hp", "r00t"),
    ],
)
def test_the_whole_password_is_masked(url, shown, secret):
    assert mask_password(url) == shown
    assert secret not in mask_password(url)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@host/db",  # a user, no password
        "postgresql://host:5432/db",  # host:port is no password
        "postgresql://u:@host/db",  # an empty password
        "sqlite:///hpsearch.db",
        "sqlite:////tmp/a@b/x:y.db",
        "sqlite:///file:hpsearch.db?mode=ro&uri=true",
    ],
)
def test_urls_without_a_password_are_shown_as_given(url):
    assert mask_password(url) == url


@pytest.mark.parametrize("url", ["postgresql//alice:s3cret@host", "not a url", "alice:s3cret@host", "://:s3cret@"])
def test_unparsable_urls_show_nothing_but_their_scheme(url):
    shown = mask_password(url)
    assert "<unparsable URL>" in shown and "s3cret" not in shown and "alice" not in shown


def test_an_at_sign_in_a_password_must_be_percent_encoded():
    with pytest.raises(StorageError) as error:
        check_url("postgresql://postgres:p@ss@tail@127.0.0.1:5432/test")
    assert str(error.value) == (
        "Storage URL 'postgresql://postgres:***@127.0.0.1:5432/test' has an '@' in its user name or password: "
        "percent-encode it as %40 (e.g. postgresql://user:p%40ss@host/db).")
    check_url("postgresql://postgres:p%40ss%40tail@127.0.0.1:5432/test")  # the encoded form is fine


def test_sqlite_uri_filenames_name_their_file(tmp_path):
    assert sqlite_path(f"sqlite:///file:{tmp_path}/x.db?mode=ro&uri=true") == tmp_path / "x.db"
    assert sqlite_path(f"sqlite:///file://{tmp_path}/x.db?uri=true") == tmp_path / "x.db"
    assert sqlite_path("sqlite:///file:x.db?uri=true") == sqlite_path("sqlite:///x.db")
    assert sqlite_path("sqlite:///file:mem?mode=memory&uri=true") is None
    assert sqlite_path("sqlite:///file:x.db") is not None  # without uri=true, a plain (odd) file name


def test_read_only_sqlite_storages_are_refused_before_writing(tmp_path):
    database = tmp_path / "x.db"
    database.write_bytes(b"")
    check_writable(f"sqlite:///{database}")
    check_writable("postgresql://u:pw@host/db")  # a server's permissions are the server's
    with pytest.raises(StorageError, match=r"Cannot write to SQLite database .*x\.db: the URL opens it read-only"):
        check_writable(f"sqlite:///file:{database}?mode=ro&uri=true")
    with pytest.raises(StorageError, match="it is not a file"):
        check_writable(f"sqlite:///{tmp_path}")


@pytest.mark.skipif(hasattr(__import__("os"), "geteuid") and __import__("os").geteuid() == 0,
                    reason="running as root: file permissions do not stop root from writing")
def test_read_only_files_and_folders_are_refused(tmp_path):
    database = tmp_path / "x.db"
    database.write_bytes(b"")
    database.chmod(0o444)
    with pytest.raises(StorageError, match="the file is read-only"):
        check_writable(f"sqlite:///{database}")
    database.chmod(0o644)
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(StorageError, match="read-only .SQLite writes its journal there."):
            check_writable(f"sqlite:///{database}")
    finally:
        tmp_path.chmod(0o755)
