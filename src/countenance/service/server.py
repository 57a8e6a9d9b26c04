"""How the REST service is configured: one frozen settings object, checked once.

``countenance serve`` builds it from its options and hands it to each uvicorn worker process
through one environment variable (JSON), since workers import the app by name.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import InvalidArgument
from .backends import check_detector, check_embedder
from .options import GalleryOptions, PipelineOptions

__all__ = ["ServerSettings", "SETTINGS_ENV", "check_can_serve", "uvicorn_log_config"]

#: The environment variable ``countenance serve`` passes the settings in (JSON).
SETTINGS_ENV = "COUNTENANCE_SERVE_SETTINGS"


def _positive(name: str, value: Any, kind: type) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) or value <= 0:
        raise InvalidArgument(f"{name} must be a positive {kind.__name__}, got {value!r}")


@dataclass(frozen=True)
class ServerSettings:
    """What a server process serves, and its limits.

    - ``gallery``: the gallery folder (None: :func:`countenance.paths.gallery_dir`); its
      ``keys.sqlite3`` holds the API keys.
    - ``image_root``: the only folder a request may name images in (``image_path``), None: no
      paths, uploads only.
    - ``max_upload_bytes``: larger uploads get 413; a request body may hold
      :attr:`max_request_bytes` (413 before it is read when declared, else as it streams in);
      ``max_pixels``: larger images get 413 before they are decoded, and so do images whose
      decoding would cost more memory than an 8-bit colour image of that size
      (``image.load_image``'s budget: 16-bit or transparent images must be smaller).
    - ``body_timeout_s``: a request body not all received after this gets 408 (and under
      ``countenance serve``, a connection whose request head is not in by then is closed).
    - ``rate_per_s`` and ``burst``: each key's token bucket (429 when empty), and each client
      address's without a valid key; shared by every process serving the gallery.
    - ``timeout_s``: a request still running after this gets 503 (cancelled when its work had
      not started, else with an outcome id: ``GET /v1/outcomes/{id}``).
    - ``threads``: worker threads per process, each with its own pipeline and open gallery
      (the most requests computed at once).
    - ``detector``, ``embedder``: the pipeline's backends (:mod:`.backends`'s choices; UnknownBackend otherwise).
    - ``library``: the photo library folder (None: no library routes answer).
    """

    gallery: Path | None = None
    image_root: Path | None = None
    max_upload_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    rate_per_s: float = 10.0
    burst: int = 20
    timeout_s: float = 30.0
    body_timeout_s: float = 60.0
    threads: int = 2
    detector: str = "auto"
    embedder: str = "auto"
    library: Path | None = field(default=None)

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_pixels", "burst", "threads"):
            _positive(name, getattr(self, name), int)
        for name in ("rate_per_s", "timeout_s", "body_timeout_s"):
            _positive(name, getattr(self, name), float)
        for name in ("gallery", "image_root", "library"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))
        if self.image_root is not None and not self.image_root.is_dir():
            raise InvalidArgument(f"--image-root {self.image_root}: no such folder")
        check_detector(self.detector)
        check_embedder(self.embedder)

    @property
    def max_request_bytes(self) -> int:
        """The largest request body: four uploads, with room for the multipart framing and fields."""
        return self.max_upload_bytes * 4 + 65536

    @property
    def gallery_options(self) -> GalleryOptions:
        return GalleryOptions(path=self.gallery)

    @property
    def pipeline_options(self) -> PipelineOptions:
        return PipelineOptions(detector=self.detector, embedder=self.embedder, max_pixels=self.max_pixels)

    def to_env(self) -> dict[str, str]:
        """The settings as the environment variable a worker process reads them from."""
        document = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
        return {SETTINGS_ENV: json.dumps(document)}

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServerSettings:
        """The settings ``countenance serve`` passed (defaults when none were)."""
        text = (environ if environ is not None else os.environ).get(SETTINGS_ENV)
        if not text:
            return cls()
        try:
            document = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidArgument(f"${SETTINGS_ENV} is not JSON ({error})") from None
        known = {f.name for f in fields(cls)}
        if not isinstance(document, dict) or set(document) - known:
            raise InvalidArgument(f"${SETTINGS_ENV}: expected an object with keys among {', '.join(sorted(known))}")
        return cls(**document)


def check_can_serve(settings: ServerSettings, host: str, port: int) -> None:
    """What ``serve`` needs before it starts workers, checked in the calling process so that a
    mistake is one line and exit 2, not a worker's traceback: the gallery opens (InvalidArgument
    naming ``--gallery`` when it is missing), and ``host:port`` can be listened on
    (InvalidArgument naming ``--port`` when another process holds it)."""
    import socket

    from .gallery import open_gallery

    with open_gallery(settings.gallery_options):
        pass
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as error:
            raise InvalidArgument(
                f"--port {port}: cannot listen on {host}:{port} ({error.strerror or error}); "
                "another server may be running there: choose another --port"
            ) from None


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's logging configuration without its access log (whose lines hold the path as
    sent, so the names in ``/v1/subjects/<name>``): the app logs each request by its route
    template instead (``countenance.rest.access``, INFO, on stderr like uvicorn's own lines)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["uvicorn.access"] = {"handlers": [], "level": "CRITICAL", "propagate": False}
    config["loggers"]["countenance.rest"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
