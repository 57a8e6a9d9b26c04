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
    rate: Annotated[float, typer.Option(min=0.001, help="Requests per second per key, and per client address without a key (429 beyond; shared by the workers).")] = 10.0,
    burst: Annotated[int, typer.Option(min=1, help="Requests a key may make at once.")] = 20,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds before a request is answered 503.")] = 30.0,
    body_timeout: Annotated[float, typer.Option(min=0.1, help="Seconds a request's head may take to arrive (the connection is closed beyond), and its body (408).")] = 60.0,
    tls_cert: Annotated[Optional[Path], typer.Option(help="Serve HTTPS with this certificate (PEM; with --tls-key).")] = None,
    tls_key: Annotated[Optional[Path], typer.Option(help="The certificate's private key (PEM).")] = None,
    trusted_proxies: Annotated[Optional[str], typer.Option(
        help="Comma-separated addresses of reverse proxies whose X-Forwarded-For is believed (default: none, "
             "so no client can pick the address its rate limit is kept under).")] = None,
    detector: DetectorOpt = "auto",
    embedder: EmbedderOpt = "auto",
) -> None:
    """Serve the REST API (docs at /docs) and the review page (/) with scoped API keys."""
    import uvicorn

    from ..errors import InvalidArgument
    from ..service.connections import DeadlineH11Protocol
    from ..service.path_args import existing_file
    from ..service.server import ServerSettings, check_can_serve, uvicorn_log_config

    if (tls_cert is None) != (tls_key is None):
        raise InvalidArgument("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
    tls = {}
    if tls_cert is not None and tls_key is not None:
        tls = {"ssl_certfile": str(existing_file(tls_cert, "--tls-cert")), "ssl_keyfile": str(existing_file(tls_key, "--tls-key"))}

    settings = ServerSettings(
        gallery=gallery, image_root=image_root, library=library, max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        max_pixels=int(max_megapixels * 1_000_000), rate_per_s=rate, burst=burst, timeout_s=timeout, threads=threads,
        body_timeout_s=body_timeout, detector=detector, embedder=embedder,
    )
    check_can_serve(settings, host, port)
    os.environ.update(settings.to_env())
    scheme = "https" if tls else "http"
    stderr.print(f"serving {settings.gallery_options.resolved_path} on {scheme}://{host}:{port} (docs: /docs)", highlight=False)
    proxies = {"proxy_headers": True, "forwarded_allow_ips": trusted_proxies} if trusted_proxies else {"proxy_headers": False}
    uvicorn.run(APP, factory=True, host=host, port=port, workers=workers, log_level="info", http=DeadlineH11Protocol,
                log_config=uvicorn_log_config(), **tls, **proxies)
