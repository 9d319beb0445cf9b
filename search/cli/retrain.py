"""``hpsearch retrain STUDY``: the best (or a chosen) trial trained on train + validation, then tested."""
from __future__ import annotations

import click

from hpsearch.search.cli.options import format_seconds, storage_option


@click.command(short_help="Retrain a trial on train+val, test it.")
@click.argument("study_name", metavar="STUDY")
@click.option("--trial", "trial_number", type=int, default=None, metavar="N",
              help="Trial to retrain; it must be COMPLETE [default: the best trial].")
@click.option("--epochs", type=int, default=None, metavar="N",
              help="Epochs to train [default: the trial's best epoch, as many as it took to reach its value].")
@storage_option
def retrain(study_name: str, trial_number: int | None, epochs: int | None, storage: str | None) -> None:
    """Retrain a trial of STUDY on train + validation and score it on the held-out test split.

    The configuration is rebuilt from the study (space, builder, params, data, seed) and trained
    as in the search, for the epochs of its best value. The model is saved as
    <artifacts>/models/trial-NNNNN.keras; test_accuracy, test_loss and retrain_epochs are added
    to the trial (`hpsearch show` prints them). Nothing else in the study changes.
    """
    from hpsearch.search.cli.output import user_value, wrap
    from hpsearch.search.cli.progress import format_params
    from hpsearch.search.retrain import plan_retrain, retrain as run_retrain
    from hpsearch.storage import record
    from hpsearch.storage.urls import mask_password

    plan = plan_retrain(study_name, storage, trial_number, epochs)
    target = plan.target
    trial = target.trial
    metric = (target.opened.study.metric_names or ["value"])[0]
    chosen = "chosen with --trial" if trial_number is not None else "the best trial"
    best = record.best_step(trial, target.maximize)
    click.echo(f"study:    {study_name} ({mask_password(target.opened.url)})")
    click.echo(f"trial:    {trial.number} ({chosen}): {metric} {trial.value:.4f} at epoch {best}")
    click.echo(wrap(f"params:   {format_params(trial.params)}", indent=10))
    why = "--epochs" if epochs is not None else "the trial's best epoch"
    click.echo(f"epochs:   {plan.epochs} ({why}), seed {user_value(target.meta.seed)}")
    result = run_retrain(plan, echo=click.echo)
    accuracy = "-" if result.test_accuracy is None else f"{result.test_accuracy:.4f}"
    click.echo(f"trained:  {result.train_size} images x {plan.epochs} epochs in {format_seconds(result.seconds)}")
    click.echo(f"test:     accuracy {accuracy}, loss {result.test_loss:.4f} on {result.test_size} held-out images")
    click.echo(f"model:    {plan.model_path}")
    click.echo(f"recorded: {record.TEST_ACCURACY}, {record.TEST_LOSS}, {record.RETRAIN_EPOCHS} on trial "
               f"{trial.number} (hpsearch show {study_name})")
