"""Subscribers and sending over a real SMTP server (aiosmtpd on a free loopback port)."""

from __future__ import annotations

import email
from email import policy

import pytest
from aiosmtpd.controller import Controller

from newsletter.send import Letter, SmtpConnectionError, send_bulletin
from newsletter.smtp_sink import EmlSaver, free_port
from newsletter.subscribers import add_subscriber, open_subscribers_db
from config.schema import SmtpSettings

HTML = "<html><body><p>Bulletin</p></body></html>"
TEXT = "Bulletin"


class Server:
    """An SMTP server whose answers the test chooses: refuse some recipients, fail some DATA."""

    def __init__(self, folder, refuse=(), data_failures=None):
        self.saver = EmlSaver(folder)
        self.refuse = dict(refuse)  # address -> reply
        self.data_failures = list(data_failures or [])  # replies for the next DATA commands
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.data_failures:
            return self.data_failures.pop(0)
        return await self.saver.handle_DATA(server, session, envelope)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    @property
    def smtp(self) -> SmtpSettings:
        return SmtpSettings(host="127.0.0.1", port=self.controller.port, rate_per_second=1000, retry_pause=0.01,
                            **{"from": "Veille <veille@example.org>"})

    def received(self):
        return sorted(p.name.split("-", 1)[1][:-4] for p in self.saver.folder.glob("*.eml"))


@pytest.fixture
def subscribers(tmp_path):
    db = open_subscribers_db(tmp_path / "subscribers.db")
    for address in ("a@example.org", "b@example.org", "c@example.org"):
        add_subscriber(db, address, name=address[0].upper())
    return db


def compose(subscriber):
    return Letter("Bulletin 2026-W48", HTML, TEXT, f"https://veille.example.org/-/unsubscribe/{subscriber.id}.sig",
                  "mailto:veille@example.org?subject=unsubscribe")


def send(db, server, week="2026-W48", **kwargs):
    return send_bulletin(db, week, compose, server.smtp, **kwargs)


def test_send_once_then_rerun_sends_nothing(tmp_path, subscribers):
    with Server(tmp_path / "mail") as server:
        report = send(subscribers, server)
        assert sorted(report.sent) == ["a@example.org", "b@example.org", "c@example.org"]
        again = send(subscribers, server)
        assert again.sent == [] and len(again.already_sent) == 3
        assert server.received() == ["a@example.org", "b@example.org", "c@example.org"]
        next_week = send(subscribers, server, week="2026-W49")
        assert len(next_week.sent) == 3
    message = email.message_from_bytes((tmp_path / "mail").glob("0001-*.eml").__next__().read_bytes(),
                                       policy=policy.default)
    assert message["Subject"] == "Bulletin 2026-W48" and message["Message-ID"] and message["Date"]
    assert message["To"] == "A <a@example.org>"
    assert message["List-Unsubscribe"] == ("<https://veille.example.org/-/unsubscribe/1.sig>, "
                                           "<mailto:veille@example.org?subject=unsubscribe>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_body(("plain",)).get_content().strip() == TEXT
    assert "Bulletin" in message.get_body(("html",)).get_content()


def test_dry_run_sends_nothing(tmp_path, subscribers):
    with Server(tmp_path / "mail") as server:
        report = send(subscribers, server, dry_run=True)
        assert len(report.sent) == 3 and server.received() == []
        assert len(send(subscribers, server).sent) == 3


def test_permanent_refusal_is_recorded_and_not_retried(tmp_path, subscribers):
    with Server(tmp_path / "mail", refuse={"b@example.org": "550 5.1.1 mailbox unknown"}) as server:
        report = send(subscribers, server)
        assert sorted(report.sent) == ["a@example.org", "c@example.org"]
        assert report.failed == [("b@example.org", "550 5.1.1 mailbox unknown")]
        again = send(subscribers, server)
        assert again.sent == [] and again.failed == report.failed
    row = subscribers["sends"].get(("2026-W48", 2))
    assert (row["status"], row["attempts"]) == ("failed", 1)


def test_temporary_refusal_is_retried(tmp_path, subscribers):
    with Server(tmp_path / "mail", data_failures=["451 4.3.0 try again later"]) as server:
        report = send(subscribers, server)
        assert len(report.sent) == 3 and report.deferred == []
        assert server.received() == ["a@example.org", "b@example.org", "c@example.org"]
    assert subscribers["sends"].get(("2026-W48", 1))["attempts"] == 2


def test_attempts_and_back_off_are_settings(tmp_path, subscribers):
    import time

    refusals = ["451 4.3.0 try again later"] * 5  # three for the first run, two for the second
    with Server(tmp_path / "mail", data_failures=refusals) as server:
        once = server.smtp.model_copy(update={"attempts": 1, "retry_pause": 5.0})
        started = time.monotonic()
        report = send_bulletin(subscribers, "2026-W48", compose, once)
        assert time.monotonic() - started < 4  # one attempt: no pause at all
        assert [e for e, _ in report.deferred] == ["a@example.org", "b@example.org", "c@example.org"]
        assert subscribers["sends"].get(("2026-W48", 1))["attempts"] == 1
        patient = server.smtp.model_copy(update={"attempts": 3, "retry_pause": 0.2})
        started = time.monotonic()
        report = send_bulletin(subscribers, "2026-W48", compose, patient)
        assert time.monotonic() - started >= 0.2 + 0.4  # the pause grows with the attempt number
        assert len(report.sent) == 3 and report.deferred == []
        assert subscribers["sends"].get(("2026-W48", 1))["attempts"] == 1 + 3


def test_dropped_connection_then_resumed_run(tmp_path, subscribers):
    # The connection drops on the second message, three times: that message is deferred.
    with Server(tmp_path / "mail") as server:
        server.saver_calls = 0
        original = server.handle_DATA

        async def drop_second(srv, session, envelope):
            if "b@example.org" in envelope.rcpt_tos and server.saver_calls < 3:
                server.saver_calls += 1
                srv.transport.close()
                return "421 closing"
            return await original(srv, session, envelope)

        server.handle_DATA = drop_second
        first = send(subscribers, server)
        assert sorted(first.sent) == ["a@example.org", "c@example.org"]
        assert [e for e, _ in first.deferred] == ["b@example.org"]
        resumed = send(subscribers, server)
        assert resumed.sent == ["b@example.org"] and len(resumed.already_sent) == 2
        assert server.received() == ["a@example.org", "b@example.org", "c@example.org"]  # once each


def test_unreachable_server_is_a_clear_error(subscribers):
    smtp = SmtpSettings(host="127.0.0.1", port=free_port(), timeout=2)
    with pytest.raises(SmtpConnectionError, match="injoignable"):
        send_bulletin(subscribers, "2026-W48", compose, smtp)
    assert subscribers["sends"].count == 0


# ------------------------------------------------------ rows that cannot be sent


def insert_raw(db, email, name=None):
    """A row written without validation, as an older version or a hand-made edit could have left it."""
    return db["subscribers"].insert({"email": email, "name": name, "departements": "[]", "themes": "[]",
                                     "created_at": "2026-01-01T00:00:00+00:00"}).last_pk


def read(path):
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def test_one_unsendable_row_never_stops_the_others(tmp_path):
    db = open_subscribers_db(tmp_path / "s.db")
    for i in range(1, 11):
        add_subscriber(db, f"abonne{i:02d}@example.org", f"Abonné {i}")
    bad = insert_raw(db, "josé@example.org", "José")  # non-ASCII before the @: refused by today's rule
    for i in range(11, 20):
        add_subscriber(db, f"abonne{i:02d}@example.org")
    with Server(tmp_path / "mail") as server:
        dry = send(db, server, dry_run=True)
        assert len(dry.sent) == 19 and [e for e, _ in dry.failed] == ["josé@example.org"]
        report = send(db, server)
        assert len(report.sent) == 19 and report.deferred == []
        assert [e for e, _ in report.failed] == ["josé@example.org"]
        assert "adresse refusée" in report.failed[0][1] and "avant le « @ »" in report.failed[0][1]
        assert len(server.received()) == 19 and "josé@example.org" not in server.received()
        again = send(db, server)  # permanent, like a 5xx: not tried again
        assert again.sent == [] and len(again.already_sent) == 19 and again.failed == report.failed
        assert len(server.received()) == 19
    row = db["sends"].get(("2026-W48", bad))
    assert row["status"] == "failed" and "adresse refusée" in row["error"]


@pytest.mark.parametrize("name", [
    "Ève\nBcc: intrus@evil.org",
    "Ève\r\nBcc: intrus@evil.org",
    "Zoé <intrus@evil.org>, \"x\" <autre@evil.org>",
    "Ève\u2028Cc: intrus@evil.org",
    "Ève\x85To: intrus@evil.org\x00",
    "\u202eÈve, intrus@evil.org",
])
def test_nothing_a_name_holds_adds_a_header_or_a_recipient(tmp_path, name):
    db = open_subscribers_db(tmp_path / "s.db")
    insert_raw(db, "eve@example.org", name)   # as stored before names were cleaned
    add_subscriber(db, "eve2@example.org", name)  # cleaned when added
    with Server(tmp_path / "mail") as server:
        report = send(db, server)
        assert sorted(report.sent) == ["eve2@example.org", "eve@example.org"] and report.failed == []
        assert server.received() == ["eve2@example.org", "eve@example.org"]  # the envelope: nobody else
    for path in sorted((tmp_path / "mail").glob("*.eml")):
        message = read(path)
        assert [a.addr_spec for a in message["To"].addresses] in (["eve@example.org"], ["eve2@example.org"])
        assert "intrus" in message["To"].addresses[0].display_name  # kept as text of the name, harmless
        assert not {"Bcc", "Cc"} & set(message.keys()) and len(message.get_all("To")) == 1
        assert "\n" not in message["To"].addresses[0].display_name


def test_internationalised_domain_is_sent_in_ascii(tmp_path):
    db = open_subscribers_db(tmp_path / "s.db")
    add_subscriber(db, "Jean@Exämple.FR", "Jean Müller")
    insert_raw(db, "marie@exämple.fr")  # the form an older version stored
    with Server(tmp_path / "mail") as server:
        report = send(db, server)
        assert sorted(report.sent) == ["jean@xn--exmple-cua.fr", "marie@exämple.fr"]
        assert server.received() == ["jean@xn--exmple-cua.fr", "marie@xn--exmple-cua.fr"]
    to = read(next((tmp_path / "mail").glob("*jean*.eml")))["To"]
    assert to.addresses[0].display_name == "Jean Müller" and to.addresses[0].addr_spec == "jean@xn--exmple-cua.fr"


def test_a_letter_that_cannot_be_written_is_retried_next_run(tmp_path, subscribers):
    def broken(subscriber):
        if subscriber.email == "b@example.org":
            raise RuntimeError("gabarit cassé")
        return compose(subscriber)

    with Server(tmp_path / "mail") as server:
        report = send_bulletin(subscribers, "2026-W48", broken, server.smtp)
        assert sorted(report.sent) == ["a@example.org", "c@example.org"]
        assert report.deferred == [("b@example.org", "erreur en composant la lettre : RuntimeError: gabarit cassé")]
        resumed = send(subscribers, server)  # the bug fixed
        assert resumed.sent == ["b@example.org"]
        assert server.received() == ["a@example.org", "b@example.org", "c@example.org"]
