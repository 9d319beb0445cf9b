"""scikit-learn's bundled datasets (offline): the 8x8 digits images and the iris, wine and breast_cancer tables."""
from __future__ import annotations

import numpy as np

from hpsearch.spaces.data.dataset import Dataset
from hpsearch.spaces.data.split import standardize, stratified_split

DIGIT_NAMES = tuple(str(d) for d in range(10))
TABULAR = ("iris", "wine", "breast_cancer")


def load_digits() -> Dataset:
    """scikit-learn's bundled 8x8 digits (1797 images): 1077 train / 360 validation / 360 test."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    images = (bunch.images / 16.0).astype("float32")[..., np.newaxis]
    labels = bunch.target.astype("int64")
    order = np.random.default_rng(0).permutation(len(images))
    images, labels = images[order], labels[order]
    return Dataset(
        name="digits",
        source="scikit-learn load_digits()",
        x_train=images[:1077],
        y_train=labels[:1077],
        x_val=images[1077:1437],
        y_val=labels[1077:1437],
        x_test=images[1437:],
        y_test=labels[1437:],
        num_classes=10,
        class_names=DIGIT_NAMES,
    )


def load_tabular(name: str, val_split: float, test_split: float, seed: int) -> Dataset:
    """``iris``, ``wine`` or ``breast_cancer``: features ``(n, features)`` standardized on the training
    split; validation and test taken off by ``val_split`` / ``test_split``, stratified, seeded."""
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, f"load_{name}")()
    x, y = np.asarray(bunch.data), np.asarray(bunch.target).astype("int64")
    train, val, test = stratified_split(y, val_split, test_split, seed)
    x_train, x_val, x_test = standardize(name, x[train], x[val], x[test])
    names = tuple(str(n) for n in bunch.target_names)
    return Dataset(
        name=name,
        source=f"scikit-learn load_{name}()",
        x_train=x_train,
        y_train=y[train],
        x_val=x_val,
        y_val=y[val],
        x_test=x_test,
        y_test=y[test],
        num_classes=len(names),
        class_names=names,
    )
