"""What to load (``DataSpec``) and the checks that need neither the data nor TensorFlow (``check_spec``)."""
from __future__ import annotations

import math
import numbers
import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from hpsearch.spaces.data.builtin import BUILTIN_SOURCES, FIXED_SPLITS, KERAS_SOURCES
from hpsearch.spaces.data.dataset import DatasetError
from hpsearch.spaces.data.images import COLORS

FILE_KINDS = {".npz": "npz", ".csv": "csv"}


@dataclass(frozen=True)
class DataSpec:
    """Which data to load and how; hashable (the key of ``load``'s cache), stored with a study as ``to_dict``.

    ``source`` is a built-in name (``BUILTIN_SOURCES``; to use a folder of that name, write ``./NAME``)
    or a path: an ``.npz`` file, a ``.csv`` list of images, or a folder of class subfolders.
    ``image_size`` (height, width) and ``color`` ("grayscale" or "rgb"; None: as the files are) apply
    to image folders and CSV lists. ``val_split`` and ``test_split`` are the fractions taken off for
    validation and test where the source does not split itself; ``split_seed`` seeds those splits.
    ``train_samples`` keeps the first that many training examples.
    """

    source: str
    image_size: tuple[int, int] | None = None
    color: str | None = None
    val_split: float = 0.2
    test_split: float = 0.2
    split_seed: int = 0
    train_samples: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.image_size, list):
            object.__setattr__(self, "image_size", tuple(self.image_size))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["image_size"] = list(self.image_size) if self.image_size is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataSpec:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise DatasetError(f"Unknown data settings {', '.join(unknown)}: known ones are {', '.join(sorted(known))}.")
        if "source" not in data:
            raise DatasetError("The data settings lack 'source'.")
        values = dict(data)
        if values.get("image_size") is not None:
            values["image_size"] = tuple(values["image_size"])
        return cls(**values)

    def describe(self) -> str:
        """One short line, e.g. ``data/xray: 64x64 grayscale, val 0.2 / test 0.2 (split seed 0)``."""
        parts = []
        if self.image_size is not None:
            parts.append(f"{self.image_size[0]}x{self.image_size[1]}" + (f" {self.color}" if self.color else ""))
        elif self.color:
            parts.append(self.color)
        if self.source in FIXED_SPLITS:
            parts.append("its own split")
        elif self.source in KERAS_SOURCES:
            parts.append(f"its own test split, val {self.val_split:g} of train (split seed {self.split_seed})")
        else:
            parts.append(f"val {self.val_split:g} / test {self.test_split:g} (split seed {self.split_seed})")
        if self.train_samples is not None:
            parts.append(f"first {self.train_samples} train examples")
        return f"{self.source}: {', '.join(parts)}"


def parse_image_size(text: str) -> tuple[int, int]:
    """``"64x48"`` (height x width) or ``"64"`` (square) as ``(64, 48)``; ``DatasetError`` otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", text)
    if not match:
        raise DatasetError(f"--image-size must be HEIGHTxWIDTH in pixels (e.g. 64x64), but got {text!r}.")
    height = int(match.group(1))
    return height, int(match.group(2) or height)


def source_kind(source: str) -> str:
    """"builtin", "npz", "csv" or "folder"; ``DatasetError`` when ``source`` is none of them."""
    if source in BUILTIN_SOURCES:
        return "builtin"
    path = Path(source).expanduser()
    if path.is_dir():
        return "folder"
    if path.is_file():
        kind = FILE_KINDS.get(path.suffix.lower())
        if kind is None:
            raise DatasetError(
                f"Data file {source} must be an .npz archive or a .csv list of images (or give a folder of class "
                f"subfolders), but it ends in {path.suffix or 'no extension'}."
            )
        return kind
    raise DatasetError(
        f"Data source {source!r} is neither a built-in dataset ({', '.join(BUILTIN_SOURCES)}) nor an existing "
        "file or folder."
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_spec(spec: DataSpec) -> None:
    """Checks ``spec`` without reading the data (nor importing TensorFlow); ``DatasetError`` with one line."""
    if not isinstance(spec.source, str) or not spec.source.strip():
        raise DatasetError(f"--data must name a built-in dataset or a file or folder, but got {spec.source!r}.")
    for flag, value in (("--val-split", spec.val_split), ("--test-split", spec.test_split)):
        if not (_is_number(value) and 0 <= value < 1):
            raise DatasetError(f"{flag} must be >= 0 and < 1, but got {value}.")
    if spec.val_split + spec.test_split >= 1:
        raise DatasetError(
            f"--val-split + --test-split must be < 1 (the rest is for training), but got "
            f"{spec.val_split:g} + {spec.test_split:g} = {spec.val_split + spec.test_split:g}."
        )
    if not _is_int(spec.split_seed):
        raise DatasetError(f"--split-seed must be an integer, but got {spec.split_seed!r}.")
    if spec.train_samples is not None and not (_is_int(spec.train_samples) and spec.train_samples >= 1):
        raise DatasetError(f"--train-samples must be >= 1, but got {spec.train_samples}.")
    size = spec.image_size
    if size is not None and not (
        isinstance(size, tuple) and len(size) == 2 and all(_is_int(d) and d > 0 for d in size)
    ):
        shown = "x".join(str(d) for d in size) if isinstance(size, tuple) else repr(size)
        raise DatasetError(f"--image-size must be two positive integers HEIGHTxWIDTH, but got {shown}.")
    if spec.color is not None and spec.color not in COLORS:
        raise DatasetError(f"--color must be {' or '.join(COLORS)}, but got {spec.color!r}.")

    kind = source_kind(spec.source)
    if kind in ("builtin", "npz"):
        what = f"{spec.source} is used as it is" if kind == "builtin" else f"the arrays of {spec.source} are used as they are"
        if size is not None:
            raise DatasetError(
                f"--image-size applies to image folders and CSV lists only ({what}), but got --image-size {size[0]}x{size[1]}."
            )
        if spec.color is not None:
            raise DatasetError(f"--color applies to image folders and CSV lists only ({what}), but got --color {spec.color}.")
    defaults = DataSpec(spec.source)
    if spec.source in FIXED_SPLITS:
        for flag, value, default in (("--val-split", spec.val_split, defaults.val_split),
                                     ("--test-split", spec.test_split, defaults.test_split)):
            if value != default:
                raise DatasetError(
                    f"{spec.source} has a fixed split ({FIXED_SPLITS[spec.source]}): {flag} does not apply, but got {value}."
                )
    if spec.source in KERAS_SOURCES and spec.test_split != defaults.test_split:
        raise DatasetError(
            f"{spec.source} comes with its own test split ({KERAS_SOURCES[spec.source][1]} images): --test-split "
            f"does not apply, but got {spec.test_split}."
        )
