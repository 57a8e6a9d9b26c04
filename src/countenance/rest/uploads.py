"""Images in requests: a multipart upload, or a path under the server's image root.

A path is taken only when the server was started with ``--image-root``, only relative to it,
and only if it stays inside it once resolved (no ``..``, no symlink out); nothing is ever
fetched from a URL or guessed from the shape of a string.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from fastapi import HTTPException, UploadFile

from ..errors import ImageNotFound, InvalidArgument
from ..service.options import ImageBytes, ImageInput
from ..service.server import ServerSettings

__all__ = ["read_upload", "resolve_image_path", "one_image", "many_images"]


async def read_upload(upload: UploadFile, settings: ServerSettings) -> ImageBytes:
    """The upload's bytes (413 beyond ``max_upload_bytes``; 422 when empty)."""
    data = await upload.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise HTTPException(413, f"upload larger than {settings.max_upload_bytes:,} bytes")
    name = PurePosixPath(upload.filename or "upload").name or "upload"
    if not data:
        raise InvalidArgument(f"{name}: the upload is empty")
    return ImageBytes(data, name)


def resolve_image_path(relative: str, settings: ServerSettings) -> Path:
    """``relative`` under the image root, refusing anything outside it."""
    root = settings.image_root
    if root is None:
        raise InvalidArgument("this server reads no image paths (start it with --image-root); upload the image instead")
    if not relative or "\x00" in relative or Path(relative).is_absolute():
        raise InvalidArgument(f"image_path must be relative to the server's image root, got {relative!r}")
    base = root.resolve()
    path = (base / relative).resolve()
    if not path.is_relative_to(base):
        raise InvalidArgument(f"image_path {relative!r} leaves the server's image root")
    if not path.is_file():
        raise ImageNotFound(relative, "no such file under the image root")
    return path


async def one_image(upload: UploadFile | None, image_path: str | None, settings: ServerSettings, what: str = "image") -> ImageInput:
    """Exactly one of an upload and a path."""
    if (upload is None) == (image_path is None):
        raise InvalidArgument(f"give either an upload ({what}) or {what}_path, not {'both' if upload else 'neither'}")
    if upload is not None:
        return await read_upload(upload, settings)
    return resolve_image_path(image_path or "", settings)


async def many_images(uploads: list[UploadFile], image_paths: list[str], settings: ServerSettings) -> tuple[ImageInput, ...]:
    """Uploads and paths, in that order; at least one."""
    images: list[ImageInput] = [await read_upload(u, settings) for u in uploads]
    images.extend(resolve_image_path(p, settings) for p in image_paths)
    if not images:
        raise InvalidArgument("give at least one image (uploads as images, or image_paths)")
    return tuple(images)
