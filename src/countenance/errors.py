"""Every error Countenance raises on purpose.

All derive from :class:`CountenanceError`, so a caller (or the CLI) can catch one
type and show ``str(error)``: a one-line message that names the input and the reason.
"""

from __future__ import annotations

import os

__all__ = [
    "CountenanceError",
    "InvalidArgument",
    "InvalidArgumentType",
    "ImageError",
    "ImageNotFound",
    "InvalidImage",
    "NotAlignedCrop",
    "ImageTooLarge",
    "NoFaceFound",
    "TemplateMismatch",
    "InvalidPairsFile",
    "UnknownBackend",
    "ModelError",
    "ModelNotInstalled",
    "CalibrationMissing",
    "ModelChecksumMismatch",
    "LicenceNotAccepted",
    "UnknownModel",
    "GalleryError",
    "NotEnrolled",
    "NoTemplates",
    "MixedIdentities",
    "ConsentRequired",
    "OptedOut",
    "DuplicateIdentity",
    "MultipleFaces",
    "SubjectForgotten",
    "AlreadyExists",
    "Unsupported",
    "UnknownKey",
]


class CountenanceError(Exception):
    """Base class of every error raised by Countenance."""


class InvalidArgument(CountenanceError, ValueError):
    """A caller passed a value that cannot be used (out of range, wrong type, unknown name).

    Also a ``ValueError``, so code written against plain Python conventions still catches it;
    the CLI and REST layers treat it as the user's mistake (exit 2 / HTTP 422), unlike a bare
    ``ValueError`` from a bug.
    """


class InvalidArgumentType(InvalidArgument, TypeError):
    """A caller passed a value of the wrong type (or an array of the wrong dtype or shape).

    Also a ``TypeError``, as Python code expects for a wrong type; otherwise an
    :class:`InvalidArgument`.
    """


class ImageError(CountenanceError):
    """An image could not be used. ``path`` is the file (or ``"<bytes>"``), ``reason`` why."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class ImageNotFound(ImageError, FileNotFoundError):
    """The path does not exist."""

    def __init__(self, path: str | os.PathLike[str], reason: str = "no such file") -> None:
        ImageError.__init__(self, path, reason)


class InvalidImage(ImageError):
    """The file exists but is not a readable image: empty, corrupt, truncated, a folder, not an image."""


class NotAlignedCrop(InvalidImage):
    """A picture given as aligned input (``--aligned arcface112``) is not a 112x112 or 112x96
    face crop. ``path`` is the file when known, else ``""`` (the message is then ``reason``)."""

    def __init__(self, reason: str, path: str | os.PathLike[str] | None = None) -> None:
        self.path = "" if path is None else os.fspath(path)
        self.reason = reason
        CountenanceError.__init__(self, f"{self.path}: {reason}" if self.path else reason)


class ImageTooLarge(ImageError):
    """The image has more pixels than allowed (a guard against decompression bombs)."""


class NoFaceFound(CountenanceError):
    """An operation that needs a face (e.g. ``verify``) found none in ``path``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        super().__init__(f"{self.path}: no face found")


class TemplateMismatch(CountenanceError):
    """Two templates from different models (or of different sizes) cannot be compared."""


class InvalidPairsFile(CountenanceError):
    """A pairs file (LFW pairs.txt or a pairs CSV) is malformed; the message names file and line."""


class UnknownBackend(CountenanceError):
    """A detector or embedder name that is not registered."""


class ModelError(CountenanceError):
    """An optional model (see :mod:`countenance.model_registry`) cannot be used or installed."""


class ModelNotInstalled(ModelError):
    """A registered model is not in the model folder; the message names the command that installs it."""

    def __init__(self, name: str, path: str | os.PathLike[str]) -> None:
        self.name = name
        self.path = os.fspath(path)
        super().__init__(
            f"model {name!r} is not installed (looked for {self.path}); "
            f"install it with: countenance models pull {name}"
        )


class CalibrationMissing(ModelError):
    """A model has no calibration table, so its thresholds and cuts cannot be derived; the
    message names the command that measures one."""

    def __init__(self, model: str, *, embedder: str = "EMBEDDER", needed_for: str = "") -> None:
        self.model = model
        super().__init__(
            f"model {model!r} has no calibration table{needed_for}; measure one with: countenance calibrate "
            f"DIR --embedder {embedder} --install (DIR: LFW or a folder per person)"
        )


class ModelChecksumMismatch(ModelError):
    """A model file's sha256 is not the pinned one.

    ``path`` is the file (or the source it was pulled from), ``expected`` the pinned sha256,
    ``actual`` the file's; ``hint`` says what happened or what to do next.
    """

    def __init__(self, path: str | os.PathLike[str], expected: str, actual: str, hint: str = "") -> None:
        self.path = os.fspath(path)
        self.expected = expected
        self.actual = actual
        message = f"{self.path}: sha256 mismatch: expected {expected}, actual {actual}"
        super().__init__(f"{message}; {hint}" if hint else message)


class LicenceNotAccepted(ModelError):
    """A model whose licence does not allow commercial use was requested without accepting it."""

    def __init__(self, name: str, licence: str) -> None:
        self.name = name
        self.licence = licence
        super().__init__(
            f"model {name!r} is licensed under {licence}, which does not allow commercial use; "
            "accept the licence to pull it (countenance models pull --accept-licence, or accept_licence=True)"
        )


class UnknownModel(ModelError):
    """A model name that is not in the registry; ``known`` lists the registered names."""

    def __init__(self, name: str, known: tuple[str, ...]) -> None:
        self.name = name
        self.known = tuple(known)
        super().__init__(f"unknown model {name!r}; known models: {', '.join(self.known)}")


class GalleryError(CountenanceError):
    """A gallery cannot be opened or used as asked (missing, not a gallery, another model, bad policy)."""


class NotEnrolled(GalleryError):
    """The subject named is not in the gallery."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        super().__init__(f"subject {subject!r} is not enrolled")


class NoTemplates(GalleryError):
    """The subject is enrolled but holds no face yet (created without photos): nothing to verify against."""

    def __init__(self, subject: str) -> None:
        self.subject = subject
        super().__init__(f"subject {subject!r} has no enrolled face yet; enrol a photo of them first")


class MixedIdentities(GalleryError):
    """The photos given as one subject do not agree: the face of ``first`` is further from the
    others (median ``distance``; ``second`` is the furthest) than the model's same-person
    limit (``limit``)."""

    def __init__(self, subject: str, first: str, second: str, distance: float, limit: float) -> None:
        self.subject = subject
        self.distance = distance
        self.limit = limit
        super().__init__(
            f"the photos of {subject!r} do not show one person: {first} is {distance:.3f} from the others (median; "
            f"furthest: {second}), beyond the model's same-person limit {limit:.3f}; nothing was enrolled "
            "(allow_mixed=True / --allow-mixed enrols them anyway, and the override is audited)"
        )


class ConsentRequired(GalleryError):
    """Enrolment without a consent record, in a gallery whose policy requires one."""


class OptedOut(GalleryError):
    """The face to enrol matches a person on the gallery's opt-out (suppression) list."""


class DuplicateIdentity(GalleryError):
    """The face to enrol as ``subject`` already matches another enrolled subject, ``existing``
    (one face, one person): ``distance`` is within ``threshold``, both in the model's metric."""

    def __init__(self, label: str, subject: str, existing: str, distance: float, threshold: float) -> None:
        self.subject = subject
        self.existing = existing
        self.distance = distance
        self.threshold = threshold
        super().__init__(
            f"{label}: this face is already enrolled as {existing!r} (distance {distance:.3f} <= {threshold:.3f}); "
            f"refusing to enrol it as {subject!r} too: one face, one person "
            "(allow_duplicate=True / --allow-duplicate overrides this, and the override is audited)"
        )


class MultipleFaces(GalleryError):
    """A photo to enrol holds ``count`` faces and the caller did not say which one is the subject."""

    def __init__(self, label: str, count: int) -> None:
        self.path = label
        self.count = count
        super().__init__(
            f"{label}: {count} faces; say which one is the person: face=N / --face N "
            "(numbered as `countenance detect` lists them, largest first, from 1) or largest=True / --largest"
        )


class SubjectForgotten(GalleryError):
    """The subject was forgotten (an erasure request) at ``forgotten_at``; enrolling them again
    needs an enrolment begun, and a consent record given, after that moment."""

    def __init__(self, subject: str, forgotten_at: str, reason: str) -> None:
        self.subject = subject
        self.forgotten_at = forgotten_at
        super().__init__(f"{subject!r} was forgotten at {forgotten_at}: {reason}")
class AlreadyExists(GalleryError):
    """A name that must be new is taken (creating or renaming a subject)."""


class Unsupported(CountenanceError):
    """An optional feature that this backend does not provide (e.g. dropping a server backend's data)."""


class UnknownKey(CountenanceError):
    """An API key id that is not in the key store (``keys revoke``)."""
