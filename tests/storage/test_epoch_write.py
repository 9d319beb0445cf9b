"""One epoch of a trial is one transaction: its value and attributes land together, or not at all."""
from __future__ import annotations

import optuna
import pytest
from optuna.exceptions import UpdateFinishedTrialError

from hpsearch.storage.studies import open_storage


@pytest.fixture(params=["sqlite", "postgres"])
def storage_and_study(request, sqlite_url, unique_name):
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    storage = open_storage(url)
    study = optuna.create_study(study_name=unique_name, storage=storage)
    yield storage, study
    optuna.delete_study(study_name=unique_name, storage=storage)


def test_an_epoch_writes_its_value_and_attributes_together(storage_and_study):
    storage, study = storage_and_study
    trial = study.ask()
    storage.set_trial_epoch(trial._trial_id, 1, 0.5, {"epochs_trained": 1}, {"hpsearch:history": {"loss": [0.9]}})
    storage.set_trial_epoch(trial._trial_id, 2, 0.75, {"epochs_trained": 2}, {"hpsearch:history": {"loss": [0.9, 0.4]}})

    stored = storage.get_trial(trial._trial_id)
    assert stored.intermediate_values == {1: 0.5, 2: 0.75}
    assert stored.user_attrs == {"epochs_trained": 2}
    assert stored.system_attrs["hpsearch:history"] == {"loss": [0.9, 0.4]}


def test_a_failing_epoch_write_leaves_nothing_of_it(storage_and_study):
    storage, study = storage_and_study
    trial = study.ask()
    with pytest.raises(TypeError):  # the history is not JSON: the value written before it is rolled back
        storage.set_trial_epoch(trial._trial_id, 1, 0.5, {"epochs_trained": 1}, {"hpsearch:history": object()})
    stored = storage.get_trial(trial._trial_id)
    assert stored.intermediate_values == {} and "epochs_trained" not in stored.user_attrs


def test_a_finished_trial_refuses_an_epoch(storage_and_study):
    storage, study = storage_and_study
    trial = study.ask()
    study.tell(trial, 0.5)
    with pytest.raises(UpdateFinishedTrialError):
        storage.set_trial_epoch(trial._trial_id, 1, 0.5, {"epochs_trained": 1}, {})
