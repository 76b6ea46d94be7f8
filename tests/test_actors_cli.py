"""`veille actors`: the directory as a table or JSON lines, its filters, the curator's decisions
(merge, split, rename, hide, unhide, kind) kept through a re-tag, the data·inclusion export, and
`--jsonl` without a database (bad lines reported one by one, the rest goes on)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from data_inclusion.schema.v1.structures import Structure

from config.loading import load_config
from pipeline.archive import insert_item, open_db
from pipeline.places import load_gazetteer
from pipeline.tagging import tag_items
from tests.conftest import run_veille
from tests.test_directory import ITEMS
from veille.actors_cli import actors


@pytest.fixture
def archive(tmp_path, config_dir):
    config = load_config(config_dir)
    db = open_db(tmp_path / "veille.db")
    db["sources"].insert({"id": "sud", "name": "Sud Ouest"})
    for name, (title, text, published) in ITEMS.items():
        insert_item(db, {"url": f"https://example.org/{name}", "source_id": "sud", "title": title, "text": text,
                         "published_at": published})
    tag_items(db, config.taxonomy, gazetteer=load_gazetteer(config.gazetteer_path), rules_only=True)
    db.close()
    return tmp_path / "veille.db", config_dir


def run(archive, *args):
    db_path, config_dir = archive
    return CliRunner().invoke(actors, [*args, "--config", str(config_dir), "--db", str(db_path)])


def run_group(archive, *args):
    """Options of the group itself (the listing) come before a subcommand."""
    db_path, config_dir = archive
    return CliRunner().invoke(actors, ["--config", str(config_dir), "--db", str(db_path), *args])


def _keys(result) -> list[str]:
    return [json.loads(line)["id"] for line in result.stdout.splitlines()]


def test_the_directory_as_a_table_and_as_json(archive):
    table = run_group(archive)
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["nom", "type", "territoire"]
    assert lines[1].split()[:3] == ["PLIE", "des", "Graves"] and lines[1].split()[-1] == "plie-des-graves"
    assert "Tulle (19)" in table.stdout and lines[-1].endswith("acteur(s).")
    as_json = run_group(archive, "--json")
    first = json.loads(as_json.stdout.splitlines()[0])
    assert first["id"] == "plie-des-graves" and first["kind"] == "plie" and first["items"] == 3
    assert first["departements"] == ["Gironde (33)"] and "Mission locale du Libournais" in first["partners"]
    assert set(_keys(run_group(archive, "--json", "--kind", "communes"))) == {"mairie-de-tulle", "mairie-de-libourne"}
    assert set(_keys(run_group(archive, "--json", "--kind", "Mission locale"))) == {
        "mission-locale-du-libournais", "mission-locale-de-tulle"}
    assert set(_keys(run_group(archive, "--json", "--departement", "19"))) == {"mairie-de-tulle",
                                                                               "mission-locale-de-tulle"}
    assert _keys(run_group(archive, "--json", "--departement", "correze")) == _keys(
        run_group(archive, "--json", "--departement", "19"))
    unknown = run_group(archive, "--kind", "banque")
    assert unknown.exit_code == 1 and "Erreur : type inconnu « banque »" in unknown.output
    elsewhere = run_group(archive, "--departement", "75")
    assert elsewhere.exit_code == 1 and "département inconnu « 75 »" in elsewhere.output
    assert "Aucun acteur pour ces critères." in run_group(archive, "--kind", "geiq").stdout


def test_decisions_from_the_command_line_survive_a_retag(archive):
    db_path, config_dir = archive
    merged = run(archive, "merge", "mission-locale-de-tulle", "mission-locale-du-libournais", "--by", "marie")
    assert merged.exit_code == 0, merged.output
    assert "« Mission locale de Tulle » fusionné dans « Mission locale du Libournais »" in merged.stdout
    renamed = run(archive, "rename", "plie-des-graves", "PLIE des Graves (Léognan)", "--by", "marie")
    assert "renommé « PLIE des Graves (Léognan) »" in renamed.stdout
    assert run(archive, "hide", "mairie-de-libourne").exit_code == 0
    assert run(archive, "kind", "mairie-de-tulle", "epci").exit_code == 0
    config = load_config(config_dir)
    db = open_db(db_path)
    tag_items(db, config.taxonomy, everything=True, gazetteer=load_gazetteer(config.gazetteer_path),
              rules_only=True)
    db.close()
    rows = {json.loads(line)["id"]: json.loads(line) for line in run_group(archive, "--json").stdout.splitlines()}
    assert "mission-locale-de-tulle" not in rows and rows["mission-locale-du-libournais"]["items"] == 3
    assert rows["plie-des-graves"]["name"] == "PLIE des Graves (Léognan)"
    assert "mairie-de-libourne" not in rows and "Mairie de Libourne" not in run_group(archive).stdout
    assert rows["mairie-de-tulle"]["kind"] == "epci"
    db = open_db(db_path)
    assert {r["curator"] for r in db["actor_decisions"].rows_where("action IN ('merge', 'rename')")} == {"marie"}
    db.close()
    log = run(archive, "decisions").stdout.splitlines()
    assert len(log) == 4 and "marie  fusion : mission-locale-de-tulle → mission-locale-du-libournais" in log[0]
    assert "masqué : mairie-de-libourne" in log[2] and "type : mairie-de-tulle → Intercommunalité" in log[3]
    assert run(archive, "split", "mission-locale-de-tulle").exit_code == 0
    assert run(archive, "unhide", "mairie-de-libourne").exit_code == 0
    assert {"mission-locale-de-tulle", "mairie-de-libourne"} <= set(_keys(run_group(archive, "--json")))


def test_refused_decisions_say_why_in_french(archive):
    for args, message in [(("merge", "inconnu", "plie-des-graves"), "aucun acteur « inconnu »"),
                          (("split", "plie-des-graves"), "n'est fusionné dans aucun acteur"),
                          (("unhide", "plie-des-graves"), "n'est pas masqué"),
                          (("rename", "plie-des-graves", "  "), "nouveau nom vide"),
                          (("hide", "plie-des-graves", "--by", " "), "--by : nom vide")]:
        result = run(archive, *args)
        assert result.exit_code == 1 and result.output.startswith("Erreur : ") and message in result.output, (
            args, result.output)
        assert "Traceback" not in result.output


def test_export_writes_valid_structures_and_counts_the_others(archive, tmp_path):
    out = tmp_path / "structures.json"
    result = run(archive, "export", "--out", str(out))
    assert result.exit_code == 0, result.output
    structures = json.loads(out.read_text(encoding="utf-8"))
    assert structures and all(Structure.model_validate(s) for s in structures)
    ids = {s["id"] for s in structures}
    assert "veille-nouvelle-aquitaine--plie-des-graves" in ids
    assert "veille-nouvelle-aquitaine--france-travail" not in ids  # placed nowhere
    assert f"{len(structures)} structure(s) exportée(s) vers {out}" in result.stdout
    assert "1 sans territoire" in result.stdout
    plie = next(s for s in structures if s["id"].endswith("--plie-des-graves"))
    assert plie["lien_source"] == "https://veille.example.org/-/acteur/plie-des-graves"  # settings' public_url
    to_stdout = run(archive, "export", "--source", "essai")
    assert json.loads(to_stdout.stdout)[0]["id"].startswith("essai--")
    assert "structure(s) exportée(s)" in to_stdout.stderr


def test_jsonl_needs_no_database_and_reports_bad_lines(tmp_path, config_dir):
    source = tmp_path / "docs.jsonl"
    good = {"id": "a1", "title": "Le PLIE des Graves recrute",
            "text": "Le PLIE des Graves et la mission locale du Libournais recrutent deux conseillers."}
    source.write_bytes(b"\n".join([
        json.dumps(good, ensure_ascii=False).encode("utf-8"),
        b"{pas du json",
        b'["une liste"]',
        b'{"title": "sans id"}',
        b'{"id": "latin", "text": "\xe9t\xe9"}',
        b"",
        json.dumps({"id": 7, "title": "Rien", "text": "Aucun acteur ici."}).encode("utf-8"),
    ]) + b"\n")
    out = tmp_path / "actors.jsonl"
    result = CliRunner().invoke(actors, ["--config", str(config_dir), "--jsonl", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["id"] for line in lines] == ["a1", "7"]
    first = lines[0]["actors"]
    assert [a["name"] for a in first] == ["PLIE des Graves", "Mission locale du Libournais"]
    assert set(first[0]) == {"name", "kind", "match", "start", "departements"}
    full = f"{good['title']}\n\n{good['text']}"
    assert all(full[a["start"]:a["start"] + len(a["match"])] == a["match"] for a in first)
    assert first[0]["departements"] == ["33"] and lines[1]["actors"] == []
    for number in (2, 3, 4, 5):
        assert f"ligne {number} ignorée" in result.stderr
    assert "UTF-8" in result.stderr
    assert not (config_dir / "data").exists()  # no database opened


def test_veille_registers_the_actors_group(tmp_path, config_dir):
    source = tmp_path / "docs.jsonl"
    source.write_text(json.dumps({"id": "b2", "title": "", "text": "La mission locale de Tulle recrute."}) + "\n",
                      encoding="utf-8")
    result = run_veille("actors", "--config", str(config_dir), "--jsonl", str(source))
    (line,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert line["id"] == "b2" and [a["name"] for a in line["actors"]] == ["Mission locale de Tulle"]
    assert "merge" in run_veille("actors", "--help").stdout
