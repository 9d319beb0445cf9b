"""Hyperband's max_epochs fitted to the timeout from the configurations' estimated epoch times."""
from __future__ import annotations

import pytest

from hpsearch.search.backends import get_backend
from hpsearch.search.backends.kt_hyperband import _seconds_for
from hpsearch.search.budget_fit import fit_max_epochs
from hpsearch.search.session import SearchSession, StartRequest, plan_start
from hpsearch.spaces import get_space
from hpsearch.spaces.data.mnist import DataOptions, load_dataset
from hpsearch.storage.studies import open_storage, study_meta

HYPERBAND = get_backend("hyperband")
SETTINGS = HYPERBAND.validate_settings({})


def test_hyperband_takes_the_largest_max_epochs_whose_reference_run_and_first_bracket_fit():
    repeated = HYPERBAND.settings_for_budget(SETTINGS, 3, None)  # brackets repeated until the time is spent
    # max_epochs 9, factor 3, a 12-epoch reference trial of the default configuration, then Keras Tuner's
    # most aggressive bracket: 9 trials x 1 epoch, 3 continued to 3 epochs, 1 continued to 9.
    twelve = {**repeated, "reference_epochs": 12}
    assert _seconds_for(9, twelve, 10.0, 20.0) == 12 * 10.0 + (9 + 3 * 2 + 1 * 6) * 20.0
    # Without a set reference: max_epochs; one iteration asked for: the whole iteration (21 + 27 + 27 epochs).
    assert _seconds_for(9, SETTINGS, 10.0, 20.0) == 9 * 10.0 + 75 * 20.0
    fitted = HYPERBAND.fit_schedule(twelve, _seconds_for(9, twelve, 10.0, 20.0), 10.0, 20.0, 3, 27)
    assert (fitted.max_epochs, fitted.settings) == (9, {"reference_epochs": 12})
    assert fitted.planned_seconds == _seconds_for(9, twelve, 10.0, 20.0)
    assert HYPERBAND.fit_schedule(twelve, fitted.planned_seconds - 1, 10.0, 20.0, 3, 27).max_epochs < 9
    assert HYPERBAND.fit_schedule(twelve, 1, 10.0, 20.0, 3, 27).max_epochs == 3  # never below the range
    # The reference trial gets ~30% of a time budget (at least max_epochs, at most the range's top)...
    for seconds, default, reference in ((1000.0, 10.0, 30), (1000.0, 30.0, 10), (10.0**6, 1.0, 27)):
        fit = HYPERBAND.fit_schedule(repeated, seconds, default, 20.0, 3, 27)
        assert fit.settings["reference_epochs"] == max(fit.max_epochs, min(27, max(3, reference)))
        assert fit.planned_seconds <= seconds or fit.max_epochs == 3
    # ...and a slower default configuration leaves less time, so fewer epochs, to the brackets.
    assert HYPERBAND.fit_schedule(twelve, 700.0, 30.0, 20.0, 3, 27).max_epochs < \
        HYPERBAND.fit_schedule(twelve, 700.0, 10.0, 20.0, 3, 27).max_epochs == 9
    # A set number of iterations: the reference trial is max_epochs long, and all of them must fit.
    once = HYPERBAND.fit_schedule(SETTINGS, 90.0 + 75 * 20.0, 10.0, 20.0, 3, 27)
    assert (once.max_epochs, once.settings) == (9, {})
    tpe = get_backend("tpe")
    assert tpe.fit_schedule(tpe.validate_settings({}), 100, 1.0, 1.0, 3, 27) is None


def test_a_longer_timeout_affords_more_epochs_and_the_planned_part_stays_inside_it():
    space = get_space("digits_cnn")
    dataset = load_dataset("digits", DataOptions())
    settings = HYPERBAND.settings_for_budget(SETTINGS, 3, None)
    fits = [fit_max_epochs(space, dataset, HYPERBAND, settings, timeout, None, (3, 27)) for timeout in (2, 20, 200)]
    assert [f.available_seconds for f in fits] == [0.85 * t for t in (2, 20, 200)]
    assert [f.max_epochs for f in fits] == sorted(f.max_epochs for f in fits) and fits[2].max_epochs > fits[0].max_epochs
    for fit in fits:
        assert fit.planned_seconds <= fit.available_seconds or fit.max_epochs == 3
        assert 0 < fit.default_epoch_seconds and 0 < fit.mean_epoch_seconds
        assert fit.planned_seconds == pytest.approx(_seconds_for(fit.max_epochs, {**settings, **fit.settings},
                                                                 fit.default_epoch_seconds,
                                                                 fit.mean_epoch_seconds), rel=1e-6)


def test_start_fits_max_epochs_only_when_the_user_gives_none(sqlite_url):
    request = dict(space="mnist_cnn", backend="hyperband", storage=sqlite_url, train_samples=300, timeout=60)
    plan = plan_start(StartRequest(study="fitted", **request))
    fit = plan.meta.budget_fit
    assert fit is not None and plan.meta.max_epochs == fit["max_epochs"]
    assert 3 <= fit["max_epochs"] <= 27
    # The timeout ends the search, not one pass of the schedule (refused trials leave time over)...
    assert plan.meta.backend_settings["hyperband_iterations"] >= 50
    # ...unless the user says how many passes.
    once = plan_start(StartRequest(study="once", options={"hyperband_iterations": "1"}, **request))
    assert once.meta.budget_fit is not None and once.meta.backend_settings["hyperband_iterations"] == 1
    SearchSession.create(plan)
    stored = study_meta(open_storage(sqlite_url), "fitted")
    assert stored.budget_fit == fit and stored.max_epochs == fit["max_epochs"]

    given = plan_start(StartRequest(study="given", max_epochs=5, **request))
    assert given.meta.budget_fit is None and given.meta.max_epochs == 5
    tpe = plan_start(StartRequest(study="tpe", **{**request, "backend": "tpe"}))
    assert tpe.meta.budget_fit is None and tpe.meta.max_epochs == get_space("mnist_cnn").budget.max_epochs
