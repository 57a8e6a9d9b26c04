"""The optional ONNX models: list, pull (pinned sha256), verify, locate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import model_registry as registry
from .. import paths
from ..errors import ModelError
from .path_args import existing_file, writable_folder

__all__ = ["ModelListing", "ModelList", "list_models", "PullResult", "pull_model", "check_pull", "ModelCheck", "verify_models", "model_path", "model_entry", "describe_entry", "is_installed"]


def model_entry(name: str) -> registry.ModelEntry:
    """The registry's entry for ``name``; UnknownModel lists the known names."""
    return registry.get_entry(name)


def describe_entry(entry: registry.ModelEntry) -> dict[str, Any]:
    """A registry entry as a JSON document."""
    return {
        "name": entry.name,
        "task": entry.task,
        "filename": entry.filename,
        "size": entry.size,
        "sha256": entry.sha256,
        "licence": entry.licence,
        "commercial_use": entry.licence_commercial_use,
        "source_url": entry.source_url,
        "description": entry.description,
        "use": entry.use,
    }


@dataclass(frozen=True)
class ModelListing:
    """One registered model, and its path when installed (None otherwise)."""

    entry: registry.ModelEntry
    path: Path | None

    @property
    def installed(self) -> bool:
        return self.path is not None

    def to_dict(self) -> dict[str, Any]:
        return {**describe_entry(self.entry), "installed": self.installed, "path": str(self.path) if self.path else None}


@dataclass(frozen=True)
class ModelList:
    """Every registered model, and the folder models are installed in."""

    model_dir: Path
    models: tuple[ModelListing, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"model_dir": str(self.model_dir), "models": [m.to_dict() for m in self.models]}


def list_models() -> ModelList:
    folder = paths.model_dir()
    return ModelList(folder, tuple(
        ModelListing(entry, folder / entry.filename if installed else None) for entry, installed in registry.list_models()
    ))


@dataclass(frozen=True)
class PullResult:
    """Where the model was installed, from where, and whether it already was."""

    entry: registry.ModelEntry
    path: Path
    source: str
    already_installed: bool

    def to_dict(self) -> dict[str, Any]:
        return {**describe_entry(self.entry), "path": str(self.path), "source": self.source, "already_installed": self.already_installed}


def is_installed(entry: registry.ModelEntry) -> bool:
    """Installed and verified (a file with the pinned sha256)."""
    try:
        registry.installed_model_path(entry)
    except ModelError:
        return False
    return True


def check_pull(source: str | None = None) -> None:
    """What a pull needs before it starts: a model folder that can be written, and ``source``
    (when it is a local path, not a URL) an existing file. InvalidArgument otherwise."""
    writable_folder(paths.model_dir(), "model folder ($COUNTENANCE_MODEL_DIR)")
    if source is not None and "://" not in source:
        existing_file(Path(source).expanduser(), "--from")


def pull_model(
    name: str, source: str | None = None, *, accept_licence: bool = False,
    on_progress: Callable[[int, int], None] | None = None,
) -> PullResult:
    """Install ``name`` from upstream or ``source`` (URL or file), checking its pinned sha256.
    ``on_progress(bytes_done, bytes_total)`` reports the transfer."""
    entry = registry.get_entry(name)
    check_pull(source)
    already = is_installed(entry)
    path = registry.pull(entry, source, accept_licence=accept_licence, on_progress=on_progress)
    return PullResult(entry, path, entry.source_url if source is None else source, already)


@dataclass(frozen=True)
class ModelCheck:
    """An installed model re-hashed: ``expected`` (pinned) and ``actual`` sha256."""

    name: str
    path: Path
    expected: str
    actual: str

    @property
    def ok(self) -> bool:
        return self.expected == self.actual

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "ok": self.ok, "expected": self.expected, "actual": self.actual}


def verify_models(name: str | None = None) -> tuple[ModelCheck, ...]:
    """Re-hash ``name`` (None: every installed model) against its pinned sha256."""
    if name is not None:
        checks = [registry.verify(name)]
    else:
        checks = [registry.verify(entry) for entry, installed in registry.list_models() if installed]
    return tuple(ModelCheck(c.entry.name, Path(c.path), c.expected, c.actual) for c in checks)


def model_path(name: str) -> Path:
    """The path of an installed, verified model; ModelNotInstalled names the install command."""
    return registry.installed_model_path(name)
