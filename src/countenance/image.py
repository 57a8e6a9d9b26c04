"""Turn files, bytes or arrays into the one image form the pipeline uses.

That form is a C-contiguous ``(H, W, 3) uint8`` RGB array, upright (EXIF orientation
applied), whatever the source was: JPEG, PNG (8/16-bit, palette, grayscale, RGBA), WebP,
HEIC/HEIF, BMP, TIFF, GIF. Every failure is a typed
:class:`~countenance.errors.ImageError` that names the path and the reason.

One file is one picture: an animation or a multi-page file (GIF, APNG, WebP, TIFF with more
than one frame) is refused with a message saying how to split it, rather than silently read
at its first frame; a video file is refused with a message too. (A camera's MPO JPEG and a
HEIC hold one photo plus previews or depth maps: their primary image is read.)
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

from .errors import ImageNotFound, ImageTooLarge, InvalidArgument, InvalidArgumentType, InvalidImage

__all__ = ["ImageInput", "DEFAULT_MAX_PIXELS", "IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "load_image", "decoding_bytes",
           "iter_image_files"]

#: What the public API accepts as an image: a path, encoded bytes, or an RGB/gray array.
ImageInput = Union[str, os.PathLike, bytes, np.ndarray]

#: 64 megapixels: above any camera a user is likely to have, far below a decompression bomb.
DEFAULT_MAX_PIXELS = 64_000_000

# What decoding costs, in bytes of memory at the peak per pixel, by the mode Pillow decodes to
# (measured with ru_maxrss on 16 MP images, Pillow 13.0.0): 8-bit gray, palette and colour ~10
# (the decoded image, its RGB conversion, the array); with transparency ~23 (RGBA copies for
# compositing over white); 16-bit gray ~27 and 32-bit ~36 (scaled through 64-bit arrays).
_BYTES_PER_PIXEL = {"RGBA": 23, "LA": 23, "PA": 23, "La": 23, "RGBa": 23, "I;16": 27, "I;16B": 27, "I;16L": 27,
                    "I;16N": 27, "I": 36, "F": 36}
_DEFAULT_BYTES_PER_PIXEL = 10

#: Suffixes that folder runs treat as images (case-insensitive).
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".bmp", ".tif", ".tiff", ".gif"}
)


#: Suffixes of video files, which are refused with a message (case-insensitive).
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".wmv", ".flv", ".mpg", ".mpeg", ".3gp", ".ts", ".mts"}
)

_VIDEO_MESSAGE = (
    "a video file, not a still image; countenance reads photos: extract frames first "
    "(e.g. ffmpeg -i VIDEO -vf fps=1 frame_%04d.jpg) and pass the folder"
)

# Formats whose extra frames are other pictures (animation frames, pages), not previews.
_MULTI_PICTURE_FORMATS = frozenset({"GIF", "PNG", "WEBP", "TIFF"})

# ISO base media brands of HEIF/AVIF stills; any other ``ftyp`` file is a video container.
_STILL_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"})


def _looks_like_video(data: bytes) -> bool:
    """True for the headers of MP4/MOV/3GP (an ``ftyp`` box of a non-still brand), Matroska/WebM
    and AVI."""
    if data[4:8] == b"ftyp":
        return data[8:12] not in _STILL_BRANDS
    return data[:4] == b"\x1a\x45\xdf\xa3" or (data[:4] == b"RIFF" and data[8:12] == b"AVI ")


@functools.cache
def _register_heif() -> None:
    # Done on first load, not at import: registering an opener changes Pillow's global state.
    from pillow_heif import register_heif_opener

    register_heif_opener()


def decoding_bytes(width: int, height: int, mode: str, transparency: bool = False) -> int:
    """Bytes of memory that decoding a ``width`` x ``height`` image of Pillow ``mode`` costs
    at its peak (an estimate: pixels x bytes per pixel of the mode's path to RGB);
    ``transparency``: a palette image with a transparent colour (composited as RGBA)."""
    per_pixel = _BYTES_PER_PIXEL["RGBA"] if transparency else _BYTES_PER_PIXEL.get(mode, _DEFAULT_BYTES_PER_PIXEL)
    return width * height * per_pixel


def load_image(source: ImageInput, *, max_pixels: int = DEFAULT_MAX_PIXELS, max_decoded_bytes: int | None = None) -> np.ndarray:
    """Load ``source`` as an upright ``(H, W, 3) uint8`` RGB array.

    ``source`` may be a path, the encoded bytes of an image file, or an array that is
    already decoded (``(H, W)`` gray or ``(H, W, 3|4)`` uint8, RGB order), which is returned
    as RGB without copying when it already is one.

    ``max_decoded_bytes`` is the memory budget of one decode (:func:`decoding_bytes`; None:
    what an 8-bit colour image of ``max_pixels`` costs, so a 16-bit or transparent image must
    be smaller than ``max_pixels``).

    Raises ImageNotFound for a missing path, ImageTooLarge above ``max_pixels`` or over the
    budget (both checked from the header, before decoding), InvalidImage for anything else unreadable, and
    InvalidArgumentType (a ``TypeError``) for another type, or an array of another dtype or shape.
    """
    if max_decoded_bytes is not None and (isinstance(max_decoded_bytes, bool) or not isinstance(max_decoded_bytes, int)
                                          or max_decoded_bytes < 1):
        raise InvalidArgument(f"max_decoded_bytes must be an integer >= 1 or None, got {max_decoded_bytes!r}")
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _decode(bytes(source), "<bytes>", max_pixels, max_decoded_bytes)
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidArgumentType(f"expected a path, bytes or numpy array, got {type(source).__name__}")
    path = os.fspath(source)
    if Path(path).suffix.lower() in VIDEO_SUFFIXES and os.path.isfile(path):
        raise InvalidImage(path, _VIDEO_MESSAGE)
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
    return _decode(data, path, max_pixels, max_decoded_bytes)


def _decode(data: bytes, name: str, max_pixels: int, max_decoded_bytes: int | None) -> np.ndarray:
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
        if _looks_like_video(data):
            raise InvalidImage(name, _VIDEO_MESSAGE) from None
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
    budget = max_pixels * _DEFAULT_BYTES_PER_PIXEL if max_decoded_bytes is None else max_decoded_bytes
    cost = decoding_bytes(width, height, image.mode, image.mode == "P" and "transparency" in image.info)
    if cost > budget:
        raise ImageTooLarge(
            name, f"{width}x{height} in mode {image.mode} needs about {cost / 2**20:,.0f} MiB to decode, more than "
            f"the budget of {budget / 2**20:,.0f} MiB (a 16-bit or transparent image must have fewer pixels)"
        )
    frames = getattr(image, "n_frames", 1)
    if frames > 1 and image.format in _MULTI_PICTURE_FORMATS:
        kind = "a multi-page TIFF" if image.format == "TIFF" else f"an animated {image.format}"
        raise InvalidImage(
            name, f"{kind} of {frames} frames; countenance reads one picture per file: split it first "
            "(e.g. ffmpeg -i FILE frame_%03d.png) and pass the frames"
        )
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
