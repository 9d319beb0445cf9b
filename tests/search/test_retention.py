"""Bounded artifacts: only the best trials' weights (and those a backend may still continue) stay."""
from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from click.testing import CliRunner
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from hpsearch.search.cli.main import cli
from hpsearch.search.retention import trials_to_drop
from hpsearch.storage import record
from hpsearch.storage.studies import open_storage, study_meta

from .test_cli import assert_one_line_error


def trial(number: int, value: float | None, state: TrialState = TrialState.COMPLETE, **attrs) -> optuna.trial.FrozenTrial:
    made = create_trial(state=state, value=value if state == TrialState.COMPLETE else None,
                        params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)}, user_attrs=attrs)
    made.number = number
    return made


def test_the_best_trials_continuable_ones_and_what_running_trials_continue_are_kept():
    trials = [trial(0, 0.5), trial(1, 0.9), trial(2, 0.7), trial(3, 0.6), trial(4, None, TrialState.FAIL),
              trial(5, None, TrialState.PRUNED), trial(6, None, TrialState.FAIL, interrupted=True),
              trial(7, None, TrialState.RUNNING, promoted_from=0), trial(8, None, TrialState.RUNNING, retry_of=6),
              trial(9, 0.1, weights_dropped=True)]
    dropped = [t.number for t in trials_to_drop(trials, keep=2, maximize=True, continuable={3})]
    # kept: 1 and 2 (the best two), 3 (continuable), 0 (a running promotion continues it), 6 (interrupted:
    # its re-run continues it), 7 and 8 (running); 9 was dropped before.
    assert dropped == [4, 5]
    assert [t.number for t in trials_to_drop(trials, keep=2, maximize=False, continuable=set())] == [1, 2, 4, 5]
    assert trials_to_drop(trials, keep=None, maximize=True, continuable=set()) == []
    assert [t.number for t in trials_to_drop(trials, keep=0, maximize=True, continuable=set())] == [1, 2, 3, 4, 5]


def test_a_hyperband_search_keeps_the_best_weights_and_promotes_from_every_parent(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    done = CliRunner().invoke(cli, ["start", "digits_mlp", "--backend", "hyperband", "--max-epochs", "3",
                                    "--train-samples", "300", "--seed", "0", "--study", "h", "--storage", url,
                                    "--keep-weights", "1", "-q"])
    assert done.exit_code == 0, done.output
    assert "Artifacts: " in done.output and "top 1 trials" in done.output
    study = optuna.load_study(study_name="h", storage=url)
    meta = study_meta(open_storage(url), "h")
    assert meta.keep_weights == 1
    trials = study.get_trials(deepcopy=False)
    promoted = [t for t in trials if t.user_attrs.get(record.PROMOTED_FROM) is not None]
    assert promoted and not any(t.user_attrs.get(record.WEIGHTS_MISSING) for t in trials)  # parents were kept
    checkpoints = Path(meta.artifacts) / "checkpoints"
    store = Path(meta.artifacts).parent / "optuna-artifacts"
    with_weights = {t.number for t in trials if (checkpoints / f"trial-{t.number:05d}" / "best.weights.h5").is_file()}
    assert with_weights == {study.best_trial.number}
    linked = [t for t in trials if record.artifact_ids(t)]
    assert [t.number for t in linked] == [study.best_trial.number]
    assert sorted(p.name for p in store.iterdir()) == record.artifact_ids(study.best_trial)
    for dropped in (t for t in trials if t.number != study.best_trial.number and t.state == TrialState.COMPLETE):
        assert dropped.user_attrs[record.WEIGHTS_DROPPED] is True
    loser = next(t for t in trials if t.user_attrs.get(record.WEIGHTS_DROPPED))
    export = CliRunner().invoke(cli, ["export", "h", "--trial", str(loser.number), "--model", str(tmp_path / "m.keras"),
                                      "--storage", url])
    assert_one_line_error(export, f"Trial {loser.number}'s best weights were not kept")


@pytest.mark.parametrize("value", ["-1", "some", "1.5"])
def test_a_bad_keep_weights_is_one_line(value, tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    result = CliRunner().invoke(cli, ["start", "digits_mlp", "-b", "tpe", "--storage", url, "--keep-weights", value])
    assert_one_line_error(result, "--keep-weights must be a whole number >= 0 or 'all', but got")
    assert not (tmp_path / "h.db").exists()
