"""Subscribers: one rule for addresses and names at add and import time; imports all or nothing."""

from __future__ import annotations

import pytest

from newsletter.subscribers import (
    NAME_MAX,
    active_subscribers,
    add_subscriber,
    clean_name,
    get_subscriber,
    import_subscribers,
    normalize_email,
    open_subscribers_db,
    remove_subscriber,
)
from config.errors import VeilleError

HEADER = "email,name,departements,themes\n"


@pytest.fixture
def db(tmp_path):
    return open_subscribers_db(tmp_path / "s.db")


def write(tmp_path, content: str | bytes):
    path = tmp_path / "abonnes.csv"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def emails(db):
    return [s.email for s in active_subscribers(db)]


def test_subscriber_validation(db):
    s = add_subscriber(db, "  Marie.Dupont@Example.ORG ", "Marie", ["23", "87"], ["publics"])
    assert (s.email, s.departements, s.themes) == ("marie.dupont@example.org", ["23", "87"], ["publics"])
    for bad in ("pas-une-adresse", "a@b", "x@example.org\r\nBcc: victim@example.org", "a@example.org, b@example.org",
                "a b@example.org", "<a@example.org>", "a@example.org\x00", "\"a b\"@example.org",
                "x" * 250 + "@example.org", ""):
        with pytest.raises(VeilleError, match="adresse refusée|adresse manquante"):
            add_subscriber(db, bad)
    with pytest.raises(VeilleError, match="déjà abonné"):
        add_subscriber(db, "MARIE.dupont@example.org")
    with pytest.raises(VeilleError, match="département"):
        add_subscriber(db, "x@example.org", departements=["75"])
    with pytest.raises(VeilleError, match="thème"):
        add_subscriber(db, "x@example.org", themes=["sport"])
    remove_subscriber(db, "marie.dupont@example.org")
    assert active_subscribers(db) == []
    add_subscriber(db, "marie.dupont@example.org")  # coming back is allowed
    assert len(active_subscribers(db)) == 1


def test_every_reason_at_once(db):
    with pytest.raises(VeilleError) as refused:
        add_subscriber(db, "pas-une-adresse", departements=["75"], themes=["sport"])
    assert all(word in str(refused.value) for word in ("adresse refusée", "département", "thème"))
    assert db["subscribers"].count == 0


def test_address_rule_internationalised(db):
    with pytest.raises(VeilleError, match="accentués ou non latins avant le « @ »"):
        add_subscriber(db, "josé@example.org")
    s = add_subscriber(db, "Jean@Exämple.FR")  # an internationalised domain: stored IDNA-encoded
    assert s.email == "jean@xn--exmple-cua.fr" == normalize_email("jean@exämple.fr")
    assert get_subscriber(db, "jean@exämple.fr").id == s.id
    with pytest.raises(VeilleError, match="déjà abonné"):
        add_subscriber(db, "jean@xn--exmple-cua.fr")
    assert normalize_email(s.email).isascii()


def test_names_are_cleaned(db):
    assert clean_name("  Anne\r\nMarie\x00 \t Dupont ") == "Anne Marie Dupont"
    assert clean_name("\u202eÈve\u200b\u2028Bcc: x@y.org\x85") == "Ève Bcc: x@y.org"
    assert clean_name("\r\n\x00") is None and clean_name(None) is None
    assert len(clean_name("é" * 500)) == NAME_MAX
    s = add_subscriber(db, "a@example.org", "Zoé\nBcc: intrus@evil.org")
    assert s.name == "Zoé Bcc: intrus@evil.org"


@pytest.mark.parametrize("address, reason", [
    ("josé@example.org", "avant le « @ »"),
    ("a@b", "adresse mal formée"),
    ("a@example.org;b@example.org", "caractères interdits"),
])
def test_add_and_import_apply_the_same_rule(db, tmp_path, address, reason):
    with pytest.raises(VeilleError, match=reason):
        add_subscriber(db, address)
    report = import_subscribers(db, write(tmp_path, f'email\nok@example.org\n"{address}"\n'))
    assert len(report.problems) == 1 and report.problems[0].startswith("ligne 3 : ")
    assert reason in report.problems[0] and not report.written and db["subscribers"].count == 0


def test_import_all_valid(db, tmp_path):
    report = import_subscribers(db, write(tmp_path, "\ufeff" + HEADER + "a@example.org,Anne,33,publics\n"
                                          "\n" "B@Example.org,,23;87,\n"))
    assert report.written and report.added == ["a@example.org", "b@example.org"] and report.problems == []
    assert [s.departements for s in active_subscribers(db)] == [["33"], ["23", "87"]]


def test_import_refuses_the_whole_file_for_one_bad_line(db, tmp_path):
    add_subscriber(db, "deja@example.org", "Déjà")
    csv_file = write(tmp_path, HEADER + "a@example.org,Anne,33,publics\n"
                                        "pas-une-adresse,Bob,,\n"
                                        "c@example.org,\"Chloé\nsur deux lignes\",23;87,\n"
                                        "A@example.org,Anne bis,,\n"
                                        "d@example.org,Denis,75,sport\n"
                                        "e@example.org,Emma,,,en trop\n")
    report = import_subscribers(db, csv_file)
    assert not report.written and emails(db) == ["deja@example.org"]
    assert [p.split(" : ")[0] for p in report.problems] == ["ligne 3", "ligne 6", "ligne 7", "ligne 8"]
    assert "adresse refusée" in report.problems[0]
    assert "en double (déjà ligne 2)" in report.problems[1]
    assert "département(s) inconnu(s) : 75" in report.problems[2] and "thème(s) inconnu(s) : sport" in report.problems[2]
    assert "5 champs pour 4 colonnes" in report.problems[3]
    # skip_invalid: the valid lines, in one go; the others listed
    report = import_subscribers(db, csv_file, skip_invalid=True)
    assert report.written and report.added == ["a@example.org", "c@example.org"] and len(report.problems) == 4
    assert emails(db) == ["deja@example.org", "a@example.org", "c@example.org"]
    assert get_subscriber(db, "c@example.org").name == "Chloé sur deux lignes"


@pytest.mark.parametrize("content, message", [
    (HEADER.strip() + ",telephone\na@example.org,Anne,,,0555\n", "colonne(s) inconnue(s) : « telephone »"),
    ("email,name,\na@example.org,Anne,\n", "colonne(s) inconnue(s) : sans nom (n° 3)"),
    ("email,name,name\na@example.org,A,B\n", "colonne(s) en double : name"),
    ("name\nAnne\n", "colonne « email » absente"),
    ("", "fichier vide"),
    (HEADER.encode() + "a@example.org,Anne,,\nb@example.org,Ren\u00e9e,,\n".encode("cp1252"),
     "pas en UTF-8 (ligne 3, octet 18 de la ligne : 0xe9)"),
    (HEADER + 'a@example.org,"' + "x" * 200_000 + '",,\n', "ligne 2 : CSV illisible : champ de plus de"),
    (HEADER + 'a@example.org,"jamais refermé\n' + "b@example.org,B,,\n" * 20_000, "ligne 2 : CSV illisible"),
])
def test_import_of_an_unreadable_file_writes_nothing(db, tmp_path, content, message):
    add_subscriber(db, "deja@example.org")
    for skip_invalid in (False, True):
        with pytest.raises(VeilleError, match="rien n'a été importé") as refused:
            import_subscribers(db, write(tmp_path, content), skip_invalid=skip_invalid)
        assert message in str(refused.value)
        assert emails(db) == ["deja@example.org"]


def test_import_oversized_field_within_csv_limits_is_a_bad_line(db, tmp_path):
    report = import_subscribers(db, write(tmp_path, HEADER + "a@example.org,Anne,,\n"
                                          f"b@example.org,{'B' * 5000},,\n"))
    assert not report.written and db["subscribers"].count == 0
    assert report.problems == ["ligne 3 : champ(s) de plus de 1000 caractères : name"]


def test_import_semicolon_file_from_a_spreadsheet(db, tmp_path):
    report = import_subscribers(db, write(tmp_path, "Email;Name;Departements\na@example.org;Anne;23,87\n"))
    assert report.added == ["a@example.org"] and get_subscriber(db, "a@example.org").departements == ["23", "87"]


def test_reimport_updates_the_active_and_never_resubscribes(db, tmp_path):
    add_subscriber(db, "a@example.org", "Anne", ["33"])
    add_subscriber(db, "b@example.org", "Bob")
    add_subscriber(db, "parti@example.org")
    remove_subscriber(db, "parti@example.org")
    report = import_subscribers(db, write(tmp_path, "email,departements\na@example.org,87\nb@example.org,\n"
                                                    "parti@example.org,\nnew@example.org,23\n"))
    assert report.written and report.problems == []
    assert (report.added, report.updated, report.unchanged, report.unsubscribed) == (
        ["new@example.org"], ["a@example.org"], ["b@example.org"], ["parti@example.org"])
    anne = get_subscriber(db, "a@example.org")
    assert (anne.name, anne.departements) == ("Anne", ["87"])  # no name column: her name kept
    assert emails(db) == ["a@example.org", "b@example.org", "new@example.org"]


def test_an_old_row_refused_today_can_still_be_removed(db):
    db["subscribers"].insert({"email": "josé@example.org", "departements": "[]", "themes": "[]",
                              "created_at": "2026-01-01T00:00:00+00:00"})
    assert remove_subscriber(db, "José@example.org ").email == "josé@example.org"
    assert active_subscribers(db) == []
    with pytest.raises(VeilleError, match="aucun abonné"):
        get_subscriber(db, "pas-une-adresse")
