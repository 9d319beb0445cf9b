"""Decoding image files into one preallocated uint8 array, with Pillow, on a thread pool.

Shared by the image-folder and CSV-list sources. Pillow releases the GIL while it decodes, so threads
decode in parallel; each writes its images straight into its rows of the one ``(n, h, w, c)`` array.
Small images are decoded in the calling thread instead: for them the Python around each decode
outweighs the decode itself, and threads contending for the GIL made loading 10,000 32x32 PNGs two to
three times slower on 2 cores (1.2-1.9 s against 0.6 s), while from about 128x128 pixels up two
threads were 1.7-2.5x faster than one (benchmarks/load_images.py).
"""
from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from hpsearch.spaces.data.dataset import DatasetError, first_line

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
COLORS = ("grayscale", "rgb")
# Pillow modes with a single (gray) channel, alpha aside; 16- and 32-bit ones are rescaled to 8 bits.
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
_WIDE_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
# Images of fewer pixels than this (as stored) are decoded in the calling thread (module docstring).
THREADED_FROM_PIXELS = 96 * 96


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _pillow():
    from PIL import Image

    return Image


def _read_errors() -> tuple[type[BaseException], ...]:
    Image = _pillow()
    return (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, Image.DecompressionBombError)


def is_image_name(path: Path) -> bool:
    """A visible file whose extension is one of ``IMAGE_EXTENSIONS`` (any case)."""
    return not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def _is_gray(image) -> bool:
    if image.mode in _GRAY_MODES:
        return True
    if image.mode in ("P", "PA"):
        palette = image.getpalette() or []
        return all(palette[i] == palette[i + 1] == palette[i + 2] for i in range(0, len(palette) - 2, 3))
    return False


def _to_array(image, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    """``image`` as uint8 ``(h, w, channels)``, resized (bilinear) to ``size`` = (height, width) if given."""
    Image = _pillow()
    if image.mode in _WIDE_MODES:
        wide = np.asarray(image, dtype="float64")
        peak = 1.0 if image.mode == "F" and wide.max(initial=0) <= 1.0 else (255.0 if image.mode == "F" else 65535.0)
        image = Image.fromarray(np.rint(np.clip(wide / peak, 0.0, 1.0) * 255.0).astype("uint8"))
    image = image.convert("L" if channels == 1 else "RGB")
    if size is not None and image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    array = np.asarray(image)
    return array.reshape(array.shape[0], array.shape[1], channels)


# How files of each format start: one that starts so but cannot be read is damaged, not of another kind.
_MAGIC = (b"\x89PNG", b"\xff\xd8", b"BM", b"GIF8")


def _describe_failure(path: Path, error: BaseException) -> str:
    Image = _pillow()
    if isinstance(error, Image.UnidentifiedImageError):
        try:
            with open(path, "rb") as handle:
                damaged = handle.read(4).startswith(_MAGIC)
        except OSError:
            damaged = False
        if not damaged:
            return f"{path} is not an image file Pillow can read (the name says {path.suffix}, the content is something else)."
    return f"Cannot read image {path} (truncated or corrupted?): {first_line(error)}."


def probe(path: Path) -> tuple[tuple[int, int], bool]:
    """``((height, width), is_gray)`` of one image, from its header."""
    Image = _pillow()
    try:
        with Image.open(path) as image:
            return (image.height, image.width), _is_gray(image)
    except _read_errors() as error:
        raise DatasetError(_describe_failure(path, error)) from None


def decode(paths: Sequence[Path], image_size: tuple[int, int] | None, color: str | None) -> np.ndarray:
    """All of ``paths`` as one uint8 array ``(n, height, width, channels)``.

    ``image_size`` (height, width) resizes every image (bilinear); without it all images must have the
    size of the first. ``color`` "grayscale" or "rgb" converts; None keeps one channel when every image
    is single-channel, else makes all RGB. A file Pillow cannot read is a ``DatasetError`` naming it.
    """
    if not paths:
        raise DatasetError("No images to load.")
    first_size, first_gray = probe(paths[0])
    channels = {"grayscale": 1, "rgb": 3}.get(color or "", 1 if first_gray else 3)
    height, width = image_size or first_size
    out = np.empty((len(paths), height, width, channels), dtype=np.uint8)
    Image = _pillow()
    errors = _read_errors()
    threaded = first_size[0] * first_size[1] >= THREADED_FROM_PIXELS
    workers = min(32, _cpus() * 2) if threaded else 1
    step = max(16, -(-len(paths) // (workers * 8)))
    found: dict[str, list] = {"failed": [], "sized": [], "colored": []}

    def work(start: int) -> None:
        for i in range(start, min(start + step, len(paths))):
            try:
                with Image.open(paths[i]) as image:
                    if image_size is None and (image.height, image.width) != first_size:
                        found["sized"].append((i, (image.height, image.width)))
                        continue
                    if color is None and channels == 1 and not _is_gray(image):
                        found["colored"].append(i)
                        return  # the images will all be decoded again, as RGB
                    out[i] = _to_array(image, channels, image_size)
            except errors as error:
                found["failed"].append((i, error))

    if workers == 1:
        for start in range(0, len(paths), step):
            work(start)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(work, range(0, len(paths), step)))
    if found["failed"]:
        i, error = min(found["failed"], key=lambda item: item[0])
        raise DatasetError(_describe_failure(paths[i], error))
    if found["sized"]:
        i, size = min(found["sized"], key=lambda item: item[0])
        raise DatasetError(
            f"Images differ in size: {paths[0]} is {first_size[0]}x{first_size[1]} (HxW) but {paths[i]} is "
            f"{size[0]}x{size[1]}; give --image-size HxW to resize them all to one size."
        )
    if found["colored"]:
        return decode(paths, image_size, "rgb")
    return out
