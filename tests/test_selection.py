"""The one week selection: `week_plan` decides, and the bulletin, `veille bulletin plan` and the
curation pages say the same thing item for item."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from config.dates import week_bounds
from config.loading import load_config
from config.schema import Source
from newsletter.bulletin import build_bulletin
from pipeline.archive import insert_item, open_db, sync_sources
from pipeline.curation import curate, curation_queue
from pipeline.selection import week_plan
from pipeline.tagging import tag_items
from tests.conftest import ROOT
from veille.cli import cli

WEEK = "2026-W48"
PARIS = ZoneInfo("Europe/Paris")
PLIE_TEXT = ("Le plan local pour l'insertion et l'emploi accompagne les demandeurs d'emploi de longue durée "
             "vers un emploi durable.")


@pytest.fixture
def config():
    return load_config(ROOT / "config")


@pytest.fixture
def archive(tmp_path, config):
    """A week with one item of each kind of decision."""
    db = open_db(tmp_path / "veille.db")
    sync_sources(db, [Source(id="gazette", name="La Gazette", type="rss", url="https://gazette.example.org/rss"),
                      Source(id="echo", name="L'Écho", type="rss", url="https://echo.example.org/rss")])
    start, _ = week_bounds(WEEK, PARIS)

    def add(key, title, text=PLIE_TEXT, seen_hours=30, published_days=1, source="gazette", cluster=None):
        seen = start + timedelta(hours=seen_hours)
        url = f"https://{source}.example.org/{key}"
        return insert_item(db, {"url": url, "raw_url": url, "title": title, "text": text, "source_id": source,
                                "first_seen_at": seen.isoformat(), "cluster_id": cluster,
                                "published_at": (seen - timedelta(days=published_days)).isoformat()})

    ids = {"in": add("in", "Le PLIE des Graves ouvre un atelier")}
    ids["old"] = add("old", "Le PLIE publie son bilan 2025", published_days=90)
    ids["rugby"] = add("rugby", "Rugby : Agen gagne", "Le SUA a gagné 27 à 12 samedi soir.")
    ids["aside"] = add("aside", "Le PLIE de Bordeaux recrute", cluster=None)
    # A story first collected the week before, rewritten this week by another source.
    ids["first-told"] = add("first-told", "Forum du PLIE à Libourne", seen_hours=-30)
    db.execute("UPDATE items SET cluster_id = id WHERE id = ?", [ids["first-told"]])
    ids["told"] = add("told", "Libourne : le forum du PLIE", source="echo", cluster=ids["first-told"])
    # Two sources of one story this week: the first archived stays, the other is its duplicate.
    db.execute("UPDATE items SET cluster_id = id WHERE id = ?", [ids["in"]])
    ids["dup"] = add("dup", "Un atelier au PLIE des Graves", source="echo", cluster=ids["in"], seen_hours=40)
    tag_items(db, config.taxonomy)
    curate(db, config.taxonomy, ids["aside"], reject=True)
    db.ids, db.file = ids, str(tmp_path / "veille.db")
    return db


def test_every_item_of_the_week_has_a_decision_and_a_reason(archive, config):
    plan = {item.id: item for item in week_plan(archive, WEEK, PARIS, config.settings.bulletin.max_age_days)}
    ids = archive.ids
    assert ids["first-told"] not in plan  # collected the week before: not this week's item
    reasons = {key: plan[ids[key]].reason for key in ("in", "old", "rugby", "aside", "told", "dup")}
    assert reasons == {"in": None, "old": "trop ancien", "rugby": "hors périmètre", "aside": "écarté",
                       "told": "déjà paru en 2026-W47", "dup": f"doublon de #{ids['in']}"}
    assert [i for i in plan.values() if i.in_bulletin] == [plan[ids["in"]]]
    assert plan[ids["in"]].section == "initiative" and plan[ids["in"]].also_published_by == ["L'Écho"]
    assert all(item.section is None for item in plan.values() if not item.in_bulletin)


def test_a_highlight_brings_back_a_story_told_before(archive, config):
    curate(archive, config.taxonomy, archive.ids["told"], highlight=True)
    plan = {item.id: item for item in week_plan(archive, WEEK, PARIS, config.settings.bulletin.max_age_days)}
    told = plan[archive.ids["told"]]
    assert (told.in_bulletin, told.reason, told.section) == (True, None, "a-la-une")


def _bulletin_links(html: str) -> set[str]:
    """The articles an issue links to (headings of items), not its footer or agenda links."""
    return set(re.findall(r'<h3[^>]*><a href="([^"]+)"', html))


@pytest.mark.parametrize("highlight_told", [False, True])
def test_plan_agrees_with_the_built_bulletin_and_the_curation_queue(archive, config, tmp_path, highlight_told):
    if highlight_told:
        curate(archive, config.taxonomy, archive.ids["told"], highlight=True)
    html_path, _, bulletin = build_bulletin(archive, WEEK, tmp_path / "out", config.settings, config.taxonomy)
    plan = week_plan(archive, WEEK, PARIS, config.settings.bulletin.max_age_days)
    inside = [item for item in plan if item.in_bulletin]
    assert _bulletin_links(html_path.read_text(encoding="utf-8")) == {item.url for item in inside}
    in_data = {i.id for i in bulletin.highlights} | {i.id for s in bulletin.sections for i in s.items}
    assert in_data == {item.id for item in inside}
    queue = curation_queue(archive, WEEK, PARIS, config.settings.bulletin.max_age_days)
    assert [(i.id, i.in_bulletin, i.reason) for i in queue] == [(i.id, i.in_bulletin, i.reason) for i in plan]


def test_bulletin_plan_command(archive, config_dir):
    runner = CliRunner()
    db = archive.file
    result = runner.invoke(cli, ["bulletin", "plan", "--week", WEEK, "--json", "--db", db,
                                 "--config", str(config_dir)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert all(set(row) == {"id", "title", "url", "nature", "in_bulletin", "reason", "section"} for row in rows)
    by_id = {row["id"]: row for row in rows}
    assert by_id[archive.ids["in"]]["in_bulletin"] is True and by_id[archive.ids["in"]]["section"] == "initiative"
    old = by_id[archive.ids["old"]]
    assert (old["title"], old["url"], old["in_bulletin"], old["reason"], old["section"]) == (
        "Le PLIE publie son bilan 2025", "https://gazette.example.org/old", False, "trop ancien", None)
    text = runner.invoke(cli, ["bulletin", "plan", "--week", WEEK, "--db", db, "--config", str(config_dir)])
    assert text.exit_code == 0 and "6 article(s) collecté(s), 1 dans le bulletin" in text.output
    assert "hors bulletin : déjà paru en 2026-W47" in text.output
    bad = runner.invoke(cli, ["bulletin", "plan", "--week", "2026-48", "--db", db, "--config", str(config_dir)])
    assert bad.exit_code == 1 and "semaine invalide" in bad.output
