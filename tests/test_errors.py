"""Bad input and misconfiguration: a French message, exit code 1, no traceback, nothing written."""

from __future__ import annotations

import pytest
import yaml

from pipeline.archive import insert_item, open_db
from tests.conftest import run_veille, write_sources


@pytest.fixture
def archive(config_dir):
    db = open_db(config_dir.parent / "data" / "veille.db")
    insert_item(db, {"url": "https://example.org/a", "raw_url": "https://example.org/a", "source_id": "s",
                     "title": "Le PLIE des Graves ouvre un atelier", "text": "Le PLIE accompagne.",
                     "first_seen_at": "2026-11-24T10:00:00+00:00"})
    return config_dir.parent / "data" / "veille.db"


def refused(config_dir, *args) -> str:
    result = run_veille(*args, "--config", str(config_dir), check=False)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stderr.startswith("Erreur : "), result.stderr
    return result.stderr


@pytest.mark.parametrize("args, message", [
    (("export", "--since", "20261201"), "date invalide « 20261201 » (format AAAA-MM-JJ"),
    (("export", "--until", "2026-W48-1"), "date invalide « 2026-W48-1 »"),
    (("export", "--since", "2026-02-30"), "la date « 2026-02-30 » n'existe pas"),
    (("export", "--since", "2026-12-01", "--until", "2026-11-01"), "est après --until"),
    (("bulletin", "build", "--week", "9999-W52"), "hors des années 1990 à 2100"),
    (("bulletin", "plan", "--week", "2025-W53"), "la semaine « 2025-W53 » n'existe pas"),
], ids=lambda v: " ".join(v) if isinstance(v, tuple) else None)
def test_dates_and_weeks_are_read_strictly(config_dir, archive, args, message):
    assert message in refused(config_dir, *args)


def test_an_item_id_out_of_range_is_a_usage_error(config_dir, archive):
    for args in (("curate", "99999999999999999999", "--highlight"), ("tag", "--explain", "-3")):
        result = run_veille(*args, "--config", str(config_dir), check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "is not in the range" in result.stderr or "n'est pas" in result.stderr


def test_a_file_that_is_not_a_database(config_dir, tmp_path):
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_bytes(b"These are not the droids you are looking for.\n" * 100)
    write_sources(config_dir, [{"id": "s", "name": "S", "type": "rss", "url": "http://127.0.0.1:9/flux.xml"}])
    for args in (("export", "--db", str(not_a_db)), ("bulletin", "plan", "--db", str(not_a_db)),
                 ("crawl", "--db", str(not_a_db)), ("tag", "--db", str(not_a_db)),
                 ("subscribers", "list", "--subscribers-db", str(not_a_db))):
        assert f"{not_a_db} n'est pas une base SQLite utilisable" in refused(config_dir, *args)
    assert not_a_db.read_bytes().startswith(b"These are not")  # untouched


def test_tag_jsonl_reports_lines_that_are_not_utf8_and_tags_the_rest(config_dir, tmp_path):
    source = tmp_path / "docs.jsonl"
    source.write_bytes('{"id": "1", "title": "PLIE à Guéret", "text": "Le PLIE de Guéret."}\n'.encode()
                       + '{"id": "2", "title": "Café à Tulle"}\n'.encode("latin-1")
                       + '{"id": "3", "title": "Mission locale à Pau"}\n'.encode()
                       + b'{"id": "4\\ud800", "title": "Un identifiant invalide"}\n')
    result = run_veille("tag", "--jsonl", str(source), "--config", str(config_dir))
    assert [line.split('"')[3] for line in result.stdout.splitlines()] == ["1", "3"]
    assert "ligne 2 ignorée : texte qui n'est pas en UTF-8" in result.stderr and "Traceback" not in result.stderr
    assert "ligne 4 ignorée : caractère invalide" in result.stderr


def test_one_file_for_the_archive_and_the_subscribers_is_refused(config_dir, archive):
    message = refused(config_dir, "bulletin", "send", "--dry-run", "--subscribers-db", str(archive))
    assert "la base des abonné·es doit être un autre fichier que l'archive" in message
    assert "autre fichier que l'archive" in refused(config_dir, "serve", "--subscribers-db", str(archive),
                                                    "--port", "1")
    settings = yaml.safe_load((config_dir / "settings.yaml").read_text(encoding="utf-8"))
    settings["paths"]["subscribers_db"] = settings["paths"]["db"]
    (config_dir / "settings.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    message = refused(config_dir, "export")
    assert "paths.subscribers_db" in message and "doit être un autre fichier que paths.db" in message


def test_credentials_in_a_source_url_are_refused_at_load(config_dir, archive):
    write_sources(config_dir, [{"id": "intranet", "name": "Intranet", "type": "rss",
                                "url": "https://agent:motdepasse@intranet.example.org/flux.xml"}])
    message = refused(config_dir, "crawl")
    assert "sources.yaml" in message and "ne doit pas contenir d'identifiants" in message
    assert open_db(archive)["sources"].count == 0  # refused as a whole: nothing recorded


def test_a_folder_the_system_refuses_is_named(config_dir, archive, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    message = refused(config_dir, "bulletin", "build", "--week", "2026-W48", "--out", str(blocker / "bulletins"))
    assert str(blocker / "bulletins") in message and "n'est pas un dossier" in message


def test_the_region_flags_are_not_a_curator_tag(config_dir, archive):
    assert "« region » est calculée à partir des lieux" in refused(config_dir, "curate", "1", "--add", "region:xyz")
