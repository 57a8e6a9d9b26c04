"""dlib's face-recognition ResNet converted to ONNX once, and cached (for ONNX Runtime).

Why: the ``dlib-bin`` wheel from PyPI is built without BLAS, so
``face_recognition_model_v1.compute_face_descriptor`` takes ~100 ms per face on one core,
while ONNX Runtime runs the same network in ~8 ms (one thread, default graph optimisation)
with descriptors equal to dlib's within ~5e-7. The work is in three modules:

1. :mod:`.dlib_dat` reads the ``.dat`` into NumPy weights (:func:`read_dlib_resnet`);
2. :mod:`.dlib_onnx_graph` turns them into an ONNX graph (:func:`build_onnx_model`);
3. this module writes that graph (:func:`convert_dlib_resnet`) and keeps one conversion in a
   cache folder, verified on later calls (:func:`ensure_dlib_resnet_onnx`).

The names of the first two are re-exported here. Nothing is loaded at import time.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..hashing import sha256_bytes, sha256_file
from .dlib_dat import DAT_FILENAME, read_dlib_resnet
from .dlib_onnx_graph import CONVERTER_VERSION, INPUT_NAME, OUTPUT_NAME, build_onnx_model

# The .dat reader's names live in .dlib_dat, the graph's in .dlib_onnx_graph; the graph's
# input and output names are re-exported for the runtime that feeds this file's model.
__all__ = ["convert_dlib_resnet", "ensure_dlib_resnet_onnx", "INPUT_NAME", "OUTPUT_NAME", "CONVERTER_VERSION"]


def _atomic_write(path: Path, data: bytes) -> None:
    """Write via a temp file in the same folder and ``os.replace``: readers never see a partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; the cache may be shared
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def convert_dlib_resnet(dat_path: str | os.PathLike[str], onnx_path: str | os.PathLike[str]) -> str:
    """Convert ``dat_path`` to an ONNX file at ``onnx_path`` (written atomically).

    Returns the sha256 hex digest of the written ONNX file. Raises
    :class:`~countenance.errors.InvalidArgument` (a ``ValueError``) if the .dat is not dlib's
    face recognition ResNet.
    """
    model = build_onnx_model(read_dlib_resnet(dat_path))
    data = model.SerializeToString()
    out = Path(onnx_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(out, data)
    return sha256_bytes(data)


def ensure_dlib_resnet_onnx(cache_dir: Path, dat_path: str | os.PathLike[str] | None = None) -> Path:
    """Path of the converted ONNX model in ``cache_dir``, converting only when needed.

    The file is ``dlib_resnet_v1-c<CONVERTER_VERSION>-<first 16 hex of the .dat's sha256>.onnx``
    (so a new converter, or other weights, never reuse an old conversion) with a sidecar
    ``<that name>.sha256`` holding the ONNX file's sha256. A cached file whose hash does not
    match its sidecar (or has none) is converted again. ``dat_path`` defaults to the .dat in
    the installed ``face_recognition_models`` package. Safe when several processes call it
    at once: each writes a temp file and renames it into place; the outputs are identical.
    """
    if dat_path is None:
        from .dlib_backend import dlib_model_path

        dat = dlib_model_path(DAT_FILENAME)
    else:
        dat = Path(dat_path)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    name = f"dlib_resnet_v1-c{CONVERTER_VERSION}-{sha256_file(dat)[:16]}.onnx"
    target = cache_dir / name
    sidecar = cache_dir / f"{name}.sha256"
    if target.is_file() and sidecar.is_file():
        try:
            expected = sidecar.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            expected = ""
        if expected and sha256_file(target) == expected:
            return target
    digest = convert_dlib_resnet(dat, target)
    _atomic_write(sidecar, f"{digest}\n".encode("ascii"))
    return target
