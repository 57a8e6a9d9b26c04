"""Turn files, bytes or arrays into the one image form the pipeline uses.

That form is a C-contiguous ``(H, W, 3) uint8`` RGB array, upright (EXIF orientation
applied), whatever the source was: JPEG, PNG (8/16-bit, palette, grayscale, RGBA), WebP,
HEIC/HEIF, BMP, TIFF, GIF (first frame). Every failure is a typed
:class:`~countenance.errors.ImageError` that names the path and the reason.
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageNotFound, ImageTooLarge, InvalidArgumentType, InvalidImage

__all__ = ["ImageInput", "DEFAULT_MAX_PIXELS", "IMAGE_SUFFIXES", "load_image", "iter_image_files"]

#: What the public API accepts as an image: a path, encoded bytes, or an RGB/gray array.
ImageInput = Union[str, os.PathLike, bytes, np.ndarray]

#: 64 megapixels: above any camera a user is likely to have, far below a decompression bomb.
DEFAULT_MAX_PIXELS = 64_000_000

#: Suffixes that folder runs treat as images (case-insensitive).
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".bmp", ".tif", ".tiff", ".gif"}
)


@functools.cache
def _register_heif() -> None:
    # Done on first load, not at import: registering an opener changes Pillow's global state.
    from pillow_heif import register_heif_opener

    register_heif_opener()


def load_image(source: ImageInput, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Load ``source`` as an upright ``(H, W, 3) uint8`` RGB array.

    ``source`` may be a path, the encoded bytes of an image file, or an array that is
    already decoded (``(H, W)`` gray or ``(H, W, 3|4)`` uint8, RGB order), which is returned
    as RGB without copying when it already is one.

    Raises ImageNotFound for a missing path, ImageTooLarge above ``max_pixels`` (checked
    from the header, before decoding), InvalidImage for anything else unreadable, and
    InvalidArgumentType (a ``TypeError``) for another type, or an array of another dtype or shape.
    """
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode(bytes(source), "<bytes>", max_pixels)
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidArgumentType(f"expected a path, bytes or numpy array, got {type(source).__name__}")
    path = os.fspath(source)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise ImageNotFound(path) from None
    except IsADirectoryError:
        raise InvalidImage(path, "is a directory, not an image file") from None
    except PermissionError:
        raise InvalidImage(path, "permission denied") from None
    except OSError as error:
        raise InvalidImage(path, f"cannot be read ({error.strerror or error})") from None
    return _decode(data, path, max_pixels)


def _decode(data: bytes, name: str, max_pixels: int) -> np.ndarray:
    if not data:
        raise InvalidImage(name, "empty file")
    _register_heif()
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check warns at 89 MP; ours is the limit that counts.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ImageTooLarge(name, f"more than {max_pixels:,} pixels (decompression bomb guard)") from None
    except UnidentifiedImageError:
        raise InvalidImage(name, "not a recognised image format") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise InvalidImage(name, f"corrupt image header ({error})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(
            name, f"{width}x{height} is {width * height:,} pixels, more than the limit of {max_pixels:,}"
        )
    if width == 0 or height == 0:
        raise InvalidImage(name, f"image has no pixels ({width}x{height})")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        return _pil_to_rgb(image)
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise InvalidImage(name, f"corrupt or truncated image data ({error})") from None


def _pil_to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit gray: scale to 8 bits; Pillow's convert("L") would clip instead.
        values = np.asarray(image, dtype=np.int64)
        gray = np.clip(np.round(values / 257.0), 0, 255).astype(np.uint8)
        return _array_to_rgb(gray)
    if mode == "F":
        values = np.asarray(image, dtype=np.float64)
        high = 1.0 if values.max(initial=0.0) <= 1.0 else 255.0
        return _array_to_rgb(np.clip(np.round(values * (255.0 / high)), 0, 255).astype(np.uint8))
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or image.mode == "RGBA":
        # Transparent pixels carry arbitrary colours: show them over white, as a viewer would.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    if array.dtype != np.uint8:
        raise InvalidArgumentType(f"image arrays must be uint8, got {array.dtype}")
    if array.ndim == 2:
        return np.ascontiguousarray(np.repeat(array[:, :, None], 3, axis=2))
    if array.ndim == 3 and array.shape[2] == 3:
        return np.ascontiguousarray(array)
    if array.ndim == 3 and array.shape[2] == 4:
        return np.ascontiguousarray(array[:, :, :3])
    raise InvalidArgumentType(f"image arrays must be (H, W), (H, W, 3) or (H, W, 4), got shape {array.shape}")


def iter_image_files(root: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield image files under ``root`` (recursively, sorted), by suffix; a file yields itself."""
    root_path = Path(root)
    if root_path.is_file():
        yield root_path
        return
    for path in sorted(root_path.rglob("*")):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
            yield path
