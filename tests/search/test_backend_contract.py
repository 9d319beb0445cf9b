"""The contract every registered backend must keep (after Optuna's sampler test suites)."""
from __future__ import annotations

import pytest
from optuna.trial import TrialState

from hpsearch.search.backends import Backend, BackendSettingsError, backend_names, get_backend
from hpsearch.search.backends.registry import UnknownBackendError
from hpsearch.spaces import Choice, Int, Space, get_space, when_at_least

from .contract import make_backend, run

BACKENDS = backend_names()
SPACE = get_space("mnist_cnn")  # the richest conditions; no data is loaded here


def test_the_built_in_backends_are_registered_through_entry_points():
    assert {"random", "hyperband", "bayesian", "grid", "tpe", "bohb", "cmaes", "optuna-random", "qmc"} <= set(BACKENDS)
    for name in BACKENDS:
        cls = get_backend(name)
        assert issubclass(cls, Backend) and cls.name == name
        assert cls.family and cls.algorithm


@pytest.mark.parametrize("name", BACKENDS)
def test_proposals_lie_inside_the_space_and_honour_conditions(name, tmp_path):
    backend, study = make_backend(name, SPACE, tmp_path)
    proposals = run(backend, study, 12)
    assert len(proposals) >= 5
    blocks_seen = set()
    for proposal in proposals:
        SPACE.validate(proposal.params)  # raises on out-of-range, missing or inactive values
        blocks_seen.add(proposal.params["conv_blocks"])
        assert 0 <= proposal.initial_epoch < proposal.epochs <= 4
    if name != "grid":  # a grid walks the last parameters first
        assert len(blocks_seen) > 1


@pytest.mark.parametrize("name", BACKENDS)
def test_each_proposal_is_a_running_optuna_trial_with_its_params(name, tmp_path):
    backend, study = make_backend(name, SPACE, tmp_path)
    proposal = backend.ask()
    trial = study.get_trials(deepcopy=False)[proposal.trial_number]
    assert trial.state == TrialState.RUNNING
    assert trial.params == proposal.params
    assert set(trial.distributions) == set(proposal.params)
    assert trial.user_attrs["backend_trial_id"] == proposal.user_attrs["backend_trial_id"]


@pytest.mark.parametrize("name", BACKENDS)
def test_the_same_seed_gives_the_same_proposals(name, tmp_path):
    first = [p.params for p in run(*make_backend(name, SPACE, tmp_path, seed=42), 8)]
    second = [p.params for p in run(*make_backend(name, SPACE, tmp_path / "again", seed=42), 8)]
    other = [p.params for p in run(*make_backend(name, SPACE, tmp_path / "other", seed=43), 8)]
    assert first == second
    if name != "grid":  # a grid's order does not depend on the seed
        assert first != other


@pytest.mark.parametrize("name", BACKENDS)
def test_failed_trials_are_recorded_and_the_backend_goes_on(name, tmp_path):
    backend, study = make_backend(name, SPACE, tmp_path)
    proposals = run(backend, study, 9, fail_every=3)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert len(proposals) == 9
    assert states.count(TrialState.FAIL) == 3
    assert TrialState.RUNNING not in states


@pytest.mark.parametrize("name", BACKENDS)
def test_unknown_and_bad_settings_are_rejected_with_the_valid_keys(name):
    cls = get_backend(name)
    valid = ", ".join(s.name for s in cls.settings_spec)
    with pytest.raises(BackendSettingsError, match=f"Unknown setting 'bogus' for backend '{name}'. Valid settings are: {valid}"):
        cls.validate_settings({"bogus": "1"})
    for setting in cls.settings_spec:
        if setting.type in (int, float):
            with pytest.raises(BackendSettingsError, match=f"Setting '{setting.name}' must be"):
                cls.validate_settings({setting.name: "not-a-number"})
    assert set(cls.validate_settings({})) == {s.name for s in cls.settings_spec}


def test_hyperband_follows_its_schedule_promotes_and_ends(tmp_path):
    backend, study = make_backend("hyperband", SPACE, tmp_path, max_epochs=9)
    proposals = run(backend, study, 100)
    assert len(proposals) == backend.expected_trials() == 1 + 9 + 3 + 1 + 5 + 2 + 3
    assert backend.ask() is None
    reference = proposals[0]  # the default configuration at full length, in no bracket
    assert reference.params == SPACE.default_values() and (reference.initial_epoch, reference.epochs) == (0, 9)
    assert reference.user_attrs["hyperband_reference"] is True and "hyperband_bracket" not in reference.user_attrs
    assert all(p.promoted_from != reference.trial_number for p in proposals)
    promoted = [p for p in proposals if p.promoted_from is not None]
    assert promoted, "later rounds continue earlier trials"
    for proposal in promoted:
        source = study.trials[proposal.promoted_from]
        assert source.state == TrialState.COMPLETE
        assert source.params == proposal.params
        assert proposal.initial_epoch == source.user_attrs["target_epochs"]
    first_round = [p for p in proposals[1:] if p.user_attrs["hyperband_bracket"] == 2 and p.user_attrs["hyperband_round"] == 0]
    assert len(first_round) == 9 and all(p.epochs == 1 for p in first_round)
    assert sum(p.epochs - p.initial_epoch for p in proposals) == backend.expected_epochs()


def test_tpe_prunes_clearly_worse_trials_with_the_median_pruner(tmp_path):
    backend, study = make_backend("tpe", SPACE, tmp_path, settings={"pruner": "median", "n_startup_trials": 2})
    run(backend, study, 15)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert TrialState.PRUNED in states and TrialState.COMPLETE in states


def test_unknown_backend_names_the_valid_ones():
    with pytest.raises(UnknownBackendError, match="Unknown backend 'x'. Valid backends are: " + ", ".join(BACKENDS)):
        get_backend("x")


def test_grid_tries_every_combination_once_then_stops(tmp_path):
    depth = Int("depth", 1, 2)
    space = Space("tiny", "", (depth, Choice("act", ("relu", "tanh")), Int("units", 8, 16, step=8,
                  condition=when_at_least(depth, 2))), "m:f", "digits")
    backend, study = make_backend("grid", space, tmp_path)
    proposals = run(backend, study, 100)
    combos = [tuple(sorted(p.params.items())) for p in proposals]
    assert len(combos) == len(set(combos)) == 2 + 2 * 2  # depth 1: 2 acts; depth 2: 2 acts x 2 units
    assert backend.ask() is None


@pytest.mark.parametrize("name", ["bohb", "cmaes", "optuna-random", "qmc"])
def test_optuna_backends_use_their_own_sampler_and_pruner(name, tmp_path):
    import optuna

    backend, study = make_backend(name, SPACE, tmp_path)
    expected = {"bohb": optuna.samplers.TPESampler, "cmaes": optuna.samplers.CmaEsSampler,
                "optuna-random": optuna.samplers.RandomSampler, "qmc": optuna.samplers.QMCSampler}[name]
    assert isinstance(study.sampler, expected)
    if name == "bohb":
        assert isinstance(study.pruner, optuna.pruners.HyperbandPruner)


def test_hyperband_still_promotes_when_trials_of_a_round_fail(tmp_path):
    backend, study = make_backend("hyperband", SPACE, tmp_path, max_epochs=9)
    proposals = run(backend, study, 100, fail_every=3)
    assert len(proposals) == backend.expected_trials()
    promoted = [p for p in proposals if p.promoted_from is not None]
    assert len(promoted) == 3 + 1 + 2  # every promotion slot of brackets 2 and 1 is filled
    for proposal in promoted:
        assert study.trials[proposal.promoted_from].state == TrialState.COMPLETE


@pytest.mark.parametrize("name", BACKENDS)
def test_a_shared_budget_is_never_cut_short_by_the_backend_s_own_schedule(name, tmp_path):
    cls = get_backend(name)
    settings = cls.validate_settings({})
    for budget_epochs in (5, 40, None):
        adjusted = cls.settings_for_budget(settings, 4, budget_epochs)
        assert set(adjusted) == set(settings)
        if name != "hyperband":
            assert adjusted == settings
            continue
        backend, _ = make_backend(name, SPACE, tmp_path / str(budget_epochs), max_epochs=4, settings=adjusted)
        if budget_epochs is None:  # a time budget: Hyperband repeats its brackets until the time is spent
            assert adjusted["hyperband_iterations"] >= 50
        else:  # twice the budget's epochs, since failed trials train none
            assert backend.expected_epochs() >= 2 * budget_epochs


@pytest.mark.parametrize("name", BACKENDS)
def test_a_new_study_first_trains_the_space_default_configuration(name, tmp_path):
    backend, study = make_backend(name, SPACE, tmp_path)
    proposals = run(backend, study, 4)
    assert proposals[0].params == SPACE.default_values()
    trials = study.get_trials(deepcopy=False)
    assert trials[0].user_attrs.get("default_configuration") is True
    # Only the first: the rest are the backend's own proposals.
    assert not any(t.user_attrs.get("default_configuration") for t in trials[1:]
                   if t.params != SPACE.default_values())
    assert any(p.params != SPACE.default_values() for p in proposals[1:])
