"""``load(spec)``: the data a ``DataSpec`` names, checked, split and scaled, once per process."""
from __future__ import annotations

import dataclasses
from functools import lru_cache

import numpy as np

from hpsearch.spaces.data.dataset import SPLITS, Dataset, DatasetError
from hpsearch.spaces.data.spec import DataSpec, check_spec, source_kind


def load(spec: DataSpec) -> Dataset:
    """The dataset ``spec`` names: float32 examples (images ``(n, h, w, c)`` in ``[0, 1]``, tables
    ``(n, features)`` standardized), int64 labels ``0 .. num_classes - 1``.

    Checked by ``check_spec`` first; read once per process (the same spec gives the same object);
    ``DatasetError`` with a one-line message when the data cannot be used.
    """
    check_spec(spec)
    return _load(spec)


@lru_cache(maxsize=4)
def _load(spec: DataSpec) -> Dataset:
    full = _load_all(dataclasses.replace(spec, train_samples=None))
    if spec.train_samples is None:
        return full
    if spec.train_samples > len(full.x_train):
        raise DatasetError(
            f"--train-samples must be <= {len(full.x_train)} (the training split of {full.name}), "
            f"but got {spec.train_samples}."
        )
    return dataclasses.replace(full, x_train=full.x_train[: spec.train_samples], y_train=full.y_train[: spec.train_samples])


@lru_cache(maxsize=2)
def _load_all(spec: DataSpec) -> Dataset:
    kind = source_kind(spec.source)
    args = (spec.val_split, spec.test_split, spec.split_seed)
    if kind == "builtin":
        from hpsearch.spaces.data.builtin import load_builtin

        dataset = load_builtin(spec.source, *args)
    elif kind == "npz":
        from hpsearch.spaces.data.npz import load_npz

        dataset = load_npz(spec.source, *args)
    elif kind == "csv":
        from hpsearch.spaces.data.csv_list import load_csv

        dataset = load_csv(spec.source, spec.image_size, spec.color, *args)
    else:
        from hpsearch.spaces.data.folder import load_folder

        dataset = load_folder(spec.source, spec.image_size, spec.color, *args)
    validate(dataset)
    return dataset


def validate(dataset: Dataset) -> None:
    """What every source must hand over; a ``DatasetError`` here means a source broke its contract."""
    names = dataset.names()
    problems = []
    if len(names) != dataset.num_classes or dataset.num_classes < 2:
        problems.append(f"{dataset.num_classes} classes named {list(names)}")
    shape = dataset.x_train.shape[1:]
    for split in SPLITS:
        x, y = dataset.split(split)
        if x.dtype != np.float32 or x.shape[1:] != shape:
            problems.append(f"x_{split} is {x.dtype} {x.shape}, not float32 (n, {', '.join(map(str, shape))})")
        if y.dtype != np.int64 or y.shape != (len(x),):
            problems.append(f"y_{split} is {y.dtype} {y.shape}, not int64 ({len(x)},)")
        elif len(y) and (y.min() < 0 or y.max() >= dataset.num_classes):
            problems.append(f"y_{split} holds labels {y.min()}..{y.max()}, not 0..{dataset.num_classes - 1}")
    if not len(dataset.x_train):
        problems.append("the training split is empty")
    if problems:
        raise DatasetError(f"{dataset.source}: " + "; ".join(problems) + ".")


def clear_cache() -> None:
    """Forget every dataset loaded so far (for tests)."""
    from hpsearch.spaces.data.mnist import _load_cached

    _load.cache_clear()
    _load_all.cache_clear()
    _load_cached.cache_clear()


load.cache_clear = clear_cache  # type: ignore[attr-defined]
