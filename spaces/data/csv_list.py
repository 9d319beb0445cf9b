"""A CSV listing images and their labels, one ``path,label`` row per image.

Paths are relative to the CSV's folder (absolute ones are taken as they are). A first row
``path,label`` (or ``file``/``filename``/``image`` and ``label``/``class``, any case) is a header.
Labels are class names: any strings, classes sorted; or, when every label is an integer, the classes
are "0" .. "K-1" by value (K = the largest + 1). Validation and test are taken off by the splits.
"""
from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np

from hpsearch.spaces.data import images
from hpsearch.spaces.data.dataset import Dataset, DatasetError
from hpsearch.spaces.data.split import scale_pixels, stratified_split

_HEADER_PATH = {"path", "file", "filename", "file_name", "image", "image_path", "filepath"}
_HEADER_LABEL = {"label", "class", "class_name", "target", "category"}
_INTEGER = re.compile(r"[+-]?\d+")


def read_list(path: Path) -> tuple[list[Path], list[str], list[int]]:
    """``(image paths, labels, line numbers)`` of the rows of ``path``; ``DatasetError`` for a bad row."""
    files: list[Path] = []
    labels: list[str] = []
    lines: list[int] = []
    first = True
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            for row in reader:
                line = reader.line_num
                if not row or all(not field.strip() for field in row):
                    continue
                fields = [field.strip() for field in row]
                if first:
                    first = False
                    if len(fields) == 2 and fields[0].lower() in _HEADER_PATH and fields[1].lower() in _HEADER_LABEL:
                        continue  # the header
                if len(fields) != 2 or not fields[0] or not fields[1]:
                    raise DatasetError(
                        f"{path} line {line}: expected 2 columns, path,label, but got {row!r}."
                    )
                given = Path(fields[0]).expanduser()
                image = given if given.is_absolute() else path.parent / given
                if not image.is_file():
                    raise DatasetError(f"{path} line {line}: image file not found: {fields[0]} (looked for {os.path.abspath(image)}).")
                files.append(image)
                labels.append(fields[1])
                lines.append(line)
    except OSError as error:
        raise DatasetError(f"Cannot read {path}: {error.strerror or error}.") from None
    except UnicodeDecodeError as error:
        raise DatasetError(f"{path} is not a UTF-8 text file: {error.reason} at byte {error.start}.") from None
    except csv.Error as error:
        raise DatasetError(f"{path} line {reader.line_num}: not valid CSV: {error}.") from None
    return files, labels, lines


def class_indices(path: Path, labels: list[str], lines: list[int]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Label strings as class indices, and the class names (module docstring)."""
    if all(_INTEGER.fullmatch(label) for label in labels):
        values = [int(label) for label in labels]
        for value, line in zip(values, lines):
            if value < 0:
                raise DatasetError(f"{path} line {line}: label {value} is negative: integer labels must be 0 or more.")
        count = max(values) + 1
        indices, names = np.asarray(values, dtype="int64"), tuple(str(i) for i in range(count))
    else:
        names = tuple(sorted(set(labels)))
        lookup = {name: i for i, name in enumerate(names)}
        indices = np.asarray([lookup[label] for label in labels], dtype="int64")
    present = np.unique(indices)
    if len(present) < 2:
        raise DatasetError(
            f"{path} lists a single class ({names[int(present[0])]}): classification needs at least two classes."
        )
    return indices, names


def load_csv(source: str, image_size, color, val_split: float, test_split: float, seed: int) -> Dataset:
    path = Path(source).expanduser()
    files, labels, lines = read_list(path)
    if not files:
        raise DatasetError(f"{path} lists no images: expected rows of path,label (after an optional header row path,label).")
    y, names = class_indices(path, labels, lines)
    x = images.decode(files, image_size, color)
    train, val, test = stratified_split(y, val_split, test_split, seed)
    scaled = scale_pixels([x[train], x[val], x[test]], str(path))
    return Dataset(
        name=path.stem,
        source=f"csv:{path.resolve()}",
        x_train=scaled[0],
        y_train=y[train],
        x_val=scaled[1],
        y_val=y[val],
        x_test=scaled[2],
        y_test=y[test],
        num_classes=len(names),
        class_names=names,
    )
