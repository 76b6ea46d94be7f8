"""The bulletin render: selection of the week, sections, escaping, plain text."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from newsletter.bulletin import build_bulletin, current_week, parse_week, summarize, week_bounds
from pipeline.archive import insert_item, open_db, sync_sources
from pipeline.curation import curate
from pipeline.tagging import tag_items
from tests.conftest import ROOT
from veille.config import Source, load_config
from veille.errors import VeilleError

WEEK = "2026-W48"  # Monday 23 to Sunday 29 November 2026


@pytest.fixture
def config():
    return load_config(ROOT / "config")


@pytest.fixture
def db(tmp_path, config):
    db = open_db(tmp_path / "veille.db")
    sync_sources(db, [Source(id="gazette", name="La Gazette", type="rss", url="https://gazette.example.org/rss")])
    start, _ = week_bounds(WEEK)

    def add(url, title, text, seen_hours=30, published_days=1):
        seen = start + timedelta(hours=seen_hours)
        return insert_item(db, {
            "url": url, "raw_url": url, "title": title, "text": text, "source_id": "gazette",
            "first_seen_at": seen.isoformat(), "published_at": (seen - timedelta(days=published_days)).isoformat()})

    db.ids = {
        "plie": add("https://gazette.example.org/plie", "Le PLIE de Bordeaux lance un atelier",
                    "Le plan local pour l'insertion et l'emploi accompagne les demandeurs d'emploi. "
                    "Les demandeurs d'emploi éloignés de l'emploi sont reçus chaque mardi. Troisième phrase ici."),
        "appel": add("https://gazette.example.org/aap", "Appel à projets IAE : candidatures jusqu'au 15 janvier",
                     "La Région ouvre un appel à projets pour les structures d'insertion par l'activité économique."),
        "hostile": add("javascript:alert(1)", "<script>alert('x')</script> Mission locale <b onmouseover=alert(2)>",
                       "La mission locale ouvre un atelier <img src=x onerror=alert(3)>."),
        "rugby": add("https://gazette.example.org/rugby", "Rugby : Agen gagne", "Le SUA a gagné 27 à 12."),
        "old": add("https://gazette.example.org/old", "Le PLIE publie son bilan 2025",
                   "Bilan du plan local pour l'insertion et l'emploi.", published_days=90),
        "last-week": add("https://gazette.example.org/before", "Forum France Travail à Pau",
                         "Forum de l'emploi de France Travail.", seen_hours=-5),
    }
    tag_items(db, config.taxonomy)
    return db


def test_parse_week():
    assert parse_week("2026-W48").isoformat() == "2026-11-23"
    for bad in ("2026-48", "2026-W54", "W48", ""):
        with pytest.raises(VeilleError):
            parse_week(bad)
    assert re.fullmatch(r"\d{4}-W\d{2}", current_week())


def test_summarize_keeps_whole_sentences():
    text = "Première phrase. Deuxième phrase ! Troisième phrase ? Quatrième phrase."
    assert summarize(text) == "Première phrase. Deuxième phrase ! Troisième phrase ?"
    assert summarize("mot " * 200).endswith("…") and len(summarize("mot " * 200)) <= 330


def test_bulletin_selects_the_week_in_sections(tmp_path, db, config):
    html_path, text_path, bulletin = build_bulletin(db, WEEK, tmp_path / "out", config.settings, config.taxonomy)
    assert (html_path.name, text_path.name) == ("bulletin-2026-W48.html", "bulletin-2026-W48.txt")
    titles = [i.title for s in bulletin.sections for i in s.items]
    assert "Le PLIE de Bordeaux lance un atelier" in titles
    assert "Rugby : Agen gagne" not in titles  # no theme, no dispositif: out of scope
    assert "Le PLIE publie son bilan 2025" not in titles  # published more than max_age_days ago
    assert "Forum France Travail à Pau" not in titles  # collected the week before
    assert [s.title for s in bulletin.sections][0] == "Initiatives locales"
    assert "Appels à projets" in [s.title for s in bulletin.sections]
    text = text_path.read_text(encoding="utf-8")
    assert "Semaine du 23 novembre 2026 au 29 novembre 2026" in text
    assert "https://gazette.example.org/plie" in text and "== Appels à projets ==" in text


def test_bulletin_escapes_web_content_and_drops_non_web_links(tmp_path, db, config):
    html_path, text_path, _ = build_bulletin(db, WEEK, tmp_path / "out", config.settings, config.taxonomy)
    html = html_path.read_text(encoding="utf-8")
    assert "<script" not in html
    assert "&lt;script&gt;alert(" in html  # shown as text, escaped
    assert "<b onmouseover" not in html and "<img" not in html
    assert "javascript:" not in html
    assert not re.search(r"<[a-z]+[^>]*\son\w+=", html)  # no event handler attribute on any tag


def test_curator_decisions_shape_the_bulletin(tmp_path, db, config):
    curate(db, config.taxonomy, db.ids["rugby"], highlight=True, note="Pour le sourire.")
    curate(db, config.taxonomy, db.ids["plie"], reject=True)
    _, text_path, bulletin = build_bulletin(db, WEEK, tmp_path / "out", config.settings, config.taxonomy)
    assert [i.title for i in bulletin.highlights] == ["Rugby : Agen gagne"]
    assert "Le PLIE de Bordeaux lance un atelier" not in [i.title for s in bulletin.sections for i in s.items]
    text = text_path.read_text(encoding="utf-8")
    assert text.index("== À la une ==") < text.index("Rugby : Agen gagne") < text.index("== Appels")
    assert "Note : Pour le sourire." in text


def test_empty_week_still_renders(tmp_path, db, config):
    _, text_path, bulletin = build_bulletin(db, "2026-W10", tmp_path / "out", config.settings, config.taxonomy)
    assert bulletin.count == 0 and "Aucun article retenu cette semaine." in text_path.read_text(encoding="utf-8")


def test_one_story_once_with_its_other_sources(tmp_path, db, config):
    sync_sources(db, [Source(id="echo", name="L'Écho du Limousin", type="rss", url="https://echo.example.org/rss"),
                      Source(id="copie", name="Le Copieur", type="rss", url="https://copie.example.org/rss")])
    original = db.ids["plie"]
    start, _ = week_bounds(WEEK)
    rewrite = insert_item(db, {"url": "https://echo.example.org/plie", "raw_url": "https://echo.example.org/plie",
                               "title": "Le PLIE de Bordeaux ouvre un atelier", "text": "Réécriture du communiqué.",
                               "source_id": "echo", "first_seen_at": (start + timedelta(hours=40)).isoformat(),
                               "cluster_id": original})
    db.execute("UPDATE items SET cluster_id = ? WHERE id = ?", [original, original])
    db["duplicates"].insert({"url": "https://copie.example.org/plie", "item_id": original, "source_id": "copie",
                             "seen_at": start.isoformat()})
    tag_items(db, config.taxonomy)
    _, text_path, bulletin = build_bulletin(db, WEEK, tmp_path / "out", config.settings, config.taxonomy)
    items = [i for s in bulletin.sections for i in s.items]
    assert rewrite not in [i.id for i in items]
    (story,) = [i for i in items if i.id == original]
    assert story.also_published_by == ["L'Écho du Limousin", "Le Copieur"]
    assert "Aussi publié par L'Écho du Limousin, Le Copieur" in text_path.read_text(encoding="utf-8")
