from __future__ import annotations

import pytest

from hpsearch.storage.artifacts import TrialCheckpoints, artifact_dir, safe_name
from hpsearch.storage.urls import DEFAULT_STORAGE_URL, StorageError, check_url, mask_password, resolve_url


def test_resolution_order_is_flag_then_environment_then_default(monkeypatch):
    assert resolve_url(None) == DEFAULT_STORAGE_URL == "sqlite:///hpsearch.db"
    monkeypatch.setenv("HPSEARCH_STORAGE", "sqlite:///from-env.db")
    assert resolve_url(None) == "sqlite:///from-env.db"
    assert resolve_url("sqlite:///given.db") == "sqlite:///given.db"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://alice:s3cret@db.example:5432/hp", "postgresql://alice:***@db.example:5432/hp"),
        ("postgresql+psycopg2://bob:p%40ss@localhost/hp", "postgresql+psycopg2://bob:***@localhost/hp"),
        ("sqlite:///hpsearch.db", "sqlite:///hpsearch.db"),
    ],
)
def test_passwords_are_masked(url, shown):
    assert mask_password(url) == shown
    assert "s3cret" not in mask_password(url)


def test_unparsable_urls_show_no_credentials():
    shown = mask_password("postgresql//alice:s3cret@host")
    assert "s3cret" not in shown and "<unparsable URL>" in shown


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "Malformed storage URL"),
        ("nosuchdb://user:pw@host/db", "SQLAlchemy has no driver 'nosuchdb'"),
        ("sqlite:///missing-folder/x.db", "folder missing-folder does not exist"),
    ],
)
def test_bad_urls_are_one_line_errors(url, message):
    with pytest.raises(StorageError, match=message) as error:
        check_url(url)
    assert "\n" not in str(error.value)
    assert "pw@" not in str(error.value)


def test_must_exist_refuses_a_missing_sqlite_file(tmp_path):
    with pytest.raises(StorageError, match="No hpsearch database at"):
        check_url(f"sqlite:///{tmp_path / 'none.db'}", must_exist=True)
    assert not (tmp_path / "none.db").exists()


def test_artifacts_sit_beside_a_sqlite_file(tmp_path):
    folder = artifact_dir(f"sqlite:///{tmp_path / 'db' / 'x.db'}", "my study/1", token="0a1b2c3d")
    assert folder == (tmp_path / "db" / "hpsearch-artifacts" / "my_study_1-0a1b2c3d").resolve()
    assert safe_name("a/b c") == "a_b_c"


def test_artifacts_of_server_storages_follow_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HPSEARCH_ARTIFACTS", str(tmp_path / "art"))
    assert artifact_dir("postgresql://u@h/db", "s", token="t") == (tmp_path / "art" / "s-t").resolve()
    given = artifact_dir("postgresql://u@h/db", "s", root=str(tmp_path / "given"), token="t")
    assert given == (tmp_path / "given" / "s-t").resolve()


def test_study_names_that_map_to_one_readable_name_never_share_a_folder(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert safe_name("étude-日本") == "étude-日本"  # letters of any script stay readable
    names = ["a/b", "a b", "a:b", "a_b"]  # one readable name, "a_b", for all four
    assert {safe_name(n) for n in names} == {"a_b"}
    folders = {artifact_dir(url, name) for name in names}
    assert len(folders) == len(names)


def test_a_very_long_study_name_gives_a_folder_name_the_file_system_accepts(tmp_path):
    folder = artifact_dir(f"sqlite:///{tmp_path / 'x.db'}", "日" * 5000)
    assert len(folder.name.encode()) <= 255
    folder.mkdir(parents=True)  # would raise "File name too long" otherwise


def test_checkpoint_paths_are_per_trial(tmp_path):
    checkpoints = TrialCheckpoints(tmp_path)
    assert checkpoints.path(3).name == "best.weights.h5"
    assert checkpoints.path(3, "last").parent == checkpoints.path(3).parent
    assert checkpoints.path(3) != checkpoints.path(4)
    with pytest.raises(ValueError, match="which must be 'best' or 'last'"):
        checkpoints.path(3, "worst")
    assert not checkpoints.exists(3)
