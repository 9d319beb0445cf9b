"""A folder of class subfolders of images, as Keras' ``image_dataset_from_directory`` reads one.

Class names are the subfolder names, sorted; a class's images are the files under its folder (nested
folders included) named ``*.png``, ``*.jpg``, ``*.jpeg``, ``*.bmp`` or ``*.gif`` in any case; hidden
files and folders (a leading ".") and files of other types are ignored. Either::

    FOLDER/cat/*.png, FOLDER/dog/*.png, ...            validation and test taken off by the splits

or, with the splits made already::

    FOLDER/train/cat/*.png, FOLDER/train/dog/*.png     required
    FOLDER/val/...  (or FOLDER/validation/...)         else taken off train by val_split
    FOLDER/test/...                                    else taken off train by test_split

where every split has the same class folders.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hpsearch.spaces.data import images
from hpsearch.spaces.data.dataset import Dataset, DatasetError
from hpsearch.spaces.data.split import complete_splits, scale_pixels

SPLIT_FOLDERS = {"train": "train", "val": "val", "validation": "val", "test": "test"}
_EXTENSIONS = ", ".join(images.IMAGE_EXTENSIONS)


def _subfolders(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)


def _images_under(folder: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root) / name for name in sorted(files) if images.is_image_name(Path(name)))
    return found


def scan_classes(folder: Path) -> dict[str, list[Path]]:
    """Class name -> its image files, for a folder of class subfolders; ``DatasetError`` when unusable."""
    subfolders = _subfolders(folder)
    if not subfolders:
        raise DatasetError(
            f"{folder} has no class subfolders: put each class's images in a folder of its own "
            f"({folder / 'CLASS_A'}/*.png, {folder / 'CLASS_B'}/*.png, ...)."
        )
    classes = {sub.name: _images_under(sub) for sub in subfolders}
    if not any(classes.values()):
        raise DatasetError(
            f"{folder} holds no images: none of its subfolders ({', '.join(classes)}) holds a file named "
            f"{_EXTENSIONS}."
        )
    for name, files in classes.items():
        if not files:
            raise DatasetError(f"Class folder {folder / name} holds no images ({_EXTENSIONS}): add some or remove it.")
    if len(classes) < 2:
        raise DatasetError(
            f"{folder} has a single class folder ({next(iter(classes))}): classification needs at least two classes."
        )
    return classes


def split_folders(folder: Path) -> dict[str, Path] | None:
    """``{"train": ..., "val": ..., "test": ...}`` (those present) when ``folder`` holds the splits made
    already (a ``train/`` subfolder), None when it holds class folders."""
    subfolders = {p.name: p for p in _subfolders(folder)}
    named = {name: path for name, path in subfolders.items() if name.lower() in SPLIT_FOLDERS}
    if not named:
        return None
    others = [name for name in subfolders if name not in named]
    if not any(SPLIT_FOLDERS[name.lower()] == "train" for name in named):
        raise DatasetError(
            f"{folder} has {', '.join(n + '/' for n in named)} but no train/: give the training images in "
            f"{folder / 'train'}/CLASS/..., or put only class folders in {folder}."
        )
    if others:
        raise DatasetError(
            f"{folder} has a train/ folder and also {others[0]}/: with train/, its subfolders must be train/, "
            f"val/ (or validation/) and test/, each holding one folder per class."
        )
    splits: dict[str, Path] = {}
    for name, path in named.items():
        split = SPLIT_FOLDERS[name.lower()]
        if split in splits:
            raise DatasetError(f"{folder} has both {splits[split].name}/ and {name}/: keep one of them.")
        splits[split] = path
    return splits


def _check_same_classes(train: Path, other: Path, train_classes: list[str], other_classes: list[str]) -> None:
    if train_classes == other_classes:
        return
    lacking = sorted(set(train_classes) - set(other_classes))
    extra = sorted(set(other_classes) - set(train_classes))
    problems = ([f"it lacks {', '.join(lacking)}"] if lacking else []) + (
        [f"it has {', '.join(extra)}, which {train} has not"] if extra else []
    )
    raise DatasetError(
        f"The class folders of {other} differ from those of {train}: {'; '.join(problems)}. "
        "Every split needs the same class folders."
    )


def load_folder(source: str, image_size, color, val_split: float, test_split: float, seed: int) -> Dataset:
    folder = Path(source).expanduser()
    splits = split_folders(folder)
    parts = splits or {"train": folder}
    scanned = {split: scan_classes(path) for split, path in parts.items()}
    names = list(scanned["train"])
    for split in ("val", "test"):
        if split in scanned:
            _check_same_classes(parts["train"], parts[split], names, list(scanned[split]))

    paths: list[Path] = []
    labels: list[int] = []
    bounds: dict[str, tuple[int, int]] = {}
    for split, classes in scanned.items():
        start = len(paths)
        for label, files in enumerate(classes.values()):
            paths.extend(files)
            labels.extend([label] * len(files))
        bounds[split] = (start, len(paths))
    x_all = images.decode(paths, image_size, color)
    y_all = np.asarray(labels, dtype="int64")

    data = complete_splits({split: (x_all[start:end], y_all[start:end]) for split, (start, end) in bounds.items()},
                           val_split, test_split, seed)
    scaled = scale_pixels([data[s][0] for s in ("train", "val", "test")], str(folder))
    return Dataset.from_splits(folder.resolve().name, f"folder:{folder.resolve()}", scaled, {split: pair[1] for split, pair in data.items()},
                               names)
