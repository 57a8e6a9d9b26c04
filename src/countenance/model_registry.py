"""Optional ONNX models (face detectors, recognisers), pulled by name with a pinned sha256.

Nothing is ever downloaded implicitly: a backend asks for :func:`installed_model_path`, which
raises :class:`~countenance.errors.ModelNotInstalled` naming the command that installs the
model (``countenance models pull NAME``). :func:`pull` fetches a model from its upstream URL,
a ``file://`` URL or a local file, hashes it while writing and installs it only when the
sha256 is the pinned one.

Installed models live in :func:`model_dir` as ``<model_dir>/<entry.filename>``. Next to each
verified file sits ``<filename>.verified``, a small JSON record of the (size, mtime, inode) at
which the file last hashed to the pinned sha256, so loading a model does not re-hash it every
time. :func:`verify` always re-hashes.

Nothing here touches the disk or the network at import time.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO, Literal

from .errors import InvalidArgument, LicenceNotAccepted, ModelChecksumMismatch, ModelError, ModelNotInstalled, UnknownModel
from .hashing import sha256_file
from .paths import model_dir

__all__ = [
    "ModelEntry",
    "ModelTask",
    "ModelVerification",
    "REGISTRY",
    "model_dir",
    "get_entry",
    "installed_model_path",
    "pull",
    "verify",
    "list_models",
]

ModelTask = Literal["detector", "recogniser"]
_TASKS: tuple[str, ...] = ("detector", "recogniser")

# Seconds a stalled connection may wait (connect and each read) before the pull fails.
HTTP_TIMEOUT_S = 60.0
_CHUNK = 1 << 20
_SIDECAR_SUFFIX = ".verified"
_SHA256_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class ModelEntry:
    """One pullable model file and what a user must know before pulling it.

    ``sha256`` is the lowercase hex digest of the exact file and ``size`` its length in bytes.
    ``licence`` is an SPDX identifier; ``licence_commercial_use`` says whether that licence
    allows commercial use (models where it does not are pulled only with the licence accepted).
    ``source_url`` is where :func:`pull` fetches the file by default. ``use`` says how the
    product uses it once installed (the option that selects it), or that nothing does yet.
    """

    name: str
    task: ModelTask
    filename: str
    sha256: str
    size: int
    licence: str
    licence_commercial_use: bool
    source_url: str
    description: str
    use: str = ""

    def __post_init__(self) -> None:
        if self.task not in _TASKS:
            raise InvalidArgument(f"model {self.name!r}: task must be one of {', '.join(_TASKS)}, got {self.task!r}")
        if len(self.sha256) != 64 or not set(self.sha256) <= _SHA256_HEX:
            raise InvalidArgument(f"model {self.name!r}: sha256 must be 64 lowercase hex digits, got {self.sha256!r}")
        if self.size <= 0:
            raise InvalidArgument(f"model {self.name!r}: size must be positive, got {self.size}")
        if not self.filename or Path(self.filename).name != self.filename or self.filename.startswith("."):
            raise InvalidArgument(f"model {self.name!r}: filename must be a plain file name, got {self.filename!r}")


_OPENCV_ZOO = "https://github.com/opencv/opencv_zoo/raw/main/models"
_ULTRAFACE = "https://github.com/Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB/raw/master/models/onnx"
# The ONNX export of Zak Murez's PyTorch port of MediaPipe BlazeFace, pinned to the commit
# that holds it (opset 10, input "input", outputs "preds" and "conf").
_BLAZEFACE = "https://github.com/759401524/MediaPipePyTorch/raw/4b8d6735de3ad86b2ad95e1d56ebcc030674034d"

_ENTRIES: tuple[ModelEntry, ...] = (
    ModelEntry(
        name="yunet",
        task="detector",
        filename="face_detection_yunet_2023mar.onnx",
        sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
        size=232_589,
        licence="Apache-2.0",
        licence_commercial_use=True,
        source_url=f"{_OPENCV_ZOO}/face_detection_yunet/face_detection_yunet_2023mar.onnx",
        description="YuNet face detector (OpenCV zoo, 2023mar): boxes and 5 landmarks; 1x3x640x640, any size via cv2.FaceDetectorYN",
        use="--detector yunet; `auto` picks it once installed",
    ),
    ModelEntry(
        name="sface",
        task="recogniser",
        filename="face_recognition_sface_2021dec.onnx",
        sha256="0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
        size=38_696_353,
        licence="Apache-2.0",
        licence_commercial_use=True,
        source_url=f"{_OPENCV_ZOO}/face_recognition_sface/face_recognition_sface_2021dec.onnx",
        description="SFace recogniser (OpenCV zoo, 2021dec): 112x112 aligned face -> 128-d embedding",
        use="not used yet: there is no --embedder sface",
    ),
    ModelEntry(
        name="ultraface-rfb-320",
        task="detector",
        filename="version-RFB-320.onnx",
        sha256="34cd7e60aeff28744c657de7a3dc64e872d506741de66987f3426f2b79f88017",
        size=1_270_727,
        licence="MIT",
        licence_commercial_use=True,
        source_url=f"{_ULTRAFACE}/version-RFB-320.onnx",
        description="Ultra-Light-Fast face detector, RFB variant: 1x3x240x320 -> scores, boxes",
        use="--detector ultraface",
    ),
    ModelEntry(
        name="ultraface-rfb-640",
        task="detector",
        filename="version-RFB-640.onnx",
        sha256="8f4c659275977e7a3bfbfa339a9c769ad793df50f9c0baa8c14b11baa1646430",
        size=1_588_012,
        licence="MIT",
        licence_commercial_use=True,
        source_url=f"{_ULTRAFACE}/version-RFB-640.onnx",
        description="Ultra-Light-Fast face detector, RFB variant: 1x3x480x640 -> scores, boxes",
        use="Python API (UltraFaceDetector), eval budget",
    ),
    ModelEntry(
        name="ultraface-slim-320",
        task="detector",
        filename="version-slim-320.onnx",
        sha256="e9adbd0f920ddcce9368434c4d34d72520dc0c19b526fd44b4ef49bde2c3b1a8",
        size=1_195_330,
        licence="MIT",
        licence_commercial_use=True,
        source_url=f"{_ULTRAFACE}/version-slim-320.onnx",
        description="Ultra-Light-Fast face detector, slim variant: 1x3x240x320 -> scores, boxes",
        use="Python API (UltraFaceDetector)",
    ),
    ModelEntry(
        name="blazeface",
        task="detector",
        filename="blazeface.onnx",
        sha256="e7c7edca3ecc7e76a89f902135e42bbc89daa1e82d9f22c53021c7df5b1d0695",
        size=418_815,
        licence="Apache-2.0",
        licence_commercial_use=True,
        source_url=f"{_BLAZEFACE}/blazeface.onnx",
        description="MediaPipe BlazeFace front-camera detector (PyTorch port): 1x3x128x128 -> 896 anchors x 16, conf",
        use="--detector blazeface",
    ),
)

REGISTRY: Mapping[str, ModelEntry] = MappingProxyType({entry.name: entry for entry in _ENTRIES})
"""Every pullable model by name, in listing order (read-only)."""


@dataclass(frozen=True)
class ModelVerification:
    """The result of re-hashing one installed model; true when the file matches its pin.

    ``actual`` is the file's sha256 (lowercase hex), ``expected`` the pinned one.
    """

    entry: ModelEntry
    path: Path
    expected: str
    actual: str

    @property
    def ok(self) -> bool:
        return self.actual == self.expected

    def __bool__(self) -> bool:
        return self.ok


# --------------------------------------------------------------------------------------
# Where models live: :func:`countenance.paths.model_dir` (re-exported here as ``model_dir``):
# ``$COUNTENANCE_MODEL_DIR``, else ``$XDG_DATA_HOME/countenance/models`` (when absolute), else
# ``~/.local/share/countenance/models``; not created until :func:`pull` writes to it.


def get_entry(name: str) -> ModelEntry:
    """The registry entry called ``name``; :class:`UnknownModel` (listing the known names) if none."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownModel(name, tuple(REGISTRY)) from None


def _resolve(model: str | ModelEntry) -> ModelEntry:
    return model if isinstance(model, ModelEntry) else get_entry(model)


# --------------------------------------------------------------------------------------
# Installed models


def installed_model_path(model: str | ModelEntry, *, verify: bool = True) -> Path:
    """Path of the installed model ``model`` (a registry name, or an entry).

    Raises :class:`ModelNotInstalled` (naming ``countenance models pull NAME``) when the file is
    missing. With ``verify`` (the default) the file must hash to the pinned sha256, else
    :class:`ModelChecksumMismatch` names the file, the expected and the actual sha256; the hash
    is cached in a sidecar and recomputed only when the file's size, mtime or inode change.
    """
    entry = _resolve(model)
    path = model_dir() / entry.filename
    if not path.is_file():
        raise ModelNotInstalled(entry.name, path)
    if verify and not _cached_ok(entry, path):
        actual = sha256_file(path)
        if actual != entry.sha256:
            _forget(path)
            raise ModelChecksumMismatch(
                path, entry.sha256, actual, f"reinstall it with: countenance models pull {entry.name}"
            )
        _remember(entry, path)
    return path


def verify(model: str | ModelEntry) -> ModelVerification:
    """Re-hash the installed model ``model`` (ignoring the cache); true when it matches its pin.

    Raises :class:`ModelNotInstalled` when it is not installed. A mismatch is reported in the
    result (``ok`` false, ``actual`` the file's sha256), not raised.
    """
    entry = _resolve(model)
    path = installed_model_path(entry, verify=False)
    actual = sha256_file(path)
    if actual == entry.sha256:
        _remember(entry, path)
    else:
        _forget(path)
    return ModelVerification(entry=entry, path=path, expected=entry.sha256, actual=actual)


def list_models() -> list[tuple[ModelEntry, bool]]:
    """Every registered model, in registry order, with whether its file is installed (not hashed)."""
    folder = model_dir()
    return [(entry, (folder / entry.filename).is_file()) for entry in REGISTRY.values()]


# --------------------------------------------------------------------------------------
# Pulling


def pull(
    model: str | ModelEntry,
    source: str | os.PathLike[str] | None = None,
    *,
    accept_licence: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Install ``model`` (a registry name, or an entry) into :func:`model_dir`; return its path.

    ``source`` is an ``http(s)://`` or ``file://`` URL or a local file path; the default is the
    entry's ``source_url``. The file is streamed into a temp file in the model folder and hashed
    while written; when its sha256 is not the pinned one the temp file is deleted and
    :class:`ModelChecksumMismatch` (expected and actual sha256) is raised, so nothing is
    installed. Otherwise it is renamed into place. A model that is already installed and
    verified is not fetched again.

    Raises :class:`LicenceNotAccepted` for a model whose licence does not allow commercial use
    unless ``accept_licence``, and :class:`ModelError` for a source that is missing, has an
    unsupported scheme, cannot be read or is larger than the pinned size. ``on_progress`` is
    called with ``(bytes written, expected total bytes)`` after each chunk.
    """
    entry = _resolve(model)
    if not entry.licence_commercial_use and not accept_licence:
        raise LicenceNotAccepted(entry.name, entry.licence)
    folder = model_dir()
    target = folder / entry.filename
    if target.is_file() and (_cached_ok(entry, target) or sha256_file(target) == entry.sha256):
        _remember(entry, target)
        return target
    origin = entry.source_url if source is None else os.fspath(source)
    folder.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{entry.filename}.", suffix=".part")
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            with _open_source(origin, entry) as stream:
                actual = _copy_hashing(stream, out, entry, origin, on_progress)
        if actual != entry.sha256:
            raise ModelChecksumMismatch(origin, entry.sha256, actual, "nothing was installed")
        os.chmod(temp, 0o644)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _remember(entry, target)
    return target


def _open_source(origin: str, entry: ModelEntry) -> BinaryIO:
    """An open binary stream of ``origin``: an http(s) or file URL, or a local path."""
    scheme = origin.split("://", 1)[0].lower() if "://" in origin else ""
    if scheme in ("http", "https"):
        request = urllib.request.Request(origin, headers={"User-Agent": "countenance-model-registry"})
        try:
            response = urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S)  # noqa: S310 - scheme checked
        except (OSError, ValueError) as error:
            reason = getattr(error, "reason", None) or error
            raise ModelError(
                f"{origin}: cannot download model {entry.name!r} ({reason}); offline, copy the file "
                f"(sha256 {entry.sha256}) here and run `countenance models pull {entry.name} --from FILE`"
            ) from None
        length = response.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > entry.size:
            response.close()
            raise ModelError(f"{origin}: {int(length):,} bytes, more than the {entry.size:,} expected for {entry.name!r}")
        return response
    if scheme == "file":
        parsed = urllib.parse.urlsplit(origin)
        if parsed.netloc not in ("", "localhost"):
            raise ModelError(f"{origin}: file URLs must be local (file:///path)")
        path = Path(urllib.request.url2pathname(parsed.path))
    elif scheme:
        raise ModelError(f"{origin}: unsupported source; use an http(s):// or file:// URL or a local path")
    else:
        path = Path(origin).expanduser()
    if not path.is_file():
        raise ModelError(f"{path}: no such file (source of model {entry.name!r})")
    try:
        return path.open("rb")
    except OSError as error:
        raise ModelError(f"{path}: cannot read: {error.strerror or error}") from None


def _copy_hashing(
    stream: BinaryIO,
    out: BinaryIO,
    entry: ModelEntry,
    origin: str,
    on_progress: Callable[[int, int], None] | None,
) -> str:
    """Copy ``stream`` to ``out``; the sha256 of what was copied. Stops past ``entry.size`` bytes."""
    digest = hashlib.sha256()
    written = 0
    while True:
        try:
            chunk = stream.read(_CHUNK)
        except OSError as error:
            raise ModelError(f"{origin}: read failed after {written:,} bytes: {error}") from None
        if not chunk:
            return digest.hexdigest()
        written += len(chunk)
        if written > entry.size:
            raise ModelError(f"{origin}: more than the {entry.size:,} bytes expected for {entry.name!r}; nothing was installed")
        digest.update(chunk)
        out.write(chunk)
        if on_progress is not None:
            on_progress(written, entry.size)


# --------------------------------------------------------------------------------------
# The verification sidecar


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + _SIDECAR_SUFFIX)


def _stat_key(stat: os.stat_result) -> dict[str, int]:
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}


def _cached_ok(entry: ModelEntry, path: Path) -> bool:
    """Whether the sidecar says ``path`` hashed to the pin and the file is unchanged since.

    As in git's "racy clean" rule, a file whose mtime is not strictly older than the sidecar's
    is re-hashed: on a coarse filesystem clock it may have changed after the sidecar was written.
    """
    sidecar = _sidecar(path)
    try:
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        stat = path.stat()
        sidecar_mtime_ns = sidecar.stat().st_mtime_ns
    except (OSError, ValueError):
        return False
    return (
        isinstance(record, dict)
        and record.get("sha256") == entry.sha256
        and record.get("file") == _stat_key(stat)
        and stat.st_mtime_ns < sidecar_mtime_ns
    )


def _remember(entry: ModelEntry, path: Path) -> None:
    """Record that ``path`` hashes to the pin (best effort: a read-only folder just skips the cache)."""
    try:
        record = {"sha256": entry.sha256, "file": _stat_key(path.stat())}
        _sidecar(path).write_text(json.dumps(record) + "\n", encoding="utf-8")
    except OSError:
        pass


def _forget(path: Path) -> None:
    try:
        _sidecar(path).unlink(missing_ok=True)
    except OSError:
        pass
