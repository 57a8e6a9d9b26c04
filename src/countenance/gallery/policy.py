"""A gallery's rules (:class:`Policy`), a consent record to enrol with (:class:`Consent`), and
the checks on what a caller names: subject names, ISO 8601 moments, stored timestamps."""

from __future__ import annotations

import math
import numbers
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from typing import Any

from ..errors import InvalidArgument

__all__ = ["Policy", "Consent", "timestamp", "parse_moment", "check_name", "lookup_name", "check_consent_date", "MAX_DAYS"]


#: The longest span in days a gallery counts back (a retention, a prune): 1,000 years.
MAX_DAYS = 365_250


def timestamp(moment: datetime) -> str:
    """``moment`` as a fixed-width UTC ISO 8601 string (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_moment(text: str, what: str) -> datetime:
    """An ISO 8601 date or datetime (``Z`` allowed; naive means UTC); InvalidArgument naming ``what``."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise InvalidArgument(f"{what} must be an ISO 8601 date or datetime, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


#: Unicode categories a name may not hold: controls, format characters (zero-width and bidi
#: marks, which make look-alike names), surrogates, private-use and unassigned code points,
#: line and paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def check_consent_date(given_at: str, now: datetime) -> datetime:
    """A consent's ISO 8601 date as a moment; InvalidArgument when it is after ``now`` (a
    consent cannot be recorded before it is given) or not a date."""
    moment = parse_moment(given_at, "consent date")
    if moment > (now if now.tzinfo else now.replace(tzinfo=timezone.utc)):
        raise InvalidArgument(f"consent date {given_at!r} is in the future (now is {timestamp(now)}); "
                              "give the date the person consented")
    return moment


def check_name(name: str) -> str:
    """A subject name as stored: Unicode NFC, stripped of surrounding spaces, 1-200 characters,
    none of them a control, zero-width or bidi character (:data:`_REFUSED_CATEGORIES`) or a
    ``/`` (a name is one segment of a REST path and one folder of an export); not ``.`` or ``..``."""
    cleaned = unicodedata.normalize("NFC", name).strip() if isinstance(name, str) else ""
    if not cleaned or len(cleaned) > 200:
        raise InvalidArgument(f"a subject name must be 1-200 characters, got {name!r}")
    for c in cleaned:
        if unicodedata.category(c) in _REFUSED_CATEGORIES:
            raise InvalidArgument(
                f"a subject name may not hold control, zero-width or bidi characters: {name!r} has U+{ord(c):04X} "
                f"({unicodedata.name(c, 'unnamed')})")
    if "/" in cleaned or cleaned in (".", ".."):
        raise InvalidArgument(f"a subject name may not hold '/' or be '.' or '..', got {name!r}")
    return cleaned


def lookup_name(name: str) -> str:
    """``name`` as a caller names an enrolled subject: NFC, stripped (no other check, so that a
    subject stored before a rule was added can still be found, renamed or forgotten)."""
    return unicodedata.normalize("NFC", name).strip() if isinstance(name, str) else name


@dataclass(frozen=True)
class Policy:
    """A gallery's rules, stored in it and shown by ``gallery info``.

    - ``consent_required``: enrolment needs a consent record.
    - ``retention_days``: ``prune`` deletes templates older than this (None: kept until forgotten).
    - ``target_fpir``: false-positive identification rate the identification threshold is set for.
    - ``target_fmr``: false-match rate per claim for ``verify`` against one subject.
    - ``keep_crops``: store a small JPEG of each enrolled face (returned by ``export``).
    - ``optout_distance``: a face this close to an opted-out template is suppressed; None: the
      larger of the model's 1:1 threshold and the identification threshold.
    - ``top_k``: candidates returned per face.
    - ``min_face_px``: refuse ("too small to identify", no candidates) a face with fewer pixels
      between the eye centres than this. None (the default): no refusal; a face under the
      model's measured minimum (:attr:`~countenance.faces.ModelSpec.min_interocular_px`) is
      searched and named as any other, flagged ``low_confidence`` (below the minimum the
      measured risk is missed matches, not false ones: docs/MEASURE.md).
    """

    consent_required: bool = True
    retention_days: int | None = None
    target_fpir: float = 0.01
    target_fmr: float = 0.001
    keep_crops: bool = True
    optout_distance: float | None = None
    top_k: int = 5
    min_face_px: float | None = None

    def __post_init__(self) -> None:
        if self.min_face_px is not None and not (
            isinstance(self.min_face_px, numbers.Real) and not isinstance(self.min_face_px, bool)
            and math.isfinite(self.min_face_px) and self.min_face_px > 0
        ):
            raise InvalidArgument(f"min_face_px must be a finite number of pixels > 0 or None, got {self.min_face_px!r}")
        if self.retention_days is not None and (
            isinstance(self.retention_days, bool) or not isinstance(self.retention_days, int)
            or not 1 <= self.retention_days <= MAX_DAYS
        ):
            raise InvalidArgument(f"retention_days must be a whole number of days from 1 to {MAX_DAYS}, got {self.retention_days!r}")
        for name in ("target_fpir", "target_fmr"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not 0.0 < value < 1.0:
                raise InvalidArgument(f"{name} must be in (0, 1), got {value!r}")
        if self.optout_distance is not None and not (
            isinstance(self.optout_distance, numbers.Real) and math.isfinite(self.optout_distance) and self.optout_distance >= 0
        ):
            raise InvalidArgument(f"optout_distance must be a finite distance >= 0, got {self.optout_distance!r}")
        if not isinstance(self.top_k, int) or self.top_k < 1:
            raise InvalidArgument(f"top_k must be >= 1, got {self.top_k!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Policy:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass(frozen=True)
class Consent:
    """A consent record to enrol with: the statement, who gave it, for what, the evidence, when.

    ``given_at`` is an ISO 8601 date or datetime (None: now); ``consenter`` None: the subject.
    """

    text: str
    consenter: str | None = None
    purpose: str = "identification"
    evidence: str = ""
    given_at: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise InvalidArgument("a consent record needs its text (what the person agreed to)")
        if self.given_at is not None:
            parse_moment(self.given_at, "consent date")
