"""What a new user meets first: no library chatter, quick one-line answers to typos, whole help texts,
and `studies` / `show` / `spaces` / `backends` as aligned tables or JSON / YAML, no Python reprs."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from click.testing import CliRunner

from hpsearch.search.backends import backend_names
from hpsearch.search.cli.main import cli
from hpsearch.spaces import SPACES
from hpsearch.storage import record

HPSEARCH = [sys.executable, "-c", "from hpsearch.search.cli.main import main; main()"]
WIDTH = 100  # output.PLAIN_WIDTH: lines when stdout is not a terminal
REPRS = re.compile(r"\{'|'\}|\bNone\b|\bTrue\b|\bFalse\b|=None")


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def run(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "HPSEARCH_VERBOSE")}
    env.update(env_extra or {})
    return subprocess.run([*HPSEARCH, *args], capture_output=True, text=True, env=env, timeout=300)


def assert_tidy(text: str) -> None:
    """No line wider than the plain width, no trailing blanks, no Python reprs."""
    for line in text.splitlines():
        assert len(line) <= WIDTH, line
        assert line == line.rstrip(), repr(line)
    found = REPRS.search(text)
    assert found is None, f"a Python repr in the output: {found[0]!r}\n{text}"


@pytest.mark.parametrize(("args", "message"), [
    (["start", "digits_cn", "-b", "tpe"], "Error: Unknown space 'digits_cn'. Did you mean 'digits_cnn'?"),
    (["start", "digits_cnn", "-b", "hyperbnd"], "Error: Unknown backend 'hyperbnd'. Did you mean 'hyperband'?"),
    (["start", "nosuch.py", "-b", "tpe"], "Error: Space file not found: "),
    (["compare", "digits_cnn", "-b", "tpe,tpee"], "Error: Unknown backend 'tpee'."),
])
def test_a_typo_gets_one_line_before_tensorflow_is_imported(args, message):
    result = subprocess.run([sys.executable, "-X", "importtime", *HPSEARCH[1:], *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert "hpsearch.search.cli.main" in imported and "tensorflow" not in imported and "keras" not in imported
    said = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    assert len(said) == 1 and said[0].startswith(message), said
    assert result.stdout == ""


def test_a_run_shows_no_library_chatter_unless_verbose():
    url = "sqlite:///quiet.db"  # in the test's own folder
    quiet = run("start", "digits_mlp", "-b", "tpe", "--trials", "1", "--max-epochs", "1", "-q", "--storage", url,
                "--study", "quiet")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "", quiet.stderr  # TensorFlow's absl/oneDNN/cuda lines, warnings: none
    assert_tidy(quiet.stdout.replace(str(Path.cwd()), "TMP"))  # a path is never wrapped
    verbose = run("-v", "resume", "quiet", "--trials", "1", "--storage", url)
    assert verbose.returncode == 0, verbose.stderr
    assert re.search(r"absl|oneDNN|cuda|cpu_feature_guard", verbose.stderr), verbose.stderr


def test_help_texts_are_whole_and_name_the_choices():
    root = invoke("--help").output
    commands = root[root.index("Commands:"):].splitlines()[1:]
    assert {line.split()[0] for line in commands if line.strip()} == set(cli.commands)
    assert not [line for line in commands if line.rstrip().endswith("...")], root
    start = invoke("start", "--help").output
    assert "[" + "|".join(backend_names()) + "]" in start
    assert "Examples:" in start and "hpsearch start mnist_cnn --backend hyperband" in start
    for name, command in cli.commands.items():
        helps = [invoke(name, "--help").output]
        helps += [invoke(name, sub, "--help").output for sub in getattr(command, "commands", {})]
        for text in helps:
            assert "FLOAT" not in text, text  # times read as SECONDS
            assert "Traceback" not in text


@pytest.fixture(scope="module")
def studies_url(tmp_path_factory) -> str:
    """One storage with a Hyperband study (promotions), a study whose every trial failed, and one retrained."""
    url = f"sqlite:///{tmp_path_factory.mktemp('shown') / 'shown.db'}"
    for args in (["digits_mlp", "-b", "hyperband", "--max-epochs", "3", "--study", "hb", "--seed", "0"],
                 ["digits_mlp", "-b", "tpe", "--trials", "3", "--max-epochs", "2", "--study", "slow",
                  "--epoch-timeout", "0.0001"]):
        result = CliRunner().invoke(cli, ["start", *args, "--storage", url, "-q"])
        assert result.exit_code == 0, result.output
    return url


def test_show_is_a_clean_summary_with_each_configuration_once(studies_url):
    shown = invoke("show", "hb", "--storage", studies_url, "--top", "20")
    assert shown.exit_code == 0
    assert_tidy(shown.output.replace(studies_url, "URL"))  # a URL in a command to copy is never wrapped
    data = json.loads(invoke("show", "hb", "--storage", studies_url, "-f", "json", "--top", "20").output)
    study = optuna.load_study(study_name="hb", storage=studies_url)
    assert data["best"]["trial"] == study.best_trial.number and data["best"]["value"] == study.best_value
    assert f"Best trial {study.best_trial.number}: val_accuracy {study.best_value:.4f}" in shown.output
    assert data["backend_settings"] == {"factor": 3, "hyperband_iterations": 1, "reference_epochs": 0}
    assert "hyperband (factor 3, hyperband_iterations 1, reference_epochs 0)" in shown.output

    def root(trial):
        while record.PROMOTED_FROM in trial.user_attrs:
            trial = study.trials[trial.user_attrs[record.PROMOTED_FROM]]
        return trial.number

    promoted = [t for t in study.trials if record.PROMOTED_FROM in t.user_attrs]
    assert promoted, "a Hyperband run of 3 epochs promotes"
    listed = [entry["trial"] for entry in data["top"]]
    roots = [root(study.trials[n]) for n in listed]
    assert len(set(roots)) == len(roots), "a promoted trial and its parent are one configuration"
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(listed) == len({root(t) for t in complete})  # every configuration, once
    values = [entry["value"] for entry in data["top"]]
    assert values == sorted(values, reverse=True)
    for entry in data["top"]:
        for other in entry["same_configuration"]:
            assert root(study.trials[other["trial"]]) == root(study.trials[entry["trial"]])
            assert other["value"] <= entry["value"]
            assert f"{entry['trial']} (+{other['trial']}" in shown.output
    assert f"hpsearch dashboard --storage {studies_url}" in shown.output
    assert f"hpsearch retrain hb --storage {studies_url}" in shown.output
    assert yaml.safe_load(invoke("show", "hb", "--storage", studies_url, "-f", "yaml", "--top", "20").output) == data


def test_show_groups_failures_by_reason(studies_url):
    shown = invoke("show", "slow", "--storage", studies_url)
    assert_tidy(shown.output.replace(studies_url, "URL"))
    data = json.loads(invoke("show", "slow", "--storage", studies_url, "-f", "json").output)
    assert data["best"] is None and data["trials"]["failed"] == 3
    assert [(g["reason"], g["count"], g["trials"]) for g in data["failures"]] == [("too slow", 3, [0, 1, 2])]
    assert re.search(r"^too slow\s+3: 0-2\s+too slow: estimated", shown.output, re.M)
    assert "3 failed trials" in shown.output and "No trial has completed yet." in shown.output


def test_studies_lists_states_in_words_with_zoned_times(studies_url):
    table = invoke("studies", "--storage", studies_url).output
    assert_tidy(table)
    assert re.search(r"^slow\s+digits_mlp\s+tpe\s+3: 3 failed\s+-\s+\d{4}-\d\d-\d\d \d\d:\d\d$", table, re.M)
    assert re.search(r"^STUDY\s+SPACE\s+BACKEND\s+TRIALS\s+BEST\s+STARTED \(\S+\)$", table, re.M)  # the zone
    listed = json.loads(invoke("studies", "--storage", studies_url, "-f", "json").output)
    assert [row["name"] for row in listed] == ["hb", "slow"]
    hb = optuna.load_study(study_name="hb", storage=studies_url)
    assert listed[0]["trials"]["total"] == len(hb.trials) and listed[0]["best_value"] == hb.best_value
    assert re.search(r"[+-]\d\d:\d\d$", listed[0]["started"])  # ISO 8601 with its offset
    assert yaml.safe_load(invoke("studies", "--storage", studies_url, "-f", "yaml").output) == listed


def test_spaces_and_backends_in_every_format():
    spaces_table = invoke("spaces").output
    assert_tidy(spaces_table)
    spaces = json.loads(invoke("spaces", "-f", "json").output)
    assert [row["name"] for row in spaces] == sorted(SPACES)
    assert yaml.safe_load(invoke("spaces", "-f", "yaml").output) == spaces
    one = yaml.safe_load(invoke("spaces", "show", "digits_cnn", "-f", "yaml").output)
    assert one == json.loads(invoke("spaces", "show", "digits_cnn", "--json").output) == SPACES["digits_cnn"].to_dict()
    backends_table = invoke("backends").output
    assert_tidy(backends_table)
    backends = json.loads(invoke("backends", "-f", "json").output)
    assert [row["name"] for row in backends] == backend_names()
    tpe = next(row for row in backends if row["name"] == "tpe")
    assert {"name": "multivariate", "default": True} .items() <= next(
        s for s in tpe["settings"] if s["name"] == "multivariate").items()
    assert re.search(r"^\s+multivariate\s+true\s", backends_table, re.M)
    assert yaml.safe_load(invoke("backends", "-f", "yaml").output) == backends


def test_an_unknown_format_names_the_valid_ones():
    result = invoke("studies", "-f", "xml")
    assert result.exit_code == 2 and "'xml' is not one of 'table', 'json', 'yaml'" in result.output


def test_the_progress_lines_stay_within_the_width(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    result = invoke("start", "digits_cnn", "-b", "hyperband", "--max-epochs", "3", "--storage", url, "--study", "p")
    assert result.exit_code == 0
    assert_tidy(result.output.replace(str(Path(tmp_path)), "TMP").replace(url, "URL"))
    assert re.search(r"^\[1/\d+\] trial 0, epochs 1-3: ", result.output, re.M)
    assert re.search(r"COMPLETE val_accuracy 0\.\d{4} in \d+s \| best 0\.\d{4} \(trial \d+\) \| ETA \d+s$",
                     result.output, re.M)
