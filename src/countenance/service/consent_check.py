"""Consent is checked once per run, before any photo is read: one error that names everyone
without a consent record, instead of the same refusal repeated for each of their photos."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConsentRequired

__all__ = ["check_folder_consent"]


def check_folder_consent(gallery: Any, folder: Path, consents: Mapping[str, Any]) -> None:
    """Raise ConsentRequired when ``gallery``'s policy requires consent and some person folder of
    ``folder`` has neither a record in ``consents`` (nor a ``"*"`` record) nor one recorded at
    an earlier enrolment. The message names them (the first few) and how many there are."""
    if not gallery.policy.consent_required or "*" in consents:
        return
    enrolled = {s.name for s in gallery.subjects()}
    missing = []
    for person in sorted(p.name for p in Path(folder).iterdir() if p.is_dir()):
        if person in consents:
            continue
        if person in enrolled and gallery.subject(person).consents:
            continue
        missing.append(person)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ConsentRequired(
            f"{folder}: no consent record for {len(missing)} person folder(s) ({shown}); this gallery's policy requires consent"
        )
