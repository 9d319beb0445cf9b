"""`hpsearch report` and `hpsearch compare` end to end on digits, checked against the storage itself.

The expected numbers are computed here from plain Optuna reads of the studies (not with the report's
own code): best values, trials by state, cumulative epochs and the epochs/seconds to each target.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from hpsearch.search.cli.main import cli

from .browser import chromium_missing_reason, render, screenshot_stats

HPSEARCH = [sys.executable, "-c", "from hpsearch.search.cli.main import cli; cli()"]
COMPARE = ["compare", "digits_mlp", "--backends", "tpe,hyperband", "--seeds", "2", "--budget-epochs", "5",
           "--max-epochs", "2", "--train-samples", "300", "--name", "cmp", "-q"]
TARGETS = (0.5, 0.7)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One compare run of two backends x two seeds on digits, shared by the tests of this module."""
    folder = tmp_path_factory.mktemp("compare")
    url = f"sqlite:///{folder / 'studies.db'}"
    output = folder / "cmp.html"
    result = invoke(*COMPARE, "--storage", url, "--target", ",".join(map(str, TARGETS)), "-o", str(output))
    assert result.exit_code == 0, result.output
    return url, output, result.output


def expected_study(url: str, name: str) -> dict:
    """What the report must say of study ``name``, computed from plain Optuna reads."""
    study = optuna.load_study(study_name=name, storage=url)
    trials = study.trials
    ended = sorted((t for t in trials if t.state.is_finished()), key=lambda t: (t.datetime_complete, t.number))
    epochs = 0
    reached: dict[float, tuple[int, float, int]] = {}
    for trial in ended:
        epochs += trial.user_attrs["epochs_trained"]
        if trial.state == TrialState.COMPLETE:
            for target in TARGETS:
                if trial.value >= target and target not in reached:
                    reached[target] = (epochs, trial.system_attrs["hpsearch:elapsed_at_end"], trial.number)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    return {
        "trials": len(trials),
        "complete": len(complete),
        "pruned": sum(t.state == TrialState.PRUNED for t in trials),
        "failed": sum(t.state == TrialState.FAIL for t in trials),
        "best_value": max(t.value for t in complete),
        "best_trial": study.best_trial.number,
        "epochs": sum(t.user_attrs["epochs_trained"] for t in trials),
        "reached": reached,
    }


def test_compare_runs_every_backend_and_seed_under_the_same_epoch_budget(compared):
    url, output, console = compared
    names = [s.study_name for s in optuna.get_all_study_summaries(url, include_best_trial=False)]
    assert sorted(names) == sorted(f"cmp-{b}-s{s}" for b in ("tpe", "hyperband") for s in (0, 1))
    for name in names:
        study = optuna.load_study(study_name=name, storage=url)
        assert study.user_attrs["compare"] == "cmp"
        assert study.user_attrs["seed"] == int(name[-1])
        assert sum(t.user_attrs["epochs_trained"] for t in study.trials) == 5, name
        assert all(t.state.is_finished() for t in study.trials)
    assert "[4/4] hyperband, seed 1" in console and "compare 4/4 ETA" in console
    assert f"Report: {output}" in console and output.is_file()
    # The winner is named with the command that gives its test accuracy. The leading backend is the
    # one with the best median over seeds; its best seed's study holds the value printed.
    best_line = next(line for line in console.splitlines() if line.startswith("Best: "))
    study_name, trial_number = best_line.split()[1], int(best_line.split()[3])
    winner = optuna.load_study(study_name=study_name, storage=url)
    assert winner.best_trial.number == trial_number
    assert f"(val_accuracy {winner.best_value:.4f})" in best_line
    after = console.splitlines()[console.splitlines().index(best_line) + 1]
    assert after == f"Its test accuracy: hpsearch retrain {study_name} --storage {url}"
    backend = study_name.split("-")[1]
    siblings = [optuna.load_study(study_name=f"cmp-{backend}-s{seed}", storage=url).best_value for seed in (0, 1)]
    assert winner.best_value == max(siblings)


def test_the_report_numbers_match_the_storage(compared, tmp_path):
    url, _, _ = compared
    out = tmp_path / "report.json"
    result = invoke("report", "--compare", "cmp", "--storage", url, "--target", "0.5,0.7", "-o", str(out))
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["targets"] == list(TARGETS)
    assert {s["name"] for s in report["studies"]} == {f"cmp-{b}-s{s}" for b in ("tpe", "hyperband") for s in (0, 1)}
    for shown in report["studies"]:
        expected = expected_study(url, shown["name"])
        for key in ("trials", "complete", "pruned", "failed", "best_value", "best_trial", "epochs"):
            assert shown[key] == expected[key], (shown["name"], key)
        for target in shown["targets"]:
            if target["target"] in expected["reached"]:
                epochs, seconds, trial = expected["reached"][target["target"]]
                assert (target["epochs"], target["seconds"], target["trial"]) == (epochs, seconds, trial)
            else:
                assert target["trial"] is None and target["epochs"] is None
    # Seeds of one backend are grouped: the median of their best values, the range over seeds.
    for group in report["groups"]:
        bests = sorted(expected_study(url, name)["best_value"] for name in group["studies"])
        assert group["runs"] if "runs" in group else len(group["studies"]) == 2
        assert group["best_median"] == pytest.approx((bests[0] + bests[1]) / 2)
        assert (group["best_low"], group["best_high"]) == (bests[0], bests[1])
    medians = [g["best_median"] for g in report["groups"]]
    assert medians == sorted(medians, reverse=True), "ranked, leader first"
    assert any("leads with a median best val_accuracy" in s for s in report["findings"])


def test_csv_and_markdown_carry_the_same_numbers(compared, tmp_path):
    url, _, _ = compared
    assert invoke("report", "--compare", "cmp", "--storage", url, "--target", "0.5,0.7", "-o", str(tmp_path / "r.csv")).exit_code == 0
    assert invoke("report", "--compare", "cmp", "--storage", url, "--target", "0.5,0.7", "-o", str(tmp_path / "r.md")).exit_code == 0
    rows = {row["study"]: row for row in csv.DictReader((tmp_path / "r.csv").open())}
    markdown = (tmp_path / "r.md").read_text()
    for name, row in rows.items():
        expected = expected_study(url, name)
        assert float(row["best_value"]) == expected["best_value"]
        assert int(row["epochs"]) == expected["epochs"]
        assert f"| {name} |" in markdown and f"| {expected['best_value']:.4f} |" in markdown
    assert markdown.startswith("# hpsearch report: cmp") and "## Best parameters" in markdown


def test_running_the_same_compare_again_reuses_the_finished_studies(compared):
    url, output, _ = compared
    before = {s.study_name: s.n_trials for s in optuna.get_all_study_summaries(url, include_best_trial=False)}
    again = invoke(*COMPARE, "--storage", url, "-o", str(output))
    assert again.exit_code == 0, again.output
    assert again.output.count("(resumed)") == 4 and "epoch budget reached (5 epochs); 0 trials" in again.output
    after = {s.study_name: s.n_trials for s in optuna.get_all_study_summaries(url, include_best_trial=False)}
    assert after == before


def test_the_html_report_renders_in_a_real_browser(compared, tmp_path):
    reason = chromium_missing_reason()
    if reason:
        pytest.skip(reason)
    _, output, _ = compared
    text = output.read_text()
    assert "<script src" not in text and text.count("<script>") == 2  # plotly.js once, the figures once
    result = render(output, tmp_path / "report.png", width=1280, height=1600,
                    wait_for_js="document.body.dataset.chartsDrawn !== undefined",
                    evaluate={"charts": "document.querySelectorAll('.chart').length",
                              "drawn": "document.querySelectorAll('.chart .main-svg').length > 0 ? "
                                       "[...document.querySelectorAll('.chart')].filter(c => c.querySelector('.main-svg')).length : 0",
                              "first": "document.querySelector('main > h2').textContent",
                              "table": "document.querySelector('main table').rows.length"})
    assert result.console_errors == []
    assert not result.needs_horizontal_scroll
    assert result.values["charts"] >= 2 and result.values["drawn"] == result.values["charts"]
    assert result.values["first"] == "Summary" and result.values["table"] == 3  # header + two backends
    width, height, colors, ink = screenshot_stats(result.screenshot)
    assert (width, height) == (1280, 1600) and colors > 50 and ink > 0.02


def test_an_interrupted_compare_resumes_where_it_stopped(tmp_path):
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    args = ["compare", "digits_mlp", "--backends", "optuna-random,random", "--budget-epochs", "6", "--max-epochs", "3",
            "--train-samples", "300", "--name", "cut", "--storage", url, "-q"]
    process = subprocess.Popen([*HPSEARCH, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
        try:
            trials = optuna.load_study(study_name="cut-random-s0", storage=url).trials
        except Exception:  # noqa: BLE001 - not created yet, or the database is busy
            continue
        if trials and trials[0].intermediate_values:
            process.send_signal(signal.SIGINT)
            break
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, out + err
    assert "hpsearch compare --resume cut" in err
    first = optuna.load_study(study_name="cut-optuna-random-s0", storage=url).trials
    resumed = invoke("compare", "--resume", "cut", "--storage", url, "-q")
    assert resumed.exit_code == 0, resumed.output
    assert "cut-optuna-random-s0 (resumed)" in resumed.output and "cut-random-s0 (resumed)" in resumed.output
    again = optuna.load_study(study_name="cut-optuna-random-s0", storage=url).trials
    assert [(t.number, t.state, t.value) for t in again] == [(t.number, t.state, t.value) for t in first]
    for name in ("cut-optuna-random-s0", "cut-random-s0"):
        trials = optuna.load_study(study_name=name, storage=url).trials
        # Every epoch trained counts, the interrupted trial's too; its re-run went on from its checkpoint.
        assert sum(t.user_attrs["epochs_trained"] for t in trials) == 6, name
        assert all(t.state.is_finished() for t in trials)
    assert Path("hpsearch-reports/cut.html").is_file()


def plain_optuna_study(url: str) -> optuna.Study:
    """A study made by Optuna alone: a 2 x 3 grid with per-step values, one failure, one pruned trial."""
    study = optuna.create_study(study_name="plain", storage=url, direction="maximize",
                                sampler=optuna.samplers.GridSampler({"x": [1, 2], "kind": ["a", "b", "c"]}))

    def objective(trial):
        x = trial.suggest_int("x", 1, 2)
        kind = trial.suggest_categorical("kind", ["a", "b", "c"])
        if (x, kind) == (2, "c"):
            raise ValueError("no good")
        for step in range(1, 4):
            trial.report(0.1 * x + 0.01 * step + {"a": 0.0, "b": 0.2, "c": 0.4}[kind], step)
        if (x, kind) == (1, "a"):
            raise optuna.TrialPruned()
        return 0.1 * x + 0.03 + {"a": 0.0, "b": 0.2, "c": 0.4}[kind]

    study.optimize(objective, n_trials=6, catch=(ValueError,))
    return study


def test_a_report_on_a_study_made_without_hpsearch(sqlite_url, tmp_path):
    plain_optuna_study(sqlite_url)
    out = tmp_path / "plain.json"
    result = invoke("report", "plain", "--storage", sqlite_url, "--target", "0.5", "-o", str(out))
    assert result.exit_code == 0, result.output
    study = json.loads(out.read_text())["studies"][0]
    assert study["made_by_hpsearch"] is False and study["backend"] == "optuna"
    assert (study["trials"], study["complete"], study["pruned"], study["failed"]) == (6, 4, 1, 1)
    assert study["best_value"] == pytest.approx(0.53) and study["epochs"] == 5 * 3
    pivot = study["pivot"]
    assert (pivot["row_param"], pivot["col_param"], pivot["rows"], pivot["cols"]) == ("x", "kind", [1, 2], ["a", "b", "c"])
    assert pivot["cells"][0] == [None, pytest.approx(0.33), pytest.approx(0.53)]  # (1, a) was pruned
    assert pivot["cells"][1] == [pytest.approx(0.23), pytest.approx(0.43), None]  # (2, c) failed
    assert study["targets"][0]["trial"] is not None
    md = tmp_path / "plain.md"
    assert invoke("report", "plain", "--storage", sqlite_url, "-o", str(md)).exit_code == 0
    assert "a plain Optuna study" in md.read_text() and "x \\ kind" in md.read_text()
    # Without --target: the highest levels some trial reached (here only 0.5, the best being 0.53), and
    # the next one up, which none reached.
    default = tmp_path / "default.json"
    assert invoke("report", "plain", "--storage", sqlite_url, "-o", str(default)).exit_code == 0
    data = json.loads(default.read_text())
    assert data["targets"] == [0.5, 0.8]
    reached, missed = data["studies"][0]["targets"]
    assert reached["trial"] is not None and missed["trial"] is None
    assert any(sentence.startswith("value 0.8: not reached by any of") for sentence in data["findings"]), data["findings"]


def test_importing_reports_never_imports_tensorflow_or_the_search_package(compared, tmp_path):
    url, _, _ = compared
    code = (
        "import sys\n"
        "from hpsearch.search.cli.main import cli\n"
        f"cli(['report', '--compare', 'cmp', '--storage', {url!r}, '-o', {str(tmp_path / 'r.html')!r}],"
        " standalone_mode=False)\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'keras_tuner')]\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert (tmp_path / "r.html").is_file()
    code = ("import sys, hpsearch.reports, hpsearch.reports.html, hpsearch.reports.markdown, hpsearch.reports.tables\n"
            "loaded = [m for m in sys.modules if m.startswith(('tensorflow', 'keras', 'hpsearch.search'))]\n"
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["report", "nope"], "No study named 'nope' in this storage. Studies here: empty, plain."),
        (["report"], "Name at least one study, or use --all or --compare NAME."),
        (["report", "plain", "--target", "0.9,high"], "--target takes numbers separated by commas"),
        (["report", "plain", "-o", "missing/r.html"], "Cannot write the report to missing/r.html: folder missing does not exist."),
        (["report", "plain", "-o", "r.pdf"], "Cannot tell the report format from 'r.pdf'"),
        (["report", "--compare", "nope"], "No studies of compare run 'nope' in this storage. Compare runs here: none."),
        (["report", "empty"], "Study 'empty' has no trials yet: nothing to report."),
        (["compare", "digits_mlp", "--backends", "tpe,nope"], "Unknown backend 'nope'. Valid backends are: "),
        (["compare", "digits_mlp", "--backends", "tpe,tpe"], "--backends names a backend twice: tpe,tpe."),
        (["compare", "digits_mlp", "--backends", "tpe", "--budget-epochs", "0"], "--budget-epochs must be > 0, but got 0."),
        (["compare", "--resume", "nope"], "No compare run named 'nope' in this storage"),
        (["compare", "digits_mlp"], "Name a SPACE and --backends"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(args, fragment, isolated):
    url = f"sqlite:///{isolated / 'studies.db'}"
    plain_optuna_study(url)
    optuna.create_study(study_name="empty", storage=url)
    database = isolated / "studies.db"
    before = database.read_bytes()
    listing = sorted(p.name for p in isolated.iterdir())
    result = invoke(*args, "--storage", url)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    assert fragment in result.output
    assert database.read_bytes() == before
    assert sorted(p.name for p in isolated.iterdir()) == listing
