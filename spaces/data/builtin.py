"""The built-in data sources, by name.

* ``mnist``, ``digits``: the datasets of the built-in spaces, on their fixed splits (``mnist.py``).
* ``fashion_mnist``, ``cifar10``, ``cifar100``: ``keras.datasets.<name>.load_data()``, which reads
  Keras' cache (``$KERAS_HOME`` or ``~/.keras``, folder ``datasets``) or downloads into it; their own
  test split, validation taken off train by ``val_split`` (stratified, seeded).
* ``iris``, ``wine``, ``breast_cancer``: scikit-learn's bundled tables, standardized, split by
  ``val_split`` / ``test_split`` (``sklearn_sets.py``).

Nothing heavy is imported here: Keras only inside ``load_keras``, scikit-learn inside its loaders.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hpsearch.spaces.data.dataset import Dataset, DatasetError, first_line
from hpsearch.spaces.data.sklearn_sets import TABULAR

# name -> its fixed split, as the error for a --val-split / --test-split that does not apply says it.
FIXED_SPLITS = {
    "mnist": "50000 train / 10000 validation / 10000 test",
    "digits": "1077 train / 360 validation / 360 test",
}
# name -> (folder under Keras' cache, size of its own test split)
KERAS_SOURCES = {
    "fashion_mnist": ("fashion-mnist", 10_000),
    "cifar10": ("cifar-10-batches-py-target", 10_000),
    "cifar100": ("cifar-100-python-target", 10_000),
}
BUILTIN_SOURCES: tuple[str, ...] = (*FIXED_SPLITS, *KERAS_SOURCES, *TABULAR)

FASHION_MNIST_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_NAMES = tuple(
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly camel "
    "can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup dinosaur "
    "dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion "
    "lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree "
    "pear pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea "
    "seal shark shrew skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table "
    "tank telephone television tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman "
    "worm".split()
)
CLASS_NAMES = {"fashion_mnist": FASHION_MNIST_NAMES, "cifar10": CIFAR10_NAMES, "cifar100": CIFAR100_NAMES}


def keras_datasets_dir() -> Path:
    """Keras' dataset cache: ``$KERAS_HOME/datasets``, else ``~/.keras/datasets``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home).expanduser() / "datasets"


def load_keras(name: str, val_split: float, seed: int) -> Dataset:
    """One of ``KERAS_SOURCES`` from Keras' cache or its download; ``DatasetError`` saying how to get it."""
    from hpsearch.spaces.data.split import scale_pixels, split_off

    folder, _ = KERAS_SOURCES[name]
    cached = keras_datasets_dir() / folder
    # Looked at before Keras runs: it creates the folder before it tries to download into it.
    was_cached = cached.is_dir() and any(cached.iterdir())
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    except Exception as error:  # noqa: BLE001 - a missing cache and a failed download end in the same advice
        reason = f"{type(error).__name__}: {first_line(error)}"
        if was_cached:
            raise DatasetError(
                f"{name} could not be loaded from Keras' cache ({cached}) ({reason}): delete that folder and run "
                "once with internet, or give the data as an .npz (x_train, y_train, x_test, y_test)."
            ) from None
        raise DatasetError(
            f"{name} is not in Keras' cache ({cached}) and could not be downloaded ({reason}): run once with "
            "internet or give the data as an .npz (x_train, y_train, x_test, y_test)."
        ) from None
    x_train, x_test = (x[..., np.newaxis] if x.ndim == 3 else x for x in (x_train, x_test))
    y_train, y_test = (np.asarray(y).reshape(-1).astype("int64") for y in (y_train, y_test))
    (x_train, y_train), (x_val, y_val) = split_off(x_train, y_train, val_split, seed)
    x_train, x_val, x_test = scale_pixels([x_train, x_val, x_test], name)
    names = CLASS_NAMES[name]
    return Dataset(
        name=name,
        source=f"keras.datasets.{name} ({cached})",
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        num_classes=len(names),
        class_names=names,
    )


def load_builtin(name: str, val_split: float, test_split: float, seed: int) -> Dataset:
    if name in FIXED_SPLITS:
        from hpsearch.spaces.data.mnist import DataOptions, load_dataset

        return load_dataset(name, DataOptions())
    if name in KERAS_SOURCES:
        return load_keras(name, val_split, seed)
    if name in TABULAR:
        from hpsearch.spaces.data.sklearn_sets import load_tabular

        return load_tabular(name, val_split, test_split, seed)
    raise DatasetError(f"Unknown built-in dataset '{name}'. Built-in datasets are: {', '.join(BUILTIN_SOURCES)}.")
