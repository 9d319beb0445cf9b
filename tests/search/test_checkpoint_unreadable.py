"""An interrupted trial whose checkpoint is unreadable (cut in half): its retry trains from scratch.

The retry must COMPLETE and count toward the budget as a normal trial, exactly as when the
checkpoint file is missing, with the reason recorded in ``checkpoint_unreadable``.
"""
from __future__ import annotations

import os
import signal

import numpy as np
import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState

from hpsearch.search.cli import progress as console
from hpsearch.search.cli.main import cli
from hpsearch.search.starting_points import UnreadableCheckpoint, load_checkpoint
from hpsearch.storage import record
from hpsearch.storage.artifacts import TrialCheckpoints

INTERRUPT_AFTER_EPOCH = 2
MAX_EPOCHS = 4


def test_a_truncated_checkpoint_makes_the_retry_train_from_epoch_0_and_complete(sqlite_url, tmp_path, monkeypatch):
    finished = console.ConsoleProgress.epoch_finished

    def ctrl_c_after_epoch(self, proposal, step, value, eta=None):  # as if the user pressed Ctrl-C then
        finished(self, proposal, step, value, eta)
        if step == INTERRUPT_AFTER_EPOCH:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(console.ConsoleProgress, "epoch_finished", ctrl_c_after_epoch)
    stopped = CliRunner().invoke(cli, [
        "start", "digits_mlp", "--backend", "tpe", "--storage", sqlite_url, "--study", "cut", "--trials", "1",
        "--max-epochs", str(MAX_EPOCHS), "--seed", "3", "--train-samples", "300", "-o", "pruner=none"])
    assert stopped.exit_code == 130, stopped.output
    cut = optuna.load_study(study_name="cut", storage=sqlite_url).trials[0]
    assert cut.state == TrialState.FAIL and cut.user_attrs["interrupted"] is True
    assert sorted(cut.intermediate_values) == list(range(1, INTERRUPT_AFTER_EPOCH + 1))
    monkeypatch.setattr(console.ConsoleProgress, "epoch_finished", finished)

    checkpoints = list(tmp_path.glob("**/checkpoints/trial-00000/last.state.npz"))
    assert len(checkpoints) == 1, checkpoints
    whole = checkpoints[0].read_bytes()
    checkpoints[0].write_bytes(whole[: len(whole) // 2])

    resumed = CliRunner().invoke(cli, ["resume", "cut", "--storage", sqlite_url, "-q"])
    assert resumed.exit_code == 0, resumed.output
    trials = optuna.load_study(study_name="cut", storage=sqlite_url).trials
    reruns = [t for t in trials if t.user_attrs.get(record.RETRY_OF) == 0]
    assert len(reruns) == 1, [(t.number, t.state, t.user_attrs) for t in trials]
    rerun = reruns[0]
    assert rerun.state == TrialState.COMPLETE, rerun.user_attrs
    assert rerun.params == cut.params
    assert "last checkpoint of trial 0 is unreadable" in rerun.user_attrs[record.CHECKPOINT_UNREADABLE]
    # From epoch 0: nothing carried over, every epoch trained by the retry itself.
    assert not record.copied_steps(rerun)
    assert rerun.user_attrs[record.EPOCHS_TRAINED] == MAX_EPOCHS
    assert sorted(rerun.intermediate_values) == list(range(1, MAX_EPOCHS + 1))
    # It counts toward the budget like any trial: the search stopped at its one trial.
    assert len([t for t in trials if not t.user_attrs.get(record.INTERRUPTED)]) == 1


@pytest.mark.parametrize("kind", ["state", "keras"])
def test_a_load_that_fails_halfway_puts_the_fresh_weights_back(kind, tmp_path, monkeypatch):
    import keras

    from hpsearch.search.starting_points import model_state

    def model() -> keras.Model:
        built = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
        built.compile(optimizer="adam", loss="mse")
        return built

    checkpoints = TrialCheckpoints(tmp_path)
    trained = model()
    trained.optimizer.build(trained.trainable_variables)
    if kind == "state":
        checkpoints.save_state(model_state(trained), 0, "last", 1, 0.5)
    else:  # a study made before training states: Keras' weights file
        checkpoints.save(trained, 0, "last", 1, 0.5)

    fresh = model()
    fresh.optimizer.build(fresh.trainable_variables)
    before = [v.numpy().copy() for v in fresh.weights]

    def half_a_load(*args, **kwargs):  # what a cut-off file may do: some layers loaded, then an error
        fresh.layers[0].kernel.assign(np.ones_like(before[0]))
        fresh.optimizer.iterations.assign(7)
        raise OSError("Unable to synchronously open file (truncated file)")

    if kind == "state":
        import hpsearch.search.starting_points as starting_points

        real_restore = starting_points.restore_state
        calls = []

        def restore_then_fail(target, values):
            calls.append(target)
            if len(calls) == 1:
                half_a_load()
            real_restore(target, values)

        monkeypatch.setattr(starting_points, "restore_state", restore_then_fail)
    else:
        fresh.load_weights = half_a_load
    with pytest.raises(UnreadableCheckpoint, match=r"last checkpoint of trial 0 is unreadable \(OSError: .*truncated"):
        load_checkpoint(fresh, checkpoints, 0, "last")
    for variable, value in zip(fresh.weights, before):
        np.testing.assert_array_equal(variable.numpy(), value)
    assert int(fresh.optimizer.iterations.numpy()) == 0


def test_a_training_state_round_trips_and_refuses_another_architecture(tmp_path):
    import keras

    from hpsearch.search.starting_points import model_state, restore_state

    def model(units: int) -> keras.Model:
        built = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units), keras.layers.Dense(2)])
        built.compile(optimizer="adam", loss="mse")
        return built

    checkpoints = TrialCheckpoints(tmp_path)
    trained = model(3)
    trained.fit(np.ones((8, 4)), np.zeros((8, 2)), epochs=2, verbose=0)
    checkpoints.save_state(model_state(trained), 0, "last", 2, 0.25)
    assert checkpoints.note(0, "last") == {"epoch": 2, "value": 0.25}

    again = model(3)
    assert load_checkpoint(again, checkpoints, 0, "last") is not None
    for mine, theirs in zip(again.weights + again.optimizer.variables, trained.weights + trained.optimizer.variables):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    assert int(again.optimizer.iterations.numpy()) == 2

    other = model(5)
    with pytest.raises(ValueError, match="shape"):
        restore_state(other, checkpoints.load_state(0, "last"))
