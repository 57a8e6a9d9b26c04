"""API keys for the REST service: created with scopes, stored hashed, shown once, revocable.

Keys live in ``keys.sqlite3`` in the gallery folder (beside the gallery's own database, so a
gallery and who may use it travel together). Only the sha256 of each token is stored: a
token is ``cntn_<id>_<43 random characters>`` (32 random bytes, URL-safe base64), printed once
by ``countenance keys create``, and cannot be recovered from the store. The id is public: the
audit log names the actor of a REST call as ``key:<id>``.

Scopes: ``identify`` (detect, verify, identify), ``enroll`` (create, rename, enrol faces),
``library`` (the photo library: suggestions, people), ``read`` (list and show subjects, gallery
info), ``admin`` (export, forget, opt-outs, the audit log; and every other scope).
"""

from __future__ import annotations

import hmac
import secrets
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import GalleryError, InvalidArgument, UnknownKey
from ..hashing import sha256_bytes
from ..paths import private_file
from .options import GalleryOptions

__all__ = ["SCOPES", "ADMIN", "KEYS_FILE", "parse_scopes", "ApiKey", "NewKey", "KeyStore", "create_key", "list_keys", "revoke_key"]

SCOPES = ("identify", "enroll", "library", "read", "admin")
ADMIN = "admin"
KEYS_FILE = "keys.sqlite3"
_PREFIX = "cntn"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
)
"""


def parse_scopes(scopes: str | Iterable[str]) -> tuple[str, ...]:
    """``"identify,read"`` or a list of names -> the scopes, in :data:`SCOPES` order; at least one."""
    names = [s.strip() for s in (scopes.split(",") if isinstance(scopes, str) else scopes)]
    names = [n for n in names if n]
    unknown = sorted(set(names) - set(SCOPES))
    if unknown or not names:
        raise InvalidArgument(f"--scope takes one or more of {', '.join(SCOPES)} (comma-separated), got {', '.join(unknown) or 'none'}")
    return tuple(s for s in SCOPES if s in names)


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never its token): id, name, scopes, when created and revoked (ISO 8601 UTC)."""

    id: str
    name: str
    scopes: tuple[str, ...]
    created_at: str
    revoked_at: str | None = None

    @property
    def actor(self) -> str:
        """How the audit log names this key: ``key:<id>``."""
        return f"key:{self.id}"

    def allows(self, scope: str) -> bool:
        """Whether a call needing ``scope`` may be made with this key (``admin`` allows all)."""
        return self.revoked_at is None and (scope in self.scopes or ADMIN in self.scopes)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "scopes": list(self.scopes), "created_at": self.created_at,
                "revoked_at": self.revoked_at}


@dataclass(frozen=True)
class NewKey:
    """A key just created, with its token: shown once, stored only as a hash."""

    key: ApiKey
    token: str

    def to_dict(self) -> dict[str, Any]:
        return {**self.key.to_dict(), "token": self.token}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _hash(token: str) -> str:
    return sha256_bytes(token.encode("utf-8"))


class KeyStore:
    """The keys of one gallery folder (``<folder>/keys.sqlite3``). Safe to share between the
    threads of one process (one connection behind a lock); several processes may open it."""

    def __init__(self, folder: Path) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            raise GalleryError(f"{folder}: no gallery here (create one with: countenance gallery init)")
        self.path = folder / KEYS_FILE
        self._lock = threading.Lock()
        try:
            private_file(self.path)  # 0600 (and its WAL), whatever the umask
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(_SCHEMA)
        except sqlite3.DatabaseError as error:
            raise GalleryError(f"{self.path}: not a key store ({error})") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> KeyStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create(self, scopes: str | Iterable[str], name: str = "") -> NewKey:
        """A new key with ``scopes``; its token is in the result and nowhere else."""
        scopes = parse_scopes(scopes)
        if len(name) > 200 or any(ord(c) < 32 for c in name):
            raise InvalidArgument(f"a key name must be at most 200 printable characters, got {name!r}")
        key = ApiKey(secrets.token_hex(6), name, scopes, _now())
        token = f"{_PREFIX}_{key.id}_{secrets.token_urlsafe(32)}"
        with self._lock:
            self._db.execute("INSERT INTO keys(id, name, scopes, token_sha256, created_at) VALUES (?, ?, ?, ?, ?)",
                             (key.id, key.name, ",".join(scopes), _hash(token), key.created_at))
        return NewKey(key, token)

    def keys(self) -> list[ApiKey]:
        """Every key, revoked ones too, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT id, name, scopes, created_at, revoked_at FROM keys ORDER BY created_at, id").fetchall()
        return [ApiKey(r[0], r[1], tuple(r[2].split(",")), r[3], r[4]) for r in rows]

    def revoke(self, key_id: str) -> ApiKey:
        """Revoke a key: every later call with its token gets 401. UnknownKey if there is none."""
        with self._lock:
            self._db.execute("UPDATE keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", (_now(), key_id))
        for key in self.keys():
            if key.id == key_id:
                return key
        raise UnknownKey(f"no API key with id {key_id!r} (countenance keys list)")

    def authenticate(self, token: str) -> ApiKey | None:
        """The live key whose token this is, None for an unknown, malformed or revoked token."""
        parts = token.split("_", 2) if isinstance(token, str) else []
        if len(parts) != 3 or parts[0] != _PREFIX or not parts[1] or len(token) > 200:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT id, name, scopes, created_at, revoked_at, token_sha256 FROM keys WHERE id = ?", (parts[1],)
            ).fetchone()
        if row is None or row[4] is not None or not hmac.compare_digest(row[5], _hash(token)):
            return None
        return ApiKey(row[0], row[1], tuple(row[2].split(",")), row[3], row[4])


def create_key(options: GalleryOptions, scopes: str | Iterable[str], name: str = "") -> NewKey:
    """``countenance keys create``: a new key for the gallery of ``options``."""
    with KeyStore(options.resolved_path) as store:
        return store.create(scopes, name)


def list_keys(options: GalleryOptions) -> tuple[ApiKey, ...]:
    with KeyStore(options.resolved_path) as store:
        return tuple(store.keys())


def revoke_key(options: GalleryOptions, key_id: str) -> ApiKey:
    with KeyStore(options.resolved_path) as store:
        return store.revoke(key_id)
