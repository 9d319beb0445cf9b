"""The Keras built-ins, offline: fashion_mnist read from a Keras cache made here, and the error for a
dataset that is neither cached nor downloadable (downloads go to a proxy that refuses connections, so
nothing leaves the machine). One fresh process, because Keras reads KERAS_HOME when it is imported."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import numpy as np

SCRIPT = """
import json
from hpsearch.spaces.data import DataSpec, DatasetError, load
data = load(DataSpec("fashion_mnist", val_split=0.25, split_seed=3))
try:
    load(DataSpec("cifar10"))
    error = None
except DatasetError as caught:
    error = str(caught)
print(json.dumps({
    "sizes": [len(data.x_train), len(data.x_val), len(data.x_test)],
    "shape": list(data.input_shape), "max": float(data.x_train.max()), "names": list(data.class_names),
    "val_counts": data.class_counts()["val"], "test_first": data.x_test[0, :, :, 0].tolist(),
    "error": error,
}))
"""


def write_idx(path, array: np.ndarray) -> None:
    header = b"\x00\x00\x08" + bytes([array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_fashion_mnist_from_the_keras_cache_and_cifar10_not_cached(tmp_path):
    cache = tmp_path / "keras-home" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    rng = np.random.default_rng(0)
    x_test = rng.integers(0, 256, (20, 28, 28))
    write_idx(cache / "train-labels-idx1-ubyte.gz", np.arange(80) % 10)
    write_idx(cache / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (80, 28, 28)))
    write_idx(cache / "t10k-labels-idx1-ubyte.gz", np.arange(20) % 10)
    write_idx(cache / "t10k-images-idx3-ubyte.gz", x_test)
    refuse = "http://127.0.0.1:9"
    env = {
        **os.environ, "KERAS_HOME": str(tmp_path / "keras-home"), "TF_CPP_MIN_LOG_LEVEL": "3",
        "http_proxy": refuse, "https_proxy": refuse, "HTTP_PROXY": refuse, "HTTPS_PROXY": refuse,
        "no_proxy": "", "NO_PROXY": "",
    }
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["sizes"] == [60, 20, 20] and result["shape"] == [28, 28, 1] and result["max"] <= 1.0
    assert result["names"][0] == "T-shirt/top" and len(result["names"]) == 10
    assert result["val_counts"] == {name: 2 for name in result["names"]}
    np.testing.assert_allclose(result["test_first"], x_test[0] / 255.0, rtol=1e-6)
    error = result["error"]
    assert error.startswith(f"cifar10 is not in Keras' cache ({tmp_path / 'keras-home' / 'datasets'}")
    assert "could not be downloaded" in error and "run once with internet or give the data as an .npz" in error
    assert "\n" not in error
