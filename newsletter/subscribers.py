"""Subscribers and the send log, in their own database (never served by the archive server)."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
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


EMAIL_MAX = 254       # RFC 5321's limit for a forward path
NAME_MAX = 100        # characters of a display name; longer ones are cut
_FORBIDDEN = ",;<>"   # a list or an angle-addr, never one address


def _shown(text: str, limit: int = 80) -> str:
    """`text` fit to be quoted in a message: controls made visible, cut to `limit` characters."""
    visible = "".join(c if unicodedata.category(c)[0] not in "CZ" or c == " " else ascii(c)[1:-1] for c in text)
    return visible if len(visible) <= limit else visible[:limit] + "…"


def _email_forms(address: str) -> tuple[str, str]:
    """(form stored and sent: ASCII, domain IDNA-encoded; form an older version may have stored)."""
    address = (address or "").strip()
    if not address:
        raise VeilleError("adresse manquante")
    shown = _shown(address)
    if len(address) > EMAIL_MAX:
        raise VeilleError(f"adresse refusée « {shown} » : plus de {EMAIL_MAX} caractères")
    if any(c in _FORBIDDEN or unicodedata.category(c)[0] in "CZ" for c in address):
        raise VeilleError(f"adresse refusée « {shown} » : caractères interdits (espaces, retours à la ligne, "
                          f"caractères de contrôle ou « {_FORBIDDEN} »)")
    local, at, _ = address.rpartition("@")
    if at and not local.isascii():
        raise VeilleError(f"adresse refusée « {shown} » : caractères accentués ou non latins avant le « @ » : "
                          "bien des serveurs de messagerie ne savent pas les transmettre (SMTPUTF8) ; "
                          "donnez une adresse sans accent avant le « @ »")
    try:
        valid = validate_email(address, check_deliverability=False, allow_smtputf8=False,
                               allow_quoted_local=False, allow_domain_literal=False)
    except EmailNotValidError as e:
        raise VeilleError(f"adresse refusée « {shown} » : adresse mal formée ({e})") from None
    return valid.ascii_email.lower(), valid.normalized.lower()


def normalize_email(address: str) -> str:
    """The one rule for addresses, applied when a subscriber is added, imported and sent to.

    An address is accepted when SMTP can carry it through any server, without SMTPUTF8: its local
    part (before the @) must be plain ASCII, since many relays do not advertise SMTPUTF8 and a
    refusal at the door, with a clear message, is better than a failure at every weekly send. An
    internationalised domain is accepted and stored IDNA-encoded (`jean@exämple.fr` becomes
    `jean@xn--exmple-cua.fr`, what email_validator calls `ascii_email`), so that everything stored
    and sent is ASCII. No spaces, controls, lists or angle brackets; at most 254 characters;
    lower-cased, so that one person is one subscriber whatever the capitals. Raises VeilleError
    with a French reason otherwise.
    """
    return _email_forms(address)[0]


def clean_name(name: str | None) -> str | None:
    """A display name safe in a header: control and format characters (CR, LF, NUL, tabs, line and
    paragraph separators, bidi overrides, zero-width characters) removed, whitespace collapsed,
    cut to NAME_MAX characters; None when nothing is left."""
    kept = []
    for c in name or "":
        category = unicodedata.category(c)
        if category in ("Cc", "Zl", "Zp"):
            kept.append(" ")
        elif category[0] != "C":  # Cf, Cs, Co, Cn: dropped
            kept.append(c)
    text = " ".join("".join(kept).split())[:NAME_MAX].rstrip()
    return text or None


def _codes(values: Iterable[str] | None, allowed: Iterable[str], what: str) -> list[str]:
    allowed = set(allowed)
    chosen = [v.strip() for v in (values or []) if v and v.strip()]
    unknown = [v for v in chosen if v not in allowed]
    if unknown:
        shown = ", ".join(_shown(v, 20) for v in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise VeilleError(f"{what} inconnu(s) : {shown} (permis : {', '.join(sorted(allowed))})")
    return sorted(set(chosen))


def _checked(email: str, name: str | None, departements: Iterable[str] | None, themes: Iterable[str] | None,
             region_departements: Iterable[str]) -> tuple[dict, list[str]]:
    """A subscriber's row as stored, and every reason to refuse it (the same checks for `add` and
    `import`); the row's `email` is None when the address is refused."""
    row: dict = {"email": None, "name": clean_name(name)}
    reasons = []
    for key, check in (("email", lambda: normalize_email(email)),
                       ("departements", lambda: json.dumps(_codes(departements, region_departements,
                                                                  "département(s)"))),
                       ("themes", lambda: json.dumps(_codes(themes, THEMES, "thème(s)")))):
        try:
            row[key] = check()
        except VeilleError as e:
            reasons.append(str(e))
    return row, reasons


def _existing(db: sqlite_utils.Database, email: str) -> dict | None:
    """The row of `email` (as given by the user), found under the form stored now or an older one;
    an address today's rule refuses is looked up as typed, so that an old row can still be removed."""
    try:
        forms = _email_forms(email)
    except VeilleError:
        forms = ((email or "").strip().lower(), (email or "").strip())
    rows = list(db["subscribers"].rows_where("email IN (?, ?)", list(forms), order_by="id"))
    return rows[0] if rows else None


def add_subscriber(db: sqlite_utils.Database, email: str, name: str | None = None,
                   departements: Iterable[str] | None = None, themes: Iterable[str] | None = None) -> Subscriber:
    """Add a subscriber (or re-subscribe and update one who left); refuse a duplicate.

    Raises VeilleError with every reason (address, départements, themes) when refused."""
    row, reasons = _checked(email, name, departements, themes, load_gazetteer().region_departements)
    if reasons:
        raise VeilleError(" ; ".join(reasons))
    existing = _existing(db, row["email"])
    if existing and existing["unsubscribed_at"] is None:
        raise VeilleError(f"{row['email']} est déjà abonné·e")
    if existing:
        db["subscribers"].update(existing["id"], {**row, "unsubscribed_at": None})
        return get_subscriber(db, row["email"])
    db["subscribers"].insert({**row, "created_at": utcnow()})
    return get_subscriber(db, row["email"])


def get_subscriber(db: sqlite_utils.Database, email: str) -> Subscriber:
    row = _existing(db, email)
    if row is None:
        raise VeilleError(f"aucun abonné·e {_shown(email)}")
    return _subscriber(row)


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


COLUMNS = ("email", "name", "departements", "themes")
FIELD_MAX = 1000                 # characters in one field of an imported file
FILE_MAX = 20 * 1024 * 1024      # bytes of an imported file


@dataclass
class ImportReport:
    """What an import did, or would have done (the same lists either way).

    `added`: new addresses; `updated`: active subscribers whose name or preferences the file changed;
    `unchanged`: active subscribers the file repeats as they are; `unsubscribed`: addresses that had
    unsubscribed, left so (an import never re-subscribes anyone: `subscribers add` does);
    `problems`: one « ligne N : raison » per refused line; `written`: the import was carried out
    (False when lines were refused without `skip_invalid`: nothing was stored)."""
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    unsubscribed: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    written: bool = False


def _split(value: str) -> list[str]:
    return [p for p in value.replace(";", ",").split(",") if p.strip()]


def _read_csv(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header (lower-cased) and the (line number, fields) of each non-blank record; raises
    VeilleError, naming the line, when the file as a whole cannot be read."""
    if path.stat().st_size > FILE_MAX:
        raise VeilleError(f"{path} : fichier de plus de {FILE_MAX // 1024 // 1024} Mo ; rien n'a été importé")
    data = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - data.rfind(b"\n", 0, e.start)
        raise VeilleError(f"{path} : le fichier n'est pas en UTF-8 (ligne {line}, octet {column} de la ligne : "
                          f"0x{data[e.start]:02x}) ; enregistrez-le en « CSV UTF-8 » ; rien n'a été importé") from None
    first_line = text.partition("\n")[0]
    delimiter = ";" if ";" in first_line and "," not in first_line else ","  # a French spreadsheet's CSV
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records, start = [], 1
    try:
        for fields in reader:
            records.append((start, fields))
            start = reader.line_num + 1
    except csv.Error as e:
        reason = str(e)
        if "field larger than field limit" in reason:
            reason = f"champ de plus de {csv.field_size_limit()} caractères (guillemet non refermé ?)"
        raise VeilleError(f"{path} : ligne {start} : CSV illisible : {reason} ; rien n'a été importé") from None
    records = [(n, fields) for n, fields in records if any(f.strip() for f in fields)]
    if not records:
        raise VeilleError(f"{path} : fichier vide ; rien n'a été importé")
    header = [h.strip().lower() for h in records[0][1]]
    errors = []
    if "email" not in header:
        errors.append("colonne « email » absente de l'en-tête")
    unknown = [f"« {_shown(h, 30)} »" if h else f"sans nom (n° {i})" for i, h in enumerate(header, 1)
               if h not in COLUMNS]
    if unknown:
        errors.append(f"colonne(s) inconnue(s) : {', '.join(unknown)} (permises : {', '.join(COLUMNS)})")
    repeated = sorted({h for h in header if h in COLUMNS and header.count(h) > 1})
    if repeated:
        errors.append(f"colonne(s) en double : {', '.join(repeated)}")
    if errors:
        raise VeilleError(f"{path} : ligne {records[0][0]} (en-tête) : {' ; '.join(errors)} ; rien n'a été importé")
    return header, records[1:]


def import_subscribers(db: sqlite_utils.Database, csv_path: Path | str, skip_invalid: bool = False) -> ImportReport:
    """Import a UTF-8 CSV whose header names its columns among email (required), name, departements,
    themes (lists separated by , or ;; the file itself by , or ;).

    The whole file is checked first, with the same checks as `add_subscriber`, plus: no unknown
    column, no line with more fields than the header, no field over FIELD_MAX characters, no address
    twice. Every bad line is reported (« ligne N : raison »). Nothing is written unless every line is
    valid; with `skip_invalid`, the valid lines are written and the others reported. Writes happen in
    one transaction. A new address is added; an active subscriber gets the file's name and
    preferences (for the columns the file has); one who unsubscribed is left so.

    Raises VeilleError (nothing written) when the file cannot be read as a whole: not UTF-8, not
    CSV, no header, an unknown column."""
    path = Path(csv_path)
    header, records = _read_csv(path)
    region_departements = load_gazetteer().region_departements
    report = ImportReport()
    valid: list[dict] = []
    seen: dict[str, int] = {}
    for line, fields in records:
        reasons = []
        if len(fields) > len(header):
            reasons.append(f"{len(fields)} champs pour {len(header)} colonnes")
        too_long = [h for h, f in zip(header, fields) if len(f) > FIELD_MAX]
        if too_long:
            reasons.append(f"champ(s) de plus de {FIELD_MAX} caractères : {', '.join(too_long)}")
        else:
            cells = {h: f.strip() for h, f in zip(header, fields)}
            row, row_reasons = _checked(cells.get("email", ""), cells.get("name"), _split(cells.get("departements", "")),
                                        _split(cells.get("themes", "")), region_departements)
            reasons += row_reasons
            if row["email"] in seen:
                reasons.append(f"adresse {row['email']} en double (déjà ligne {seen[row['email']]})")
            elif row["email"]:
                seen[row["email"]] = line
        if reasons:
            report.problems.append(f"ligne {line} : {' ; '.join(reasons)}")
        else:
            valid.append({k: v for k, v in row.items() if k in header})
    if report.problems and not skip_invalid:
        return report
    existing: dict[str, dict] = {}
    for r in db["subscribers"].rows:
        try:
            forms = _email_forms(r["email"])
        except VeilleError:  # an old row refused today: nobody in the file can match it
            continue
        for form in forms:
            existing.setdefault(form, r)
    inserts, updates = [], []
    for row in valid:
        current = existing.get(row["email"])
        if current is None:
            inserts.append(row)
            report.added.append(row["email"])
        elif current["unsubscribed_at"] is not None:
            report.unsubscribed.append(row["email"])
        elif any(current[k] != v for k, v in row.items() if k != "email"):
            updates.append((current["id"], row))
            report.updated.append(row["email"])
        else:
            report.unchanged.append(row["email"])
    now = utcnow()
    try:
        with db.conn:  # one transaction: all of it or nothing
            for row in inserts:
                db.conn.execute("INSERT INTO subscribers (email, name, departements, themes, created_at) "
                                "VALUES (?, ?, ?, ?, ?)",
                                [row["email"], row.get("name"), row.get("departements", "[]"),
                                 row.get("themes", "[]"), now])
            for subscriber_id, row in updates:
                changes = {k: v for k, v in row.items() if k != "email"}
                db.conn.execute(f"UPDATE subscribers SET {', '.join(f'{k} = ?' for k in changes)} WHERE id = ?",
                                [*changes.values(), subscriber_id])
    except sqlite3.IntegrityError as e:
        raise VeilleError(f"{path} : import annulé, rien n'a été écrit ({e}) : une adresse a-t-elle été "
                          "ajoutée pendant l'import ? relancez-le") from None
    report.written = True
    return report
