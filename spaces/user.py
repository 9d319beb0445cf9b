"""Finding the space a ``SPACE`` argument names: built-in, registered, or a user's file or module.

``find_space(text)`` accepts, in order:

- a built-in name (``mnist_cnn``...);
- a name registered by an installed package under the entry-point group ``hpsearch.spaces``;
- ``path/to/file.py[:name]`` or ``package.module:name``.

What a reference names may be an hpsearch ``Space`` (declarative, as the built-in spaces are
written; its ``builder`` may be a function of the same file), or a Keras Tuner hypermodel: a
``build_model(hp)`` function, a ``keras_tuner.HyperModel`` subclass or instance. A file named
without ``:name`` offers its ``space``, ``build_model`` or single ``HyperModel`` subclass.
Loading a hypermodel builds it (Keras Tuner's way of finding its parameters): errors in the
user's code surface here as one ``UserCodeError`` line, before a study exists.
"""
from __future__ import annotations

import dataclasses
import inspect
from importlib import metadata
from pathlib import Path
from typing import Any

from hpsearch.spaces.catalog import SPACES, UnknownSpaceError
from hpsearch.spaces.params import SpaceDefinitionError
from hpsearch.spaces.references import Reference, SpaceReferenceError, file_digest, looks_like_reference, resolve
from hpsearch.spaces.space import HYPERMODEL, Budget, Objective, Space

ENTRY_POINT_GROUP = "hpsearch.spaces"
STORED_CODE_LIMIT = 1_000_000  # bytes of a space file stored with its study
DEFAULT_NAMES = ("space", "build_model", "hypermodel")


def registered_spaces() -> dict[str, str]:
    """Spaces installed packages register: name -> ``module:object``."""
    return {ep.name: ep.value for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def parse_objective(text: str) -> Objective:
    """``val_loss``, ``val_auc:max`` or ``val_mae:min``; without a direction it is inferred from the name."""
    from hpsearch.spaces.hypermodel import infer_direction

    metric, _, direction = text.strip().partition(":")
    if not metric:
        raise SpaceDefinitionError(f"--objective must name a metric Keras logs (e.g. val_accuracy), but got {text!r}.")
    directions = {"max": "maximize", "maximize": "maximize", "min": "minimize", "minimize": "minimize"}
    if direction and direction not in directions:
        raise SpaceDefinitionError(
            f"--objective's direction must be max or min (as in val_auc:max), but got {direction!r}."
        )
    return Objective(metric, directions[direction] if direction else infer_direction(metric))


def find_space(text: str, objective: Objective | None = None) -> Space:
    """The space ``text`` names (see the module docstring), with ``objective`` if given."""
    if text in SPACES:
        space = SPACES[text]
    else:
        registered = registered_spaces()
        if text in registered:
            space = load_reference(Reference.parse(registered[text]), name=text)
        elif looks_like_reference(text):
            space = load_reference(Reference.parse(text))
        else:
            raise unknown_space(text, registered)
    if objective is not None:
        space = dataclasses.replace(space, objective=objective)
    return space


def check_space_name(text: str) -> None:
    """``UnknownSpaceError`` for a name that is neither built in, registered nor user code, and
    ``SpaceReferenceError`` for a space file that is not there: both before TensorFlow is imported."""
    if text in SPACES:
        return
    registered = registered_spaces()
    if text in registered:
        return
    if not looks_like_reference(text):
        raise unknown_space(text, registered)
    reference = Reference.parse(text)
    if reference.is_file and not Path(reference.module).is_file():
        raise SpaceReferenceError(f"Space file not found: {reference.module}.")


def unknown_space(text: str, registered: dict[str, str]) -> UnknownSpaceError:
    import difflib

    names = sorted(SPACES) + sorted(registered)
    close = difflib.get_close_matches(text, names, n=1)
    hint = f"Did you mean '{close[0]}'? " if close else ""
    return UnknownSpaceError(
        f"Unknown space '{text}'. {hint}Valid spaces are: {', '.join(names)}; or give your own as "
        f"path/to/file.py[:name] or package.module:name."
    )


def load_reference(reference: Reference, name: str | None = None) -> Space:
    """The space a user's file or module defines (see the module docstring)."""
    target = resolve(reference)
    if inspect.ismodule(target):
        attribute = _default_attribute(target, reference)
        reference = dataclasses.replace(reference, attribute=attribute)
        target = getattr(target, attribute)
    path = reference.path
    source = _source(reference, path)
    label = name or _space_name(reference, path)
    if isinstance(target, Space):
        return _declarative(target, reference, source)
    from hpsearch.spaces.hypermodel import Hypermodel, infer_direction, params_from_hyperparameters

    hypermodel = Hypermodel(target, reference.label)
    params = tuple(params_from_hyperparameters(hypermodel.discover()))
    metric = hypermodel.default_metric()
    return Space(
        name=label,
        description=f"Keras Tuner hypermodel {reference.attribute} from {path or reference.module}.",
        params=params,
        builder=str(reference),
        dataset="",
        objective=Objective(metric, infer_direction(metric)),
        budget=Budget(trials=20, max_epochs=10),
        default_batch_size=32,  # Keras' own, as ``model.fit`` and Keras Tuner's ``search`` use
        kind=HYPERMODEL,
        source=source,
    )


def _declarative(space: Space, reference: Reference, source: dict[str, Any]) -> Space:
    """A user's ``Space``; a builder given as a function of the file becomes a reference to it."""
    builder = space.builder
    if callable(builder):
        module = resolve(dataclasses.replace(reference, attribute=""))
        name = getattr(builder, "__name__", "")
        if getattr(module, name, None) is not builder:
            raise SpaceDefinitionError(
                f"The builder of space '{space.name}' must be a function defined at the top level of "
                f"{reference.module}, or a 'module:function' string."
            )
        builder = f"{reference.module}:{name}"
    return dataclasses.replace(space, builder=builder, source=source)


def _default_attribute(module: Any, reference: Reference) -> str:
    for name in DEFAULT_NAMES:
        if hasattr(module, name):
            return name
    try:
        import keras_tuner as kt

        classes = [n for n, v in vars(module).items() if inspect.isclass(v) and issubclass(v, kt.HyperModel)
                   and v is not kt.HyperModel and getattr(v, "__module__", "") == module.__name__]
    except ImportError:
        classes = []
    if len(classes) == 1:
        return classes[0]
    raise SpaceReferenceError(
        f"{reference.module} defines no 'space', 'build_model' or single HyperModel subclass: name the one "
        f"to search as {reference.module}:NAME."
    )


def _space_name(reference: Reference, path: Path | None) -> str:
    stem = Path(reference.module).stem if reference.is_file else reference.module.rsplit(".", 1)[-1]
    return stem if reference.attribute in DEFAULT_NAMES else f"{stem}.{reference.attribute}"


def _source(reference: Reference, path: Path | None) -> dict[str, Any]:
    """What the study keeps of a user's space: where it came from, its hash, and a single file's code."""
    code = None
    if reference.is_file and path is not None and path.stat().st_size <= STORED_CODE_LIMIT:
        code = path.read_text(errors="replace")
    return {"reference": str(reference), "path": str(path) if path else None, "sha256": file_digest(path),
            "code": code}


__all__ = ["find_space", "load_reference", "parse_objective", "registered_spaces", "ENTRY_POINT_GROUP"]
