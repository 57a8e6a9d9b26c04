"""``countenance serve``: the REST service and its review page, under uvicorn.

Each uvicorn worker process builds the app from the settings passed in the environment
(``countenance.rest:app_from_environment``), loading its models once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from .options import DetectorOpt, EmbedderOpt, GalleryOpt
from .output import handle_errors, stderr

__all__ = ["serve"]

# The app is named, not imported: the CLI and the REST app are separate top-layer packages.
APP = "countenance.rest:app_from_environment"


@handle_errors
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes (each loads its own models).")] = 1,
    threads: Annotated[int, typer.Option(min=1, max=64, help="Worker threads per process, each with its own pipeline.")] = 2,
    gallery: GalleryOpt = None,
    image_root: Annotated[Optional[Path], typer.Option(help="The only folder requests may name images in (image_path).")] = None,
    library: Annotated[Optional[Path], typer.Option(help="The photo library folder (library routes).")] = None,
    max_upload_mb: Annotated[float, typer.Option(min=0.01, help="Largest upload, in MiB (413 beyond).")] = 20.0,
    max_megapixels: Annotated[float, typer.Option(min=0.01, help="Largest image, in megapixels (413 beyond).")] = 40.0,
    rate: Annotated[float, typer.Option(min=0.001, help="Requests per second per key (429 beyond).")] = 10.0,
    burst: Annotated[int, typer.Option(min=1, help="Requests a key may make at once.")] = 20,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds before a request is answered 503.")] = 30.0,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
) -> None:
    """Serve the REST API (OpenAPI at /docs) and the review page (/) with scoped API keys."""
    import uvicorn

    from ..service.server import ServerSettings, uvicorn_log_config

    settings = ServerSettings(
        gallery=gallery, image_root=image_root, library=library, max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        max_pixels=int(max_megapixels * 1_000_000), rate_per_s=rate, burst=burst, timeout_s=timeout, threads=threads,
        detector=detector, embedder=embedder,
    )
    os.environ.update(settings.to_env())
    stderr.print(f"serving {settings.gallery_options.resolved_path} on http://{host}:{port} (docs: /docs)", highlight=False)
    uvicorn.run(APP, factory=True, host=host, port=port, workers=workers, log_level="info", log_config=uvicorn_log_config())
