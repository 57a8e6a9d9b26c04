"""Images in requests: a multipart upload, or a path under the server's image root.

A path is taken only when the server was started with ``--image-root``, only relative to it,
and only if it stays inside it once resolved (no ``..``, no symlink out); nothing is ever
fetched from a URL or guessed from the shape of a string.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from fastapi import HTTPException, UploadFile

from ..errors import ImageNotFound, InvalidArgument
from ..service.options import ImageBytes, ImageInput
from ..service.server import ServerSettings

__all__ = ["read_upload", "resolve_image_path", "one_image", "many_images", "client_paths", "client_message"]

#: The fields of a response document that hold a file path on the server.
PATH_FIELDS = frozenset({"path", "source_path", "folder", "image_path"})


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
    try:
        path = (base / relative).resolve()
        if not path.is_relative_to(base):
            raise InvalidArgument(f"image_path {relative!r} leaves the server's image root")
        is_file = path.is_file()
    except OSError as error:  # a name too long for the file system, a loop of links, ...
        raise InvalidArgument(f"image_path cannot be looked up: {error.strerror or error}") from None
    if not is_file:
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


def client_paths(document: Any, settings: ServerSettings) -> Any:
    """``document`` (JSON values) as a client may see it: every absolute path in a
    :data:`PATH_FIELDS` field made relative to the image root when it lies under it (the
    path the client gave), else cut to its file name. A response never shows where the
    server keeps its files."""
    if isinstance(document, list):
        return [client_paths(item, settings) for item in document]
    if not isinstance(document, dict):
        return document
    shown = {}
    for key, value in document.items():
        if key in PATH_FIELDS and isinstance(value, str) and (value.startswith("/") or PureWindowsPath(value).is_absolute()):
            shown[key] = _as_client_path(value, settings.image_root)
        else:
            shown[key] = client_paths(value, settings)
    return shown


def _as_client_path(value: str, root: Path | None) -> str:
    if root is not None:
        for base in (Path(os.path.abspath(root)), root.resolve()):
            if Path(value).is_relative_to(base):
                return Path(value).relative_to(base).as_posix()
    return PurePosixPath(value.replace("\\", "/")).name


def client_message(message: str, settings: ServerSettings) -> str:
    """An error message as a client may see it: the image root's and the gallery's folders
    cut out of any path in it (``photos/x.jpg``, ``<gallery>/...``)."""
    folders = []
    if settings.image_root is not None:
        folders += [(str(settings.image_root.resolve()), ""), (os.path.abspath(settings.image_root), "")]
    gallery = settings.gallery_options.resolved_path
    folders += [(str(gallery.resolve()), "<gallery>"), (os.path.abspath(gallery), "<gallery>")]
    for folder, shown in sorted(set(folders), key=lambda f: -len(f[0])):
        message = message.replace(folder + os.sep, f"{shown}/" if shown else "").replace(folder, shown or ".")
    return message
