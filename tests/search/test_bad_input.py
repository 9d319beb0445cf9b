"""Hostile input to every command: one ``Error:`` line, a non-zero exit, no traceback, nothing stored changes.

Each case runs in its own folder holding a copy of one small database (study ``base``, one trial,
made once for the module) as ``./hpsearch.db``, the default storage. Before and after the command,
the database's bytes and the listing of every folder involved (the case's and the base study's
artifacts) must be identical. The PostgreSQL cases check the rows of their own studies instead.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import uuid
from pathlib import Path

import click
import numpy as np
import optuna
import pytest
from click.testing import CliRunner

from hpsearch.search.cli.main import cli, known_errors
from tests.conftest import POSTGRES_URL, postgres_reachable
from tests.fresh_process import heavy_modules_loaded

BASE = "base"
SECRETS = ("hunter2", "ss@tail", "p@ss")  # passwords in the cases' URLs: never in the output
RO_URI = "sqlite:///file:hpsearch.db?mode=ro&uri=true"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
D = ["start", "digits_mlp", "--backend", "tpe"]  # a start whose every other choice is valid


@pytest.fixture(scope="module")
def base_folder(tmp_path_factory) -> Path:
    """A database with one small finished hpsearch study, ``base`` (seconds on digits)."""
    folder = tmp_path_factory.mktemp("base")
    with pytest.MonkeyPatch.context() as env:
        for name in ("HPSEARCH_STORAGE", "HPSEARCH_ARTIFACTS", "HPSEARCH_DATA_DIR"):
            env.delenv(name, raising=False)
        result = CliRunner().invoke(cli, [
            "start", "digits_mlp", "--backend", "optuna-random", "--study", BASE, "--storage",
            f"sqlite:///{folder / 'hpsearch.db'}", "--trials", "1", "--max-epochs", "1", "--train-samples", "200",
            "--seed", "0", "-q"])
    assert result.exit_code == 0, result.output
    return folder


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory) -> Path:
    """MNIST-like files that pass the cheap checks but hold the wrong arrays (60000 zero images)."""
    folder = tmp_path_factory.mktemp("data")
    images = np.zeros((60_000, 28, 28), np.uint8)
    np.savez_compressed(folder / "float_labels.npz", x_train=images, y_train=np.zeros(60_000, np.float32),
                        x_test=images[:10], y_test=np.zeros(10, np.int64))
    np.savez_compressed(folder / "labels_12.npz", x_train=images, y_train=np.full(60_000, 12),
                        x_test=images[:10], y_test=np.zeros(10, np.int64))
    return folder


@pytest.fixture(scope="module")
def busy_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken.getsockname()[1]


def write_data_files(folder: Path) -> None:
    """Broken dataset files, as a user might give them with --data."""
    small = folder / "small.npz"
    np.savez(small, x_train=np.zeros((10, 28, 28), np.uint8), y_train=np.zeros(10, np.int64),
             x_test=np.zeros((3, 28, 28), np.uint8), y_test=np.zeros(3, np.int64))
    whole = small.read_bytes()
    (folder / "truncated.npz").write_bytes(whole[: len(whole) // 2])
    (folder / "empty.npz").write_bytes(b"")
    (folder / "garbage.npz").write_bytes(bytes(range(256)) * 8)
    corrupted = bytearray(whole)
    corrupted[200:260] = b"\xff" * 60
    (folder / "corrupted.npz").write_bytes(bytes(corrupted))
    np.savez(folder / "other.npz", a=np.zeros(3))
    np.save(folder / "array.npy", np.zeros(3))
    (folder / "a_file").write_text("not a folder")


def tree(folder: Path) -> dict[str, object]:
    """Every file and folder under ``folder``: relative path -> size (files) or "dir". A SQLite database
    in WAL mode gets its ``-shm`` index and an empty ``-wal`` log when it is only read: those are left
    out; a log holding anything (a write not yet in the file) is not."""
    return {str(p.relative_to(folder)): ("dir" if p.is_dir() else p.stat().st_size)
            for p in sorted(folder.rglob("*"))
            if not (p.name.endswith("-shm") or (p.name.endswith("-wal") and p.stat().st_size == 0))}


def snapshot(case: Path, base: Path) -> tuple:
    database = (case / "hpsearch.db").read_bytes() if (case / "hpsearch.db").exists() else None
    return (hashlib.sha256(database).hexdigest() if database is not None else None, tree(case), tree(base))


def assert_one_clean_error(result, fragment: str, usage: bool = False) -> None:
    """Exit != 0 by SystemExit, no traceback, exactly one ``Error:`` line holding ``fragment``; only a
    click usage error (exit 2) may add click's usage lines above it."""
    output = result.output
    assert result.exit_code != 0, output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output, output
    lines = output.splitlines()
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, output
    if usage:
        assert result.exit_code == 2 and lines[0].startswith("Usage: ") and lines[-1] == errors[0], output
    else:
        assert result.exit_code == 1 and lines == errors, output
    assert fragment in errors[0], output
    for secret in SECRETS:
        assert secret not in output, output


LONG = "x" * 5000
CASES = [
    # start: names, backends and their settings
    ("unknown-space", ["start", "nope", "--backend", "tpe"],
     "Error: Unknown space 'nope'. Valid spaces are: deep_mlp, digits_cnn, digits_mlp, image_cnn, image_mlp, "
     "mnist_cnn, mnist_mlp; or give your own as path/to/file.py[:name] or package.module:name."),
    ("unknown-backend", ["start", "digits_mlp", "--backend", "nope"],
     "Error: Unknown backend 'nope'. Valid backends are: bayesian, bohb, cmaes, grid, hyperband, optuna-random, "
     "qmc, random, tpe."),
    ("unknown-option", [*D, "-o", "speed=9"],
     "Unknown setting 'speed' for backend 'tpe'. Valid settings are: n_startup_trials, multivariate, "
     "constant_liar, pruner."),
    ("option-not-int", [*D, "-o", "n_startup_trials=x"], "Setting 'n_startup_trials' must be int, but got 'x'."),
    ("option-below-minimum", ["start", "digits_mlp", "--backend", "hyperband", "-o", "factor=1"],
     "Setting 'factor' must be >= 2, but got 1."),
    ("option-nan", ["start", "digits_mlp", "--backend", "bayesian", "-o", "alpha=nan"],
     "Setting 'alpha' must be a finite number (not inf or nan), but got 'nan'."),
    ("option-inf", ["start", "digits_mlp", "--backend", "bayesian", "-o", "beta=inf"],
     "Setting 'beta' must be a finite number (not inf or nan), but got 'inf'."),
    ("option-bad-choice", [*D, "-o", "pruner=sometimes"], "Setting 'pruner' must be one of"),
    ("option-not-bool", [*D, "-o", "multivariate=maybe"], "Setting 'multivariate' must be bool, but got 'maybe'."),
    ("option-malformed", [*D, "-o", "factor"], "expected key=value, but got 'factor'", "usage"),
    ("pruner-choice", [*D, "--pruner", "nope"], "'nope' is not one of 'hyperband', 'median', 'none'", "usage"),
    # start: budgets
    ("trials-0", [*D, "--trials", "0"], "Error: --trials must be > 0, but got 0."),
    ("trials-negative", [*D, "--trials", "-1"], "Error: --trials must be > 0, but got -1."),
    ("trials-not-int", [*D, "--trials", "two"], "'two' is not a valid integer", "usage"),
    ("max-epochs-0", [*D, "--max-epochs", "0"], "Error: --max-epochs must be > 0, but got 0."),
    ("budget-epochs-0", [*D, "--budget-epochs", "0"], "Error: --budget-epochs must be > 0, but got 0."),
    ("timeout-inf", [*D, "--timeout", "inf"], "Error: --timeout must be a finite number (not inf or nan), but got inf."),
    ("timeout-nan", [*D, "--timeout", "nan"], "Error: --timeout must be a finite number (not inf or nan), but got nan."),
    ("timeout-overflow", [*D, "--timeout", "1e400"], "--timeout must be a finite number (not inf or nan), but got inf."),
    ("timeout-negative", [*D, "--timeout", "-1"], "Error: --timeout must be > 0, but got -1."),
    ("timeout-0", [*D, "--timeout", "0"], "Error: --timeout must be > 0, but got 0."),
    ("epoch-timeout-nan", [*D, "--epoch-timeout", "nan"], "--epoch-timeout must be a finite number (not inf or nan)"),
    ("epoch-timeout-minus-inf", [*D, "--epoch-timeout", "-inf"], "--epoch-timeout must be a finite number"),
    ("seed-negative", [*D, "--seed", "-1"], "Error: --seed must be between 0 and 2**31 - 1 (2147483647), but got -1."),
    ("seed-2-31", [*D, "--seed", str(2**31)], "--seed must be between 0 and 2**31 - 1 (2147483647), but got 2147483648."),
    # start: study names
    ("study-empty", [*D, "--study", ""], "Error: --study must be a name of 1 to 512 characters, but got an empty name."),
    ("study-5000", [*D, "--study", LONG], "--study must be at most 512 characters, but got 'xxxxxxxxxx"),
    ("study-513", [*D, "--study", "y" * 513], "(513 characters)."),
    ("study-newline", [*D, "--study", "a\nb"],
     "--study must not contain control characters (newline, tab, NUL, ...), but got 'a\\nb' (with '\\n')."),
    ("study-tab", [*D, "--study", "a\tb"], "but got 'a\\tb' (with '\\t')."),
    ("study-nul", [*D, "--study", "a\x00b"], "(with '\\x00')."),
    ("study-exists", [*D, "--study", BASE],
     "Error: Study 'base' already exists in sqlite:///hpsearch.db. Continue it with `hpsearch resume base`"),
    # start: storage
    ("storage-malformed", [*D, "--storage", "not a url"], "Error: Malformed storage URL '?://<unparsable URL>'"),
    ("storage-no-driver", [*D, "--storage", "nosuchdb://u:hunter2@h/db"],
     "Unsupported storage URL 'nosuchdb://u:***@h/db': SQLAlchemy has no driver 'nosuchdb'."),
    ("storage-no-folder", [*D, "--storage", "sqlite:///no/such/dir/x.db"], "folder no/such/dir does not exist"),
    ("storage-at-in-password", [*D, "--storage", "postgresql://postgres:p@ss@tail@127.0.0.1:5432/test"],
     "Storage URL 'postgresql://postgres:***@127.0.0.1:5432/test' has an '@' in its user name or password: "
     "percent-encode it as %40"),
    ("storage-unreachable", [*D, "--storage", "postgresql://me:hunter2@127.0.0.1:1/db"],
     "Cannot open storage 'postgresql://me:***@127.0.0.1:1/db'"),
    ("storage-read-only-uri", [*D, "--storage", RO_URI],
     "Cannot write to SQLite database hpsearch.db: the URL opens it read-only (mode=ro)"),
    ("storage-read-only-file", [*D], "Cannot write to SQLite database hpsearch.db: the file is read-only", "", "ro_file"),
    ("storage-read-only-folder", [*D], "is read-only (SQLite writes its journal there)", "", "ro_folder"),
    # start: artifacts
    ("artifacts-is-a-file", [*D, "--artifacts", "a_file"], "a_file: it is a file, not a folder."),
    ("artifacts-under-a-file", [*D, "--artifacts", "a_file/sub"], "a_file is a file, not a folder."),
    ("artifacts-not-writable", [*D, "--artifacts", "locked/sub"], "locked is not writable.", "", "locked"),
    # start: data
    ("data-for-digits", [*D, "--data", "missing.npz"],
     "Error: --data is only for the MNIST spaces: the digits spaces train on scikit-learn's built-in digits and "
     "take no file, but got --data 'missing.npz'."),
    ("data-missing", ["start", "mnist_cnn", "--backend", "tpe", "--data", "missing/mnist.npz"],
     "Error: MNIST file not found: missing/mnist.npz."),
    ("data-truncated", ["start", "mnist_cnn", "--backend", "tpe", "--data", "truncated.npz"],
     "Error: truncated.npz is not a valid .npz file (truncated or corrupted)"),
    ("data-empty", ["start", "mnist_cnn", "--backend", "tpe", "--data", "empty.npz"],
     "Error: empty.npz is empty: expected a Keras mnist.npz file with x_train, y_train, x_test, y_test."),
    ("data-garbage", ["start", "mnist_cnn", "--backend", "tpe", "--data", "garbage.npz"],
     "Error: garbage.npz is not a valid .npz file (truncated or corrupted)"),
    ("data-corrupted", ["start", "mnist_mlp", "--backend", "tpe", "--data", "corrupted.npz"],
     "Error: corrupted.npz is not a valid .npz file (truncated or corrupted): Bad CRC-32"),
    ("data-single-array", ["start", "mnist_cnn", "--backend", "tpe", "--data", "array.npy"],
     "array.npy is a single NumPy array, not an .npz archive: expected a Keras mnist.npz file with x_train, "
     "y_train, x_test, y_test."),
    ("data-other-arrays", ["start", "mnist_cnn", "--backend", "tpe", "--data", "other.npz"],
     "other.npz is not a Keras MNIST .npz file: it lacks x_train, y_train, x_test, y_test"),
    ("data-too-few-images", ["start", "mnist_cnn", "--backend", "tpe", "--data", "small.npz"],
     "small.npz must hold at least 60000 training images of 28x28, but x_train has shape (10, 28, 28)."),
    ("data-float-labels", ["start", "mnist_cnn", "--backend", "tpe", "--data", "{data}/float_labels.npz"],
     "y_train must hold one integer label per image of x_train, shape (60000,), but has shape (60000,) and dtype float32."),
    ("data-labels-out-of-range", ["start", "mnist_cnn", "--backend", "tpe", "--data", "{data}/labels_12.npz"],
     "y_train must hold digit labels 0 to 9, but holds 12 to 12."),
    ("train-samples-0", [*D, "--train-samples", "0"], "Error: --train-samples must be > 0, but got 0."),
    ("train-samples-too-many", [*D, "--train-samples", "5000"],
     "train_samples must be <= 1077 (the digits training split), but got 5000."),
    # resume
    ("resume-unknown-study", ["resume", "nope"], "Error: No study named 'nope' in this storage. Studies here: base."),
    ("resume-empty-name", ["resume", ""], "Error: STUDY must be a name of 1 to 512 characters, but got an empty name."),
    ("resume-long-name", ["resume", LONG], "STUDY must be at most 512 characters"),
    ("resume-timeout-nan", ["resume", BASE, "--timeout", "nan"], "--timeout must be a finite number (not inf or nan)"),
    ("resume-timeout-inf", ["resume", BASE, "--timeout", "inf"], "--timeout must be a finite number (not inf or nan)"),
    ("resume-trials-0", ["resume", BASE, "--trials", "0"], "Error: --trials must be > 0, but got 0."),
    ("resume-budget-negative", ["resume", BASE, "--budget-epochs", "-3"], "--budget-epochs must be > 0, but got -3."),
    ("resume-no-database", ["resume", BASE, "--storage", "sqlite:///none.db"], "No hpsearch database at none.db"),
    ("resume-read-only", ["resume", BASE, "--storage", RO_URI], "the URL opens it read-only (mode=ro)"),
    # compare
    ("compare-unknown-backend", ["compare", "digits_mlp", "-b", "tpe,nope"], "Unknown backend 'nope'. Valid backends"),
    ("compare-backend-twice", ["compare", "digits_mlp", "-b", "tpe,tpe"], "--backends names a backend twice: tpe,tpe."),
    ("compare-no-space", ["compare", "-b", "tpe"], "Name a SPACE and --backends"),
    ("compare-timeout-nan", ["compare", "digits_mlp", "-b", "tpe", "--timeout", "nan"],
     "--timeout must be a finite number (not inf or nan), but got nan."),
    ("compare-epoch-timeout-inf", ["compare", "digits_mlp", "-b", "tpe", "--epoch-timeout", "inf"],
     "--epoch-timeout must be a finite number"),
    ("compare-seeds-0", ["compare", "digits_mlp", "-b", "tpe", "--seeds", "0"], "--seeds must be > 0, but got 0."),
    ("compare-seeds-huge", ["compare", "digits_mlp", "-b", "tpe", "--seeds", "100000"],
     "--seeds must be at most 1000 (each seed is a study per backend), but got 100000."),
    ("compare-name-empty", ["compare", "digits_mlp", "-b", "tpe", "--name", ""], "--name must be a name of 1 to"),
    ("compare-name-too-long", ["compare", "digits_mlp", "-b", "tpe", "--name", "n" * 510],
     "--name must be at most 505 characters (its studies NAME-BACKEND-sSEED must fit in 512)"),
    ("compare-data-for-digits", ["compare", "digits_mlp", "-b", "tpe", "--data", "x.npz"],
     "--data is only for the MNIST spaces"),
    ("compare-data-truncated", ["compare", "mnist_mlp", "-b", "tpe,random", "--data", "truncated.npz"],
     "truncated.npz is not a valid .npz file (truncated or corrupted)"),
    ("compare-artifacts-file", ["compare", "digits_mlp", "-b", "tpe,random", "--artifacts", "a_file"],
     "it is a file, not a folder."),
    ("compare-read-only", ["compare", "digits_mlp", "-b", "tpe", "--storage", RO_URI], "read-only (mode=ro)"),
    ("compare-target-nan", ["compare", "digits_mlp", "-b", "tpe", "--target", "nan"],
     "--target takes finite numbers (not inf or nan), but got 'nan'."),
    ("compare-output-format", ["compare", "digits_mlp", "-b", "tpe", "-o", "x.xyz"], "Cannot tell the report format"),
    ("compare-resume-unknown", ["compare", "--resume", "nope"], "No compare run named 'nope' in this storage"),
    # report
    ("report-unknown-study", ["report", "nope"], "No study named 'nope' in this storage. Studies here: base."),
    ("report-nothing-named", ["report"], "Name at least one study, or use --all or --compare NAME."),
    ("report-format", ["report", BASE, "--format", "xml"], "'xml' is not one of 'html', 'md', 'csv', 'json'", "usage"),
    ("report-suffix", ["report", BASE, "-o", "x.xyz"], "Cannot tell the report format from 'x.xyz'"),
    ("report-target-inf", ["report", BASE, "--target", "inf"], "--target takes finite numbers (not inf or nan)"),
    ("report-target-text", ["report", BASE, "--target", "high"], "--target takes numbers separated by commas"),
    ("report-output-too-long", ["report", BASE, "-o", "r" * 300 + ".md"], "File name too long"),
    ("report-no-database", ["report", BASE, "--storage", "sqlite:///none.db"], "No hpsearch database at none.db"),
    # export
    ("export-format", ["export", BASE, "--format", "xml"], "'xml' is not one of 'csv', 'json'", "usage"),
    ("export-unknown-study", ["export", "nope"], "No study named 'nope' in this storage. Studies here: base."),
    ("export-no-folder", ["export", BASE, "-o", "missing/dir/x.csv"], "folder missing/dir does not exist"),
    ("export-suffix", ["export", BASE, "-o", "x.xml"], "Cannot tell the format from -o x.xml"),
    ("export-trial-without-model", ["export", BASE, "--trial", "0"], "--trial chooses the model to export"),
    ("export-model-suffix", ["export", BASE, "--model", "m.h5"], "--model must be a path ending in .keras"),
    ("export-model-trial", ["export", BASE, "--model", "m.keras", "--trial", "7"],
     "--trial must be a trial number of study 'base' (0 to 0), but got 7."),
    # retrain
    ("retrain-unknown-study", ["retrain", "nope"], "No study named 'nope' in this storage."),
    ("retrain-trial", ["retrain", BASE, "--trial", "99"], "--trial must be a trial number of study 'base'"),
    ("retrain-epochs-0", ["retrain", BASE, "--epochs", "0"], "Error: --epochs must be > 0, but got 0."),
    ("retrain-read-only", ["retrain", BASE, "--storage", RO_URI], "the URL opens it read-only (mode=ro)"),
    # dashboard
    ("dashboard-busy-port", ["dashboard", "--port", "{busy_port}"],
     "Error: Port {busy_port} on 127.0.0.1 is in use: pick another with --port."),
    ("dashboard-port-0", ["dashboard", "--port", "0"], "0 is not in the range 1<=x<=65535", "usage"),
    ("dashboard-unknown-host", ["dashboard", "--host", "no.such.host.invalid"],
     "Cannot listen on --host 'no.such.host.invalid'"),
    ("dashboard-no-database", ["dashboard", "--storage", "sqlite:///none.db"], "No hpsearch database at none.db"),
    # studies, show, spaces
    ("studies-no-database", ["studies", "--storage", "sqlite:///none.db"], "No hpsearch database at none.db"),
    ("studies-malformed", ["studies", "--storage", "postgresql//u:hunter2@h"], "Malformed storage URL"),
    ("show-unknown-study", ["show", "nope"], "Error: No study named 'nope' in this storage. Studies here: base."),
    ("show-control-characters", ["show", "a\nb\x00"], "No study named 'a\\nb\\x00' in this storage."),
    ("spaces-show-unknown", ["spaces", "show", "nope"], "Unknown space 'nope'"),
]


@pytest.mark.parametrize(("args", "fragment", "kind", "setup"),
                         [pytest.param(c[1], c[2], c[3] if len(c) > 3 else "", c[4] if len(c) > 4 else "", id=c[0])
                          for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(args, fragment, kind, setup, isolated, base_folder, data_folder,
                                                   busy_port):
    if setup and IS_ROOT:
        pytest.skip("running as root: file permissions do not stop root from writing")
    case = Path(isolated)
    shutil.copyfile(base_folder / "hpsearch.db", case / "hpsearch.db")
    write_data_files(case)
    places = {"data": str(data_folder), "busy_port": str(busy_port)}
    for name, value in places.items():
        args = [arg.replace(f"{{{name}}}", value) for arg in args]
        fragment = fragment.replace(f"{{{name}}}", value)
    if setup == "ro_file":
        (case / "hpsearch.db").chmod(0o444)
    elif setup == "ro_folder":
        case.chmod(0o555)
    elif setup == "locked":
        (case / "locked").mkdir(mode=0o555)
    try:
        before = snapshot(case, base_folder)
        result = CliRunner().invoke(cli, args)
        assert_one_clean_error(result, fragment, usage=kind == "usage")
        assert snapshot(case, base_folder) == before, "nothing may be written on bad input"
    finally:
        case.chmod(0o755)


def test_export_of_a_truncated_weights_file_is_one_error_line(isolated, base_folder):
    case = Path(isolated)
    shutil.copyfile(base_folder / "hpsearch.db", case / "hpsearch.db")
    storage = optuna.storages.RDBStorage("sqlite:///hpsearch.db")
    study_id = storage.get_study_id_from_name(BASE)
    meta = storage.get_study_system_attrs(study_id)["hpsearch:meta"]
    shutil.copytree(meta["artifacts"], case / "artifacts" / "base")
    storage.set_study_system_attr(study_id, "hpsearch:meta", {**meta, "artifacts": str(case / "artifacts" / "base")})
    storage.engine.dispose()
    weights = case / "artifacts" / "base" / "checkpoints" / "trial-00000" / "best.weights.h5"
    whole = weights.read_bytes()
    weights.write_bytes(whole[: len(whole) // 2])
    before = snapshot(case, base_folder)
    result = CliRunner().invoke(cli, ["export", BASE, "--model", "m.keras"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == [result.output.splitlines()[-1]], result.output
    assert errors[0].startswith("Error: The best weights of trial 0 (") and "truncated or corrupted" in errors[0]
    assert snapshot(case, base_folder) == before


def test_the_table_covers_every_command():
    commands = {case[1][0] for case in CASES}
    assert commands >= {"start", "resume", "compare", "report", "export", "retrain", "dashboard", "studies", "show"}
    assert len(CASES) >= 30


def test_bad_values_are_refused_before_tensorflow_is_imported():
    invocations = (["start", "digits_mlp", "-b", "tpe", "--timeout", "inf"], ["start", "x", "-b", "y", "--seed", "-1"],
                   ["start", "digits_mlp", "-b", "tpe", "--study", ""], ["resume", "s", "--timeout", "nan"],
                   ["compare", "digits_mlp", "-b", "tpe", "--epoch-timeout", "nan"])
    assert heavy_modules_loaded(invocations, exit_codes=(1,), output_prefix="Error: ") == []


def test_a_storage_failure_past_the_checks_is_one_line_without_password(isolated):
    """The safety net: an Optuna storage error that the checks did not foresee still prints one line."""
    import sqlalchemy.exc

    @click.command("explode")
    def explode() -> None:
        cause = sqlalchemy.exc.OperationalError(
            "INSERT ...", {}, Exception("attempt to write a readonly database at postgresql://u:hunter2@h/db"))
        raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from cause

    cli.add_command(explode)
    try:
        result = CliRunner().invoke(cli, ["explode"])
    finally:
        cli.commands.pop("explode")
    assert_one_clean_error(result, "Error: The storage refused the operation: (builtins.Exception) attempt to write "
                                   "a readonly database at postgresql://u:***@h/db")


def test_a_message_with_a_newline_is_still_one_line(isolated):
    @click.command("newline")
    def newline() -> None:
        raise known_errors()[0]("No study named 'a\nb'.")

    cli.add_command(newline)
    try:
        result = CliRunner().invoke(cli, ["newline"])
    finally:
        cli.commands.pop("newline")
    assert_one_clean_error(result, "Error: No study named 'a\\nb'.")


# PostgreSQL: the same rules; "nothing changes" is checked on the rows of this module's own studies.

@pytest.fixture(scope="module")
def pg_prefix(base_folder):
    reason = postgres_reachable()
    if reason:
        pytest.skip(reason)
    prefix = f"badinput-{uuid.uuid4().hex[:8]}"
    optuna.copy_study(from_study_name=BASE, from_storage=f"sqlite:///{base_folder / 'hpsearch.db'}",
                      to_storage=POSTGRES_URL, to_study_name=f"{prefix}-base")
    yield prefix
    storage = optuna.storages.RDBStorage(POSTGRES_URL)
    for name in own_studies(storage, prefix):
        optuna.delete_study(study_name=name, storage=storage)
    storage.engine.dispose()


def own_studies(storage: optuna.storages.RDBStorage, prefix: str) -> list[str]:
    """The names of this test's studies. (A summary of every study in the shared database fails with
    "Record does not exist" when another test deletes one of its own meanwhile.)"""
    return [study.study_name for study in storage.get_all_studies() if study.study_name.startswith(prefix)]


def pg_rows(prefix: str) -> dict:
    """Every stored detail of the studies whose names start with ``prefix``."""
    storage = optuna.storages.RDBStorage(POSTGRES_URL)
    rows = {}
    for name in own_studies(storage, prefix):
        study_id = storage.get_study_id_from_name(name)
        trials = [(t.number, t.state, t.values, t.params, t.user_attrs, t.system_attrs, t.intermediate_values)
                  for t in storage.get_all_trials(study_id)]
        rows[name] = (storage.get_study_user_attrs(study_id), storage.get_study_system_attrs(study_id), trials)
    storage.engine.dispose()
    return rows


PG = ["--storage", POSTGRES_URL]
PG_CASES = [
    ("timeout-inf", [*D, *PG, "--study", "{prefix}-new", "--timeout", "inf"], "--timeout must be a finite number"),
    ("seed-negative", [*D, *PG, "--study", "{prefix}-new", "--seed", "-1"], "--seed must be between 0 and 2**31 - 1"),
    ("option-nan", ["start", "digits_mlp", "--backend", "bayesian", *PG, "--study", "{prefix}-new", "-o", "alpha=nan"],
     "Setting 'alpha' must be a finite number"),
    ("study-exists", [*D, *PG, "--study", "{prefix}-base"], "Study '{prefix}-base' already exists in"),
    ("study-newline", [*D, *PG, "--study", "{prefix}\n-new"], "--study must not contain control characters"),
    ("artifacts-file", [*D, *PG, "--study", "{prefix}-new", "--artifacts", "a_file"], "it is a file, not a folder."),
    ("data-for-digits", [*D, *PG, "--study", "{prefix}-new", "--data", "x.npz"], "--data is only for the MNIST spaces"),
    ("resume-timeout-nan", ["resume", "{prefix}-base", *PG, "--timeout", "nan"], "--timeout must be a finite number"),
    ("resume-unknown", ["resume", "{prefix}-nope", *PG], "No study named '{prefix}-nope' in this storage."),
    ("compare-data", ["compare", "mnist_mlp", "-b", "tpe,random", *PG, "--name", "{prefix}-cmp", "--data", "empty.npz"],
     "empty.npz is empty"),
    ("compare-option-free-timeout", ["compare", "digits_mlp", "-b", "tpe", *PG, "--name", "{prefix}-cmp",
                                     "--timeout", "-inf"], "--timeout must be a finite number"),
    ("retrain-trial", ["retrain", "{prefix}-base", *PG, "--trial", "5"], "--trial must be a trial number"),
    ("no-such-database", [*D, "--storage", "postgresql://postgres:hunter2@127.0.0.1:5432/no_such_db_hpsearch",
                          "--study", "{prefix}-new"], "Cannot open storage 'postgresql://postgres:***@127.0.0.1"),
]


@pytest.mark.parametrize(("args", "fragment"), [pytest.param(c[1], c[2], id=c[0]) for c in PG_CASES])
def test_bad_input_on_postgresql_changes_nothing(args, fragment, pg_prefix, isolated):
    write_data_files(Path(isolated))
    args = [arg.replace("{prefix}", pg_prefix) for arg in args]
    before = pg_rows(pg_prefix)
    assert f"{pg_prefix}-base" in before
    listing = tree(Path(isolated))
    result = CliRunner().invoke(cli, args)
    assert_one_clean_error(result, fragment.replace("{prefix}", pg_prefix))
    assert pg_rows(pg_prefix) == before, "nothing may be written on bad input"
    assert tree(Path(isolated)) == listing
