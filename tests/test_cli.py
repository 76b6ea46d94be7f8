"""The CLI: help everywhere, and the commands that work on an archive."""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import re

import click
import pytest
from click.testing import CliRunner

from pipeline.archive import insert_item, open_db
from tests.conftest import run_veille, write_sources
from veille.cli import cli


def all_commands(group: click.Group, prefix=()):
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from all_commands(command, (*prefix, name))


@pytest.mark.parametrize("path", list(all_commands(cli)), ids=" ".join)
def test_every_command_has_help(path):
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3
    command = cli
    for part in path:
        command = command.get_command(click.Context(command), part)
    if not isinstance(command, click.Group) and path[-1] != "demo":
        assert "--config" in result.output


def test_contract_commands_exist():
    names = set(all_commands(cli))
    assert {("crawl",), ("sources",), ("tag",), ("curate",), ("export",), ("bulletin", "build"),
            ("bulletin", "send"), ("bulletin", "plan"), ("bulletin", "approve"), ("bulletin", "status"), ("subscribers", "add"), ("subscribers", "remove"), ("subscribers", "list"),
            ("subscribers", "import"), ("serve",), ("schedule",), ("demo",)} <= names


@pytest.fixture
def archive(config_dir):
    db = open_db(config_dir.parent / "data" / "veille.db")
    ids = [
        insert_item(db, {"url": "https://example.org/a", "raw_url": "https://example.org/a", "source_id": "s",
                         "title": "Le PLIE des Graves ouvre un atelier à Bordeaux",
                         "text": "Le PLIE accompagne les demandeurs d'emploi. Les demandeurs d'emploi sont reçus "
                                 "en Gironde.", "first_seen_at": "2026-11-24T10:00:00+00:00"}),
        insert_item(db, {"url": "https://example.org/b", "raw_url": "https://example.org/b", "source_id": "s",
                         "title": "Forum de l'emploi à Guéret", "text": "Un forum France Travail en Creuse.",
                         "first_seen_at": "2026-11-02T10:00:00+00:00"}),
    ]
    return db, ids


def invoke(*args):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def test_tag_then_curate_then_retag_keeps_curator_decisions(config_dir, archive):
    db, (a, b) = archive
    result = invoke("tag", "--config", str(config_dir))
    assert result.exit_code == 0 and "2 article(s) étiqueté(s)" in result.output
    result = invoke("curate", str(a), "--config", str(config_dir), "--add", "tzcld", "--remove", "plie",
                    "--highlight", "--note", "Exemple à suivre")
    assert result.exit_code == 0, result.output
    assert "tzcld" in result.output and "à la une" in result.output
    result = invoke("tag", "--all", "--config", str(config_dir))
    assert result.exit_code == 0 and "2 article(s) étiqueté(s)" in result.output
    records = {r["id"]: r for r in map(json.loads, invoke("export", "--config", str(config_dir)).output.splitlines())}
    assert records[a]["dispositifs"] == ["tzcld"] and records[a]["highlight"] and records[a]["note"] == "Exemple à suivre"
    assert records[a]["departements"] == ["33"] and records[a]["communes"] == ["33063"] and records[a]["region_na"]
    assert records[b]["nature"] == "evenement" and records[b]["dispositifs"] == ["france-travail"]
    assert records[b]["departements"] == ["23"]
    # A commune the curator adds brings its département and EPCI (the item reaches Haute-Vienne).
    assert invoke("curate", str(b), "--config", str(config_dir), "--add", "communes:87085").exit_code == 0
    record = next(r for r in map(json.loads, invoke("export", "--config", str(config_dir)).output.splitlines())
                  if r["id"] == b)
    assert "87085" in record["communes"] and "87" in record["departements"] and "248719312" in record["epci"]


def test_curate_refuses_unknown_tag_and_item(config_dir, archive):
    _, (a, _) = archive
    for args, message in ((["curate", str(a), "--add", "sport"], "étiquette inconnue"),
                          (["curate", "999", "--add", "plie"], "aucun article n°999"),
                          (["curate", str(a), "--add", "communes:Paris"], "code communes invalide")):
        result = CliRunner().invoke(cli, [*args, "--config", str(config_dir)])
        assert result.exit_code == 1 and message in result.output, result.output


def test_export_csv_and_dates(config_dir, archive):
    invoke("tag", "--config", str(config_dir))
    result = invoke("export", "--config", str(config_dir), "--format", "csv", "--since", "2026-11-20")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["url"] for r in rows] == ["https://example.org/a"] and rows[0]["dispositifs"] == "plie"
    result = invoke("export", "--config", str(config_dir), "--until", "2026-11-02")
    assert [json.loads(l)["url"] for l in result.output.splitlines()] == ["https://example.org/b"]
    result = CliRunner().invoke(cli, ["export", "--config", str(config_dir), "--since", "hier"])
    assert result.exit_code == 1 and "date invalide" in result.output


def test_tag_jsonl_needs_no_database(config_dir, tmp_path):
    source = tmp_path / "docs.jsonl"
    source.write_text(json.dumps({"id": "d1", "title": "Mission locale de Limoges",
                                  "text": "Le contrat d'engagement jeune en Haute-Vienne (87)."}) + "\n"
                      + "pas du json\n" + json.dumps({"id": 2, "title": "Rien", "text": ""}) + "\n", encoding="utf-8")
    out = tmp_path / "tags.jsonl"
    result = run_veille("tag", "--config", str(config_dir), "--jsonl", str(source), "--out", str(out))
    assert "ligne 2 ignorée : JSON invalide à la colonne 1" in result.stderr
    first, second = map(json.loads, out.read_text(encoding="utf-8").splitlines())
    assert first["id"] == "d1" and first["dispositifs"] == ["cej", "mission-locale"]
    assert first["departements"] == ["87"] and first["communes"] == ["87085"]
    assert {"match": "Limoges", "facet": "communes", "value": "87085", "start": 18} in first["evidence"]
    assert set(first) == {"id", "nature", "themes", "dispositifs", "departements", "communes", "epci", "region_na",
                          "outside", "evidence"}
    assert second["id"] == "2" and second["departements"] == [] and not second["region_na"]
    assert not (config_dir.parent / "data").exists()


def test_the_collector_is_paused_while_the_lasting_state_is_made():
    import gc

    from veille.cli_support import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()  # no pass while the long-lived state is made
    assert gc.isenabled()
    with pytest.raises(ValueError), collector_paused():
        raise ValueError("a broken configuration")
    assert gc.isenabled()  # back on whatever happened
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()  # an inner pause does not end the outer one
    assert gc.isenabled()


def test_sources_shows_health(config_dir, archive, mockserver):
    db, _ = archive
    write_sources(config_dir, [
        {"id": "s", "name": "Source S", "type": "rss", "url": f"{mockserver}/plie-test/feed.xml"},
        {"id": "cassee", "name": "Cassée", "type": "rss", "url": f"{mockserver}/faults/500.xml"},
        {"id": "neuve", "name": "Neuve", "type": "rss", "url": f"{mockserver}/presse-test/feed.xml"},
        {"id": "off", "name": "Off", "type": "rss", "url": f"{mockserver}/presse-test/feed.xml", "enabled": False},
    ])
    db["source_runs"].insert({"crawl_id": "c1", "source_id": "s", "started_at": "2026-11-24T10:00:00+00:00",
                           "status": "ok", "items_seen": 2, "items_new": 2})
    db["source_runs"].insert({"crawl_id": "c1", "source_id": "cassee", "started_at": "2026-11-24T10:00:00+00:00",
                           "status": "http_error", "http_status": 500, "error": "réponse HTTP 500"})
    result = invoke("sources", "--config", str(config_dir), "--json")
    health = {h["id"]: h for h in map(json.loads, result.output.splitlines())}
    assert health["cassee"]["state"] == "en échec" and "500" in health["cassee"]["last_error"]
    assert health["neuve"]["state"] == "jamais collectée"
    assert health["off"]["state"] == "désactivée"
    assert health["s"]["last_success_at"] == "2026-11-24T10:00:00+00:00"
    text = invoke("sources", "--config", str(config_dir)).output
    assert "cassee  [en échec]" in text and "dernière erreur" in text


def test_subscribers_commands(config_dir, tmp_path):
    db = str(tmp_path / "subs.db")
    assert invoke("subscribers", "add", "anne@example.org", "--config", str(config_dir), "--subscribers-db", db,
                  "--departements", "23,87", "--themes", "publics").exit_code == 0
    result = CliRunner().invoke(cli, ["subscribers", "add", "anne@@example", "--config", str(config_dir),
                                      "--subscribers-db", db])
    assert result.exit_code == 1 and "adresse refusée" in result.output
    listing = invoke("subscribers", "list", "--config", str(config_dir), "--subscribers-db", db).output
    assert "anne@example.org" in listing and "départements=23,87" in listing
    assert invoke("subscribers", "remove", "anne@example.org", "--config", str(config_dir),
                  "--subscribers-db", db).exit_code == 0
    assert invoke("subscribers", "list", "--config", str(config_dir), "--subscribers-db", db).output == ""


def test_bulletin_preview_opens_the_built_file(config_dir, archive, tmp_path):
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\necho "$1" > {opened}\n', encoding="utf-8")
    browser.chmod(0o755)
    result = run_veille("bulletin", "preview", "--week", "2026-W48", "--config", str(config_dir),
                        env={"BROWSER": str(browser)})
    built = config_dir.parent / "data" / "bulletins" / "bulletin-2026-W48.html"
    assert built.exists() and built.as_uri() in result.stdout
    for _ in range(50):  # the browser runs in the background
        if opened.exists():
            break
        __import__("time").sleep(0.1)
    assert opened.read_text(encoding="utf-8").strip() == built.as_uri()


def test_bulletin_send_refuses_without_a_secret_and_dry_run_lists(config_dir, archive, tmp_path):
    subs = str(tmp_path / "subs.db")
    invoke("subscribers", "add", "anne@example.org", "--config", str(config_dir), "--subscribers-db", subs)
    # --force: past the curator's approval (not given here), to the missing secret.
    result = run_veille("bulletin", "send", "--week", "2026-W48", "--force", "--config", str(config_dir),
                        "--subscribers-db", subs, env={"VEILLE_SECRET": ""}, check=False)
    assert result.returncode == 1 and "VEILLE_SECRET" in result.stderr and "rien n'a été envoyé" in result.stderr
    dry = run_veille("bulletin", "send", "--week", "2026-W48", "--dry-run", "--config", str(config_dir),
                     "--subscribers-db", subs, env={"VEILLE_SECRET": ""})
    assert "serait envoyé à 1 abonné·e(s)" in dry.stdout and "anne@example.org" in dry.stdout


def test_send_lists_the_copies_shortened_to_stay_under_the_size_gmail_clips_at(config_dir, tmp_path):
    """A huge week at a large section cap: each copy is shortened to fit, and the send says so."""
    import yaml

    from newsletter.smtp_sink import start_smtp_sink

    settings = yaml.safe_load((config_dir / "settings.yaml").read_text(encoding="utf-8"))
    smtp = start_smtp_sink(tmp_path / "mail")
    settings["bulletin"] = {"section_cap": 200, "require_approval": False}
    settings["smtp"] = {"host": smtp.hostname, "port": smtp.port, "tls": "none", "rate_per_second": 50}
    (config_dir / "settings.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    db = open_db(config_dir.parent / "data" / "veille.db")
    for n in range(150):
        insert_item(db, {"url": f"https://example.org/{n}", "raw_url": "x", "source_id": "s",
                         "title": f"Le PLIE de Bordeaux accompagne les jeunes demandeurs d'emploi, épisode {n}",
                         "text": "Le PLIE accompagne les jeunes demandeurs d'emploi de Bordeaux. " * 8,
                         "first_seen_at": "2026-11-24T10:00:00+00:00"})
    db.close()
    try:
        run_veille("tag", "--config", str(config_dir))
        run_veille("subscribers", "add", "anne@example.org", "--config", str(config_dir))
        sent = run_veille("bulletin", "send", "--week", "2026-W48", "--config", str(config_dir))
    finally:
        smtp.stop()
    assert "1 exemplaire(s) raccourci(s) pour rester sous 100 Ko" in sent.stdout, sent.stdout
    assert re.search(r"anne@example\.org : \d+ article\(s\) de moins", sent.stdout), sent.stdout
    (message,) = (tmp_path / "mail").glob("*.eml")
    html = email.message_from_bytes(message.read_bytes(), policy=email.policy.default).get_body(("html",)).get_content()
    assert len(html.encode("utf-8")) <= 100_000
