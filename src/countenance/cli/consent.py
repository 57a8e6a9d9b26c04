"""What the CLI adds to a consent refusal: which options give consent, and the file format.

The service's ConsentRequired says who lacks consent (a REST client has no flags); the CLI
says how to give it, once, in the same line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import ConsentRequired

__all__ = ["CONSENT_HOW", "consent_hint"]

CONSENT_HOW = (
    "give it with --consent TEXT (enroll: one person; also --consenter, --evidence, --consent-date) or "
    '--consent-file FILE (enroll-folder: JSON {"<folder name>" or "*": {"text": "...", "evidence": "..."}}, or CSV '
    "with columns subject,text[,consenter,purpose,evidence,given_at]; README: Consent records)"
)


@contextmanager
def consent_hint() -> Iterator[None]:
    """Re-raise a ConsentRequired with :data:`CONSENT_HOW` appended."""
    try:
        yield
    except ConsentRequired as error:
        raise ConsentRequired(f"{error}; {CONSENT_HOW}") from None
