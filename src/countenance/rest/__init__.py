"""The REST service: a FastAPI app over :mod:`countenance.service`, with scoped API keys.

``create_app(settings)`` builds it; ``countenance serve`` runs it under uvicorn (each worker
process calls :func:`app_from_environment`). Routes are grouped in :mod:`.routes`; keys and
scopes in :mod:`.auth`; uploads and image paths in :mod:`.uploads`; the worker threads with
their pipelines and galleries in :mod:`.runtime`; the review page in ``static/``.
"""

from .app import app_from_environment, create_app

__all__ = ["create_app", "app_from_environment"]
