"""One table from error types to what each front end shows: CLI exit code, HTTP status, message.

The CLI (:mod:`countenance.cli`) and the REST app (:mod:`countenance.rest`) both look errors up here, so a new
error type is mapped once. The most specific entry wins (the first in method resolution order
of the error's type). Anything not in the table is a bug: :func:`describe` returns None for it
and the front end logs the traceback instead of showing it.

Exit codes: 0 success, 1 some inputs of a multi-input run failed (reported, the rest done),
2 the command failed on its input, 3 an internal error (a bug).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import errors

__all__ = ["ErrorRule", "ERROR_TABLE", "EXIT_PARTIAL", "EXIT_FAILED", "EXIT_INTERNAL", "rule_for", "describe"]

EXIT_PARTIAL = 1
EXIT_FAILED = 2
EXIT_INTERNAL = 3


@dataclass(frozen=True)
class ErrorRule:
    """How one error type is shown: ``exit_code`` (CLI), ``http_status`` (REST), ``title`` (a
    short name for the kind of error, e.g. a REST problem title)."""

    error: type[BaseException]
    exit_code: int
    http_status: int
    title: str


ERROR_TABLE: tuple[ErrorRule, ...] = (
    ErrorRule(errors.InvalidArgumentType, EXIT_FAILED, 422, "invalid argument type"),
    ErrorRule(errors.InvalidArgument, EXIT_FAILED, 422, "invalid argument"),
    ErrorRule(errors.ImageNotFound, EXIT_FAILED, 404, "image not found"),
    ErrorRule(errors.ImageTooLarge, EXIT_FAILED, 413, "image too large"),
    ErrorRule(errors.NotAlignedCrop, EXIT_FAILED, 422, "not an aligned face crop"),
    ErrorRule(errors.InvalidImage, EXIT_FAILED, 415, "not a usable image"),
    ErrorRule(errors.ImageError, EXIT_FAILED, 400, "image error"),
    ErrorRule(errors.NoFaceFound, EXIT_FAILED, 422, "no face found"),
    ErrorRule(errors.TemplateMismatch, EXIT_FAILED, 409, "template mismatch"),
    ErrorRule(errors.InvalidPairsFile, EXIT_FAILED, 422, "invalid pairs file"),
    ErrorRule(errors.UnknownBackend, EXIT_FAILED, 422, "unknown backend"),
    ErrorRule(errors.UnknownModel, EXIT_FAILED, 404, "unknown model"),
    ErrorRule(errors.ModelNotInstalled, EXIT_FAILED, 409, "model not installed"),
    ErrorRule(errors.CalibrationMissing, EXIT_FAILED, 409, "model not calibrated"),
    ErrorRule(errors.ModelChecksumMismatch, EXIT_FAILED, 409, "model checksum mismatch"),
    ErrorRule(errors.LicenceNotAccepted, EXIT_FAILED, 409, "licence not accepted"),
    ErrorRule(errors.ModelError, EXIT_FAILED, 400, "model error"),
    ErrorRule(errors.NotEnrolled, EXIT_FAILED, 404, "not enrolled"),
    ErrorRule(errors.NoTemplates, EXIT_FAILED, 409, "no enrolled face"),
    ErrorRule(errors.MixedIdentities, EXIT_FAILED, 409, "photos of different people"),
    ErrorRule(errors.ConsentRequired, EXIT_FAILED, 409, "consent required"),
    ErrorRule(errors.OptedOut, EXIT_FAILED, 409, "opted out"),
    ErrorRule(errors.DuplicateIdentity, EXIT_FAILED, 409, "already enrolled under another name"),
    ErrorRule(errors.SubjectForgotten, EXIT_FAILED, 409, "subject forgotten"),
    ErrorRule(errors.MultipleFaces, EXIT_FAILED, 422, "several faces: choose one"),
    ErrorRule(errors.AlreadyExists, EXIT_FAILED, 409, "already exists"),
    ErrorRule(errors.GalleryError, EXIT_FAILED, 400, "gallery error"),
    ErrorRule(errors.Unsupported, EXIT_FAILED, 400, "not supported"),
    ErrorRule(errors.UnknownKey, EXIT_FAILED, 404, "unknown key"),
    ErrorRule(errors.CountenanceError, EXIT_FAILED, 400, "error"),
)

_BY_TYPE = {rule.error: rule for rule in ERROR_TABLE}


def rule_for(error: BaseException) -> ErrorRule | None:
    """The table's entry for ``error`` (its most specific type in the table), or None: a bug."""
    for kind in type(error).__mro__:
        rule = _BY_TYPE.get(kind)
        if rule is not None:
            return rule
    return None


def describe(error: BaseException) -> tuple[ErrorRule, str] | None:
    """``(rule, one-line message)`` for an expected error, None for an unexpected one."""
    rule = rule_for(error)
    if rule is None:
        return None
    message = " ".join(str(error).splitlines()) or rule.title
    return rule, message
