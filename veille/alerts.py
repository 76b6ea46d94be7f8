"""E-mail alerts to the mission officer (`alerts.to`): one message when a problem appears, one
« rétabli » when it is gone, nothing in between.

The problems are `veille status`'s (veille/status.py `find_problems`); the memory of what was told
is the `alerts` table of the operations database: one row per problem, opened when it appears
(`opened_at`), e-mailed once (`notified_at`), resolved when its key is no longer among the
problems (`resolved_at`), the « rétabli » e-mailed once (`resolved_notified_at`). An open row stops
a second alert for the same key (a unique index allows one open row per key), so a check every few
minutes never floods.

Decisions:
- With no address (`alerts.to` empty), rows are still opened and resolved, and nothing is sent.
  When an address is set later, the problems still open then are e-mailed once each (they are
  current, so worth telling); those fixed meanwhile are never told, and neither is their
  « rétabli » (only a problem that was told gets one).
- An SMTP failure is returned in the report and logged; the row stays un-notified, so the next
  check tries again. Nothing is lost, nothing is sent twice: a row is claimed (its `notified_at`
  set only where it was NULL) before its message goes out, and released if the server refused it,
  so two checks at once (the scheduler and a `veille status --notify` from cron) cannot both send.
- The curator's reminder of an unapproved week (`remind_unapproved`) is a row of kind `approval`
  with key `approval:<week>`: sent once while the week waits, resolved (silently) when the week is
  approved or sent. A week approved, then changed so that the send refuses it again, is a new wait
  and gets one more reminder.
"""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path

import sqlite_utils

from config.errors import VeilleError
from config.loading import Config
from pipeline.operations import open_operations_db
from veille.status import Problem, current_problems, open_read_only

log = logging.getLogger("veille.alerts")

APPROVAL = "approval"           # kind of the curator's reminder rows
APPROVAL_PREFIX = "approval:"
SUBJECT_PREFIX = "[Veille] "


@dataclass
class AlertReport:
    """What one check did: keys alerted, keys told « rétabli », messages that could not go out."""

    address: str
    sent: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (key, why): tried again next check
    opened: list[str] = field(default_factory=list)   # problems seen for the first time
    closed: list[str] = field(default_factory=list)   # problems gone (told « rétabli » or not)

    def as_json(self) -> dict:
        return {"address": self.address, "sent": self.sent, "resolved": self.resolved,
                "failed": [{"key": k, "error": e} for k, e in self.failed], "opened": self.opened,
                "closed": self.closed}

    def summary(self) -> str:
        """One French line for `veille status --notify`."""
        if not self.address:
            return (f"Alertes : aucune adresse (alerts.to), rien n'est envoyé ; {len(self.opened)} nouveau(x) "
                    f"problème(s), {len(self.closed)} réglé(s).")
        line = (f"Alertes à {self.address} : {len(self.sent)} envoyée(s), "
                f"{len(self.resolved)} « rétabli » envoyé(s)")
        if self.failed:
            line += (f", {len(self.failed)} non envoyée(s) ({self.failed[0][1]}) : nouvel essai à la prochaine "
                     "vérification")
        return line + "."


# --------------------------------------------------------------- messages


def _when(iso: str | None, config: Config) -> str:
    from pipeline.approval import french_moment

    return french_moment(iso, config.settings.tz) if iso else "—"


def alert_text(problem: Problem, config: Config) -> tuple[str, str]:
    """Subject and body of the alert of a new problem."""
    since = f"Depuis le {_when(problem.since, config)}.\n\n" if problem.since else ""
    body = (
        "Bonjour,\n\n"
        f"Veille a besoin de votre attention : {problem.subject}.\n\n"
        f"{problem.detail}\n"
        f"{since}"
        f"Que faire : {problem.action}\n\n"
        "L'état complet : « veille status » sur le serveur de Veille.\n"
        "Vous ne recevrez pas d'autre message pour ce problème tant qu'il dure ; un message « Rétabli » "
        "vous dira quand il est réglé.\n\n"
        f"-- \nVeille, alerte automatique ({config.settings.public_url})\n")
    return SUBJECT_PREFIX + problem.subject, body


def resolved_text(row: dict, config: Config) -> tuple[str, str]:
    """Subject and body of the « rétabli » message of a problem that is gone."""
    body = (
        "Bonjour,\n\n"
        f"Le problème signalé le {_when(row['notified_at'], config)} est réglé (constaté le "
        f"{_when(row['resolved_at'], config)}) :\n{row['subject']}.\n\n"
        f"Pour mémoire : {row['detail']}\n\n"
        "Rien à faire. L'état complet : « veille status » sur le serveur de Veille.\n\n"
        f"-- \nVeille, alerte automatique ({config.settings.public_url})\n")
    return f"{SUBJECT_PREFIX}Rétabli : {row['subject']}", body


def reminder_text(week: str, reason: str, items_in: int | None, config: Config) -> tuple[str, str]:
    """Subject and body of the reminder that the week's bulletin waits for the curator's approval."""
    settings = config.settings
    count = f"Il contient {items_in} article(s).\n\n" if items_in is not None else ""
    body = (
        "Bonjour,\n\n"
        f"Le bulletin de la semaine {week} devait partir, mais il attend votre validation : {reason}\n\n"
        f"{count}"
        "Pour le relire et le valider :\n"
        f"- la page de curation : {settings.public_url.rstrip('/')}/-/curation (« Valider le bulletin de la "
        "semaine ») ;\n"
        f"- ou, sur le serveur : veille bulletin approve --week {week}\n\n"
        f"Il partira dès qu'il sera validé (le planificateur vérifie toutes les "
        f"{settings.schedule.approval_retry_minutes:g} minutes). Ce rappel n'est envoyé qu'une fois.\n\n"
        f"-- \nVeille, rappel automatique ({settings.public_url})\n")
    return f"{SUBJECT_PREFIX}Bulletin {week} en attente de validation", body


def build_message(config: Config, subject: str, body: str, key: str) -> EmailMessage:
    smtp = config.settings.smtp
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = smtp.from_
    message["To"] = config.settings.alerts.to
    message["Date"] = formatdate(localtime=False)
    domain = parseaddr(smtp.from_)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid("veille-alerte", domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a robot
    message["X-Veille-Alert"] = key
    message.set_content(body, cte="quoted-printable")
    return message


class _Mailer:
    """One SMTP connection for a check, opened at the first message; a failure to connect is
    remembered, so the other messages of this check fail at once with the same reason."""

    def __init__(self, config: Config):
        self.config = config
        self.client: smtplib.SMTP | None = None
        self.unreachable: str | None = None

    def send(self, message: EmailMessage) -> None:
        """Hand the message to the server; VeilleError with the French reason when it cannot."""
        from newsletter.send import SmtpConnectionError, open_smtp

        smtp = self.config.settings.smtp
        if self.unreachable:
            raise VeilleError(self.unreachable)
        if self.client is None:
            try:
                self.client = open_smtp(smtp)
            except SmtpConnectionError as e:
                self.unreachable = str(e)
                raise
        try:
            self.client.send_message(message, from_addr=parseaddr(smtp.from_)[1],
                                     to_addrs=[self.config.settings.alerts.to])
        except (smtplib.SMTPException, OSError, ValueError) as e:
            raise VeilleError(f"message refusé par le serveur SMTP {smtp.host}:{smtp.port} : {e}") from e

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (smtplib.SMTPException, OSError):
                self.client.close()


# -------------------------------------------------------------- the table


def _claim(ops: sqlite_utils.Database, row_id: int, column: str, stamp: str) -> bool:
    """Mark the row told (`column` = stamp) if nobody did yet; True when this check is the one to tell."""
    with ops.conn:
        cursor = ops.execute(f"UPDATE alerts SET {column} = ? WHERE id = ? AND {column} IS NULL", [stamp, row_id])
    return cursor.rowcount == 1


def _release(ops: sqlite_utils.Database, row_id: int, column: str) -> None:
    with ops.conn:
        ops.execute(f"UPDATE alerts SET {column} = NULL WHERE id = ?", [row_id])


def _record(ops: sqlite_utils.Database, problems: list[Problem], stamp: str, report: AlertReport) -> None:
    """Open a row for each new problem, refresh the open ones, resolve those whose problem is gone."""
    current = {p.key: p for p in problems}
    open_rows = {r["key"]: r for r in ops.execute_returning_dicts(
        "SELECT id, key FROM alerts WHERE resolved_at IS NULL AND kind != ?", [APPROVAL])}
    with ops.conn:
        for key, problem in current.items():
            if key in open_rows:
                # The facts of an open problem change (one more failure): the row says the latest.
                ops.execute("UPDATE alerts SET subject = ?, detail = ? WHERE id = ? AND (subject IS NOT ? OR "
                            "detail IS NOT ?)", [problem.subject, problem.detail, open_rows[key]["id"],
                                                 problem.subject, problem.detail])
                continue
            cursor = ops.execute(
                "INSERT OR IGNORE INTO alerts (key, kind, subject, detail, opened_at) VALUES (?, ?, ?, ?, ?)",
                [key, problem.kind, problem.subject, problem.detail, stamp])
            if cursor.rowcount:
                report.opened.append(key)
                log.info("problème key=%s sujet=%r", key, problem.subject)
        for key, row in open_rows.items():
            if key not in current:
                ops.execute("UPDATE alerts SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL",
                            [stamp, row["id"]])
                report.closed.append(key)
                log.info("problème réglé key=%s", key)


def _close_approvals(config: Config, ops: sqlite_utils.Database, db_path, subscribers_db_path, stamp: str) -> None:
    """Resolve the reminders of the weeks now approved (and unchanged since) or sent."""
    rows = ops.execute_returning_dicts("SELECT id, key FROM alerts WHERE resolved_at IS NULL AND kind = ?", [APPROVAL])
    if not rows:
        return
    from pipeline.approval import approval_status

    settings = config.settings
    archive = open_read_only(db_path or config.db_path)
    subscribers = open_read_only(subscribers_db_path or config.subscribers_db_path)
    try:
        for row in rows:
            week = row["key"][len(APPROVAL_PREFIX):]
            done = not settings.bulletin.require_approval
            if not done and subscribers is not None and subscribers["sends"].exists():
                done = subscribers.execute("SELECT 1 FROM sends WHERE week = ? AND status = 'sent' LIMIT 1",
                                           [week]).fetchone() is not None
            if not done and archive is not None and archive["approvals"].exists():
                done = approval_status(archive, week, settings.tz, settings.bulletin.max_age_days).ready
            if done:
                with ops.conn:
                    ops.execute("UPDATE alerts SET resolved_at = ? WHERE id = ? AND resolved_at IS NULL",
                                [stamp, row["id"]])
    finally:
        for db in (archive, subscribers):
            if db is not None:
                db.close()


def _notify(config: Config, ops: sqlite_utils.Database, current: dict[str, Problem], stamp: str,
            report: AlertReport) -> None:
    """E-mail the open problems not yet told, then the « rétabli » of the told ones now resolved."""
    new = ops.execute_returning_dicts(
        "SELECT * FROM alerts WHERE resolved_at IS NULL AND notified_at IS NULL AND kind != ? ORDER BY id", [APPROVAL])
    fixed = ops.execute_returning_dicts(
        "SELECT * FROM alerts WHERE resolved_at IS NOT NULL AND notified_at IS NOT NULL "
        "AND resolved_notified_at IS NULL AND kind != ? ORDER BY id", [APPROVAL])
    if not new and not fixed:
        return
    mailer = _Mailer(config)
    try:
        for row in new:
            problem = current.get(row["key"]) or Problem(row["key"], row["kind"], row["subject"], row["detail"],
                                                        "« veille status » dit quoi faire.", row["opened_at"])
            if _tell(config, ops, mailer, row, "notified_at", alert_text(problem, config), stamp, report):
                report.sent.append(row["key"])
        for row in fixed:
            if _tell(config, ops, mailer, row, "resolved_notified_at", resolved_text(row, config), stamp, report):
                report.resolved.append(row["key"])
    finally:
        mailer.close()


def _tell(config: Config, ops: sqlite_utils.Database, mailer: _Mailer, row: dict, column: str,
          text: tuple[str, str], stamp: str, report: AlertReport | None) -> bool:
    """Claim the row, send its message, release the claim if it could not go out."""
    if not _claim(ops, row["id"], column, stamp):
        return False  # another check told it meanwhile
    subject, body = text
    try:
        mailer.send(build_message(config, subject, body, row["key"]))
    except VeilleError as e:
        _release(ops, row["id"], column)
        log.warning("alerte non envoyée key=%s à=%s erreur=%s", row["key"], config.settings.alerts.to, e)
        if report is not None:
            report.failed.append((row["key"], str(e)))
        return False
    log.info("alerte envoyée key=%s à=%s sujet=%r", row["key"], config.settings.alerts.to, subject)
    return True


def _stamp(now: datetime | None) -> str:
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(timespec="seconds")


# ------------------------------------------------------------ the contract


def check_alerts(config: Config, db_path=None, subscribers_db_path=None, now: datetime | None = None, *,
                 operations_db_path: Path | str | None = None, sources_file: Path | str | None = None) -> AlertReport:
    """Compare the problems of now with the open alerts; e-mail each new problem once and each fixed
    one once (« rétabli »); resolve the approval reminders of weeks approved or sent.

    Never raises for the mail: what could not be sent is in `report.failed` (and logged) and is tried
    again at the next check. Raises VeilleError when a database cannot be read."""
    moment = now or datetime.now(timezone.utc)
    stamp = _stamp(moment)
    problems = current_problems(config, db_path, subscribers_db_path, operations_db_path, sources_file, moment)
    report = AlertReport(address=config.settings.alerts.to)
    ops = open_operations_db(operations_db_path or config.operations_db_path)
    try:
        _record(ops, problems, stamp, report)
        _close_approvals(config, ops, db_path, subscribers_db_path, stamp)
        if report.address:
            _notify(config, ops, {p.key: p for p in problems}, stamp, report)
    finally:
        ops.close()
    return report


def remind_unapproved(config: Config, week: str, reason: str, db_path=None, *,
                      operations_db_path: Path | str | None = None, now: datetime | None = None) -> bool:
    """E-mail the curator (alerts.to) that the week's bulletin waits for her approval, once per week
    (while it waits); True when a reminder went out now.

    `reason` is the refusal of the send (French). False when a reminder was already sent for this
    wait, when the week is in fact ready now, when there is no address, or when the server could not
    be reached (logged; the next call tries again)."""
    from pipeline.approval import approval_status

    settings = config.settings
    stamp = _stamp(now)
    key = f"{APPROVAL_PREFIX}{week}"
    items_in = None
    archive = open_read_only(db_path or config.db_path)
    if archive is not None:
        try:
            status = approval_status(archive, week, settings.tz, settings.bulletin.max_age_days)
        finally:
            archive.close()
        if status.ready:
            return False
        items_in = status.items_in
    ops = open_operations_db(operations_db_path or config.operations_db_path)
    try:
        subject, body = reminder_text(week, reason, items_in, config)
        with ops.conn:
            ops.execute("INSERT OR IGNORE INTO alerts (key, kind, subject, detail, opened_at) VALUES (?, ?, ?, ?, ?)",
                        [key, APPROVAL, subject[len(SUBJECT_PREFIX):], reason, stamp])
        row = ops.execute_returning_dicts("SELECT * FROM alerts WHERE key = ? AND resolved_at IS NULL", [key])[0]
        if row["notified_at"] or not settings.alerts.to:
            return False
        mailer = _Mailer(config)
        try:
            return _tell(config, ops, mailer, row, "notified_at", (subject, body), stamp, None)
        finally:
            mailer.close()
    finally:
        ops.close()
