"""Subscribers and the send log, in their own database (never served by the archive server)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from email_validator import EmailNotValidError, validate_email
from sqlite_utils import Migrations

from config.dates import utcnow
from pipeline.archive import open_migrated
from newsletter.unsubscribe import token_is_valid, token_subscriber_id
from pipeline.places import load_gazetteer
from config.schema import THEMES
from config.errors import VeilleError

migrations = Migrations("veille-subscribers")


@migrations()
def m001_tables(db: sqlite_utils.Database) -> None:
    db["subscribers"].create(
        {"id": int, "email": str, "name": str, "departements": str, "themes": str,
         "created_at": str, "unsubscribed_at": str},
        pk="id",
        not_null={"email", "created_at"},
    )
    db["subscribers"].create_index(["email"], unique=True)
    # One row per (week, subscriber): what makes a re-run send only what is missing.
    db["sends"].create(
        {"week": str, "subscriber_id": int, "email": str, "status": str, "message_id": str,
         "attempts": int, "error": str, "updated_at": str},
        pk=("week", "subscriber_id"),
        not_null={"status"},
    )


def open_subscribers_db(path: Path | str) -> sqlite_utils.Database:
    return open_migrated(path, migrations)


@dataclass
class Subscriber:
    id: int
    email: str
    name: str | None
    departements: list[str]
    themes: list[str]


def normalize_email(address: str) -> str:
    """A deliverable-looking address, normalised and lower-cased (so that one person is one
    subscriber whatever the capitals); refused otherwise."""
    address = (address or "").strip()
    if any(c in address for c in "\r\n\0,;<>"):
        raise VeilleError(f"adresse refusée « {address!r} » : caractères interdits")
    try:
        return validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError as e:
        raise VeilleError(f"adresse refusée « {address} » : {e}") from None


def _codes(values: Iterable[str] | None, allowed: Iterable[str], what: str) -> list[str]:
    allowed = set(allowed)
    chosen = [v.strip() for v in (values or []) if v and v.strip()]
    unknown = [v for v in chosen if v not in allowed]
    if unknown:
        raise VeilleError(f"{what} inconnu(s) : {', '.join(unknown)} (permis : {', '.join(sorted(allowed))})")
    return sorted(set(chosen))


def add_subscriber(db: sqlite_utils.Database, email: str, name: str | None = None,
                   departements: Iterable[str] | None = None, themes: Iterable[str] | None = None) -> Subscriber:
    """Add a subscriber (or re-subscribe and update one who left); refuse a duplicate."""
    email = normalize_email(email)
    row = {
        "email": email,
        "name": (name or "").strip().replace("\n", " ") or None,
        "departements": json.dumps(_codes(departements, load_gazetteer().region_departements, "département(s)")),
        "themes": json.dumps(_codes(themes, THEMES, "thème(s)")),
    }
    existing = db.execute("SELECT id, unsubscribed_at FROM subscribers WHERE email = ?", [email]).fetchone()
    if existing and existing[1] is None:
        raise VeilleError(f"{email} est déjà abonné·e")
    if existing:
        db["subscribers"].update(existing[0], {**row, "unsubscribed_at": None})
        return get_subscriber(db, email)
    db["subscribers"].insert({**row, "created_at": utcnow()})
    return get_subscriber(db, email)


def get_subscriber(db: sqlite_utils.Database, email: str) -> Subscriber:
    rows = list(db["subscribers"].rows_where("email = ?", [normalize_email(email)]))
    if not rows:
        raise VeilleError(f"aucun abonné·e {email}")
    return _subscriber(rows[0])


def _subscriber(row: dict) -> Subscriber:
    return Subscriber(row["id"], row["email"], row["name"], json.loads(row["departements"] or "[]"),
                      json.loads(row["themes"] or "[]"))


def remove_subscriber(db: sqlite_utils.Database, email: str) -> Subscriber:
    """Unsubscribe (the row stays, so that the send log keeps its meaning)."""
    subscriber = get_subscriber(db, email)
    db["subscribers"].update(subscriber.id, {"unsubscribed_at": utcnow()})
    return subscriber


def unsubscribe_by_token(db: sqlite_utils.Database, secret: str, token: str,
                         confirm: bool) -> tuple[str, bool] | None:
    """The address a signed unsubscribe token names and whether it had already left; with `confirm`,
    unsubscribe it. None when the token is forged, altered or names nobody."""
    subscriber_id = token_subscriber_id(token)
    if subscriber_id is None:
        return None
    row = db.execute("SELECT email, unsubscribed_at FROM subscribers WHERE id = ?", [subscriber_id]).fetchone()
    if row is None or not token_is_valid(secret, token, row[0]):
        return None
    email, unsubscribed_at = row
    if confirm and unsubscribed_at is None:
        db["subscribers"].update(subscriber_id, {"unsubscribed_at": utcnow()})
    return email, unsubscribed_at is not None


def active_subscribers(db: sqlite_utils.Database) -> list[Subscriber]:
    return [_subscriber(r) for r in db["subscribers"].rows_where("unsubscribed_at IS NULL", order_by="id")]


def import_subscribers(db: sqlite_utils.Database, csv_path: Path | str) -> tuple[int, list[str]]:
    """Import a CSV with columns email[,name,departements,themes] (lists separated by , or ;).

    Returns (added, problems): a bad line is reported with its number and skipped."""
    added, problems = 0, []
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "email" not in [h.strip().lower() for h in reader.fieldnames]:
            raise VeilleError(f"{csv_path} : colonne « email » absente de l'en-tête")
        for line_number, raw in enumerate(reader, start=2):
            row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
            split = lambda v: [p for p in v.replace(";", ",").split(",") if p.strip()]  # noqa: E731
            try:
                add_subscriber(db, row.get("email", ""), row.get("name"),
                               split(row.get("departements", "")), split(row.get("themes", "")))
                added += 1
            except VeilleError as e:
                problems.append(f"ligne {line_number} : {e}")
    return added, problems
