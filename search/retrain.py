"""``hpsearch retrain``: train a COMPLETE trial's configuration on train + validation, test it, save it.

The configuration is rebuilt from the study alone (the stored space and its builder, the trial's
params, the study's data options and seed) and trained with ``search.training``, as a search trial
is, for the trial's best epoch count (``record.best_step``: steps are epochs done). The model is
scored once on the dataset's held-out test split, saved as ``<artifacts>/models/trial-NNNNN.keras``,
and ``test_accuracy``, ``test_loss`` and ``retrain_epochs`` are added to the trial as user
attributes. Nothing else in the study changes (no trial is added, no state or value changes).

``plan_retrain`` checks everything the user gave without importing TensorFlow; ``retrain`` trains.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hpsearch.search.errors import UserError
from hpsearch.search.export import TrialTarget, check_writable_folder, open_trial, write_file
from hpsearch.storage import record
from hpsearch.storage.urls import check_writable

MODELS_FOLDER = "models"


def model_path(artifacts: Path, trial_number: int) -> Path:
    """Where ``retrain`` saves trial ``trial_number``'s model: ``<artifacts>/models/trial-NNNNN.keras``."""
    return Path(artifacts) / MODELS_FOLDER / f"trial-{trial_number:05d}.keras"


@dataclass(frozen=True)
class RetrainPlan:
    """A checked retrain: the trial, the epochs to train, where the model goes; nothing done yet."""

    target: TrialTarget
    epochs: int
    model_path: Path


@dataclass(frozen=True)
class RetrainResult:
    train_size: int
    test_size: int
    test_loss: float
    test_accuracy: float | None
    seconds: float


def plan_retrain(study_name: str, storage: str | None, trial_number: int | None, epochs: int | None) -> RetrainPlan:
    """Check a retrain request; ``UserError`` / ``StorageError`` before anything is written or trained."""
    if epochs is not None and epochs < 1:
        raise UserError(f"--epochs must be > 0, but got {epochs}.")
    target = open_trial(study_name, storage, trial_number, "retrain")
    check_writable(target.opened.url)  # the test scores are recorded on the trial
    trial = target.trial
    if epochs is None:
        epochs = record.best_step(trial, target.maximize)
        if epochs is None:
            raise UserError(
                f"Trial {trial.number} of study '{study_name}' has no per-epoch values to take its best "
                f"epoch from: give --epochs N."
            )
    path = model_path(Path(target.meta.artifacts), trial.number)
    check_writable_folder(path.parent, "retrain's model folder")
    return RetrainPlan(target, epochs, path)


def retrain(plan: RetrainPlan, echo: Callable[[str], None] = lambda _: None) -> RetrainResult:
    """Train, test and save the planned model, then record its test scores on the trial.

    ``echo`` receives a line on the data before training starts. The trial's weight-initialization
    seed is the one its search trial had (the study's seed plus the trial number), when the study has one.
    """
    import numpy as np

    from hpsearch.search import training  # TensorFlow: only now that everything is checked
    from hpsearch.search.session import study_space_and_data

    target = plan.target
    trial, meta = target.trial, target.meta
    space, dataset = study_space_and_data(meta)
    x = np.concatenate([dataset.x_train, dataset.x_val])
    y = np.concatenate([dataset.y_train, dataset.y_val])
    echo(f"data:     {dataset.name}: {len(dataset.x_train)} train + {len(dataset.x_val)} validation = "
         f"{len(x)} to train on, {len(dataset.x_test)} test images held out")
    started = time.monotonic()
    seed = training.trial_seed(meta.seed, trial.number)
    builder = space.load_builder()
    model = training.build_model(builder, trial.params, dataset.input_shape, dataset.num_classes, seed, sample=x)
    batch_size = training.batch_size_of(space, trial.params)
    hypermodel = getattr(builder, "hypermodel", None)
    if hypermodel is not None and hypermodel.has_fit:  # a hypermodel's own fit, as in its search
        hypermodel.fit(builder.last_hyperparameters, model, x, y, epochs=plan.epochs, verbose=0)
    else:
        if training.uses_lr_schedule(space):
            training.schedule_learning_rate(model, trial.params, plan.epochs, training.steps_per_epoch(len(x), batch_size))
        training.fit(model, training.TrainingData(x, y), batch_size, plan.epochs, shuffle_seed=seed)
    seconds = time.monotonic() - started
    scores = training.evaluate(model, dataset.x_test, dataset.y_test, batch_size)
    plan.model_path.parent.mkdir(parents=True, exist_ok=True)
    write_file(plan.model_path, model.save)
    result = RetrainResult(len(x), len(dataset.x_test), scores["loss"], scores.get("accuracy"), seconds)
    record_scores(target, plan.epochs, result)
    return result


def record_scores(target: TrialTarget, epochs: int, result: RetrainResult) -> None:
    """Add the retrain's test scores and epochs to the (finished) trial's user attributes."""
    storage = target.opened.storage
    study_id = storage.get_study_id_from_name(target.opened.study.study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, target.trial.number)
    attrs = {record.TEST_LOSS: record.json_float(result.test_loss), record.RETRAIN_EPOCHS: epochs}
    if result.test_accuracy is not None:
        attrs[record.TEST_ACCURACY] = record.json_float(result.test_accuracy)
    for key, value in attrs.items():
        record.set_finished_trial_user_attr(storage, trial_id, key, value)
