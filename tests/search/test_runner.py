"""The runner on real (tiny) training: recording, failures, limits, warm starts."""
from __future__ import annotations

import dataclasses
import time

import optuna
import optuna.artifacts
import pytest
from optuna.trial import TrialState

from hpsearch.search.errors import FatalError
from hpsearch.search.monitor import TrialLimits
from hpsearch.search.runner import RunBudget
from hpsearch.search.session import SearchPlan, SearchSession, StartRequest, plan_start
from hpsearch.spaces import get_space
from hpsearch.storage import record


def build_faulty(values, input_shape, num_classes):
    """Like the MLP builder, but raises for units_1 == 512 and makes NaN losses for relu."""
    import keras
    from keras import layers

    if values["units_1"] == 512:
        raise ValueError("builder refuses 512 units")
    model = get_space("digits_mlp").load_builder()(values, input_shape, num_classes)
    if values["activation"] == "relu":
        inputs = keras.Input(shape=input_shape)
        # NaN in the output, not the input: relu(NaN) can come out as 0 and wash the poison away.
        poisoned = layers.Lambda(lambda x: x * float("nan"))(model(inputs))
        model = keras.Model(inputs, poisoned)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def session_for(sqlite_url, backend="tpe", space="digits_mlp", **request) -> SearchSession:
    plan = plan_start(StartRequest(space=space, backend=backend, storage=sqlite_url, study="s",
                                   max_epochs=request.pop("max_epochs", 2), **request))
    return SearchSession.create(plan)


def session_with_builder(sqlite_url, builder: str, **request) -> SearchSession:
    plan = plan_start(StartRequest(space="digits_mlp", backend="tpe", storage=sqlite_url, study="s",
                                   options={"pruner": "none"}, **request))
    space = dataclasses.replace(plan.space, builder=f"{__name__}:{builder}")
    plan = SearchPlan(space, plan.backend_cls, plan.meta, plan.study_name, plan.storage_url, plan.dataset)
    return SearchSession.create(plan)


def faulty_session(sqlite_url) -> SearchSession:
    return session_with_builder(sqlite_url, "build_faulty", max_epochs=1, seed=3, train_samples=300)


SLOW_AFTER_FIRST_EPOCH = {"slow": False}


def build_slow_after_first_epoch(values, input_shape, num_classes):
    """The MLP builder's model, whose training batches take two seconds each once its first epoch ended."""
    import time

    import keras

    model = get_space("digits_mlp").load_builder()(values, input_shape, num_classes)
    SLOW_AFTER_FIRST_EPOCH["slow"] = False

    class SlowModel(keras.Model):
        def train_step(self, data):  # run eagerly: plain Python on every batch
            if SLOW_AFTER_FIRST_EPOCH["slow"]:
                time.sleep(2.0)
            return super().train_step(data)

        def trial_attrs_after_epoch(self, step):
            if SLOW_AFTER_FIRST_EPOCH["slow"]:
                return {}
            SLOW_AFTER_FIRST_EPOCH["slow"] = True
            return {"slowed_after_epoch": step}

    slow = SlowModel(model.inputs, model.outputs)
    slow.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], run_eagerly=True)
    return slow


def test_every_epoch_and_the_outcome_land_in_the_optuna_study(sqlite_url):
    session = session_for(sqlite_url, trials=2, seed=0, options={"pruner": "none"})
    summary = session.runner.run(RunBudget(trials=2))
    assert summary.trials_run == 2 and summary.stop_reason == "trial budget reached (2 trials)"
    study = optuna.load_study(study_name="s", storage=sqlite_url)
    assert study.user_attrs == {"space": "digits_mlp", "backend": "tpe", "seed": 0}
    for trial in study.trials:
        assert trial.state == TrialState.COMPLETE
        assert sorted(trial.intermediate_values) == [1, 2]  # steps count epochs done, as the console does
        assert trial.value == max(trial.intermediate_values.values())
        attrs = trial.user_attrs
        assert attrs["epochs_trained"] == 2 and attrs["initial_epoch"] == 0 and attrs["target_epochs"] == 2
        assert attrs["param_count"] > 0 and attrs["train_seconds"] > 0
        assert len(repr(attrs)) < 240, attrs  # a line or two of a terminal in `optuna trials`
        metrics = trial.system_attrs["hpsearch:history"]
        assert metrics["val_accuracy"] == [trial.intermediate_values[1], trial.intermediate_values[2]]
        assert set(metrics) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
        assert 0 < trial.system_attrs["hpsearch:elapsed_at_end"] <= session.elapsed()
        # A finished trial keeps its best weights in Keras' format; its training states are gone
        # (nothing will continue it), so a search's artifacts stay small.
        assert session.checkpoints.exists(trial.number, "best") and not session.checkpoints.exists(trial.number, "last")
        assert not session.checkpoints.has_state(trial.number, "last")
        assert not session.checkpoints.has_state(trial.number, "best")
        best_note = session.checkpoints.note(trial.number, "best")
        assert best_note["value"] == trial.value and trial.intermediate_values[best_note["epoch"]] == trial.value
        # The best weights are also in Optuna's artifact store, linked to the trial.
        metas = optuna.artifacts.get_all_artifact_meta(trial, storage=session.storage)
        assert [m.artifact_id for m in metas] == record.artifact_ids(trial) and len(metas) == 1
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
            assert reasons[trial.number] == "loss is nan at epoch 1"
        else:
            assert trial.state == TrialState.COMPLETE
    assert any(t.state == TrialState.COMPLETE for t in trials) and reasons


def test_too_many_failures_in_a_row_stop_the_search(sqlite_url):
    session = faulty_session(sqlite_url)
    with pytest.raises(FatalError, match="trials failed in a row"):
        session.runner.run(RunBudget(trials=50, max_failures_in_row=1))


def test_a_trial_over_its_epoch_time_limit_fails_and_the_search_goes_on(sqlite_url):
    session = session_for(sqlite_url, trials=3, max_epochs=3, seed=0, train_samples=1000,
                          options={"pruner": "none", "constant_liar": "false"})
    # Configurations too slow for the machine are results, not errors: more of them in a row than the
    # errors allowed in a row go on.
    session.runner.run(RunBudget(trials=3, epoch_timeout=0.001, max_failures_in_row=2))
    trials = optuna.load_study(study_name="s", storage=sqlite_url).trials
    assert [t.state for t in trials] == [TrialState.FAIL] * 3
    for trial in trials:
        reason = trial.user_attrs["fail_reason"]
        assert reason.startswith(("epoch time limit exceeded", "too slow: estimated")), reason
        assert "(--epoch-timeout)" in reason
    with pytest.raises(FatalError, match="2 trials in a row were stopped by the epoch time limit"):
        session.runner.run(RunBudget(trials=12, epoch_timeout=0.001, max_too_slow_in_row=2))


def test_the_study_timeout_stops_the_running_trial_which_keeps_its_best_epoch(sqlite_url):
    # Long enough for a first epoch on a loaded CI machine (4 s was not, once), far too short for 1000.
    session = session_for(sqlite_url, trials=5, max_epochs=1000, seed=0, options={"pruner": "none"})
    summary = session.runner.run(RunBudget(trials=5, timeout=10.0))
    trials = optuna.load_study(study_name="s", storage=sqlite_url).trials
    assert summary.stop_reason == "time budget spent (10 s)"
    last = trials[-1]
    assert last.state == TrialState.COMPLETE and "interrupted" not in last.user_attrs
    assert last.value == max(last.intermediate_values.values())
    assert last.user_attrs["stop_reason"] == f"stopped after epoch {max(last.intermediate_values)}: time budget spent (--timeout)"


def test_the_study_timeout_before_a_first_epoch_leaves_the_trial_to_run_again(sqlite_url):
    session = session_for(sqlite_url, trials=5, max_epochs=2, seed=0, options={"pruner": "none"})
    outcome = session.runner.run_trial(session.backend.ask(), TrialLimits(deadline=time.monotonic()))
    assert outcome.state == "FAIL" and outcome.value is None
    trials = optuna.load_study(study_name="s", storage=sqlite_url).trials
    assert len(trials) == 1 and trials[0].state == TrialState.FAIL and not trials[0].intermediate_values
    assert trials[0].user_attrs["interrupted"] is True
    assert trials[0].user_attrs["fail_reason"] == "interrupted: time budget spent (--timeout)"


def test_the_epoch_budget_counts_every_trained_epoch_and_cuts_the_last_trial(sqlite_url):
    session = session_for(sqlite_url, max_epochs=3, seed=0, budget_epochs=7, options={"pruner": "none"})
    summary = session.runner.run(session.budget())
    trials = optuna.load_study(study_name="s", storage=sqlite_url).trials
    assert summary.stop_reason == "epoch budget reached (7 epochs)"
    assert [t.user_attrs["epochs_trained"] for t in trials] == [3, 3, 1]
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert trials[-1].value == trials[-1].intermediate_values[1]
    assert trials[-1].user_attrs["stop_reason"] == "stopped after epoch 1: epoch budget spent (--budget-epochs)"


def test_a_trial_stopped_by_the_epoch_time_limit_after_an_epoch_keeps_its_value(sqlite_url):
    session = session_with_builder(sqlite_url, "build_slow_after_first_epoch", max_epochs=3, seed=0,
                                   train_samples=320, epoch_timeout=3.0)
    session.runner.run(RunBudget(trials=1, epoch_timeout=3.0))
    trial = optuna.load_study(study_name="s", storage=sqlite_url).trials[0]
    assert trial.user_attrs["slowed_after_epoch"] == 1
    assert trial.state == TrialState.COMPLETE, trial.user_attrs
    assert sorted(trial.intermediate_values) == [1] and trial.value == trial.intermediate_values[1]
    assert trial.user_attrs["stop_reason"].startswith("stopped after epoch 1: epoch time limit exceeded")


def test_hyperband_promotions_continue_from_the_earlier_rounds_weights(sqlite_url):
    session = session_for(sqlite_url, backend="hyperband", max_epochs=3, seed=5, train_samples=500)
    session.runner.run(session.budget())
    study = optuna.load_study(study_name="s", storage=sqlite_url)
    promoted = [t for t in study.trials if t.user_attrs.get("promoted_from") is not None]
    assert promoted and len(study.trials) == session.backend.expected_trials()
    for trial in promoted:
        source = study.trials[trial.user_attrs["promoted_from"]]
        assert trial.params == source.params
        assert "weights_missing" not in trial.user_attrs
        first_own = source.user_attrs["target_epochs"] + 1
        assert trial.user_attrs["initial_epoch"] == first_own - 1
        # Its curve starts at epoch 1 with the parent's epochs, then goes on with its own.
        assert sorted(trial.intermediate_values) == list(range(1, trial.user_attrs["target_epochs"] + 1))
        for step in range(1, first_own):
            assert trial.intermediate_values[step] == source.intermediate_values[step]
        assert trial.user_attrs["epochs_trained"] == trial.user_attrs["target_epochs"] - first_own + 1
        assert trial.value == max(v for s, v in trial.intermediate_values.items() if s >= first_own)
        assert trial.user_attrs["hyperband_round"] == source.user_attrs["hyperband_round"] + 1
        # Continuing from trained weights starts far above an untrained model (~10% on digits).
        assert trial.intermediate_values[first_own] > 0.5
