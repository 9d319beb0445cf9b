"""Data sources for the search: built-in datasets, ``.npz`` archives, folders of images, CSV lists.

    spec = DataSpec("data/xray", image_size=(64, 64), color="grayscale")
    check_spec(spec)        # cheap: no data read, no TensorFlow imported
    dataset = load(spec)    # once per process; DatasetError with a one-line message on bad data

One module per source (``builtin``, ``npz``, ``folder``, ``csv_list``; ``mnist`` and ``sklearn_sets``
behind the built-ins), sharing ``images`` (decoding) and ``split`` (stratified splits, scaling).
Importing this package imports neither TensorFlow nor Keras.
"""
from hpsearch.spaces.data.builtin import BUILTIN_SOURCES
from hpsearch.spaces.data.dataset import Dataset, DatasetError
from hpsearch.spaces.data.loader import clear_cache, load
from hpsearch.spaces.data.spec import DataSpec, check_spec, parse_image_size, source_kind

__all__ = [
    "BUILTIN_SOURCES",
    "DataSpec",
    "Dataset",
    "DatasetError",
    "check_spec",
    "clear_cache",
    "load",
    "parse_image_size",
    "source_kind",
]
