"""Curator accounts, their sessions and the limit on login attempts.

Everything lives in the subscribers database (never served by Datasette), under its own migration
set `veille-curators`:

- `curators`: one row per account: `name` (lower-case letters, digits, `.`, `_`, `-`), the argon2
  hash of its password (`argon2-cffi`; the password itself is never stored), when it was created
  and when its password last changed;
- `curator_sessions`: one row per open session: the SHA-256 of its random id (the raw id is only in
  the curator's cookie), the account, when it opened and when it expires (`SESSION_DURATION`);
- `curator_login_failures`: failed logins counted per account (`curator:NAME`) and per client
  address (`client:ADDRESS`): after `MAX_FAILURES` failures within `LOCK_DURATION`, that account, or
  that address, is locked for `LOCK_DURATION`, even with the right password.

A password change or the removal of an account closes all of its sessions. Every function takes
the database (`sqlite_utils.Database`, see `open_curators_db`); those that depend on the time take
`now` (an aware datetime, default: now) so that tests need no sleeping.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlite_utils
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlite_utils import Migrations

from config.errors import VeilleError
from pipeline.archive import open_migrated

MIN_PASSWORD = 10
MAX_PASSWORD = 1024  # longer inputs are refused before hashing
SESSION_DURATION = timedelta(hours=12)
MAX_FAILURES = 5
LOCK_DURATION = timedelta(minutes=15)
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")

migrations = Migrations("veille-curators")


@migrations()
def m001_accounts(db: sqlite_utils.Database) -> None:
    db["curators"].create(
        {"name": str, "password_hash": str, "created_at": str, "password_changed_at": str},
        pk="name", not_null={"password_hash", "created_at"},
    )
    db["curator_sessions"].create(
        {"id_hash": str, "curator": str, "created_at": str, "expires_at": str, "client": str},
        pk="id_hash", not_null={"curator", "expires_at"},
    )
    db["curator_sessions"].create_index(["curator"])
    db["curator_login_failures"].create(
        {"key": str, "failures": int, "first_failure_at": str, "locked_until": str},
        pk="key", not_null={"failures"},
    )


def open_curators_db(path: Path | str) -> sqlite_utils.Database:
    """The subscribers database at `path` (created if needed) with the curators' tables."""
    return open_migrated(path, migrations)


_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the account does not exist, so that an unknown name costs the same time."""
    return _hasher.hash("pas un vrai mot de passe")


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


# ----------------------------------------------------------------------- accounts


@dataclass
class Curator:
    name: str
    created_at: str
    password_changed_at: str | None
    sessions: int  # sessions open now
    locked_until: str | None  # the account's login lock, when it holds now


def normalize_name(name: str) -> str:
    """An account name, lower-cased; refused unless made of letters a-z, digits, `.`, `_`, `-`."""
    normalized = (name or "").strip().lower()
    if not NAME.match(normalized):
        raise VeilleError(f"nom de compte refusé « {name} » : de 1 à 40 caractères parmi a-z, 0-9, « . », "
                          "« _ » et « - », en commençant par une lettre ou un chiffre")
    return normalized


def _check_password(password: str) -> None:
    if not password or not password.strip():
        raise VeilleError("mot de passe vide refusé")
    if len(password) < MIN_PASSWORD:
        raise VeilleError(f"mot de passe trop court : {MIN_PASSWORD} caractères au moins")
    if len(password) > MAX_PASSWORD:
        raise VeilleError(f"mot de passe trop long : {MAX_PASSWORD} caractères au plus")


def _exists(db: sqlite_utils.Database, name: str) -> bool:
    return db.execute("SELECT 1 FROM curators WHERE name = ?", [name]).fetchone() is not None


def existing_name(db: sqlite_utils.Database, name: str) -> str:
    """The normalised name of an existing account; refused when there is none."""
    normalized = normalize_name(name)
    if not _exists(db, normalized):
        raise VeilleError(f"aucun compte de curation « {normalized} »")
    return normalized


def add_curator(db: sqlite_utils.Database, name: str, password: str, now: datetime | None = None) -> str:
    """Create an account; return its (normalised) name. Refuses a taken name, a bad name or password."""
    name = normalize_name(name)
    _check_password(password)
    if _exists(db, name):
        raise VeilleError(f"le compte de curation « {name} » existe déjà")
    db["curators"].insert({"name": name, "password_hash": _hasher.hash(password),
                           "created_at": _iso(now or now_utc()), "password_changed_at": None})
    return name


def set_password(db: sqlite_utils.Database, name: str, password: str, now: datetime | None = None) -> str:
    """Change an account's password and close all of its sessions."""
    name = existing_name(db, name)
    _check_password(password)
    with db.conn:
        db.execute("UPDATE curators SET password_hash = ?, password_changed_at = ? WHERE name = ?",
                   [_hasher.hash(password), _iso(now or now_utc()), name])
        db.execute("DELETE FROM curator_sessions WHERE curator = ?", [name])
    return name


def remove_curator(db: sqlite_utils.Database, name: str) -> str:
    """Delete an account and close all of its sessions. (The decisions it made keep its name.)"""
    name = existing_name(db, name)
    with db.conn:
        db.execute("DELETE FROM curator_sessions WHERE curator = ?", [name])
        db.execute("DELETE FROM curators WHERE name = ?", [name])
    return name


def list_curators(db: sqlite_utils.Database, now: datetime | None = None) -> list[Curator]:
    now_iso = _iso(now or now_utc())
    rows = db.execute(
        """SELECT c.name, c.created_at, c.password_changed_at,
                  (SELECT count(*) FROM curator_sessions s WHERE s.curator = c.name AND s.expires_at > :now),
                  (SELECT f.locked_until FROM curator_login_failures f
                    WHERE f.key = 'curator:' || c.name AND f.locked_until > :now)
           FROM curators c ORDER BY c.name""", {"now": now_iso}).fetchall()
    return [Curator(*row) for row in rows]


def has_curators(db: sqlite_utils.Database) -> bool:
    return db.execute("SELECT 1 FROM curators LIMIT 1").fetchone() is not None


# ------------------------------------------------------------------------- logins


class LoginRefused(VeilleError):
    """A wrong name or password, or a login locked after too many failures."""

    def __init__(self, message: str, locked_until: datetime | None = None):
        super().__init__(message)
        self.locked_until = locked_until


def _locked_message(until: datetime, now: datetime) -> str:
    minutes = max(1, -(-int((until - now).total_seconds()) // 60))  # rounded up
    return (f"Trop d'essais infructueux : la connexion est bloquée pendant encore {minutes} minute"
            f"{'s' if minutes > 1 else ''}, même avec le bon mot de passe. Réessayez plus tard.")


def _keys(name: str, client: str | None) -> list[str]:
    return [f"curator:{(name or '').strip().lower()[:64]}", f"client:{(client or 'inconnu')[:64]}"]


def _lock(db: sqlite_utils.Database, keys: list[str], now: datetime) -> datetime | None:
    marks = ", ".join("?" for _ in keys)
    row = db.execute(f"SELECT max(locked_until) FROM curator_login_failures WHERE key IN ({marks}) "
                     "AND locked_until > ?", [*keys, _iso(now)]).fetchone()
    return _parse(row[0]) if row and row[0] else None


def _record_failure(db: sqlite_utils.Database, keys: list[str], now: datetime,
                    max_failures: int, lock_duration: timedelta) -> datetime | None:
    """Count a failure on each key; return when the lock it starts ends, if it starts one."""
    locked = None
    with db.conn:
        # Counts older than a lock's length, and locks that have ended, start afresh.
        db.execute("DELETE FROM curator_login_failures WHERE (locked_until IS NULL AND first_failure_at <= ?) "
                   "OR locked_until <= ?", [_iso(now - lock_duration), _iso(now)])
        for key in keys:
            db.execute("INSERT INTO curator_login_failures (key, failures, first_failure_at) VALUES (?, 1, ?) "
                       "ON CONFLICT(key) DO UPDATE SET failures = failures + 1", [key, _iso(now)])
            failures = db.execute("SELECT failures FROM curator_login_failures WHERE key = ?", [key]).fetchone()[0]
            if failures >= max_failures:
                locked = now + lock_duration
                db.execute("UPDATE curator_login_failures SET locked_until = ? WHERE key = ?", [_iso(locked), key])
    return locked


def verify(db: sqlite_utils.Database, name: str, password: str, client: str | None,
           now: datetime | None = None, max_failures: int = MAX_FAILURES,
           lock_duration: timedelta = LOCK_DURATION) -> str:
    """Check a login from the client address `client`; return the account's name, or raise
    `LoginRefused` with the message for the visitor.

    After `max_failures` failures within `lock_duration` for this account, or from this address,
    the account, or the address, is locked for `lock_duration`: every login is then refused, even
    with the right password, until the lock ends."""
    now = now or now_utc()
    keys = _keys(name, client)
    locked = _lock(db, keys, now)
    if locked:
        raise LoginRefused(_locked_message(locked, now), locked)
    normalized = (name or "").strip().lower()
    row = db.execute("SELECT password_hash FROM curators WHERE name = ?", [normalized]).fetchone() \
        if NAME.match(normalized) else None
    ok = False
    if password and len(password) <= MAX_PASSWORD:
        try:
            ok = _hasher.verify(row[0] if row else _dummy_hash(), password) and row is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    if not ok:
        locked = _record_failure(db, keys, now, max_failures, lock_duration)
        if locked:
            raise LoginRefused("Nom ou mot de passe incorrect. " + _locked_message(locked, now), locked)
        raise LoginRefused("Nom ou mot de passe incorrect.")
    with db.conn:
        marks = ", ".join("?" for _ in keys)
        db.execute(f"DELETE FROM curator_login_failures WHERE key IN ({marks})", keys)
        if _hasher.check_needs_rehash(row[0]):
            db.execute("UPDATE curators SET password_hash = ? WHERE name = ?", [_hasher.hash(password), normalized])
    return normalized


# ----------------------------------------------------------------------- sessions


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8", "replace")).hexdigest()


def open_session(db: sqlite_utils.Database, name: str, client: str | None = None, now: datetime | None = None,
                 duration: timedelta = SESSION_DURATION) -> str:
    """Open a session for an account; return its random id (for the cookie; only its hash is stored)."""
    name = existing_name(db, name)
    now = now or now_utc()
    session_id = secrets.token_urlsafe(32)
    with db.conn:
        db.execute("DELETE FROM curator_sessions WHERE expires_at <= ?", [_iso(now)])
        db["curator_sessions"].insert({"id_hash": _session_hash(session_id), "curator": name,
                                       "created_at": _iso(now), "expires_at": _iso(now + duration),
                                       "client": (client or "")[:64] or None})
    return session_id


def session_curator(db: sqlite_utils.Database, session_id: str | None, now: datetime | None = None) -> str | None:
    """The account of an open, unexpired session; None for an unknown, closed or expired one."""
    if not session_id or len(session_id) > 200:
        return None
    row = db.execute(
        "SELECT s.curator FROM curator_sessions s JOIN curators c ON c.name = s.curator "
        "WHERE s.id_hash = ? AND s.expires_at > ?", [_session_hash(session_id), _iso(now or now_utc())]).fetchone()
    return row[0] if row else None


def close_session(db: sqlite_utils.Database, session_id: str | None) -> None:
    """Log out: forget the session."""
    if session_id:
        with db.conn:
            db.execute("DELETE FROM curator_sessions WHERE id_hash = ?", [_session_hash(session_id)])


def revoke_sessions(db: sqlite_utils.Database, name: str) -> int:
    """Close every session of an account; return how many were open."""
    with db.conn:
        return db.execute("DELETE FROM curator_sessions WHERE curator = ?", [normalize_name(name)]).rowcount
