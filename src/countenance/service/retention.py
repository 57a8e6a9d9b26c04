"""Pruning by retention, with a look before deleting: what a prune would remove, asked first.

``gallery prune`` deletes people's templates; ``--older-than-days 0`` means everyone. So the
front end is shown what would go (templates, and the people left with none) and asked before
anything is deleted, unless the caller passes no ``confirm``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ..errors import InvalidArgument
from ..gallery import PruneResult
from ..gallery.policy import MAX_DAYS, timestamp
from .gallery import open_gallery
from .options import GalleryOptions

__all__ = ["PrunePreview", "PruneOutcome", "prune_with_confirmation"]


@dataclass(frozen=True)
class PrunePreview:
    """What a prune would delete: templates enrolled before ``cutoff`` (UTC ISO 8601), of
    ``retention_days``; ``templates`` of ``total_templates``; ``subjects_removed``: people
    left without any template (removed with their consent records)."""

    cutoff: str
    retention_days: int
    templates: int
    total_templates: int
    subjects_removed: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff, "retention_days": self.retention_days, "templates": self.templates,
            "total_templates": self.total_templates, "subjects_removed": list(self.subjects_removed),
        }


@dataclass(frozen=True)
class PruneOutcome:
    """A prune: ``retention_days`` None when no retention is set (nothing to do); ``result``
    None when nothing was deleted because ``confirm`` said no (or there was nothing to delete)."""

    retention_days: int | None
    preview: PrunePreview | None
    result: PruneResult | None

    @property
    def declined(self) -> bool:
        return self.preview is not None and self.preview.templates > 0 and self.result is None

    def to_dict(self) -> dict[str, Any]:
        result = self.result.to_dict() if self.result is not None else {
            "cutoff": self.preview.cutoff if self.preview else None, "templates_removed": 0, "subjects_removed": [], "erased": True,
        }
        return {
            **result,
            "retention_days": self.retention_days,
            "retention_set": self.retention_days is not None,
            "declined": self.declined,
        }


def prune_with_confirmation(
    options: GalleryOptions, *, older_than_days: int | None = None, confirm: Callable[[PrunePreview], bool] | None = None,
) -> PruneOutcome:
    """Delete templates older than the retention (the policy's, or ``older_than_days``; 0 means
    every template). ``confirm(preview)`` is asked first when there is something to delete; a
    False answer deletes nothing. No retention set and none given: nothing is done."""
    if older_than_days is not None and (
        isinstance(older_than_days, bool) or not isinstance(older_than_days, numbers.Integral)
        or not 0 <= older_than_days <= MAX_DAYS
    ):
        raise InvalidArgument(f"--older-than-days must be a whole number from 0 to {MAX_DAYS}, got {older_than_days!r}")
    with open_gallery(options) as gallery:
        days = gallery.policy.retention_days if older_than_days is None else int(older_than_days)
        if days is None:
            return PruneOutcome(None, None, None)
        now = gallery.clock()
        preview = _preview(gallery, timestamp(now - timedelta(days=days)), days)
        if preview.templates == 0 or (confirm is not None and not confirm(preview)):
            return PruneOutcome(days, preview, None)
        return PruneOutcome(days, preview, gallery.prune(now=now, older_than_days=days))


def _preview(gallery: Any, cutoff: str, days: int) -> PrunePreview:
    total = removed = 0
    emptied = []
    for subject in gallery.subjects():
        templates = gallery.subject(subject.name).templates
        old = sum(1 for t in templates if t.created_at < cutoff)  # fixed-width UTC stamps compare as text
        total += len(templates)
        removed += old
        if templates and old == len(templates):
            emptied.append(subject.name)
    return PrunePreview(cutoff, days, removed, total, tuple(sorted(emptied)))
