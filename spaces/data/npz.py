"""An ``.npz`` archive of arrays named as Keras' ``load_data`` returns them.

``x_train``, ``y_train`` are required; ``x_val``, ``y_val`` and ``x_test``, ``y_test`` optional (a
missing validation split is taken off train by ``val_split``, a missing test split by ``test_split``,
stratified and seeded; the training split is shuffled, seeded). Examples are images ``(n, h, w)``
(a channel axis is added), ``(n, h, w, c)``, or tabular rows ``(n, features)``. Image pixels are scaled
to ``[0, 1]`` once, by the rules of ``split.scale_pixels``; tabular features are standardized on the
training split. Labels are integers ``0 .. K-1`` (K = the largest + 1 over all splits; integral floats
accepted), one-hot rows ``(n, K)``, or strings (classes sorted).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hpsearch.spaces.data.dataset import DAMAGED_FILE_ERRORS, Dataset, DatasetError, first_line, open_npz
from hpsearch.spaces.data.split import complete_splits, scale_pixels, standardize

SPLITS = ("train", "val", "test")


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The ``x_*`` / ``y_*`` arrays of ``path``; ``DatasetError`` naming the file for a damaged or
    incomplete archive."""
    data = open_npz(path, "an .npz archive with x_train and y_train")
    with data:
        found = ", ".join(data.files) if data.files else "no arrays"
        if "x_train" not in data.files or "y_train" not in data.files:
            raise DatasetError(
                f"{path} lacks {'x_train' if 'x_train' not in data.files else 'y_train'}: an .npz source needs "
                f"x_train and y_train (x_val, y_val, x_test, y_test optional, as Keras' load_data names them); "
                f"it has {found}."
            )
        for split in ("val", "test"):
            x, y = f"x_{split}", f"y_{split}"
            if (x in data.files) != (y in data.files):
                has, lacks = (x, y) if x in data.files else (y, x)
                raise DatasetError(f"{path} has {has} but no {lacks}: give both or neither (it has {found}).")
        arrays = {}
        for key in (f"{kind}_{split}" for split in SPLITS for kind in "xy"):
            if key in data.files:
                try:
                    arrays[key] = data[key]
                except ValueError as error:
                    if "allow_pickle" in str(error):
                        raise DatasetError(
                            f"{path}: {key} holds Python objects (saved with pickling), which hpsearch does not "
                            "load: save numeric arrays (or strings for labels)."
                        ) from None
                    raise DatasetError(f"{path} is not a valid .npz file (truncated or corrupted): {first_line(error)}.") from None
                except DAMAGED_FILE_ERRORS as error:
                    raise DatasetError(f"{path} is not a valid .npz file (truncated or corrupted): {first_line(error)}.") from None
    return arrays


def _labels(path: Path, key: str, y: np.ndarray, count: int, x_key: str) -> np.ndarray:
    """``y`` as one label per example: integers (int64) or strings; checks the shape and values."""
    if y.ndim == 0:
        raise DatasetError(f"{path}: {key} must hold one label per example, shape (n,), but is a single value.")
    if len(y) != count:
        raise DatasetError(f"{path}: {x_key} has {count} examples but {key} has {len(y)} labels: they must match.")
    if y.ndim == 2 and y.shape[1] > 1 and y.dtype.kind in "biuf":
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise DatasetError(
                f"{path}: {key} has shape {y.shape}, so it must hold one-hot rows (a single 1, zeros elsewhere), "
                "but it does not: give one integer label per example or one-hot rows."
            )
        return y.argmax(axis=1).astype("int64")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DatasetError(f"{path}: {key} must hold one label per example, shape (n,), but has shape {y.shape}.")
    if y.dtype.kind in "US":
        return y.astype(str)
    if y.dtype.kind == "b":
        return y.astype("int64")
    if y.dtype.kind not in "iuf":
        raise DatasetError(f"{path}: {key} must hold integer labels 0..K-1, but has dtype {y.dtype}.")
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            raise DatasetError(
                f"{path}: {key} holds a non-integer label ({y[bad][0].item():g}): labels must be integers 0..K-1."
            )
    if len(y) and y.min() < 0:
        raise DatasetError(f"{path}: {key} holds a negative label ({y.min()}): labels must be integers 0..K-1.")
    return y.astype("int64")


def _examples(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    if x.ndim == 3:
        return x[..., np.newaxis]
    if x.ndim not in (2, 4):
        raise DatasetError(
            f"{path}: {key} must hold rows (n, features) or images (n, h, w) or (n, h, w, c), but has shape {x.shape}."
        )
    return x


def load_npz(source: str, val_split: float, test_split: float, seed: int) -> Dataset:
    path = Path(source).expanduser()
    arrays = read_arrays(path)
    present = [split for split in SPLITS if f"x_{split}" in arrays]
    xs = {split: _examples(path, f"x_{split}", arrays[f"x_{split}"]) for split in present}
    ys = {split: _labels(path, f"y_{split}", arrays[f"y_{split}"], len(xs[split]), f"x_{split}") for split in present}
    if len(xs["train"]) == 0:
        raise DatasetError(f"{path}: x_train holds no examples.")
    shape = xs["train"].shape[1:]
    for split in present[1:]:
        if xs[split].shape[1:] != shape:
            raise DatasetError(
                f"{path}: x_{split} examples have shape {xs[split].shape[1:]} but x_train ones have {shape}: "
                "every split must have one shape."
            )
    kinds = {"string" if ys[s].dtype.kind == "U" else "integer" for s in present}
    if len(kinds) > 1:
        raise DatasetError(f"{path}: some label arrays hold strings and others integers: use one kind for all.")
    if kinds == {"string"}:
        names = tuple(sorted(set().union(*(set(ys[s].tolist()) for s in present))))
        lookup = {name: i for i, name in enumerate(names)}
        ys = {s: np.asarray([lookup[v] for v in ys[s].tolist()], dtype="int64") for s in present}
    else:
        names = tuple(str(i) for i in range(int(max(ys[s].max(initial=0) for s in present)) + 1))
    distinct = np.unique(np.concatenate([ys[s] for s in present]))
    if len(distinct) < 2:
        raise DatasetError(
            f"{path}: every label is {names[int(distinct[0])]}: classification needs at least two classes."
        )

    x = xs["train"]
    data = complete_splits({split: (xs[split], ys[split]) for split in xs}, val_split, test_split, seed)
    features = [data[s][0] for s in SPLITS]
    scaled = standardize(str(path), *features) if x.ndim == 2 else scale_pixels(features, str(path))
    return Dataset.from_splits(path.stem, f"npz:{path.resolve()}", scaled, {split: pair[1] for split, pair in data.items()},
                               names)
