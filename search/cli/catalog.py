"""``hpsearch spaces [show NAME]`` and ``hpsearch backends``."""
from __future__ import annotations

import click

from hpsearch.search.cli.output import console, emit_data, format_option, table, user_value


@click.group(invoke_without_command=True, short_help="List the search spaces; `spaces show NAME` for one.")
@format_option
@click.pass_context
def spaces(ctx: click.Context, output_format: str) -> None:
    """List the built-in and registered search spaces (`spaces show NAME|PATH` shows one in full).

    Your own space needs no registering: pass path/to/file.py[:name] or package.module:name to
    `start`. A package registers a name under the entry-point group `hpsearch.spaces`.
    """
    if ctx.invoked_subcommand is not None:
        return
    from hpsearch.spaces.catalog import SPACES
    from hpsearch.spaces.user import registered_spaces

    rows = [{"name": name, "parameters": len(SPACES[name].params), "data": SPACES[name].dataset or None,
             "description": SPACES[name].description, "registered_by": None} for name in sorted(SPACES)]
    registered = registered_spaces()
    rows += [{"name": name, "parameters": None, "data": None, "description": None,
              "registered_by": registered[name]} for name in sorted(registered)]
    if output_format != "table":
        emit_data(rows, output_format)
        return
    console().print(table(
        ["SPACE", "PARAMS", "DATA", "DESCRIPTION"],
        [(row["name"], str(row["parameters"] if row["parameters"] is not None else "?"), row["data"] or "--data",
          row["description"] or f"registered by an installed package: {row['registered_by']}") for row in rows],
        wrap=["DESCRIPTION"], right=["PARAMS"],
    ))
    click.echo("Details: hpsearch spaces show NAME. Your own: hpsearch start path/to/file.py[:name] ...")


@spaces.command("show")
@click.argument("name")
@format_option
@click.option("--json", "as_json", is_flag=True, help="Print the space as JSON (as stored with a study): --format json.")
def show_space(name: str, output_format: str, as_json: bool) -> None:
    """Show every parameter, condition and default of space NAME.

    NAME may be your own space, path/to/file.py[:name] or package.module:name: a Keras Tuner
    hypermodel's parameters are found by building it with default values, as Keras Tuner does.
    """
    from hpsearch.spaces.user import find_space

    space = find_space(name)
    if as_json or output_format != "table":
        data = space.to_dict()
        if data.get("source"):
            data["source"] = {k: v for k, v in data["source"].items() if k != "code"}
        emit_data(data, "json" if as_json else output_format)
    else:
        click.echo(space.describe())


@click.command(short_help="List the backends and their --option settings.")
@format_option
def backends(output_format: str) -> None:
    """List the backends: family, algorithm, pruning, budget, and each one's --option settings with
    their defaults and allowed values.

    \b
    Examples:
      hpsearch backends
      hpsearch start mnist_cnn --backend tpe --option n_startup_trials=5 --option pruner=hyperband
    """
    from hpsearch.search.backends import backend_names, get_backend

    rows = []
    for name in backend_names():
        cls = get_backend(name)
        rows.append({
            "name": name, "family": cls.family, "algorithm": cls.algorithm,
            "prunes_per_epoch": bool(cls.prunes), "budget": "epochs" if cls.epochs_as_budget else "trials",
            "workers": cls.workers,
            "settings": [{"name": setting.name, "default": setting.default,
                          "choices": list(setting.choices) if setting.choices else None, "help": setting.help}
                         for setting in cls.settings_spec],
        })
    if output_format != "table":
        emit_data(rows, output_format)
        return
    out = console()
    out.print(table(
        ["BACKEND", "FAMILY", "ALGORITHM", "PRUNING", "BUDGET"],
        [(row["name"], row["family"], row["algorithm"], "per epoch" if row["prunes_per_epoch"] else "no",
          f"{row['budget']}") for row in rows],
        wrap=["ALGORITHM"],
    ))
    click.echo("")
    out.print(table(
        ["BACKEND", "SETTING", "DEFAULT", "MEANING"],
        [(row["name"] if index == 0 else "", setting["name"], user_value(setting["default"]), _meaning(setting))
         for row in rows for index, setting in enumerate(row["settings"])],
        title="Settings, given as --option NAME=VALUE", wrap=["MEANING"],
    ))
    click.echo("")
    out.print(table(["BACKEND", "WITH SEVERAL WORKERS"], [(row["name"], row["workers"]) for row in rows],
                    title="Several workers on one study (start --workers N, hpsearch worker)",
                    wrap=["WITH SEVERAL WORKERS"]))


def _meaning(setting: dict) -> str:
    """A setting's help, with its allowed values when the help does not name them all."""
    choices = [user_value(c) for c in setting["choices"] or []]
    text = setting["help"]
    if choices and not all(choice in text for choice in choices):
        text += f" One of: {', '.join(choices)}."
    return text
