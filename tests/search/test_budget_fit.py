"""Hyperband's max_epochs fitted to the timeout from the configurations' estimated epoch times."""
from __future__ import annotations

import pytest

from hpsearch.search.backends import get_backend
from hpsearch.search.backends.kt_hyperband import _epochs_for
from hpsearch.search.budget_fit import fit_max_epochs
from hpsearch.search.session import SearchSession, StartRequest, plan_start
from hpsearch.spaces import get_space
from hpsearch.spaces.datasets import DataOptions, load_dataset
from hpsearch.storage.studies import open_storage, study_meta

HYPERBAND = get_backend("hyperband")
SETTINGS = HYPERBAND.validate_settings({})


def test_hyperband_takes_the_largest_max_epochs_whose_schedule_fits_the_affordable_epochs():
    schedule = {max_epochs: _epochs_for(max_epochs, SETTINGS) for max_epochs in range(3, 28)}
    assert schedule[9] == 75  # Keras Tuner's brackets for 9 epochs, factor 3: 21 + 27 + 27
    assert HYPERBAND.max_epochs_for_epochs(SETTINGS, schedule[9], 3, 27) == (9, schedule[9])
    assert HYPERBAND.max_epochs_for_epochs(SETTINGS, schedule[9] - 1, 3, 27)[0] < 9
    assert HYPERBAND.max_epochs_for_epochs(SETTINGS, 10**6, 3, 27) == (27, schedule[27])
    assert HYPERBAND.max_epochs_for_epochs(SETTINGS, 1, 3, 27) == (3, schedule[3])  # never below the range
    assert get_backend("tpe").max_epochs_for_epochs(get_backend("tpe").validate_settings({}), 100, 3, 27) is None


def test_a_longer_timeout_affords_more_epochs_and_the_schedule_stays_inside_them():
    space = get_space("digits_cnn")
    dataset = load_dataset("digits", DataOptions())
    fits = [fit_max_epochs(space, dataset, HYPERBAND, SETTINGS, timeout, None, (3, 27)) for timeout in (2, 20, 200)]
    assert [f.affordable_epochs for f in fits] == sorted(f.affordable_epochs for f in fits)
    assert fits[0].affordable_epochs * 10 == pytest.approx(fits[1].affordable_epochs, rel=1e-6)
    assert [f.max_epochs for f in fits] == sorted(f.max_epochs for f in fits) and fits[2].max_epochs > fits[0].max_epochs
    for fit in fits:
        assert fit.schedule_epochs <= fit.affordable_epochs or fit.max_epochs == 3
        assert 0 < fit.default_epoch_seconds and 0 < fit.mean_epoch_seconds


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
