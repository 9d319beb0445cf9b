"""SIGKILL at the two moments a search is most fragile: while the study is being created, and right
after a trial was created (before anything else about it is written).

Each kill is real: a fresh ``hpsearch`` process kills itself with SIGKILL at that point, and the
study is then read and resumed by other processes, as a user would after a crash.
"""
from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from hpsearch.search.cli.main import cli
from hpsearch.storage import record
from hpsearch.storage.studies import open_storage, study_exists

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

SMALL = ["--max-epochs", "1", "--train-samples", "200", "-q"]


def run_killed(patch: str, args: list[str]) -> subprocess.CompletedProcess:
    """``hpsearch ARGS`` in a new process, after ``patch`` (Python run first) armed the kill."""
    script = (
        "import os, signal\n"
        "def die(*_args, **_kwargs):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        f"{patch}\n"
        "from hpsearch.search.cli.main import cli\n"
        f"cli({args!r})\n"
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)


def test_a_kill_while_the_study_is_created_leaves_the_name_free(sqlite_url, unique_name):
    # Killed after the study row went to the database, inside the transaction that writes its settings.
    patch = "import optuna.storages._rdb.models as models\nmodels.StudySystemAttributeModel = die"
    start = ["start", "digits_mlp", "--backend", "tpe", "--study", unique_name, "--trials", "1",
             "--storage", sqlite_url, *SMALL]

    killed = run_killed(patch, start)

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not study_exists(open_storage(sqlite_url), unique_name)
    resumed = CliRunner().invoke(cli, ["resume", unique_name, "--storage", sqlite_url, "-q"])
    assert resumed.exit_code == 1 and "No study named" in resumed.output, resumed.output
    again = CliRunner().invoke(cli, start)
    assert again.exit_code == 0, again.output
    assert record.counted_trials(optuna.load_study(study_name=unique_name, storage=sqlite_url).trials) == 1


# Where each family creates its trial: Optuna's ``Study.ask``; the Keras Tuner backends add the trial
# their oracle proposed through ``create_running_trial``.
AFTER_TRIAL_CREATED = {
    "tpe": ("import optuna\n_ask = optuna.Study.ask\n"
            "optuna.Study.ask = lambda self, *a, **k: (_ask(self, *a, **k), die())[0]"),
    "random": ("import hpsearch.search.backends._keras_tuner_common as kt\n_create = kt.create_running_trial\n"
               "kt.create_running_trial = lambda *a, **k: (_create(*a, **k), die())[0]"),
}


@pytest.mark.parametrize("backend", sorted(AFTER_TRIAL_CREATED))
def test_a_kill_right_after_a_trial_is_created_is_recovered_by_the_next_resume(backend, sqlite_url, unique_name):
    budget = 3
    killed = run_killed(AFTER_TRIAL_CREATED[backend],
                        ["start", "digits_mlp", "--backend", backend, "--study", unique_name, "--trials",
                         str(budget), "--seed", "3", "--storage", sqlite_url, *SMALL])
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    orphans = [t for t in optuna.load_study(study_name=unique_name, storage=sqlite_url).trials
               if t.state == TrialState.RUNNING]
    assert len(orphans) == 1  # the kill came after the trial was committed

    resumed = CliRunner().invoke(cli, ["resume", unique_name, "--storage", sqlite_url, "-q"])

    assert resumed.exit_code == 0, resumed.output
    trials = optuna.load_study(study_name=unique_name, storage=sqlite_url).trials
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    orphan = trials[orphans[0].number]
    assert orphan.state == TrialState.FAIL and record.is_interrupted(orphan)
    counted = [t for t in trials if record.counts_toward_budget(t)]
    assert len(counted) == budget
    repeats = Counter(tuple(sorted(t.params.items())) for t in counted)
    assert max(repeats.values()) == 1, repeats
