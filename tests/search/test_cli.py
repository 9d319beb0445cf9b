"""The CLI through click's CliRunner: listings, and bad input (one line, non-zero exit, nothing written)."""
from __future__ import annotations

import re

from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner

from hpsearch.search.backends import backend_names
from hpsearch.search.cli.main import cli
from hpsearch.spaces import SPACES


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def assert_one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: "), result.output
    assert result.output.count("\n") == 1, result.output
    assert "Traceback" not in result.output
    assert fragment in result.output, result.output


@pytest.mark.parametrize("command", [[], ["start"], ["studies"], ["show"], ["spaces"], ["spaces", "show"],
                                     ["backends"], ["dashboard"]])
def test_every_command_has_help(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and "Usage: " in result.output


def test_spaces_lists_every_space_and_shows_one():
    listing = invoke("spaces")
    assert listing.exit_code == 0
    for name in SPACES:
        assert name in listing.output
    shown = invoke("spaces", "show", "mnist_cnn")
    assert "units_2        int 32..512 step 32, default 128  (when dense_layers in [2])" in shown.output
    as_json = invoke("spaces", "show", "digits_mlp", "--json")
    assert '"builder": "hpsearch.spaces.builders:build_mlp"' in as_json.output


def test_backends_lists_family_algorithm_and_settings():
    result = invoke("backends")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    for name in backend_names():
        assert any(re.match(rf"{re.escape(name)}\s+(optuna|keras-tuner)\s+\S", line) for line in lines), name
    assert re.search(r"^hyperband\s+keras-tuner\s+Hyperband .*\s+no\s+epochs$", result.output, re.M)
    assert re.search(r"^tpe\s+optuna\s+.*\s+per epoch\s+trials$", result.output, re.M)
    assert re.search(r"^hyperband\s+factor\s+3\s+Reduction factor", result.output, re.M)
    assert re.search(r"^\s+multivariate\s+true\s+Model parameters jointly", result.output, re.M)
    assert "True" not in result.output and "False" not in result.output
    assert max(len(line) for line in lines) <= 100


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["start", "nope", "--backend", "tpe"], "Unknown space 'nope'. Valid spaces are: deep_mlp, digits_cnn, digits_mlp, image_cnn, image_mlp, "
                                                 "mnist_cnn, mnist_mlp; or give your own"),
        (["start", "digits_mlp", "--backend", "nope"], "Unknown backend 'nope'. Valid backends are: "),
        (["start", "digits_mlp", "--backend", "tpe", "--trials", "0"], "--trials must be > 0, but got 0."),
        (["start", "digits_mlp", "--backend", "tpe", "--max-epochs", "-2"], "--max-epochs must be > 0, but got -2."),
        (["start", "digits_mlp", "--backend", "tpe", "--timeout", "0"], "--timeout must be > 0, but got 0."),
        (["start", "digits_mlp", "--backend", "tpe", "--train-samples", "0"], "--train-samples must be > 0"),
        (["start", "digits_mlp", "--backend", "hyperband", "-o", "factor=1"], "Setting 'factor' must be >= 2, but got 1."),
        (["start", "digits_mlp", "--backend", "hyperband", "-o", "speed=9"], "Unknown setting 'speed' for backend 'hyperband'. Valid settings are: factor, hyperband_iterations, reference_epochs."),
        (["start", "digits_mlp", "--backend", "tpe", "--storage", "not a url"], "Malformed storage URL"),
        (["start", "digits_mlp", "--backend", "tpe", "--storage", "sqlite:///no/such/dir/x.db"], "folder no/such/dir does not exist"),
        (["start", "digits_mlp", "--backend", "tpe", "--storage", "postgresql://me:hunter2@127.0.0.1:1/db"], "Cannot open storage 'postgresql://me:***@127.0.0.1:1/db'"),
        (["start", "mnist_cnn", "--backend", "tpe", "--data", "missing/mnist.npz"], "MNIST file not found: missing/mnist.npz"),
        (["studies"], "No hpsearch database at hpsearch.db"),
        (["show", "x"], "No hpsearch database at hpsearch.db"),
        (["dashboard"], "No hpsearch database at hpsearch.db"),
        (["spaces", "show", "nope"], "Unknown space 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(args, fragment, isolated):
    result = invoke(*args)
    assert_one_line_error(result, fragment)
    assert "hunter2" not in result.output
    assert list(Path(isolated).iterdir()) == [], "nothing may be written on bad input"


def test_malformed_option_is_a_usage_error():
    result = invoke("start", "digits_mlp", "--backend", "tpe", "-o", "factor")
    assert result.exit_code == 2 and "expected key=value, but got 'factor'" in result.output


def test_starting_an_existing_study_suggests_resume_and_changes_nothing(sqlite_url):
    first = invoke("start", "digits_mlp", "--backend", "tpe", "--storage", sqlite_url, "--study", "mine",
                   "--trials", "1", "--max-epochs", "1", "-q")
    assert first.exit_code == 0, first.output
    before = optuna.load_study(study_name="mine", storage=sqlite_url).trials
    second = invoke("start", "digits_mlp", "--backend", "hyperband", "--storage", sqlite_url, "--study", "mine")
    assert_one_line_error(second, "Study 'mine' already exists")
    assert "hpsearch resume mine" in second.output
    after = optuna.load_study(study_name="mine", storage=sqlite_url).trials
    assert [(t.number, t.state, t.value, t.params) for t in after] == [(t.number, t.state, t.value, t.params) for t in before]


def test_show_of_an_unknown_study_lists_the_studies(sqlite_url):
    invoke("start", "digits_mlp", "--backend", "tpe", "--storage", sqlite_url, "--study", "only",
           "--trials", "1", "--max-epochs", "1", "-q")
    assert_one_line_error(invoke("show", "other", "--storage", sqlite_url), "Studies here: only.")


def test_storage_comes_from_the_environment(sqlite_url, monkeypatch):
    monkeypatch.setenv("HPSEARCH_STORAGE", sqlite_url)
    result = invoke("start", "digits_mlp", "--backend", "tpe", "--study", "env", "--trials", "1",
                    "--max-epochs", "1", "-q")
    assert result.exit_code == 0, result.output
    assert re.search(rf"^storage\s+{re.escape(sqlite_url)}$", result.output, re.M)
    assert "env" in invoke("studies").output
