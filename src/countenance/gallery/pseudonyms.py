"""Pseudonyms for forgotten subjects, and the rewriting of audit documents that named them.

A forgotten subject's name must leave the gallery, but the audit log must still show that a
forget happened and which searches returned the person. Their name is replaced by a keyed
hash, HMAC-SHA256 under a random key kept in the gallery (``meta.pseudonym_key``): the same
person always gets the same pseudonym in one gallery (so the rows still link up, and an
auditor who is told the name can find them: :func:`pseudonym` again), but the name cannot be
read back, and another gallery gives other pseudonyms. Whoever holds the gallery *and* guesses
the name can confirm the guess; that is what makes the audit answerable, and why the key is
not a secret from the gallery's operator.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Mapping, Set
from typing import Any

__all__ = ["pseudonym", "ERASED", "scrub"]

#: What an erased value (a source path, a photo hash) reads as in a rewritten audit entry.
ERASED = "[erased]"


def pseudonym(key: str, name: str) -> str:
    """``name``'s pseudonym under the gallery's hex ``key``: ``"forgotten:"`` and 32 hex digits.

    Names are compared as people write them: Unicode NFC, case-folded (``Obama`` is ``obama``),
    so a forget cannot be undone by changing the case of a name.
    """
    canonical = unicodedata.normalize("NFC", name.strip()).casefold()
    digest = hmac.new(bytes.fromhex(key), canonical.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"forgotten:{digest[:32]}"


def scrub(document: Any, replace: Mapping[str, str], erase: Set[str], names: Set[str] = frozenset()) -> Any:
    """``document`` (JSON values) with every string in ``replace`` replaced, every string in
    ``erase`` made :data:`ERASED`, and every path (a string with a ``/`` or ``\\``) that has
    one of ``names`` as a component (an export folder named after the person) or contains a
    string of ``erase`` made :data:`ERASED` as well."""
    if isinstance(document, str):
        if document in replace:
            return replace[document]
        if document in erase:
            return ERASED
        if "/" in document or "\\" in document:
            components = set(re.split(r"[\\/]", document))
            if components & names or any(part and part in document for part in erase):
                return ERASED
        return document
    if isinstance(document, list):
        return [scrub(item, replace, erase, names) for item in document]
    if isinstance(document, dict):
        return {key: scrub(value, replace, erase, names) for key, value in document.items()}
    return document
