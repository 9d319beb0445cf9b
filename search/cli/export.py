"""``hpsearch export STUDY``: every trial as CSV or JSON, or (``--model``) the best trial's model."""
from __future__ import annotations

from pathlib import Path

import click

from hpsearch.search.cli.options import storage_option


@click.command(short_help="Export trials as CSV/JSON, or a model as .keras.")
@click.argument("study_name", metavar="STUDY")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default=None,
              help="Table format [default: from -o's extension, else csv].")
@click.option("--output", "-o", default=None, metavar="PATH", help="Write the table to PATH [default: stdout].")
@click.option("--model", "model_path", default=None, metavar="PATH.keras",
              help="Instead of the table: save the trial's model with its best weights (no training).")
@click.option("--trial", "trial_number", type=int, default=None, metavar="N",
              help="With --model: the trial to export; it must be COMPLETE [default: the best trial].")
@storage_option
def export(study_name: str, fmt: str | None, output: str | None, model_path: str | None,
           trial_number: int | None, storage: str | None) -> None:
    """Export STUDY's trials, or with --model the best trial's model.

    The table has one row per trial: number, state, value, params (param_NAME columns in CSV),
    timings, epochs, reasons, links, test scores, and the per-epoch values (CSV: "step:value"
    pairs). It reads any Optuna study. `hpsearch export STUDY > trials.csv` works.

    --model rebuilds the trial's model and loads its best checkpoint (or the copy in Optuna's
    artifact store), then saves it as a .keras file.
    """
    from hpsearch.search.errors import UserError

    if model_path is None:
        if trial_number is not None:
            raise UserError("--trial chooses the model to export: it needs --model PATH.keras.")
        _export_table(study_name, storage, fmt, None if output is None else Path(output))
        return
    for name, value in (("--format", fmt), ("-o/--output", output)):
        if value is not None:
            raise UserError(f"{name} is for the trials table; --model PATH.keras names the model file itself.")
    _export_model(study_name, storage, Path(model_path), trial_number)


def _export_table(study_name: str, storage: str | None, fmt: str | None, output: Path | None) -> None:
    from hpsearch.search import export as exporting

    fmt = exporting.table_format(fmt, output)
    if output is not None:
        exporting.check_output_file(output, "-o/--output")
    text, count = exporting.trials_text(study_name, storage, fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    exporting.write_text(output, text)
    click.echo(f"Wrote {count} trials of {study_name} as {fmt.upper()} to {output}.")


def _export_model(study_name: str, storage: str | None, path: Path, trial_number: int | None) -> None:
    from hpsearch.search import export as exporting
    from hpsearch.storage import record

    target = exporting.open_trial(study_name, storage, trial_number, "export --model")
    exporting.check_output_file(path, "--model", (".keras",))
    source = exporting.find_best_weights(target)
    trial = target.trial
    click.echo(f"trial:    {trial.number}, value {trial.value:.4f} at epoch {record.best_step(trial, target.maximize)}")
    click.echo(f"weights:  {source.describe()}")
    check = exporting.export_model(target, source, path)
    click.echo(f"check:    {check.metric} {check.measured:.6f} on the validation split "
               f"(the trial's stored value: {check.stored:.6f})")
    click.echo(f"model:    {path}")
