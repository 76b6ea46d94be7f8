"""Curator accounts, sessions and the login lock (veille/curators.py), and `veille curators`."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from config.errors import VeilleError
from veille import curators
from veille.curators import (LOCK_DURATION, SESSION_DURATION, LoginRefused, add_curator, close_session,
                             list_curators, open_curators_db, open_session, remove_curator, session_curator,
                             set_password, verify)
from veille.curators_cli import curators as curators_command

PASSWORD = "correct-horse-battery"
T0 = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def db(tmp_path):
    database = open_curators_db(tmp_path / "subscribers.db")
    add_curator(database, "marie", PASSWORD, now=T0)
    return database


def test_accounts_hold_an_argon2_hash_never_the_password(db):
    row = db["curators"].get("marie")
    assert row["password_hash"].startswith("$argon2id$") and PASSWORD not in row["password_hash"]
    assert verify(db, "marie", PASSWORD, "10.0.0.1", now=T0) == "marie"
    assert verify(db, "  Marie ", PASSWORD, "10.0.0.1", now=T0) == "marie"  # names ignore capitals and spaces
    assert [c.name for c in list_curators(db, now=T0)] == ["marie"]


@pytest.mark.parametrize("name, password, message", [
    ("paul", "", "mot de passe vide"),
    ("paul", "          ", "mot de passe vide"),
    ("paul", "court", "trop court : 10 caractères"),
    ("paul", "x" * 2000, "trop long"),
    ("", PASSWORD, "nom de compte refusé"),
    ("paul dupont", PASSWORD, "nom de compte refusé"),
    ("hélène", PASSWORD, "nom de compte refusé"),
    ("-paul", PASSWORD, "nom de compte refusé"),
    ("marie", PASSWORD, "existe déjà"),
    ("MARIE", PASSWORD, "existe déjà"),
])
def test_bad_names_and_passwords_are_refused_in_french(db, name, password, message):
    with pytest.raises(VeilleError, match=message):
        add_curator(db, name, password)
    assert [c.name for c in list_curators(db)] == ["marie"]


def test_unknown_accounts_are_refused(db):
    for action in (lambda: set_password(db, "paul", PASSWORD), lambda: remove_curator(db, "paul"),
                   lambda: open_session(db, "paul")):
        with pytest.raises(VeilleError, match="aucun compte de curation « paul »"):
            action()
    with pytest.raises(LoginRefused, match="Nom ou mot de passe incorrect"):
        verify(db, "paul", PASSWORD, "10.0.0.1")


def test_sessions_expire_close_and_end_with_a_password_change_or_the_account(db):
    add_curator(db, "paul", "mot-de-passe-de-paul")
    first, second = open_session(db, "marie", "10.0.0.1", now=T0), open_session(db, "marie", now=T0)
    pauls = open_session(db, "paul", now=T0)
    assert first != second and len(first) >= 40
    stored = [row["id_hash"] for row in db["curator_sessions"].rows]
    assert len(stored) == 3 and first not in stored and second not in stored  # only their hashes
    assert session_curator(db, first, now=T0 + SESSION_DURATION - timedelta(seconds=1)) == "marie"
    assert session_curator(db, first, now=T0 + SESSION_DURATION) is None  # expired
    assert session_curator(db, "devine", now=T0) is None and session_curator(db, None) is None
    close_session(db, first)
    assert session_curator(db, first, now=T0) is None and session_curator(db, second, now=T0) == "marie"
    assert list_curators(db, now=T0)[0].sessions == 1
    set_password(db, "marie", "un-nouveau-mot-de-passe")
    assert session_curator(db, second, now=T0) is None and session_curator(db, pauls, now=T0) == "paul"
    with pytest.raises(LoginRefused):
        verify(db, "marie", PASSWORD, "10.0.0.1")
    assert verify(db, "marie", "un-nouveau-mot-de-passe", "10.0.0.1") == "marie"
    remove_curator(db, "paul")
    assert session_curator(db, pauls, now=T0) is None


def test_five_failures_lock_the_account_even_for_the_right_password_until_the_lock_ends(tmp_path, db):
    for attempt in range(4):
        with pytest.raises(LoginRefused) as refused:
            verify(db, "marie", f"faux-{attempt}", "10.0.0.1", now=T0 + timedelta(minutes=attempt))
        assert refused.value.locked_until is None
    with pytest.raises(LoginRefused, match="bloquée pendant encore 15 minutes") as refused:
        verify(db, "marie", "faux-5", "10.0.0.1", now=T0 + timedelta(minutes=4))
    until = refused.value.locked_until
    assert until == T0 + timedelta(minutes=4) + LOCK_DURATION
    db.close()
    db = open_curators_db(tmp_path / "subscribers.db")  # the lock is stored: it survives a restart
    for client in ("10.0.0.1", "10.0.0.2"):  # the account is locked, from any address
        with pytest.raises(LoginRefused, match="même avec le bon mot de passe") as refused:
            verify(db, "marie", PASSWORD, client, now=until - timedelta(seconds=1))
        assert refused.value.locked_until == until
    assert list_curators(db, now=until - timedelta(seconds=1))[0].locked_until is not None
    assert verify(db, "marie", PASSWORD, "10.0.0.1", now=until) == "marie"
    # A success clears the count: five new failures are needed for a new lock.
    for attempt in range(4):
        with pytest.raises(LoginRefused) as refused:
            verify(db, "marie", "faux", "10.0.0.1", now=until)
        assert refused.value.locked_until is None


def test_failures_from_one_address_lock_that_address_for_every_account(db):
    add_curator(db, "paul", "mot-de-passe-de-paul")
    for name in ("a", "b", "c", "d", "e"):  # guessing names from one address
        with pytest.raises(LoginRefused):
            verify(db, name, "faux-mot-de-passe", "10.0.0.9", now=T0)
    with pytest.raises(LoginRefused, match="Trop d'essais"):
        verify(db, "paul", "mot-de-passe-de-paul", "10.0.0.9", now=T0)
    assert verify(db, "paul", "mot-de-passe-de-paul", "10.0.0.10", now=T0) == "paul"


def test_old_failures_are_forgotten(db):
    for attempt in range(4):
        with pytest.raises(LoginRefused):
            verify(db, "marie", "faux", "10.0.0.1", now=T0)
    later = T0 + LOCK_DURATION + timedelta(seconds=1)
    with pytest.raises(LoginRefused) as refused:  # a fifth failure, but long after the first four
        verify(db, "marie", "faux", "10.0.0.1", now=later)
    assert refused.value.locked_until is None
    assert verify(db, "marie", PASSWORD, "10.0.0.1", now=later) == "marie"


def test_a_lock_duration_and_threshold_can_be_chosen(db):
    with pytest.raises(LoginRefused) as refused:
        verify(db, "marie", "faux", "10.0.0.1", now=T0, max_failures=1, lock_duration=timedelta(seconds=30))
    assert refused.value.locked_until == T0 + timedelta(seconds=30)
    assert verify(db, "marie", PASSWORD, "10.0.0.1", now=T0 + timedelta(seconds=30)) == "marie"


# ----------------------------------------------------------------- veille curators


def run(tmp_path, *args, input=None):
    result = CliRunner().invoke(curators_command, [*args, "--subscribers-db", str(tmp_path / "subscribers.db")],
                                input=input)
    return result


def test_curators_command_adds_changes_lists_and_removes(tmp_path):
    added = run(tmp_path, "add", "Marie", "--password-stdin", input=PASSWORD + "\n")
    assert added.exit_code == 0 and "Compte de curation créé : marie" in added.output
    prompted = run(tmp_path, "add", "paul", input="mot-de-passe-de-paul\nmot-de-passe-de-paul\n")
    assert prompted.exit_code == 0 and "Confirmez le mot de passe" in prompted.output
    assert "mot-de-passe-de-paul" not in prompted.output  # hidden input
    db = open_curators_db(tmp_path / "subscribers.db")
    assert verify(db, "paul", "mot-de-passe-de-paul", "cli") == "paul"
    session = open_session(db, "marie")

    listed = run(tmp_path, "list")
    assert listed.exit_code == 0 and [line.split("\t")[0] for line in listed.output.splitlines()] == ["marie", "paul"]
    assert "sessions ouvertes : 1" in listed.output.splitlines()[0]

    changed = run(tmp_path, "passwd", "marie", "--password-stdin", input="un-autre-mot-de-passe\n")
    assert changed.exit_code == 0 and "sessions ouvertes sont fermées" in changed.output
    assert session_curator(db, session) is None
    assert verify(db, "marie", "un-autre-mot-de-passe", "cli") == "marie"

    removed = run(tmp_path, "remove", "paul")
    assert removed.exit_code == 0 and "supprimé : paul" in removed.output
    assert [c.name for c in list_curators(db)] == ["marie"]


def test_curators_command_refuses_clearly(tmp_path):
    short = run(tmp_path, "add", "marie", "--password-stdin", input="court\n")
    assert short.exit_code == 1 and "Erreur : mot de passe trop court" in short.output
    assert "Traceback" not in short.output
    mismatch = run(tmp_path, "add", "marie", input="mot-de-passe-un\nmot-de-passe-deux\n")
    assert "ne correspondent pas" in mismatch.output or "do not match" in mismatch.output
    bad = run(tmp_path, "add", "marie dupont", "--password-stdin", input=PASSWORD + "\n")
    assert bad.exit_code == 1 and "nom de compte refusé" in bad.output
    assert run(tmp_path, "passwd", "inconnue", "--password-stdin", input=PASSWORD + "\n").exit_code == 1
    missing = run(tmp_path, "remove", "inconnue")
    assert missing.exit_code == 1 and "aucun compte de curation « inconnue »" in missing.output
    assert "Aucun compte de curation" in run(tmp_path, "list").output


def test_the_clock_can_be_replaced(monkeypatch, db):
    monkeypatch.setattr(curators, "now_utc", lambda: T0)
    session = open_session(db, "marie")
    monkeypatch.setattr(curators, "now_utc", lambda: T0 + SESSION_DURATION)
    assert session_curator(db, session) is None
