"""Data sources on real files made here: .npz archives, image folders, CSV lists, built-ins; the checks."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from hpsearch.spaces import datasets as legacy
from hpsearch.spaces.data import (
    BUILTIN_SOURCES,
    DataSpec,
    Dataset,
    DatasetError,
    check_spec,
    clear_cache,
    load,
    parse_image_size,
)

CLASSES = ("ant", "bee", "cat", "dog")


@pytest.fixture(autouse=True)
def no_cache():
    clear_cache()
    yield
    clear_cache()


def class_image(label: int, rng: np.random.Generator, size=(32, 32)) -> np.ndarray:
    """A uint8 image whose brightness says its class: 40 * label + 10 .. 40 * label + 19."""
    return (40 * label + 10 + rng.integers(0, 10, size=size)).astype(np.uint8)


def label_of(image: np.ndarray) -> int:
    """The class ``class_image`` drew ``image`` (scaled to [0, 1], any channels) for."""
    return int(round((float(image.mean()) * 255 - 14.5) / 40))


def assert_labels_match_images(data: Dataset) -> None:
    for split in ("train", "val", "test"):
        x, y = data.split(split)
        assert [label_of(img) for img in x] == y.tolist(), split


def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def image_folder(root, per_class=24, classes=CLASSES, seed=0, size=(32, 32)):
    """``root/CLASS/NNN.png``: 32x32 grayscale PNGs drawn by ``class_image``."""
    rng = np.random.default_rng(seed)
    for label, name in enumerate(classes):
        for i in range(per_class):
            write_png(root / name / f"{i:03d}.png", class_image(label, rng, size))
    return root


def npz_file(path, n=200, classes=4, seed=0, **extra):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = np.stack([class_image(int(label), rng, (8, 8)) for label in y])
    np.savez(path, x_train=x, y_train=y, **extra)
    return path


# -- .npz ------------------------------------------------------------------------------------------------


def test_npz_without_val_and_test_is_split_stratified_and_reproducibly(tmp_path):
    path = npz_file(tmp_path / "mine.npz")
    data = load(DataSpec(str(path)))
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (120, 40, 40)
    assert data.input_shape == (8, 8, 1) and data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert data.class_names == ("0", "1", "2", "3") and data.num_classes == 4
    assert data.class_counts()["val"] == {"0": 10, "1": 10, "2": 10, "3": 10}
    assert_labels_match_images(data)
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert data.source == f"npz:{path.resolve()}" and data.name == "mine"
    with np.load(path) as raw:  # uint8 pixels are divided by 255, exactly once
        np.testing.assert_allclose(np.sort(np.concatenate([data.x_train, data.x_val, data.x_test]).ravel()),
                                   np.sort(raw["x_train"].ravel() / 255.0), rtol=1e-6)

    clear_cache()
    again = load(DataSpec(str(path)))
    assert again is not data and again.fingerprint() == data.fingerprint()
    other = load(DataSpec(str(path), split_seed=1))
    assert other.fingerprint()["sha256"] != data.fingerprint()["sha256"]
    assert other.class_counts() == data.class_counts()


def test_npz_with_every_split_keeps_them(tmp_path):
    rng = np.random.default_rng(3)
    x = lambda n: rng.integers(0, 256, size=(n, 6, 5, 3), dtype=np.uint8)  # noqa: E731
    y = lambda n: np.arange(n) % 3  # noqa: E731
    path = tmp_path / "all.npz"
    np.savez(path, x_train=x(30), y_train=y(30), x_val=x(9), y_val=y(9), x_test=x(12), y_test=y(12))
    data = load(DataSpec(str(path), val_split=0.5))  # a split given in the file wins over the fractions
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (30, 9, 12)
    assert data.input_shape == (6, 5, 3)
    with np.load(path) as raw:
        np.testing.assert_allclose(data.x_test, raw["x_test"] / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(np.sort(data.y_train), np.sort(raw["y_train"]))


def test_npz_missing_test_is_taken_from_train(tmp_path):
    path = npz_file(tmp_path / "d.npz", n=100, x_val=np.zeros((10, 8, 8), np.uint8), y_val=np.arange(10) % 4)
    data = load(DataSpec(str(path), test_split=0.3))
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (70, 10, 30)


def test_npz_one_hot_and_string_labels_and_float_pixels(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    images = np.stack([class_image(int(c), rng, (4, 4)) for c in labels]).astype("float32")  # 0..255 floats
    np.savez(tmp_path / "onehot.npz", x_train=images, y_train=np.eye(3)[labels])
    data = load(DataSpec(str(tmp_path / "onehot.npz")))
    assert data.num_classes == 3 and data.x_train.max() <= 1.0
    assert_labels_match_images(data)
    names = np.array(["zebra", "ant", "mole"])[labels]
    np.savez(tmp_path / "named.npz", x_train=images / 255.0, y_train=names)
    data = load(DataSpec(str(tmp_path / "named.npz")))
    assert data.class_names == ("ant", "mole", "zebra")
    assert [data.class_names[i] for i in data.y_val] == [
        ["zebra", "ant", "mole"][label_of(img)] for img in data.x_val
    ]


def test_npz_tabular_rows_are_standardized_on_train(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(50, 10, size=(300, 5))
    np.savez(tmp_path / "rows.npz", x_train=x, y_train=(x[:, 0] > 50).astype(int))
    data = load(DataSpec(str(tmp_path / "rows.npz")))
    assert data.input_shape == (5,) and data.x_train.dtype == np.float32
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(data.x_train.std(axis=0), 1, atol=1e-4)


def bad_npz(kind, path):
    x = np.zeros((100, 8, 8), np.uint8)
    y = np.arange(100) % 4
    if kind == "no_x_train":
        np.savez(path, images=x, labels=y)
    elif kind == "lengths":
        np.savez(path, x_train=x, y_train=y[:90])
    elif kind == "val_without_y":
        np.savez(path, x_train=x, y_train=y, x_val=x[:10])
    elif kind == "shapes":
        np.savez(path, x_train=x, y_train=y, x_test=np.zeros((10, 9, 9), np.uint8), y_test=y[:10])
    elif kind == "one_class":
        np.savez(path, x_train=x, y_train=np.zeros(100, int))
    elif kind == "negative":
        np.savez(path, x_train=x, y_train=y - 1)
    elif kind == "fraction":
        np.savez(path, x_train=x, y_train=y / 3)
    elif kind == "truncated":
        np.savez(path, x_train=np.random.default_rng(0).integers(0, 256, (100, 8, 8)), y_train=y)
        path.write_bytes(path.read_bytes()[:3000])
    elif kind == "not_zip":
        path.write_text("x_train,y_train\n")
    return path


@pytest.mark.parametrize(
    "kind, message",
    [
        ("no_x_train", r"bad\.npz lacks x_train: .* it has images, labels\."),
        ("lengths", r"bad\.npz: x_train has 100 examples but y_train has 90 labels"),
        ("val_without_y", r"bad\.npz has x_val but no y_val"),
        ("shapes", r"bad\.npz: x_test examples have shape \(9, 9, 1\) but x_train ones have \(8, 8, 1\)"),
        ("one_class", r"bad\.npz: every label is 0: classification needs at least two classes"),
        ("negative", r"bad\.npz: y_train holds a negative label \(-1\)"),
        ("fraction", r"bad\.npz: y_train holds a non-integer label \(0\.33"),
        ("truncated", r"bad\.npz is not a valid \.npz file \(truncated or corrupted\)"),
        ("not_zip", r"bad\.npz is not a valid \.npz file \(truncated or corrupted\)"),
    ],
)
def test_bad_npz_is_a_clear_error_naming_the_file(tmp_path, kind, message):
    path = bad_npz(kind, tmp_path / "bad.npz")
    with pytest.raises(DatasetError, match=message) as error:
        load(DataSpec(str(path)))
    assert "\n" not in str(error.value)


# -- image folders ---------------------------------------------------------------------------------------


def test_folder_of_class_folders(tmp_path):
    root = image_folder(tmp_path / "pets")
    (root / "cat" / ".hidden.png").write_bytes(b"not an image, but hidden")
    (root / "cat" / "notes.txt").write_text("ignored: not an image name")
    write_png(root / "dog" / "more" / "nested.PNG", class_image(3, np.random.default_rng(9)))
    data = load(DataSpec(str(root)))
    assert data.class_names == CLASSES and data.input_shape == (32, 32, 1)
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == 4 * 24 + 1
    assert len(data.x_val) == len(data.x_test) == round(97 * 0.2)
    assert set(data.y_val.tolist()) == set(data.y_test.tolist()) == {0, 1, 2, 3}
    assert_labels_match_images(data)
    assert data.source == f"folder:{root.resolve()}" and data.name == "pets"


def test_folder_with_train_val_test_subfolders(tmp_path):
    image_folder(tmp_path / "d" / "train", per_class=20, seed=1)
    image_folder(tmp_path / "d" / "validation", per_class=3, seed=2)
    image_folder(tmp_path / "d" / "test", per_class=5, seed=3)
    data = load(DataSpec(str(tmp_path / "d")))
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (80, 12, 20)
    assert_labels_match_images(data)


def test_folder_with_train_only_takes_val_and_test_from_train(tmp_path):
    image_folder(tmp_path / "d" / "train", per_class=25)
    data = load(DataSpec(str(tmp_path / "d"), val_split=0.2, test_split=0.1))
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (70, 20, 10)
    assert_labels_match_images(data)


def test_image_size_resizes_and_color_rgb_gives_three_channels(tmp_path):
    root = image_folder(tmp_path / "pets", per_class=8)
    data = load(DataSpec(str(root), image_size=(16, 20), color="rgb"))
    assert data.input_shape == (16, 20, 3)
    np.testing.assert_array_equal(data.x_train[..., 0], data.x_train[..., 2])
    assert_labels_match_images(data)


def test_mixed_gray_and_color_files_load_as_rgb(tmp_path):
    root = image_folder(tmp_path / "pets", per_class=6)
    gray = class_image(1, np.random.default_rng(5))
    write_png(root / "bee" / "color.png", np.stack([gray, gray, gray], axis=-1))
    assert load(DataSpec(str(root))).input_shape == (32, 32, 3)
    assert load(DataSpec(str(root), color="grayscale")).input_shape == (32, 32, 1)


def bad_folder(kind, root):
    if kind == "no_subfolders":
        root.mkdir()
        write_png(root / "loose.png", np.zeros((4, 4), np.uint8))
        return root, root
    if kind == "no_images":
        (root / "a").mkdir(parents=True)
        (root / "b").mkdir()
        (root / "a" / "readme.txt").write_text("x")
        return root, root
    image_folder(root, per_class=4)
    if kind == "empty_class":
        (root / "eel").mkdir()
        return root, root / "eel"
    if kind == "one_class":
        image_folder(tmp := root.parent / "solo", per_class=4, classes=("only",))
        return tmp, tmp
    if kind == "truncated":
        bad = root / "bee" / "cut.png"
        data = (root / "bee" / "000.png").read_bytes()
        bad.write_bytes(data[: len(data) // 2])
        return root, bad
    if kind == "cut_header":
        bad = root / "bee" / "cut.png"
        bad.write_bytes((root / "bee" / "000.png").read_bytes()[:20])
        return root, bad
    if kind == "not_an_image":
        bad = root / "cat" / "fake.jpg"
        bad.write_text("this is text, not a JPEG")
        return root, bad
    if kind == "mixed_sizes":
        bad = write_png(root / "dog" / "big.png", np.zeros((40, 30), np.uint8))
        return root, bad
    if kind == "split_classes_differ":
        split = root.parent / "split"
        image_folder(split / "train", per_class=4)
        image_folder(split / "val", per_class=2, classes=("ant", "bee", "cat", "cow"))
        return split, split / "val"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("no_subfolders", "has no class subfolders"),
        ("no_images", "holds no images: none of its subfolders"),
        ("empty_class", "holds no images"),
        ("one_class", "has a single class folder (only): classification needs at least two classes"),
        ("truncated", "(truncated or corrupted?): image file is truncated"),
        ("cut_header", "(truncated or corrupted?)"),
        ("not_an_image", "is not an image file Pillow can read"),
        ("mixed_sizes", "Images differ in size"),
        ("split_classes_differ", "it lacks dog; it has cow"),
    ],
)
def test_bad_folder_is_a_clear_error_naming_the_culprit(tmp_path, kind, message):
    source, culprit = bad_folder(kind, tmp_path / "pets")
    with pytest.raises(DatasetError) as error:
        load(DataSpec(str(source)))
    text = str(error.value)
    assert message in text and str(culprit) in text and "\n" not in text
    if kind == "mixed_sizes":
        assert "32x32" in text and "40x30" in text and "--image-size" in text
        assert load(DataSpec(str(source), image_size=(32, 32))).input_shape == (32, 32, 1)


# -- CSV lists -------------------------------------------------------------------------------------------


def test_csv_list_with_header_relative_and_absolute_paths(tmp_path):
    root = image_folder(tmp_path / "imgs", per_class=10)
    rows = ["path,label"]
    for i, name in enumerate(CLASSES):
        for j in range(10):
            image = root / name / f"{j:03d}.png"
            rows.append(f"{image if j % 2 else image.relative_to(tmp_path)},{name.upper()}")
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n\n")
    data = load(DataSpec(str(tmp_path / "list.csv")))
    assert data.class_names == ("ANT", "BEE", "CAT", "DOG")
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (24, 8, 8)
    assert_labels_match_images(data)
    assert data.source == f"csv:{(tmp_path / 'list.csv').resolve()}"


def test_csv_list_without_header_and_integer_labels(tmp_path):
    root = image_folder(tmp_path / "sub" / "imgs", per_class=10, classes=("0", "1", "2"))
    rows = [f"imgs/{c}/{j:03d}.png,{c}" for c in ("2", "0", "1") for j in range(10)]
    (tmp_path / "sub" / "list.csv").write_text("\n".join(rows))
    data = load(DataSpec(str(tmp_path / "sub" / "list.csv"), image_size=(8, 8)))
    assert data.class_names == ("0", "1", "2") and data.input_shape == (8, 8, 1)
    assert_labels_match_images(data)
    assert root.is_dir()


@pytest.mark.parametrize(
    "text, message",
    [
        ("path,label\nimgs/ant/000.png,ant\nimgs/nope.png,bee\n", "bad.csv line 3: image file not found: imgs/nope.png"),
        ("imgs/ant/000.png,ant\nimgs/bee/000.png,bee,extra\n", "bad.csv line 2: expected 2 columns, path,label"),
        ("imgs/ant/000.png\n", "bad.csv line 1: expected 2 columns"),
        ("path,label\n\n", "bad.csv lists no images"),
        ("", "bad.csv lists no images"),
        ("imgs/ant/000.png,ant\nimgs/ant/001.png,ant\n", "bad.csv lists a single class (ant)"),
        ("imgs/ant/000.png,0\nimgs/bee/001.png,-1\n", "bad.csv line 2: label -1 is negative"),
    ],
)
def test_bad_csv_is_a_clear_error_with_the_line(tmp_path, text, message):
    image_folder(tmp_path / "imgs", per_class=2)
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(DatasetError) as error:
        load(DataSpec(str(tmp_path / "bad.csv")))
    assert message in str(error.value)


# -- built-ins, fingerprint, imbalance, cache ------------------------------------------------------------


def test_builtin_digits_keeps_its_split_and_names():
    data = load(DataSpec("digits"))
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (1077, 360, 360)
    assert data.class_names == tuple("0123456789") and data.input_shape == (8, 8, 1)
    legacy_digits = legacy.load_dataset("digits")
    np.testing.assert_array_equal(data.x_val, legacy_digits.x_val)
    assert load(DataSpec("digits", train_samples=100)).x_train.shape == (100, 8, 8, 1)


def test_builtin_iris_is_standardized_and_split():
    data = load(DataSpec("iris", val_split=0.2, test_split=0.2))
    assert data.input_shape == (4,) and data.class_names == ("setosa", "versicolor", "virginica")
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (90, 30, 30)
    assert data.class_counts()["test"] == {"setosa": 10, "versicolor": 10, "virginica": 10}
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0, atol=1e-5)


def test_keras_builtins_are_accepted_without_loading():
    for name in ("fashion_mnist", "cifar10", "cifar100"):
        assert name in BUILTIN_SOURCES
        check_spec(DataSpec(name, val_split=0.1))


def test_fingerprint_is_json_and_follows_every_pixel(tmp_path):
    path = npz_file(tmp_path / "a.npz", n=40)
    data = load(DataSpec(str(path)))
    fingerprint = data.fingerprint()
    assert json.loads(json.dumps(fingerprint)) == fingerprint
    assert fingerprint["shapes"] == {"train": [24, 8, 8, 1], "val": [8, 8, 8, 1], "test": [8, 8, 8, 1]}
    assert fingerprint["classes"] == ["0", "1", "2", "3"] and fingerprint["counts"]["train"]["0"] == 6
    with np.load(path) as raw:
        arrays = dict(raw)
    arrays["x_train"][17, 3, 4] ^= 1
    np.savez(tmp_path / "b.npz", **arrays)
    changed = load(DataSpec(str(tmp_path / "b.npz"))).fingerprint()
    assert changed["sha256"] != fingerprint["sha256"] and changed["shapes"] == fingerprint["shapes"]
    np.savez(tmp_path / "c.npz", **dict(np.load(path)))
    assert load(DataSpec(str(tmp_path / "c.npz"))).fingerprint() == fingerprint


def test_imbalance_warning(tmp_path):
    rng = np.random.default_rng(0)
    y = np.array([0] * 150 + [1] * 25 + [2] * 50)
    np.savez(tmp_path / "skewed.npz", x_train=rng.integers(0, 256, (len(y), 4, 4)), y_train=y)
    warning = load(DataSpec(str(tmp_path / "skewed.npz"))).imbalance()
    assert warning.startswith("class imbalance in train: 0 90 (67%)") and warning.endswith("largest/smallest = 6.0x")
    assert load(DataSpec(str(npz_file(tmp_path / "even.npz")))).imbalance() is None


def test_same_spec_loads_once(tmp_path):
    spec = DataSpec(str(npz_file(tmp_path / "a.npz")))
    first = load(spec)
    assert load(DataSpec(str(tmp_path / "a.npz"))) is first
    fewer = load(DataSpec(spec.source, train_samples=10))
    assert len(fewer.x_train) == 10 and np.shares_memory(fewer.x_train, first.x_train)
    with pytest.raises(DatasetError, match=r"--train-samples must be <= 120 \(the training split of a\), but got 500"):
        load(DataSpec(spec.source, train_samples=500))
    clear_cache()
    assert load(spec) is not first


# -- DataSpec and check_spec -----------------------------------------------------------------------------


def test_spec_round_trips_as_json_and_hashes():
    spec = DataSpec("data/x", image_size=(64, 48), color="rgb", val_split=0.1, train_samples=5)
    assert DataSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.to_dict()["image_size"] == [64, 48] and hash(spec) == hash(DataSpec.from_dict(spec.to_dict()))
    assert spec.describe() == "data/x: 64x48 rgb, val 0.1 / test 0.2 (split seed 0), first 5 train examples"
    assert parse_image_size("64x48") == (64, 48) and parse_image_size("32") == (32, 32)
    with pytest.raises(DatasetError, match="--image-size must be HEIGHTxWIDTH"):
        parse_image_size("big")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"source": "foo"}, "Data source 'foo' is neither a built-in dataset (mnist, digits, "),
        ({"val_split": 1.5}, "--val-split must be >= 0 and < 1, but got 1.5."),
        ({"test_split": -0.1}, "--test-split must be >= 0 and < 1, but got -0.1."),
        ({"val_split": 0.6, "test_split": 0.5}, "--val-split + --test-split must be < 1"),
        ({"image_size": (0, 32)}, "--image-size must be two positive integers HEIGHTxWIDTH, but got 0x32."),
        ({"color": "gray"}, "--color must be grayscale or rgb, but got 'gray'."),
        ({"train_samples": 0}, "--train-samples must be >= 1, but got 0."),
        ({"source": "NPZ", "image_size": (8, 8)}, "--image-size applies to image folders and CSV lists only"),
        ({"source": "NPZ", "color": "rgb"}, "--color applies to image folders and CSV lists only"),
        ({"source": "mnist", "image_size": (8, 8)}, "--image-size applies to image folders and CSV lists only"),
        ({"source": "mnist", "val_split": 0.1}, "mnist has a fixed split (50000 train / 10000 validation"),
        ({"source": "cifar10", "test_split": 0.1}, "cifar10 comes with its own test split"),
        ({"source": "TXT"}, "must be an .npz archive or a .csv list of images"),
    ],
)
def test_check_spec_rejections(tmp_path, changes, message):
    (tmp_path / "d.npz").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("x")
    changes = {**changes}
    changes["source"] = {"NPZ": str(tmp_path / "d.npz"), "TXT": str(tmp_path / "notes.txt")}.get(
        changes.get("source", ""), changes.get("source", str(tmp_path))
    )
    with pytest.raises(DatasetError) as error:
        check_spec(DataSpec(**changes))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_one_error_class_and_no_tensorflow_on_import():
    assert legacy.DatasetError is DatasetError and legacy.Dataset is Dataset
    code = (
        "import sys, hpsearch.spaces.data as d\n"
        "d.check_spec(d.DataSpec('cifar10'))\n"
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_every_image_format_and_mode(tmp_path):
    """PNG (8- and 16-bit), JPEG, BMP and GIF, names in any case; palette and RGBA files."""
    rng = np.random.default_rng(4)
    root = tmp_path / "formats"
    for label, name in enumerate(("dark", "light")):
        for i, suffix in enumerate((".png", ".JPG", ".jpeg", ".bmp", ".gif")):
            write_png(root / name / f"{i}{suffix}", class_image(label * 3, rng))
        write_png(root / name / "wide.png", class_image(label * 3, rng).astype(np.uint16) * 257)
    data = load(DataSpec(str(root)))
    assert data.input_shape == (32, 32, 1) and sum(map(len, (data.y_train, data.y_val, data.y_test))) == 12
    for split in ("train", "val", "test"):
        x, y = data.split(split)
        assert [label_of(img) // 3 for img in x] == y.tolist()
    image = class_image(1, rng)
    write_png(root / "dark" / "rgba.png", np.stack([image, image, image, np.full_like(image, 255)], axis=-1))
    Image.fromarray(np.stack([image] * 3, axis=-1)).convert("P").save(root / "light" / "palette.png")
    assert load(DataSpec(str(root), val_split=0.1)).input_shape == (32, 32, 3)


def test_large_images_are_decoded_on_threads_alike(tmp_path):
    """From 96x96 pixels up images are decoded on a thread pool: same labels, same errors."""
    root = image_folder(tmp_path / "big", per_class=12, size=(100, 120))
    data = load(DataSpec(str(root), image_size=(50, 60)))
    assert data.input_shape == (50, 60, 1)
    assert_labels_match_images(data)
    write_png(root / "cat" / "odd.png", class_image(2, np.random.default_rng(1), (100, 100)))
    with pytest.raises(DatasetError, match=r"is 100x120 \(HxW\) but .*odd\.png is 100x100"):
        load(DataSpec(str(root)))
    (root / "cat" / "odd.png").write_bytes((root / "cat" / "000.png").read_bytes()[:500])
    clear_cache()  # the same spec as above would come from the cache
    with pytest.raises(DatasetError, match=r"Cannot read image .*odd\.png \(truncated or corrupted\?\)"):
        load(DataSpec(str(root), image_size=(50, 60)))


def test_imbalance_over_many_classes_lists_the_largest_and_the_smallest():
    message = load(DataSpec("digits", train_samples=200)).imbalance()
    counts = load(DataSpec("digits", train_samples=200)).class_counts()["train"]
    smallest = min(counts, key=counts.get)
    assert message.startswith("class imbalance in train: ") and f"... {smallest} {counts[smallest]} (" in message
