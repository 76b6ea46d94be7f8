"""E-mail alerts to the mission officer (veille/alerts.py) through a real local SMTP server (aiosmtpd):
one alert when a problem appears, nothing while it lasts, one « rétabli » when it is fixed; an SMTP
server down is reported and the alert retried; no address keeps the memory without sending; the
curator's reminder of an unapproved week goes out once per week."""

from __future__ import annotations

import email
import json
from datetime import datetime, timedelta, timezone
from email import policy

import pytest
import yaml
from aiosmtpd.controller import Controller

from config.loading import load_config
from newsletter.send import Letter, send_bulletin
from newsletter.smtp_sink import EmlSaver, free_port, start_smtp_sink
from newsletter.subscribers import add_subscriber, open_subscribers_db
from pipeline.archive import open_db
from pipeline.operations import FAILED, OK, finish_run, open_operations_db, start_run
from tests.conftest import run_veille
from veille.alerts import check_alerts, remind_unapproved

OFFICER = "charge.de.mission@centre.example"


def data(config_dir):
    return config_dir.parent / "data"


def configure(config_dir, port: int, to: str = OFFICER) -> None:
    path = config_dir / "settings.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings["smtp"] = {"host": "127.0.0.1", "port": port, "tls": "none", "from": "Veille <veille@centre.example>",
                        "timeout": 5}
    settings["alerts"] = {"to": to}
    path.write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")


def messages(folder) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(folder.glob("*.eml"))]


def run(ops, job: str, status: str, minutes_ago: float = 0) -> None:
    """A job run as the scheduler records it."""
    run_id = start_run(ops, job)
    finish_run(ops, run_id, status, 0 if status == OK else 1, "sortie de la commande")
    if minutes_ago:
        moment = (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).isoformat(timespec="seconds")
        ops["job_runs"].update(run_id, {"started_at": moment, "finished_at": moment})


@pytest.fixture
def mailbox(tmp_path):
    """A real SMTP server that saves what it receives."""
    server = start_smtp_sink(tmp_path / "mail")
    yield server, tmp_path / "mail"
    server.stop()


@pytest.fixture
def site(config_dir):
    """A migrated archive and the operations database of a scheduler that ran every job well."""
    open_db(data(config_dir) / "veille.db").close()
    ops = open_operations_db(data(config_dir) / "operations.db")
    for job in ("crawl", "tag", "learn", "bulletin"):
        run(ops, job, OK, minutes_ago=60)
    return ops


def test_one_alert_then_nothing_then_one_retabli(config_dir, mailbox, site):
    server, folder = mailbox
    configure(config_dir, server.port)
    config = load_config(config_dir)
    assert check_alerts(config).sent == []  # all well: nothing to say

    run(site, "crawl", FAILED)
    report = check_alerts(config)
    assert (report.sent, report.resolved, report.failed) == (["job-failed:crawl"], [], [])
    (alert,) = messages(folder)
    assert alert["To"] == OFFICER
    assert alert["Subject"] == "[Veille] La tâche « collecte » (crawl) a échoué : échec"
    assert alert["X-Veille-Alert"] == "job-failed:crawl" and alert["Auto-Submitted"] == "auto-generated"
    body = alert.get_content()
    assert "Que faire :" in body and "veille status" in body and "Depuis le " in body

    # Still failing, twice more: no flood.
    run(site, "crawl", FAILED)
    for _ in range(2):
        report = check_alerts(config)
        assert (report.sent, report.resolved, report.failed) == ([], [], [])
    assert len(messages(folder)) == 1

    run(site, "crawl", OK)
    report = check_alerts(config)
    assert (report.sent, report.resolved) == ([], ["job-failed:crawl"])
    assert check_alerts(config).resolved == []
    first, fixed = messages(folder)
    assert fixed["Subject"] == "[Veille] Rétabli : La tâche « collecte » (crawl) a échoué : échec"
    assert "est réglé" in fixed.get_content() and "Rien à faire" in fixed.get_content()

    # The same problem again later is a new alert.
    run(site, "crawl", FAILED)
    assert check_alerts(config).sent == ["job-failed:crawl"]
    assert len(messages(folder)) == 3
    rows = list(site.query("SELECT key, notified_at, resolved_at, resolved_notified_at FROM alerts ORDER BY id"))
    assert [r["key"] for r in rows] == ["job-failed:crawl", "job-failed:crawl"]
    assert rows[0]["resolved_notified_at"] and rows[1]["resolved_at"] is None and rows[1]["notified_at"]


class RefusingRecipient:
    """A real SMTP server that refuses one recipient for good."""

    def __init__(self, folder, refuse: str):
        self.saver, self.refuse = EmlSaver(folder), refuse
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address == self.refuse:
            return "550 5.1.1 mailbox unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        return await self.saver.handle_DATA(server, session, envelope)


def test_a_send_with_permanent_failures_is_told_once(tmp_path, config_dir, mailbox, site):
    server, folder = mailbox
    configure(config_dir, server.port)
    config = load_config(config_dir)
    subscribers = open_subscribers_db(data(config_dir) / "subscribers.db")
    for address in ("a@example.org", "perdu@example.org"):
        add_subscriber(subscribers, address)
    refusing = RefusingRecipient(tmp_path / "bulletins", "perdu@example.org")
    refusing.controller.start()
    try:
        smtp = config.settings.smtp.model_copy(update={"port": refusing.controller.port, "rate_per_second": 1000})
        send_bulletin(subscribers, "2026-W48", lambda s: Letter("Bulletin", "<p>B</p>", "B"), smtp)
    finally:
        refusing.controller.stop()
    assert check_alerts(config).sent == ["send-failures:2026-W48"]
    assert check_alerts(config).sent == []
    (alert,) = messages(folder)
    assert "perdu@example.org (550 5.1.1 mailbox unknown)" in alert.get_content()
    assert "veille subscribers remove" in alert.get_content()


def test_smtp_down_is_reported_and_retried(config_dir, tmp_path, site):
    port = free_port()  # nothing listens there yet
    configure(config_dir, port)
    config = load_config(config_dir)
    run(site, "learn", FAILED)
    report = check_alerts(config)
    assert report.sent == [] and [key for key, _ in report.failed] == ["job-failed:learn"]
    assert "injoignable" in report.failed[0][1]
    row = site["alerts"].get(1)
    assert row["notified_at"] is None and row["resolved_at"] is None  # kept, to be told next time

    server = Controller(EmlSaver(tmp_path / "mail"), hostname="127.0.0.1", port=port)
    server.start()
    try:
        report = check_alerts(config)
        assert (report.sent, report.failed) == (["job-failed:learn"], [])
        assert check_alerts(config).sent == []
    finally:
        server.stop()
    assert [m["X-Veille-Alert"] for m in messages(tmp_path / "mail")] == ["job-failed:learn"]

    # Down again when it is fixed: the « rétabli » waits for the next check.
    run(site, "learn", OK)
    report = check_alerts(config)
    assert report.resolved == [] and [key for key, _ in report.failed] == ["job-failed:learn"]
    server = Controller(EmlSaver(tmp_path / "mail"), hostname="127.0.0.1", port=port)
    server.start()
    try:
        assert check_alerts(config).resolved == ["job-failed:learn"]
    finally:
        server.stop()
    assert len(messages(tmp_path / "mail")) == 2


def test_without_an_address_nothing_is_sent_and_only_current_problems_are_told_later(config_dir, mailbox, site):
    server, folder = mailbox
    configure(config_dir, server.port, to="")
    config = load_config(config_dir)
    run(site, "crawl", FAILED)
    run(site, "learn", FAILED)
    report = check_alerts(config)
    assert report.sent == [] and sorted(report.opened) == ["job-failed:crawl", "job-failed:learn"]
    run(site, "learn", OK)
    assert check_alerts(config).closed == ["job-failed:learn"]
    assert messages(folder) == []

    # An address set later: the problem still open is told once; the one fixed meanwhile never.
    config = load_config(config_dir, environ={"VEILLE_ALERTS_TO": OFFICER})
    report = check_alerts(config)
    assert (report.sent, report.resolved) == (["job-failed:crawl"], [])
    assert [m["X-Veille-Alert"] for m in messages(folder)] == ["job-failed:crawl"]


def test_status_notify_runs_the_check(config_dir, mailbox, site):
    server, folder = mailbox
    configure(config_dir, server.port)
    run(site, "bulletin", FAILED)
    result = run_veille("status", "--config", str(config_dir), "--notify", check=False)
    assert result.returncode == 1
    assert f"Alertes à {OFFICER} : 1 envoyée(s), 0 « rétabli » envoyé(s)." in result.stdout
    assert "Signalé par e-mail le " in result.stdout
    result = run_veille("status", "--config", str(config_dir), "--notify", "--json", check=False)
    report = json.loads(result.stdout)
    assert report["notify"]["sent"] == [] and report["problems"][0]["notified_at"]
    assert [m["X-Veille-Alert"] for m in messages(folder)] == ["job-failed:bulletin"]


def test_remind_unapproved_once_per_week(config_dir, mailbox, site):
    server, folder = mailbox
    configure(config_dir, server.port)
    config = load_config(config_dir)
    reason = "le bulletin de la semaine 2026-W48 n'a pas été validé : rien n'a été envoyé"
    assert remind_unapproved(config, "2026-W48", reason) is True
    assert remind_unapproved(config, "2026-W48", reason) is False  # the scheduler checks again every hour
    (reminder,) = messages(folder)
    assert reminder["Subject"] == "[Veille] Bulletin 2026-W48 en attente de validation"
    body = reminder.get_content()
    assert "https://veille.example.org/-/curation" in body and "veille bulletin approve --week 2026-W48" in body
    assert reason in body and "0 article(s)" in body

    assert remind_unapproved(config, "2026-W49", reason) is True  # another week
    assert len(messages(folder)) == 2

    # Sent (here with --force, say): the reminder is closed, silently; the check does not treat it as a problem.
    subscribers = open_subscribers_db(data(config_dir) / "subscribers.db")
    add_subscriber(subscribers, "a@example.org")
    send_bulletin(subscribers, "2026-W48", lambda s: Letter("Bulletin", "<p>B</p>", "B"),
                  config.settings.smtp.model_copy(update={"rate_per_second": 1000}))
    report = check_alerts(config)
    assert (report.sent, report.resolved, report.closed) == ([], [], [])
    rows = {r["key"]: r for r in site.query("SELECT key, resolved_at FROM alerts")}
    assert rows["approval:2026-W48"]["resolved_at"] and rows["approval:2026-W49"]["resolved_at"] is None
    assert len(messages(folder)) == 3  # the two reminders and the bulletin itself, nothing else


def test_remind_without_an_address_sends_nothing(config_dir, mailbox, site):
    server, folder = mailbox
    configure(config_dir, server.port, to="")
    assert remind_unapproved(load_config(config_dir), "2026-W48", "pas validé") is False
    assert messages(folder) == []
    assert site["alerts"].count == 1
