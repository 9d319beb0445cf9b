"""Stratified, seeded splits and the one-time scaling of arrays to float32 (numpy only).

Splits: each class gives its share of validation and test examples (largest-remainder rounding, so
the split sizes are ``round(n * fraction)`` overall), but always keeps at least one example for
training; a class too small to give one to validation or test gives none, silently. The same labels,
fractions and seed always give the same split; each split comes back in a shuffled order.

Scaling of images (decided once for all splits together, so that they are scaled alike):

* integer pixels: ``uint8`` / 255, ``uint16`` / 65535; other integer types / 255 when every value is
  in 0..255, else / 65535 when in 0..65535; negative values are an error;
* float pixels: kept when in ``[0, 1]``; / 255 when in ``[0, 255]``; otherwise mapped linearly
  from ``[min, max]`` (over all splits) onto ``[0, 1]``;
* NaN or infinite values are an error.

Tabular features ``(n, features)`` are standardized with the training split's mean and standard
deviation (a constant feature becomes 0).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hpsearch.spaces.data.dataset import DatasetError


def _allocate(total: int, counts: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Split ``round(total * fraction)`` over classes in proportion to ``counts`` (largest remainder)."""
    quota = counts * fraction
    taken = np.floor(quota).astype("int64")
    missing = int(round(total * fraction)) - int(taken.sum())
    if missing > 0:
        remainder = quota - taken
        # Ties broken at random (seeded), not always in favour of the first classes.
        order = np.lexsort((rng.random(len(counts)), -remainder))
        taken[order[:missing]] += 1
    return taken


def stratified_split(
    labels: np.ndarray, val_split: float, test_split: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices ``(train, val, test)`` into ``labels``, stratified by class, reproducible with ``seed``."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes, inverse = np.unique(labels, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(classes))
    n_test = _allocate(len(labels), counts, test_split, rng)
    n_val = _allocate(len(labels), counts, val_split, rng)
    # Every class keeps at least one training example: take back from validation first, then test.
    over = np.maximum(n_test + n_val - (counts - 1), 0)
    from_val = np.minimum(over, n_val)
    n_val -= from_val
    n_test -= over - from_val
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in range(len(classes)):
        members = rng.permutation(np.flatnonzero(inverse == c))
        t, v = int(n_test[c]), int(n_val[c])
        parts["test"].append(members[:t])
        parts["val"].append(members[t : t + v])
        parts["train"].append(members[t + v :])
    return tuple(rng.permutation(np.concatenate(parts[name])) for name in ("train", "val", "test"))  # type: ignore[return-value]


def split_off(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((x_rest, y_rest), (x_part, y_part))``: a stratified ``fraction`` of ``(x, y)`` taken off."""
    rest, part, _ = stratified_split(y, fraction, 0.0, seed)
    return (x[rest], y[rest]), (x[part], y[part])


def scale_pixels(arrays: Sequence[np.ndarray], where: str) -> list[np.ndarray]:
    """Images of every split as float32 in ``[0, 1]``, by one rule for all (module docstring)."""
    arrays = [np.asarray(a) for a in arrays]
    present = [a for a in arrays if a.size]
    dtype = np.result_type(*arrays) if arrays else np.dtype("float32")
    if dtype == np.bool_:
        return [a.astype("float32") for a in arrays]
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
        raise DatasetError(f"{where}: images must hold numbers, but have dtype {dtype}.")
    low = min((a.min() for a in present), default=0)
    high = max((a.max() for a in present), default=0)
    if np.issubdtype(dtype, np.floating) and not (np.isfinite(low) and np.isfinite(high)):
        raise DatasetError(f"{where}: images hold NaN or infinite values.")
    offset, divisor = 0.0, 1.0
    if np.issubdtype(dtype, np.integer):
        if low < 0:
            raise DatasetError(f"{where}: integer pixels must be >= 0, but the smallest is {low}.")
        if dtype == np.uint8 or (dtype != np.uint16 and high <= 255):
            divisor = 255.0
        elif dtype == np.uint16 or high <= 65535:
            divisor = 65535.0
        else:
            raise DatasetError(
                f"{where}: integer pixels must be 8-bit (0..255) or 16-bit (0..65535), but the largest is {high}."
            )
    elif low < 0 or high > 255:
        offset, divisor = float(low), float(high - low) or 1.0
    elif high > 1:
        divisor = 255.0
    scaled = []
    for a in arrays:
        out = a.astype("float32")
        if offset:
            out -= np.float32(offset)
        if divisor != 1.0:
            out *= np.float32(1.0 / divisor)
        np.clip(out, 0.0, 1.0, out=out)  # float rounding only: the rule keeps every value in range
        scaled.append(out)
    return scaled


def standardize(where: str, train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Tabular features as float32, standardized with ``train``'s mean and standard deviation."""
    try:
        train64 = np.asarray(train, dtype="float64")
        rest64 = [np.asarray(o, dtype="float64") for o in others]
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: features must be numbers, but have dtype {np.asarray(train).dtype}.") from None
    if not np.isfinite(train64).all() or not all(np.isfinite(o).all() for o in rest64):
        raise DatasetError(f"{where}: features hold NaN or infinite values.")
    mean = train64.mean(axis=0) if len(train64) else 0.0
    std = train64.std(axis=0) if len(train64) else 1.0
    std = np.where(std > 0, std, 1.0)
    return [((a - mean) / std).astype("float32") for a in (train64, *rest64)]


Pair = tuple[np.ndarray, np.ndarray]


def complete_splits(given: dict[str, Pair], val_split: float, test_split: float, seed: int) -> dict[str, Pair]:
    """``train``, ``val`` and ``test`` (images, labels) from the splits a source has (``train`` at least):
    a missing validation or test split is taken off the training one, stratified and seeded; the
    training split is shuffled with the seed either way."""
    x, y = given["train"]
    if "val" not in given and "test" not in given:
        train, val, test = stratified_split(y, val_split, test_split, seed)
        return {"train": (x[train], y[train]), "val": (x[val], y[val]), "test": (x[test], y[test])}
    order = np.random.default_rng(seed).permutation(len(y))
    data = {"train": (x[order], y[order])}
    for split, fraction in (("val", val_split), ("test", test_split)):
        if split in given:
            data[split] = given[split]
        else:
            data["train"], data[split] = split_off(*data["train"], fraction, seed)
    return data
