"""The runner on real (tiny) training: recording, failures, limits, warm starts."""
from __future__ import annotations

import dataclasses

import optuna
import optuna.artifacts
import pytest
from optuna.trial import TrialState

from hpsearch.search.errors import FatalError
from hpsearch.search.runner import RunBudget
from hpsearch.search.session import SearchPlan, SearchSession, StartRequest, plan_start
from hpsearch.spaces import get_space


def build_faulty(values, input_shape, num_classes):
    """Like the MLP builder, but raises for units_1 == 512 and makes NaN losses for relu."""
    import keras
    from keras import layers

    if values["units_1"] == 512:
        raise ValueError("builder refuses 512 units")
    model = get_space("digits_mlp").load_builder()(values, input_shape, num_classes)
    if values["activation"] == "relu":
        inputs = keras.Input(shape=input_shape)
        poisoned = layers.Lambda(lambda x: x * float("nan"))(inputs)
        model = keras.Model(inputs, model(poisoned))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def session_for(sqlite_url, backend="tpe", space="digits_mlp", **request) -> SearchSession:
    plan = plan_start(StartRequest(space=space, backend=backend, storage=sqlite_url, study="s",
                                   max_epochs=request.pop("max_epochs", 2), **request))
    return SearchSession.create(plan)


def faulty_session(sqlite_url) -> SearchSession:
    plan = plan_start(StartRequest(space="digits_mlp", backend="tpe", storage=sqlite_url, study="s",
                                   max_epochs=1, seed=3, train_samples=300, options={"pruner": "none"}))
    space = dataclasses.replace(plan.space, builder=f"{__name__}:build_faulty")
    plan = SearchPlan(space, plan.backend_cls, plan.meta, plan.study_name, plan.storage_url, plan.dataset)
    return SearchSession.create(plan)


def test_every_epoch_and_the_outcome_land_in_the_optuna_study(sqlite_url):
    session = session_for(sqlite_url, trials=2, seed=0, options={"pruner": "none"})
    summary = session.runner.run(RunBudget(trials=2))
    assert summary.trials_run == 2 and summary.stop_reason == "trial budget reached (2 trials)"
    for trial in optuna.load_study(study_name="s", storage=sqlite_url).trials:
        assert trial.state == TrialState.COMPLETE
        assert sorted(trial.intermediate_values) == [0, 1]
        assert trial.value == max(trial.intermediate_values.values())
        attrs = trial.user_attrs
        assert attrs["epochs_trained"] == 2 and attrs["backend"] == "tpe"
        assert attrs["param_count"] > 0 and attrs["train_seconds"] > 0
        assert attrs["history"]["val_accuracy"] == [trial.intermediate_values[0], trial.intermediate_values[1]]
        assert set(attrs["history"]) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
        assert session.checkpoints.exists(trial.number, "best") and session.checkpoints.exists(trial.number, "last")
        # The best weights are also in Optuna's artifact store, linked to the trial.
        metas = optuna.artifacts.get_all_artifact_meta(trial, storage=session.study._storage)
        assert [m.artifact_id for m in metas] == [attrs["best_weights_artifact"]]
        copy = session.checkpoints.root / f"copy-{trial.number}.weights.h5"
        optuna.artifacts.download_artifact(artifact_store=session.runner.artifact_store,
                                           artifact_id=metas[0].artifact_id, file_path=str(copy))
        assert copy.read_bytes() == session.checkpoints.path(trial.number, "best").read_bytes()


def test_failures_are_recorded_with_their_reason_and_the_search_goes_on(sqlite_url):
    session = faulty_session(sqlite_url)
    session.runner.run(RunBudget(trials=12, max_failures_in_row=100))
    trials = optuna.load_study(study_name="s", storage=sqlite_url).trials
    assert len(trials) == 12
    reasons = {t.number: t.user_attrs.get("fail_reason") for t in trials if t.state == TrialState.FAIL}
    for trial in trials:
        if trial.params["units_1"] == 512:
            assert reasons[trial.number] == "ValueError: builder refuses 512 units"
        elif trial.params["activation"] == "relu":
            assert reasons[trial.number] == "loss is nan at epoch 0"
        else:
            assert trial.state == TrialState.COMPLETE
    assert any(t.state == TrialState.COMPLETE for t in trials) and reasons


def test_too_many_failures_in_a_row_stop_the_search(sqlite_url):
    session = faulty_session(sqlite_url)
    with pytest.raises(FatalError, match="trials failed in a row"):
        session.runner.run(RunBudget(trials=50, max_failures_in_row=1))


def test_a_trial_over_its_epoch_time_limit_fails_and_the_search_goes_on(sqlite_url):
    session = session_for(sqlite_url, trials=2, max_epochs=3, seed=0, train_samples=1000,
                          options={"pruner": "none", "constant_liar": "false"})
    session.runner.run(RunBudget(trials=2, epoch_timeout=0.05, max_failures_in_row=10))
    trials = optuna.load_study(study_name="s", storage=sqlite_url).trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]
    for trial in trials:
        reason = trial.user_attrs["fail_reason"]
        assert reason.startswith(("epoch time limit exceeded", "too slow: projected")), reason
        assert "(--epoch-timeout)" in reason


def test_the_study_timeout_interrupts_the_running_trial(sqlite_url):
    session = session_for(sqlite_url, trials=5, max_epochs=200, seed=0, options={"pruner": "none"})
    summary = session.runner.run(RunBudget(trials=5, timeout=2.0))
    trials = optuna.load_study(study_name="s", storage=sqlite_url).trials
    assert summary.stop_reason == "time budget spent (2 s)"
    assert trials[-1].state == TrialState.FAIL
    assert trials[-1].user_attrs["interrupted"] is True
    assert trials[-1].user_attrs["fail_reason"] == "interrupted: time budget spent"


def test_hyperband_promotions_continue_from_the_earlier_rounds_weights(sqlite_url):
    session = session_for(sqlite_url, backend="hyperband", max_epochs=3, seed=5, train_samples=500)
    session.runner.run(session.budget())
    study = optuna.load_study(study_name="s", storage=sqlite_url)
    promoted = [t for t in study.trials if t.user_attrs.get("warm_start_trial") is not None]
    assert promoted and len(study.trials) == session.backend.expected_trials()
    for trial in promoted:
        source = study.trials[trial.user_attrs["warm_start_trial"]]
        assert trial.user_attrs["warm_started_from"] == source.number
        assert trial.params == source.params
        assert min(trial.intermediate_values) == source.user_attrs["target_epochs"]
        assert trial.user_attrs["hyperband_round"] == source.user_attrs["hyperband_round"] + 1
        # Continuing from trained weights starts far above an untrained model (~10% on digits).
        assert trial.intermediate_values[min(trial.intermediate_values)] > 0.5
