"""Which data a search trains on: the user's ``--data`` options, checked, loaded and remembered.

A space with a built-in dataset (``mnist_cnn``, ``digits_mlp``...) keeps its data; ``--data`` there
names an MNIST file, as it always did. A space without one (``image_cnn``, ``image_mlp``, a user's
own) takes a ``DataSpec`` from ``--data SOURCE`` and its options. The study stores the spec and the
data's fingerprint (content hash, shapes, classes and counts), so ``resume`` loads the same data and
refuses data that changed, saying what changed.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from hpsearch.search.errors import UserError
from hpsearch.spaces.space import Space

SPEC_KEY = "spec"
FINGERPRINT_KEY = "fingerprint"


@dataclass(frozen=True)
class DataRequest:
    """The data options as the user gave them (``None``: not given)."""

    source: str | None = None
    image_size: str | None = None  # "HxW" (or one number for a square)
    color: str | None = None
    val_split: float | None = None
    test_split: float | None = None
    train_samples: int | None = None

    def source_options(self) -> list[str]:
        """The options that only a ``--data SOURCE`` space takes, as the user typed them."""
        names = {"image_size": "--image-size", "color": "--color", "val_split": "--val-split",
                 "test_split": "--test-split"}
        return [names[f.name] for f in fields(self) if f.name in names and getattr(self, f.name) is not None]

    def spec(self) -> Any:
        """The ``DataSpec`` of this request (``source`` given)."""
        from hpsearch.spaces.data import BUILTIN_SOURCES, DataSpec, parse_image_size

        source = self.source
        if source is not None and source not in BUILTIN_SOURCES and Path(source).expanduser().exists():
            source = str(Path(source).expanduser().resolve())  # a resume from another folder finds it too
        values: dict[str, Any] = {"source": source, "color": self.color, "train_samples": self.train_samples,
                                  "image_size": parse_image_size(self.image_size) if self.image_size else None}
        if self.val_split is not None:
            values["val_split"] = self.val_split
        if self.test_split is not None:
            values["test_split"] = self.test_split
        return DataSpec(**values)


def check_request(space_name: str, request: DataRequest) -> None:
    """What can be checked before TensorFlow is imported, knowing the space by name only (a user's
    space is known only once loaded: its source is checked as a data source)."""
    from hpsearch.spaces.catalog import SPACES

    check_for_space(SPACES.get(space_name), request)


def check_for_space(space: Space | None, request: DataRequest) -> None:
    """The options' values and the source's existence, for ``space`` (``None``: one that takes ``--data``)."""
    from hpsearch.spaces.data import DatasetError, check_spec

    if space is not None and not space.needs_data:
        _refuse_source_options(space, request)
        return
    if space is not None and request.source is None:
        raise _needs_source(space)
    if request.source is not None:
        try:
            check_spec(request.spec())
        except DatasetError as error:
            raise UserError(str(error)) from None


def _needs_source(space: Space) -> UserError:
    from hpsearch.spaces.data import BUILTIN_SOURCES

    return UserError(
        f"Space '{space.name}' trains on data you give with --data SOURCE: a folder of class subfolders of "
        f"images, an .npz (x_train, y_train...), a CSV of path,label rows, or one of {', '.join(BUILTIN_SOURCES)}."
    )


def _refuse_source_options(space: Space, request: DataRequest) -> None:
    given = request.source_options()
    if given:
        raise UserError(
            f"{given[0]} is for spaces that take --data SOURCE (image_cnn, image_mlp and your own spaces): "
            f"space '{space.name}' trains on {space.dataset}."
        )


def open_data(space: Space, request: DataRequest) -> tuple[dict[str, Any], Any]:
    """``(what the study stores about its data, the Dataset)``; ``UserError``/``DatasetError`` if unusable."""
    if not space.needs_data:
        from hpsearch.spaces.data.mnist import DataOptions, check_data_path, load_dataset

        _refuse_source_options(space, request)
        check_data_path(space.dataset, request.source)
        options = DataOptions(path=request.source, train_samples=request.train_samples)
        return options.to_dict(), load_dataset(space.dataset, options)
    if request.source is None:
        raise _needs_source(space)
    from hpsearch.spaces.data import check_spec, load

    spec = request.spec()
    check_spec(spec)
    dataset = load(spec)
    return {SPEC_KEY: spec.to_dict(), FINGERPRINT_KEY: dataset.fingerprint()}, dataset


def stored_data(space: Space, data: dict[str, Any]) -> Any:
    """The Dataset a study searched (as stored by ``open_data``)."""
    if SPEC_KEY not in data:
        from hpsearch.spaces.data.mnist import DataOptions, load_dataset

        return load_dataset(space.dataset, DataOptions(path=data.get("path"), train_samples=data.get("train_samples")))
    from hpsearch.spaces.data import DataSpec, load

    return load(DataSpec.from_dict(data[SPEC_KEY]))


def check_unchanged(data: dict[str, Any], dataset: Any) -> None:
    """Refuse to go on with data whose fingerprint differs from the stored one; say what changed."""
    stored = data.get(FINGERPRINT_KEY)
    if stored is None:
        return
    current = dataset.fingerprint()
    changes = data_differences(stored, current)
    if changes:
        raise UserError(
            f"The data changed since the study started ({'; '.join(changes)}): trials on other data cannot be "
            f"compared. Restore the data or start a new study."
        )


def data_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What differs between two fingerprints, one phrase each (content last, when nothing else shows)."""
    found = []
    if stored.get("classes") != current.get("classes"):
        found.append(f"classes {', '.join(map(str, stored.get('classes', [])))} -> "
                     f"{', '.join(map(str, current.get('classes', [])))}")
    for split in ("train", "val", "test"):
        old = list((stored.get("shapes") or {}).get(split) or [0])
        new = list((current.get("shapes") or {}).get(split) or [0])
        parts = []
        if old[0] != new[0]:
            parts.append(f"{old[0]} -> {new[0]} examples")
        if old[1:] != new[1:]:
            parts.append(f"each {tuple(old[1:])} -> {tuple(new[1:])}")
        old_counts = (stored.get("counts") or {}).get(split) or {}
        new_counts = (current.get("counts") or {}).get(split) or {}
        moved = [f"{name} {old_counts.get(name, 0)} -> {new_counts.get(name, 0)}"
                 for name in sorted(set(old_counts) | set(new_counts)) if old_counts.get(name) != new_counts.get(name)]
        if moved:
            parts.append(f"({', '.join(moved[:4])}{', ...' if len(moved) > 4 else ''})")
        if parts:
            found.append(f"{split}: {' '.join(parts)}")
    if not found and stored.get("sha256") != current.get("sha256"):
        found.append("same shapes and classes, but the images or labels differ (content hash)")
    return found


def describe_stored(space_dataset: str, data: dict[str, Any]) -> str:
    """One line on the data a study stored: its source and split, and its classes and sizes."""
    if SPEC_KEY not in data:
        where = f" from {data['path']}" if data.get("path") else ""
        samples = f", first {data['train_samples']} train examples" if data.get("train_samples") else ""
        return f"{space_dataset}{where}{samples}"
    from hpsearch.spaces.data import DataSpec

    text = DataSpec.from_dict(data[SPEC_KEY]).describe()
    fingerprint = data.get(FINGERPRINT_KEY) or {}
    shapes = fingerprint.get("shapes") or {}
    if shapes:
        sizes = " / ".join(f"{(shapes.get(split) or [0])[0]} {split}" for split in ("train", "val", "test"))
        text += f"; {len(fingerprint.get('classes') or [])} classes, {sizes}"
    return text
