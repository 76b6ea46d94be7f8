"""The curator's approval of a week's bulletin: `veille bulletin approve|status`, `send` refusing an
unapproved or changed week (real CLI, real SQLite files, a real SMTP server on loopback)."""

from __future__ import annotations

import getpass
import json
import logging
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlite_utils
import yaml
from aiosmtpd.controller import Controller

from config.dates import parse_week
from config.errors import VeilleError
from config.loading import load_config
from newsletter.smtp_sink import EmlSaver, free_port
from newsletter.subscribers import add_subscriber, open_subscribers_db
from pipeline.approval import ApprovalStatus, approval_status, approve_week, check_approved
from pipeline.archive import insert_item, open_db
from pipeline.curation import curate
from pipeline.tagging import tag_items
from tests.conftest import run_veille
from veille.schedule import bulletin_job, previous_week

WEEK = "2026-W48"
PARIS = ZoneInfo("Europe/Paris")
MAX_AGE = 30


def system_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "inconnu"


class CountingSaver(EmlSaver):
    """Saves each message as an .eml file and counts the clients that greeted it (EHLO/HELO)."""

    def __init__(self, folder):
        super().__init__(folder)
        self.greetings = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        self.greetings += 1
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):  # noqa: N802
        self.greetings += 1
        session.host_name = hostname
        return f"250 {server.hostname}"

    def received(self) -> list[str]:
        return sorted(p.name.split("-", 1)[1][:-4] for p in self.folder.glob("*.eml"))


@pytest.fixture
def smtp(tmp_path):
    saver = CountingSaver(tmp_path / "mail")
    controller = Controller(saver, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield saver, controller.port
    controller.stop()


def item(db, n: int, first_seen: str, title: str | None = None) -> int:
    return insert_item(db, {
        "url": f"https://example.org/{n}", "raw_url": f"https://example.org/{n}", "source_id": "s",
        "title": title or f"Le PLIE des Graves ouvre l'atelier n°{n} à Bordeaux",
        "text": "Le PLIE accompagne les demandeurs d'emploi. Les demandeurs d'emploi sont reçus en Gironde.",
        "published_at": first_seen, "first_seen_at": first_seen})


@pytest.fixture
def setup(config_dir, smtp):
    """An archive with two tagged items in the bulletin of WEEK, two subscribers, the SMTP server in
    the settings. Returns (config_dir, db, item ids, saver)."""
    saver, port = smtp
    settings_path = config_dir / "settings.yaml"
    settings = yaml.safe_load(settings_path.read_text(encoding="utf-8"))
    settings["smtp"] = {"host": "127.0.0.1", "port": port, "rate_per_second": 1000, "from": "Veille <v@example.org>"}
    settings_path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    config = load_config(config_dir)
    db = open_db(config.db_path)
    ids = [item(db, 1, "2026-11-24T10:00:00+00:00"), item(db, 2, "2026-11-25T10:00:00+00:00")]
    tag_items(db, config.taxonomy)
    subscribers = open_subscribers_db(config.subscribers_db_path)
    add_subscriber(subscribers, "anne@example.org")
    add_subscriber(subscribers, "paul@example.org")
    subscribers.close()
    assert approval_status(db, WEEK, PARIS, MAX_AGE).items_in == 2  # both in the bulletin
    return config_dir, db, ids, saver


def veille(config_dir, *args, check=False):
    return run_veille(*args, "--config", str(config_dir), check=check)


def status_json(config_dir, week=WEEK) -> dict:
    return json.loads(veille(config_dir, "bulletin", "status", "--week", week, "--json").stdout)


def sent_rows(config_dir) -> int:
    return sqlite_utils.Database(config_dir.parent / "data" / "subscribers.db")["sends"].count


# ------------------------------------------------------------------ status, approve


def test_status_of_an_unapproved_week(setup):
    config_dir, *_ = setup
    result = veille(config_dir, "bulletin", "status", "--week", WEEK)
    assert result.returncode == 1, result.stderr
    assert "Semaine 2026-W48 : 2 article(s) dans le bulletin. Pas encore validé." in result.stdout
    assert "veille bulletin approve --week 2026-W48" in result.stdout
    data = status_json(config_dir)
    assert (data["approved"], data["ready"], data["approved_by"], data["items_in"]) == (False, False, None, 2)


def test_approve_then_status_is_ready(setup):
    config_dir, db, _, _ = setup
    approved = veille(config_dir, "bulletin", "approve", "--week", WEEK, "--by", "marie", check=True)
    assert "Bulletin de la semaine 2026-W48 validé par marie : 2 article(s)." in approved.stdout
    result = veille(config_dir, "bulletin", "status", "--week", WEEK)
    assert result.returncode == 0, result.stdout
    assert "Validé par marie le " in result.stdout and "Prêt à envoyer." in result.stdout
    row = db["approvals"].get(1)
    assert (row["week"], row["approved_by"], row["items_in"]) == (WEEK, "marie", 2)
    moment = datetime.fromisoformat(row["approved_at"])
    assert abs(datetime.now(timezone.utc) - moment) < timedelta(minutes=5)
    local = moment.astimezone(PARIS)
    assert f"à {local.hour} h {local.minute:02d}." in result.stdout  # the settings' time zone

    # Approving again keeps the history; the latest counts. Without --by: the system user.
    veille(config_dir, "bulletin", "approve", "--week", WEEK, check=True)
    assert [r["approved_by"] for r in db["approvals"].rows] == ["marie", system_user()]
    data = status_json(config_dir)
    assert (data["approved_by"], data["approvals"], data["ready"]) == (system_user(), 2, True)


def test_an_empty_week_cannot_be_approved(setup):
    config_dir, db, _, _ = setup
    result = veille(config_dir, "bulletin", "approve", "--week", "2026-W10", "--by", "marie")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "le bulletin de la semaine 2026-W10 ne contient aucun article : rien à valider" in result.stderr
    assert db["approvals"].count == 0
    status = veille(config_dir, "bulletin", "status", "--week", "2026-W10")
    assert status.returncode == 1 and "Rien à valider" in status.stdout


# ------------------------------------------------------------------------- send


def test_send_refuses_an_unapproved_week_and_sends_nothing(setup):
    config_dir, _, _, saver = setup
    result = veille(config_dir, "bulletin", "send", "--week", WEEK)
    assert result.returncode == 3 and "Traceback" not in result.stderr  # NotApproved: the scheduler waits
    assert result.stderr.startswith("Erreur : le bulletin de la semaine 2026-W48 n'a pas été validé : "
                                    "rien n'a été envoyé")
    assert "veille bulletin approve --week 2026-W48" in result.stderr and "--force" in result.stderr
    assert saver.received() == [] and saver.greetings == 0  # not even a connection to the server
    assert sent_rows(config_dir) == 0


def test_dry_run_is_allowed_but_says_the_week_is_not_approved(setup):
    config_dir, _, _, saver = setup
    result = veille(config_dir, "bulletin", "send", "--week", WEEK, "--dry-run", check=True)
    assert "Validation : Pas encore validé." in result.stdout
    assert "n'est pas prête à envoyer" in result.stdout and "serait envoyé à 2 abonné·e(s)" in result.stdout
    assert saver.received() == [] and sent_rows(config_dir) == 0


def test_force_sends_an_unapproved_week_and_says_so(setup):
    config_dir, _, _, saver = setup
    result = veille(config_dir, "bulletin", "send", "--week", WEEK, "--force", check=True)
    assert "Envoi forcé (--force) : le bulletin de la semaine 2026-W48 part alors qu'il n'est pas validé." \
        in result.stderr
    assert saver.received() == ["anne@example.org", "paul@example.org"]


def test_approved_week_is_sent(setup):
    config_dir, _, _, saver = setup
    veille(config_dir, "bulletin", "approve", "--week", WEEK, "--by", "marie", check=True)
    result = veille(config_dir, "bulletin", "send", "--week", WEEK, check=True)
    assert "Validation : Validé par marie le " in result.stdout and "envoyé à 2 abonné·e(s)" in result.stdout
    assert saver.received() == ["anne@example.org", "paul@example.org"] and result.stderr == ""
    assert saver.greetings == 1  # the counter the refusals rely on does count a connection


def test_a_decision_after_approval_blocks_until_approved_again(setup):
    config_dir, _, (first, _), saver = setup
    veille(config_dir, "bulletin", "approve", "--week", WEEK, "--by", "marie", check=True)
    veille(config_dir, "curate", str(first), "--highlight", "--by", "paul", check=True)

    status = veille(config_dir, "bulletin", "status", "--week", WEEK)
    assert status.returncode == 1
    assert "Modifié depuis la validation par marie le " in status.stdout
    assert f"#{first} « Le PLIE des Graves ouvre l'atelier n°1 à Bordeaux » (à la une) par paul le " in status.stdout
    data = status_json(config_dir)
    assert (data["changed"], data["ready"]) == (True, False)
    assert [(d["item_id"], d["curator"]) for d in data["decisions_since"]] == [(first, "paul")]

    refused = veille(config_dir, "bulletin", "send", "--week", WEEK)
    assert refused.returncode == 3
    assert "a été modifié depuis sa validation par marie" in refused.stderr and "rien n'a été envoyé" in refused.stderr
    assert "validez-le de nouveau (veille bulletin approve --week 2026-W48)" in refused.stderr
    assert saver.received() == [] and saver.greetings == 0

    veille(config_dir, "bulletin", "approve", "--week", WEEK, "--by", "marie", check=True)
    assert veille(config_dir, "bulletin", "status", "--week", WEEK).returncode == 0
    veille(config_dir, "bulletin", "send", "--week", WEEK, check=True)
    assert saver.received() == ["anne@example.org", "paul@example.org"]


def test_items_collected_after_approval_are_reported_but_do_not_block(setup):
    config_dir, db, _, saver = setup
    veille(config_dir, "bulletin", "approve", "--week", WEEK, "--by", "marie", check=True)
    late = item(db, 3, "2026-11-29T18:00:00+00:00")  # Sunday's crawl
    tag_items(db, load_config(config_dir).taxonomy)
    note = f"1 article(s) entré(s) dans le bulletin depuis la validation, non relus : #{late}."
    status = veille(config_dir, "bulletin", "status", "--week", WEEK)
    assert status.returncode == 0 and note in status.stdout and "Prêt à envoyer." in status.stdout
    assert status_json(config_dir)["new_items_since"] == [late]
    result = veille(config_dir, "bulletin", "send", "--week", WEEK, check=True)
    assert note in result.stdout
    assert saver.received() == ["anne@example.org", "paul@example.org"]


def test_without_require_approval_send_goes_without_approval(setup):
    config_dir, _, _, saver = setup
    path = config_dir / "settings.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings["bulletin"] = {"require_approval": False}
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    result = veille(config_dir, "bulletin", "send", "--week", WEEK, check=True)
    assert "envoyé à 2 abonné·e(s)" in result.stdout and "Validation" not in result.stdout
    assert saver.received() == ["anne@example.org", "paul@example.org"]


def test_the_scheduled_send_obeys_the_approval(setup, caplog):
    config_dir, db, _, saver = setup
    week = previous_week(PARIS)  # what Monday's job sends
    monday = parse_week(week)
    item(db, 10, datetime(monday.year, monday.month, monday.day, 12, tzinfo=timezone.utc).isoformat())
    tag_items(db, load_config(config_dir).taxonomy)
    with caplog.at_level(logging.INFO, logger="veille.schedule"):
        bulletin_job(config_dir, None, None, "Europe/Paris")
    assert f"le bulletin de la semaine {week} n'a pas été validé" in caplog.text
    assert saver.received() == [] and saver.greetings == 0
    veille(config_dir, "bulletin", "approve", "--week", week, "--by", "marie", check=True)
    bulletin_job(config_dir, None, None, "Europe/Paris")
    assert saver.received() == ["anne@example.org", "paul@example.org"]


# -------------------------------------------------------------- who did what


def test_curate_records_who_and_explain_shows_it(setup):
    config_dir, db, (first, second), _ = setup
    veille(config_dir, "curate", str(first), "--add", "tzcld", "--by", "marie", check=True)
    veille(config_dir, "curate", str(second), "--remove", "plie", check=True)
    assert db["tags"].get((first, "dispositifs", "tzcld", "curator"))["curator"] == "marie"
    assert db["curation"].get(first)["curator"] == "marie"
    assert db["tags"].get((second, "dispositifs", "plie", "curator"))["curator"] == system_user()
    explained = veille(config_dir, "tag", "--explain", str(first), check=True).stdout
    assert "dispositifs = tzcld : ajouté par la chargée de mission marie le " in explained
    assert "dispositifs = plie : ajouté par règles" in explained  # the machine's, unnamed
    explained = veille(config_dir, "tag", "--explain", str(second), check=True).stdout
    assert f"dispositifs = plie : retiré par la chargée de mission {system_user()} le " in explained
    empty = veille(config_dir, "curate", str(first), "--highlight", "--by", "  ")
    assert empty.returncode == 1 and "--by : nom vide" in empty.stderr


# ------------------------------------------------------------- the functions


def test_functions_tell_decisions_from_the_very_second_of_approval(setup):
    config_dir, db, (first, second), _ = setup
    taxonomy = load_config(config_dir).taxonomy
    curate(db, taxonomy, first, add=["tzcld"], by="marie")  # before: seen by the approval, even in its second
    status = approve_week(db, WEEK, PARIS, MAX_AGE, "marie")
    assert status.ready and status.decisions_since == [] and status.new_items_since == []
    assert check_approved(db, WEEK, PARIS, MAX_AGE).approved_by == "marie"

    curate(db, taxonomy, second, reject=True, by="paul")  # after, maybe in the same second
    status = approval_status(db, WEEK, PARIS, MAX_AGE)
    assert status.changed and not status.ready and status.items_in == 1  # rejected: out of the bulletin
    (decision,) = status.decisions_since
    assert (decision.item_id, decision.curator, decision.what) == (second, "paul", "écarté")
    assert status.summary(PARIS).startswith("Modifié depuis la validation par marie le ")
    with pytest.raises(VeilleError, match="modifié depuis sa validation"):
        check_approved(db, WEEK, PARIS, MAX_AGE)

    with pytest.raises(VeilleError, match="nom de la personne qui valide manquant"):
        approve_week(db, WEEK, PARIS, MAX_AGE, "  ")
    assert db["approvals"].count == 1


def test_summary_sentences():
    approved = ApprovalStatus(week=WEEK, items_in=3, approved_by="marie", approved_at="2026-12-02T09:12:00+00:00")
    assert approved.summary(PARIS) == "Validé par marie le 2 décembre 2026 à 10 h 12."
    assert approved.ready and not approved.changed
    never = ApprovalStatus(week=WEEK, items_in=3, approved_by=None, approved_at=None)
    assert never.summary(PARIS) == "Pas encore validé." and not never.approved and not never.ready
