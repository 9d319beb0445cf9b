"""The loaded data (``Dataset``), the one error every loader raises (``DatasetError``), and what they share."""
from __future__ import annotations

import copy
import hashlib
import zipfile
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import numpy as np

SPLITS = ("train", "val", "test")
# Above this ratio of the largest to the smallest training class, ``Dataset.imbalance`` warns.
IMBALANCE_RATIO = 1.5
# What reading a damaged file may raise: zipfile's and zlib's errors, numpy's format errors, a cut-off read.
DAMAGED_FILE_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, KeyError, TypeError)


class DatasetError(Exception):
    """A dataset cannot be found or read; the message says how to provide it."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type's name if it has none), without a final period."""
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__).rstrip(".")


@dataclass(frozen=True)
class Dataset:
    """Train / validation / test splits, ready to train on.

    Images are float32 ``(n, height, width, channels)`` in ``[0, 1]``; tabular data float32
    ``(n, features)``; labels int64 in ``0 .. num_classes - 1``, named by ``class_names``.
    """

    name: str
    source: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    class_names: tuple[str, ...] = ()

    @classmethod
    def from_splits(cls, name: str, source: str, images: Sequence[np.ndarray], labels: dict[str, np.ndarray],
                    class_names: Sequence[str]) -> Dataset:
        """A Dataset from ``images`` in split order (train, val, test) and ``labels`` by split name."""
        return cls(name=name, source=source, x_train=images[0], y_train=labels["train"], x_val=images[1],
                   y_val=labels["val"], x_test=images[2], y_test=labels["test"], num_classes=len(class_names),
                   class_names=tuple(class_names))

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x_train.shape[1:])

    def summary(self) -> str:
        kind = "images" if self.x_train.ndim >= 3 else "rows"
        return (
            f"{self.name}: {len(self.x_train)} train / {len(self.x_val)} validation / "
            f"{len(self.x_test)} test {kind} {self.input_shape} from {self.source}"
        )

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of split ``name``: "train", "val" or "test"."""
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def names(self) -> tuple[str, ...]:
        """``class_names``, or "0" .. "K-1" when the dataset was built without them."""
        return self.class_names or tuple(str(i) for i in range(self.num_classes))

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Per split ("train", "val", "test"), how many examples each class has (every class listed)."""
        return copy.deepcopy(self._counts)

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this data, JSON-serializable: a SHA-256 over every split's labels and final
        (scaled) arrays, their shapes and dtypes; the shapes; the class names; the counts per class."""
        return copy.deepcopy(self._fingerprint)

    def imbalance(self) -> str | None:
        """A one-line warning when the training split's largest class is over 1.5x its smallest, else None."""
        counts = self._counts["train"]
        if len(counts) < 2:
            return None
        total = sum(counts.values()) or 1
        n_large, n_small = max(counts.values()), min(counts.values())
        if n_small and n_large / n_small <= IMBALANCE_RATIO:
            return None
        if n_small:
            ratio = f"{n_large / n_small:.1f}"
            ratio = (ratio if float(ratio) > IMBALANCE_RATIO else f"{n_large / n_small:.2f}") + "x"
        else:
            ratio = "infinite (a class has no training examples)"
        shown = sorted(counts.items(), key=lambda kv: -kv[1])
        listed = ", ".join(f"{name} {n} ({n / total:.0%})" for name, n in shown[:6])
        if len(shown) > 6:
            listed += f", ... {shown[-1][0]} {n_small} ({n_small / total:.0%})"
        return f"class imbalance in train: {listed}; largest/smallest = {ratio}"

    @cached_property
    def _counts(self) -> dict[str, dict[str, int]]:
        names = self.names()
        counts = {}
        for split in SPLITS:
            y = np.asarray(self.split(split)[1]).astype("int64", copy=False)
            per_class = np.bincount(y, minlength=len(names)) if len(y) else np.zeros(len(names), dtype="int64")
            counts[split] = {name: int(n) for name, n in zip(names, per_class)}
        return counts

    @cached_property
    def _fingerprint(self) -> dict[str, Any]:
        digest = hashlib.sha256()
        for split in SPLITS:
            for kind, array in zip("xy", self.split(split)):
                array = np.ascontiguousarray(array)
                digest.update(f"{kind}_{split}:{array.dtype.str}:{array.shape};".encode())
                digest.update(memoryview(array).cast("B"))
        return {
            "sha256": digest.hexdigest(),
            "shapes": {split: [int(d) for d in self.split(split)[0].shape] for split in SPLITS},
            "classes": list(self.names()),
            "counts": self._counts,
        }


def open_npz(path: Path, expected: str, cannot_read: str = "Cannot read") -> Any:
    """``np.load(path)`` of an ``.npz`` archive (a ``NpzFile``: use it in ``with``), refusing an empty,
    truncated or corrupted file, or a single array, with a ``DatasetError`` naming the file; ``expected``
    says what it must hold ("a Keras mnist.npz file with x_train, ...")."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(6)
    except OSError as error:
        raise DatasetError(f"{cannot_read} {path}: {error.strerror or error}.") from None
    if not magic:
        raise DatasetError(f"{path} is empty: expected {expected}.")
    if not magic.startswith((b"PK", b"\x93NUMPY")):  # a .npz is a zip archive; a .npy starts so
        raise DatasetError(
            f"{path} is not a valid .npz file (truncated or corrupted): it does not start as a zip archive does."
        )
    try:
        data = np.load(path, allow_pickle=False)
    except DAMAGED_FILE_ERRORS as error:
        raise DatasetError(f"{path} is not a valid .npz file (truncated or corrupted): {first_line(error)}.") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise DatasetError(f"{path} is a single NumPy array, not an .npz archive: expected {expected}.")
    return data
