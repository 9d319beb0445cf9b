"""``hpsearch spaces [show NAME]`` and ``hpsearch backends``."""
from __future__ import annotations

import json

import click


@click.group(invoke_without_command=True)
@click.pass_context
def spaces(ctx: click.Context) -> None:
    """List the built-in and registered search spaces (`spaces show NAME|PATH` for one in full)."""
    if ctx.invoked_subcommand is not None:
        return
    from hpsearch.spaces.catalog import SPACES
    from hpsearch.spaces.user import registered_spaces

    registered = registered_spaces()
    width = max(len(name) for name in [*SPACES, *registered])
    for name in sorted(SPACES):
        space = SPACES[name]
        click.echo(f"{name.ljust(width)}  {len(space.params):>2} params  {space.dataset or '--data':<7}  "
                   f"{space.description}")
    for name in sorted(registered):
        click.echo(f"{name.ljust(width)}  registered by an installed package: {registered[name]}")


@spaces.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the space as JSON (as stored with a study).")
def show_space(name: str, as_json: bool) -> None:
    """Show every parameter, condition and default of space NAME.

    NAME may be your own space, path/to/file.py[:name] or package.module:name: a Keras Tuner
    hypermodel's parameters are found by building it with default values, as Keras Tuner does.
    """
    from hpsearch.spaces.user import find_space

    space = find_space(name)
    if as_json:
        data = space.to_dict()
        if data.get("source"):
            data["source"] = {k: v for k, v in data["source"].items() if k != "code"}
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(space.describe())


@click.command()
def backends() -> None:
    """List the backends: family, algorithm, settings with defaults, pruning."""
    from hpsearch.search.backends import backend_names, get_backend

    for name in backend_names():
        cls = get_backend(name)
        budget = "epochs as budget" if cls.epochs_as_budget else "trials as budget"
        prunes = "prunes per epoch" if cls.prunes else "no pruning"
        click.echo(f"{name}  [{cls.family}] {cls.algorithm}; {prunes}; {budget}")
        for setting in cls.settings_spec:
            choices = f" ({'/'.join(map(str, setting.choices))})" if setting.choices else ""
            click.echo(f"    --option {setting.name}={setting.default}{choices}  {setting.help}")
