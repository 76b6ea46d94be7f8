"""Sending the bulletin over SMTP, exactly once per (week, subscriber).

The send log (`sends` in the subscribers database) records each (week, subscriber) as soon as the
server has accepted the message, so a re-run after a crash, a dropped connection or a temporary
refusal sends only what is missing. Permanent refusals (5xx) are recorded and not retried;
temporary ones (4xx, dropped connections) are retried a few times, then left for the next run.

One subscriber never stops the others: a row whose message cannot be built or carried (an address
refused by today's rule, e.g. written by an older version or straight into the database, a header
value that cannot be encoded, a server without a needed extension) is recorded `failed` with its
reason, like a 5xx, and not retried; an error while writing a letter (`compose`: the bulletin's
content, most likely a fault of ours to be fixed, not of the row) is recorded `deferred`, and the
next run tries that subscriber again.
"""

from __future__ import annotations

import smtplib
import time
from email.errors import MessageError
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.headerregistry import Address
from email.utils import formatdate, make_msgid, parseaddr

import sqlite_utils

from newsletter.subscribers import Subscriber, active_subscribers, clean_name, normalize_email
from config.dates import utcnow
from config.schema import SmtpSettings
from config.errors import VeilleError

SENT, FAILED, DEFERRED = "sent", "failed", "deferred"


class SmtpConnectionError(VeilleError):
    pass


@dataclass
class Letter:
    """One subscriber's message."""
    subject: str
    html: str
    text: str
    unsubscribe_url: str | None = None     # signed https link (RFC 8058 one-click)
    unsubscribe_mailto: str | None = None


@dataclass
class SendReport:
    week: str
    sent: list[str] = field(default_factory=list)
    already_sent: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)    # permanent: not retried
    deferred: list[tuple[str, str]] = field(default_factory=list)  # temporary: next run retries
    dry_run: bool = False


# What building or handing over one subscriber's message may raise because of that row's data.
_ROW_ERRORS = (VeilleError, ValueError, UnicodeError, MessageError, smtplib.SMTPNotSupportedError)


def recipient_address(subscriber: Subscriber) -> str:
    """The address to send to, checked again by the rule of `add` and `import` (rows written
    before it, or by hand, are not trusted): ASCII, domain IDNA-encoded. VeilleError otherwise."""
    return normalize_email(subscriber.email)


def build_message(letter: Letter, sender: str, subscriber: Subscriber, message_id: str) -> EmailMessage:
    """The message of one subscriber. `To` is one address object: the name is cleaned of controls
    and quoted or encoded by the email package, so nothing a subscriber typed can add a header or a
    recipient. Raises VeilleError or ValueError for a row that cannot make a message."""
    message = EmailMessage()
    message["Subject"] = letter.subject
    message["From"] = sender
    message["To"] = Address(display_name=clean_name(subscriber.name) or "", addr_spec=recipient_address(subscriber))
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id
    if letter.unsubscribe_url:
        targets = [f"<{letter.unsubscribe_url}>"] + ([f"<{letter.unsubscribe_mailto}>"] if letter.unsubscribe_mailto else [])
        message["List-Unsubscribe"] = ", ".join(targets)
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(letter.text)
    message.add_alternative(letter.html, subtype="html", cte="base64")  # encoded in C: quicker than quoted-printable
    return message


def open_smtp(smtp: SmtpSettings) -> smtplib.SMTP:
    try:
        if smtp.tls == "ssl":
            client = smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout)
        else:
            client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
            if smtp.tls == "starttls":
                client.starttls()
        if smtp.user:
            client.login(smtp.user, smtp.password.get_secret_value())
        return client
    except (OSError, smtplib.SMTPException) as e:
        raise SmtpConnectionError(
            f"serveur SMTP {smtp.host}:{smtp.port} injoignable ou refusant la connexion : {e}"
        ) from e


class _Outcome(Exception):
    def __init__(self, status: str, error: str):
        super().__init__(error)
        self.status, self.error = status, error


def _deliver(client: smtplib.SMTP, message: EmailMessage, sender_address: str, recipient: str) -> None:
    """Send one message; raise _Outcome(FAILED|DEFERRED) on a refusal."""
    try:
        client.send_message(message, from_addr=sender_address, to_addrs=[recipient])
    except smtplib.SMTPRecipientsRefused as e:
        code, reply = next(iter(e.recipients.values()))
        raise _Outcome(FAILED if code >= 500 else DEFERRED, f"{code} {reply.decode(errors='replace')}") from e
    except smtplib.SMTPResponseException as e:
        reply = e.smtp_error.decode(errors="replace") if isinstance(e.smtp_error, bytes) else str(e.smtp_error)
        raise _Outcome(FAILED if e.smtp_code >= 500 else DEFERRED, f"{e.smtp_code} {reply}") from e
    except smtplib.SMTPNotSupportedError as e:
        raise _Outcome(FAILED, f"le serveur SMTP ne sait pas transmettre ce message : {e}") from e
    except (ValueError, UnicodeError, MessageError) as e:
        # Refused by smtplib or the email package before or between commands: end the transaction
        # that may have begun, so that the next message starts clean.
        try:
            client.rset()
        except (smtplib.SMTPException, OSError):
            pass
        raise _Outcome(FAILED, f"message impossible à transmettre : {e}") from e


def _pending(db: sqlite_utils.Database, week: str, report: SendReport) -> list[tuple[Subscriber, dict | None]]:
    """The active subscribers still to be sent `week`, with their previous attempt if any; those
    already served or permanently refused are put in the report."""
    done = {r["subscriber_id"]: r for r in db["sends"].rows_where("week = ?", [week])}
    pending = []
    for subscriber in active_subscribers(db):
        previous = done.get(subscriber.id)
        if previous and previous["status"] == SENT:
            report.already_sent.append(subscriber.email)
        elif previous and previous["status"] == FAILED:
            report.failed.append((subscriber.email, previous["error"]))
        else:
            pending.append((subscriber, previous))
    return pending


class _Connection:
    """One SMTP connection, reopened once when it drops; `unreachable` says why it could not be."""

    def __init__(self, smtp: SmtpSettings):
        self.smtp = smtp
        self.client = open_smtp(smtp)
        self.unreachable: str | None = None

    def reopen(self) -> None:
        self.client.close()
        try:
            self.client = open_smtp(self.smtp)
        except SmtpConnectionError as e:
            self.unreachable = str(e)

    def close(self) -> None:
        try:
            self.client.quit()
        except (smtplib.SMTPException, OSError):
            self.client.close()


def _attempt(connection: _Connection, message: EmailMessage, sender_address: str, recipient: str,
             smtp: SmtpSettings) -> tuple[str, str | None, int]:
    """Send one message, retrying temporary refusals with a growing pause; (status, error, attempts)."""
    status, error = DEFERRED, ""
    for attempt in range(1, smtp.attempts + 1):
        try:
            _deliver(connection.client, message, sender_address, recipient)
            return SENT, None, attempt
        except _Outcome as outcome:
            status, error = outcome.status, outcome.error
        except (smtplib.SMTPServerDisconnected, OSError) as e:
            status, error = DEFERRED, f"connexion perdue : {e}"
            connection.reopen()
            if connection.unreachable:
                return status, error, attempt
        if status != DEFERRED:
            return status, error, attempt
        if attempt < smtp.attempts:
            time.sleep(smtp.retry_pause * attempt)
    return status, error, smtp.attempts


def _send_one(connection: _Connection, compose: Callable[[Subscriber], Letter], subscriber: Subscriber,
              message_id: str, sender_address: str, smtp: SmtpSettings) -> tuple[str, str | None, int]:
    """Write, build and send one subscriber's message; (status, error, attempts). Never raises for one
    row (see the module's docstring), except SMTP connection errors, which stop the run."""
    try:
        letter = compose(subscriber)
    except Exception as e:  # noqa: BLE001 — most likely a bug of ours, not the row's: retried next run
        return DEFERRED, f"erreur en composant la lettre : {type(e).__name__}: {e}", 0
    try:
        message = build_message(letter, smtp.from_, subscriber, message_id)
        recipient = message["To"].addresses[0].addr_spec
    except _ROW_ERRORS as e:
        return FAILED, f"message impossible à construire : {e}", 0
    return _attempt(connection, message, sender_address, recipient, smtp)


def send_bulletin(db: sqlite_utils.Database, week: str, compose: Callable[[Subscriber], Letter] | None,
                  smtp: SmtpSettings, dry_run: bool = False, progress=None) -> SendReport:
    """Send the bulletin of `week` to every active subscriber who has not had it yet;
    `compose(subscriber)` writes each one's letter (personalised copy, signed unsubscribe link); it is
    not needed for a dry run."""
    report = SendReport(week, dry_run=dry_run)
    pending = _pending(db, week, report)
    if dry_run:
        for subscriber, _ in pending:  # what a real run would refuse is told now
            try:
                recipient_address(subscriber)
                report.sent.append(subscriber.email)
            except VeilleError as e:
                report.failed.append((subscriber.email, f"message impossible à construire : {e}"))
        return report
    if not pending:
        return report
    sender_address = parseaddr(smtp.from_)[1]
    domain = sender_address.rpartition("@")[2] or "localhost"
    connection = _Connection(smtp)
    try:
        for subscriber, previous in pending:
            if connection.unreachable:  # the rest waits for the next run
                report.deferred.append((subscriber.email, connection.unreachable))
                continue
            started = time.monotonic()
            # A retried message keeps its Message-ID, so that receivers can tell it is the same.
            message_id = (previous or {}).get("message_id") or make_msgid("veille", domain=domain)
            status, error, attempts = _send_one(connection, compose, subscriber, message_id, sender_address, smtp)
            db["sends"].upsert(
                {"week": week, "subscriber_id": subscriber.id, "email": subscriber.email, "status": status,
                 "message_id": message_id, "attempts": ((previous or {}).get("attempts") or 0) + attempts,
                 "error": error, "updated_at": utcnow()},
                pk=("week", "subscriber_id"),
            )
            {SENT: report.sent, FAILED: report.failed, DEFERRED: report.deferred}[status].append(
                subscriber.email if status == SENT else (subscriber.email, error))
            if progress:
                progress()
            time.sleep(max(0.0, 1.0 / smtp.rate_per_second - (time.monotonic() - started)))
    finally:
        connection.close()
    return report
