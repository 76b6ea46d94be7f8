"""The bulletin render: selection of the week, sections, escaping, plain text."""

from __future__ import annotations

import re
from pathlib import Path
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import SecretStr

from config.dates import current_week, parse_week, week_bounds
from newsletter.bulletin import build_bulletin, summarize
from pipeline.archive import insert_item, open_db, sync_sources
from pipeline.articles import Labels, refresh_all
from pipeline.places import load_gazetteer
from pipeline.curation import curate
from pipeline.tagging import tag_items
from tests.conftest import ROOT
from config.loading import load_config
from config.schema import Source
from config.errors import VeilleError

WEEK = "2026-W48"  # Monday 23 to Sunday 29 November 2026
PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def config():
    return load_config(ROOT / "config")


@pytest.fixture
def db(tmp_path, config):
    db = open_db(tmp_path / "veille.db")
    sync_sources(db, [Source(id="gazette", name="La Gazette", type="rss", url="https://gazette.example.org/rss")])
    start, _ = week_bounds(WEEK, PARIS)

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
    # Earlier initiatives of the archive: the « pratiques inspirantes » of the PLIE of Bordeaux's.
    days = 24
    db.ids.update({
        "perigueux": add("https://gazette.example.org/perigueux",
                         "Périgueux : le PLIE ouvre un atelier de remobilisation",
                         "À Périgueux, le plan local pour l'insertion et l'emploi accueille les demandeurs d'emploi "
                         "de longue durée dans un atelier de remobilisation.", seen_hours=-40 * days),
        "limoges": add("https://gazette.example.org/limoges", "Limoges : le PLIE accompagne les plus de 50 ans",
                       "À Limoges, le plan local pour l'insertion et l'emploi lance un accompagnement des "
                       "demandeurs d'emploi de plus de 50 ans.", seen_hours=-150 * days),
        "pau": add("https://gazette.example.org/pau", "Pau : des parrains pour les demandeurs d'emploi",
                   "À Pau, des retraités parrainent les demandeurs d'emploi éloignés de l'emploi.",
                   seen_hours=-20 * days),
        "libourne": add("https://gazette.example.org/libourne", "Libourne : le PLIE du Libournais recrute",
                        "À Libourne, le plan local pour l'insertion et l'emploi accompagne les demandeurs d'emploi.",
                        seen_hours=-10 * days),  # Gironde too: not « elsewhere »
        "niort": add("https://gazette.example.org/niort", "Niort : le PLIE déménage",
                     "À Niort, le plan local pour l'insertion et l'emploi accompagne les demandeurs d'emploi.",
                     seen_hours=-12 * days),  # set aside by the curator below
        "agen": add("https://gazette.example.org/agen", "Agen : le PLIE ouvre un atelier d'orientation",
                    "À Agen, le plan local pour l'insertion et l'emploi accompagne les demandeurs d'emploi.",
                    seen_hours=-400 * days),  # out of the window
    })
    tag_items(db, config.taxonomy)
    curate(db, config.taxonomy, db.ids["niort"], reject=True)
    refresh_all(db, Labels(config.taxonomy, load_gazetteer(), PARIS, config.settings.bulletin.max_age_days))
    return db


def test_parse_week():
    assert parse_week("2026-W48").isoformat() == "2026-11-23"
    for bad in ("2026-48", "2026-W54", "W48", ""):
        with pytest.raises(VeilleError):
            parse_week(bad)
    assert re.fullmatch(r"\d{4}-W\d{2}", current_week(PARIS))


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
    start, _ = week_bounds(WEEK, PARIS)
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


def test_personalised_copy_keeps_its_departements_regional_news_and_themes(tmp_path, db, config):
    from newsletter.bulletin import personalise

    start, _ = week_bounds(WEEK, PARIS)
    creuse = insert_item(db, {"url": "https://gazette.example.org/gueret", "raw_url": "x", "source_id": "gazette",
                              "title": "Guéret : la mission locale accompagne les jeunes",
                              "text": "La mission locale de la Creuse accompagne les jeunes demandeurs d'emploi.",
                              "first_seen_at": (start + timedelta(hours=3)).isoformat()})
    tag_items(db, config.taxonomy)
    whole = build_bulletin(db, WEEK, tmp_path / "out", config.settings, config.taxonomy)[2]
    ids = lambda b: {i.id for s in b.sections for i in s.items} | {i.id for i in b.highlights}  # noqa: E731
    assert {creuse, db.ids["plie"], db.ids["appel"]} <= ids(whole)
    creusois = personalise(whole, ["23"], [], {"23": "Creuse"})
    assert creuse in ids(creusois) and db.ids["appel"] in ids(creusois)  # regional news stays
    assert db.ids["plie"] not in ids(creusois)  # Bordeaux's is not theirs
    assert creusois.for_whom == "Creuse"
    assert ids(personalise(whole, [], ["rse"])) == {i for i in ids(whole)
                                                     if not next(x for s in whole.sections for x in s.items
                                                                 if x.id == i).theme_slugs}
    assert ids(personalise(whole, [], [])) == ids(whole)


def test_sections_are_capped_with_the_rest_online(db, config):
    from newsletter.bulletin import bulletin_data, capped, render_bulletin

    whole = bulletin_data(db, WEEK, config.settings, config.taxonomy)
    short = capped(whole, per_section=1)
    assert all(len(s.items) <= 1 for s in short.sections) and short.count == whole.count
    more = [s for s in short.sections if s.more]
    html, text = render_bulletin(short)
    if more:
        assert "Voir tout dans l'archive" in html and f"({more[0].more} de plus)" in text
    assert "/-/bulletins/bulletin-2026-W48.html" in html


def test_agenda_of_deadlines_and_events():
    from datetime import date

    from pipeline.agenda import agenda, dates_in

    class Item:
        def __init__(self, id, title, nature, text):
            self.id, self.title, self.nature, self.text, self.url = id, title, nature, text, f"https://x.org/{id}"

    monday = date(2026, 11, 23)
    assert dates_in("le 4 décembre et le 1er mars 2027", monday) == [(3, date(2026, 12, 4)), (20, date(2027, 3, 1))]
    assert dates_in("le 15 janvier", monday) == [(3, date(2027, 1, 15))]  # the next one
    entries = agenda([
        Item(1, "Appel à projets tiers-lieux", "appel", "Candidatures jusqu'au 15 janvier 2027."),
        Item(2, "Forum de l'emploi à Pau", "evenement", "Le forum se tiendra le jeudi 3 décembre."),
        Item(3, "Bilan du PLIE", "etude", "Publié le 2 décembre, le bilan montre une hausse."),
        Item(4, "Salon passé", "evenement", "Le salon a eu lieu le 12 novembre."),
    ], monday)
    assert [(e.day.isoformat(), e.kind, e.item_id) for e in entries] == [
        ("2026-12-03", "Événement", 2), ("2027-01-15", "Date limite", 1)]


def test_inspiring_practices_under_an_initiative(db, config):
    """Similar initiatives elsewhere in the région, from the archive: a shared dispositif first, then
    a theme; not the same département, not set aside, not older than the window."""
    from newsletter.bulletin import bulletin_data, personalise, render_bulletin

    start, _ = week_bounds(WEEK, PARIS)
    hostile = insert_item(db, {
        "url": "https://gazette.example.org/dax", "raw_url": "x", "source_id": "gazette",
        "title": "Dax : le PLIE <script>alert(1)</script> ouvre un atelier",
        "text": "À Dax, le plan local pour l'insertion et l'emploi accompagne les demandeurs d'emploi.",
        "first_seen_at": (start - timedelta(days=3)).isoformat()})
    tag_items(db, config.taxonomy)
    refresh_all(db, Labels(config.taxonomy, load_gazetteer(), PARIS, config.settings.bulletin.max_age_days))
    bulletin = bulletin_data(db, WEEK, config.settings, config.taxonomy)
    (plie,) = [i for s in bulletin.sections for i in s.items if i.id == db.ids["plie"]]
    assert [e.url.rsplit("/", 1)[1] for e in plie.elsewhere] == [str(i) for i in (hostile, db.ids["perigueux"],
                                                                                 db.ids["limoges"])]
    assert [e.shared for e in plie.elsewhere] == ["PLIE"] * 3
    assert plie.elsewhere[1].place == "Périgueux, Dordogne (24)"
    assert all(e.url.startswith("http://localhost:8001/-/article/") for e in plie.elsewhere)
    html, text = render_bulletin(bulletin)
    assert "<script>alert(1)" not in html and "Dax : le PLIE &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert f'<a href="http://localhost:8001/-/article/{db.ids["limoges"]}"' in html
    assert "Pratiques inspirantes ailleurs dans la région" in html and "Pratiques inspirantes" in text
    assert "Pau : des parrains" not in html  # a theme in common only: three dispositif matches come first
    assert "Libourne" not in html and "Niort" not in html and "Agen : le PLIE" not in html
    assert personalise(bulletin, ["33"], []).sections[0].items[0].elsewhere == plie.elsewhere
    appel = next(i for s in bulletin.sections for i in s.items if i.id == db.ids["appel"])
    assert appel.elsewhere == []  # a call, not an initiative


TOWNS = ["Guéret", "Tulle", "Périgueux", "Angoulême", "Cognac", "Bergerac", "Dax", "Pau", "Bayonne", "Agen",
         "Niort", "Poitiers", "Limoges", "Saintes", "Royan", "Ussel"]


def test_actors_cited_this_week_most_cited_first_capped_and_linked(db, config):
    from newsletter.bulletin import ACTORS_SHOWN, bulletin_data, render_bulletin
    from pipeline.directory import actors_of_items

    start, _ = week_bounds(WEEK, PARIS)
    for n, town in enumerate(TOWNS):
        partner = " Le PLIE des Graves est partenaire de l'opération." if n < 3 else ""
        insert_item(db, {"url": f"https://gazette.example.org/ml-{n}", "raw_url": "x", "source_id": "gazette",
                         "title": f"{town} : la mission locale de {town} ouvre une antenne",
                         "text": f"La mission locale de {town} accompagne les jeunes.{partner}",
                         "first_seen_at": (start + timedelta(hours=10 + n)).isoformat()})
    tag_items(db, config.taxonomy)
    bulletin = bulletin_data(db, WEEK, config.settings, config.taxonomy)
    items = bulletin.highlights + [i for s in bulletin.sections for i in s.items]
    cited = {a["id"] for found in actors_of_items(db, [i.id for i in items]).values() for a in found}
    assert len(cited) > ACTORS_SHOWN
    assert len(bulletin.actors) == ACTORS_SHOWN and bulletin.actors_more == len(cited) - ACTORS_SHOWN
    top, count = bulletin.actors[0]
    assert (top.key, top.name, top.kind, count) == ("plie-des-graves", "PLIE des Graves", "PLIE", 3)
    assert all(n == 1 for _, n in bulletin.actors[1:])
    assert top.url == "http://localhost:8001/-/acteur/plie-des-graves"
    html, text = render_bulletin(bulletin)
    assert '<a href="http://localhost:8001/-/acteur/plie-des-graves">PLIE des Graves</a>' in html
    line = f"PLIE des Graves</a> — PLIE · {top.territory} · 3 articles"
    assert top.territory and line in html and f"PLIE des Graves — PLIE · {top.territory} · 3 articles" in text
    assert f"et {bulletin.actors_more} autres" in html and f"et {bulletin.actors_more} autres" in text
    assert "== Acteurs cités cette semaine ==" in text and "    http://localhost:8001/-/acteur/plie-des-graves" in text
    assert text.index("== Acteurs cités cette semaine ==") < text.index("== Les articles de la semaine par")


def test_cited_actors_follow_the_curator_and_the_copy(db, config):
    """Hidden actors are left out, renamed ones shown by their new name (escaped: a name is text),
    a subscriber's copy cites the actors of its items, and no link is made from a non-web address."""
    from newsletter.bulletin import bulletin_data, personalise, render_bulletin
    from pipeline.directory import decide, rebuild_directory

    start, _ = week_bounds(WEEK, PARIS)
    insert_item(db, {"url": "https://gazette.example.org/gueret", "raw_url": "x", "source_id": "gazette",
                     "title": "Guéret : la mission locale de la Creuse ouvre une antenne",
                     "text": "La mission locale de la Creuse accompagne les jeunes demandeurs d'emploi.",
                     "first_seen_at": (start + timedelta(hours=3)).isoformat()})
    tag_items(db, config.taxonomy)
    keys = lambda b: [a.key for a, _ in b.actors]  # noqa: E731
    whole = bulletin_data(db, WEEK, config.settings, config.taxonomy)
    assert {"plie-de-bordeaux", "mission-locale-de-la-creuse", "region-nouvelle-aquitaine"} <= set(keys(whole))
    creuse = personalise(whole, ["23"], [], {"23": "Creuse"})
    assert "mission-locale-de-la-creuse" in keys(creuse) and "plie-de-bordeaux" not in keys(creuse)
    decide(db, "hide", "region-nouvelle-aquitaine")
    decide(db, "rename", "plie-de-bordeaux", value="<b onmouseover=alert(1)>PLIE</b> de Bordeaux")
    rebuild_directory(db, load_gazetteer(), config.taxonomy)
    settings = config.settings.model_copy(update={"public_url": "javascript:alert(2)//"})
    bulletin = bulletin_data(db, WEEK, settings, config.taxonomy)
    assert "region-nouvelle-aquitaine" not in keys(bulletin)
    html, text = render_bulletin(bulletin)
    assert "<b onmouseover" not in html and "&lt;b onmouseover=alert(1)&gt;PLIE&lt;/b&gt; de Bordeaux" in html
    assert "javascript:" not in html and "/-/acteur/" not in html + text and "/-/article/" not in html + text
    assert "<b onmouseover=alert(1)>PLIE</b> de Bordeaux" in text  # the text version is plain text


def test_departements_chart(db, config):
    from newsletter.bulletin import bulletin_data, render_bulletin

    bulletin = bulletin_data(db, WEEK, config.settings, config.taxonomy)
    assert ("Gironde", 1) in bulletin.departements
    html, text = render_bulletin(bulletin)
    assert "Les articles de la semaine par département" in html and "Gironde" in text


GOLDEN = Path(__file__).parent / "golden"


def mask(rendered: str) -> str:
    """Golden files hide what may change between runs: ISO dates and times, ports, item ids."""
    rendered = re.sub(r"\d{4}-\d{2}-\d{2}(T[\d:.+]+)?", "<DATE>", rendered)
    rendered = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<PORT>", rendered)
    return re.sub(r"(/-/unsubscribe/)[\w.-]+", r"\1<TOKEN>", rendered)


@pytest.mark.parametrize("suffix", ["txt", "html"])
def test_rendered_bulletin_matches_the_golden_file(tmp_path, db, config, suffix):
    """Set VEILLE_UPDATE_GOLDEN=1 to rewrite the golden files after an intended change."""
    import os

    from newsletter.bulletin import bulletin_data
    from newsletter.letters import render_copy

    curate(db, config.taxonomy, db.ids["appel"], highlight=True, note="À relayer auprès des SIAE.")
    html, text = render_copy(bulletin_data(db, WEEK, config.settings, config.taxonomy), config.settings, ["33"], [],
                             unsubscribe_url="https://veille.example.org/-/unsubscribe/1.abc")
    rendered = mask(text if suffix == "txt" else html)
    golden = GOLDEN / f"bulletin-{WEEK}.{suffix}"
    if os.environ.get("VEILLE_UPDATE_GOLDEN"):
        golden.write_text(rendered, encoding="utf-8")
    assert rendered == golden.read_text(encoding="utf-8")


from tests.corpora import CORPUS_MISSING, FEEDPARSER_CORPUS  # noqa: E402

SANITIZE = FEEDPARSER_CORPUS / "wellformed" / "sanitize" if FEEDPARSER_CORPUS else None


@pytest.mark.skipif(SANITIZE is None, reason=CORPUS_MISSING)
def test_hostile_feed_content_never_becomes_active_in_the_bulletin(tmp_path, config):
    """feedparser's own sanitizer corpus (script tags, event handlers, javascript: links…), stored raw:
    the bulletin shows it as text only."""
    from lxml import html as lxml_html

    import io

    import feedparser

    from newsletter.bulletin import render_bulletin

    db = open_db(tmp_path / "veille.db")
    start, _ = week_bounds(WEEK, PARIS)
    count = 0
    for path in sorted(SANITIZE.glob("*.xml")):
        # Not sanitized: the raw hostile markup, as a source that bypassed every filter would give it.
        parsed = feedparser.parse(io.BytesIO(path.read_bytes()), sanitize_html=False)
        for n, entry in enumerate(parsed.entries + [parsed.feed]):
            hostile = " ".join(str(entry.get(key, "")) for key in ("title", "summary", "subtitle", "info"))
            hostile += " ".join(c.get("value", "") for c in entry.get("content", []))
            if not hostile.strip():
                continue
            link = entry.get("link") or f"javascript:alert('{path.stem}')"
            insert_item(db, {"url": f"{link}#{path.stem}-{n}", "raw_url": link, "source_id": "hostile",
                             "title": f"PLIE {hostile[:300]}", "text": f"Le PLIE accompagne les jeunes. {hostile}",
                             "first_seen_at": (start + timedelta(hours=1)).isoformat()})
            count += 1
    assert count > 100
    tag_items(db, config.taxonomy)
    html, _ = render_bulletin(bulletin_data_for(db, config))
    tree = lxml_html.document_fromstring(html)
    assert not tree.xpath("//script | //iframe | //object | //embed | //form | //meta[@http-equiv] | //base")
    for element in tree.iter():
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on"), (element.tag, name)
            if name.lower() in ("href", "src", "action", "style"):
                assert not re.search(r"(javascript|vbscript|data):|expression\(", value, re.I), (name, value)
    assert html.count('class="item"') >= 100


def bulletin_data_for(db, config):
    from newsletter.bulletin import bulletin_data

    return bulletin_data(db, WEEK, config.settings, config.taxonomy)


CHROMIUM = "/usr/bin/chromium"
SCREENSHOT = ROOT / "build" / "screenshots" / f"bulletin-{WEEK}.png"


def test_bulletin_renders_in_headless_chromium(db, config):
    """A real browser draws the e-mail (the PNG stays in build/screenshots/ for a look)."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from newsletter.bulletin import render_bulletin

    html, _ = render_bulletin(bulletin_data_for(db, config))
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 700, "height": 900})
        page.route("**/*", lambda route: route.abort())  # loopback-free: nothing may be fetched
        page.set_content(html)
        heading = page.locator("h1").inner_text()
        page.screenshot(path=str(SCREENSHOT), full_page=True)
        browser.close()
    assert heading == config.settings.bulletin.title
    image = Image.open(SCREENSHOT).convert("RGB")
    assert image.width >= 640 and image.height > 400
    colours = image.getcolors(maxcolors=1 << 16) or []
    assert len(colours) > 50  # text, badges, bars: not a blank page
    dark = sum(count for count, (r, g, b) in colours if r + g + b < 200)
    assert dark > 500  # there is text


def test_a_story_told_in_an_earlier_week_is_not_told_again(tmp_path, db, config):
    start, _ = week_bounds(WEEK, PARIS)
    earlier = insert_item(db, {"url": "https://gazette.example.org/old-story", "raw_url": "x", "source_id": "gazette",
                               "title": "Le PLIE ouvre un atelier", "text": "Le PLIE accompagne les jeunes.",
                               "first_seen_at": (start - timedelta(days=5)).isoformat()})
    rewrite = insert_item(db, {"url": "https://echo.example.org/rewrite", "raw_url": "x", "source_id": "gazette",
                               "title": "Le PLIE ouvre un atelier (reprise)", "text": "Le PLIE accompagne les jeunes.",
                               "first_seen_at": (start + timedelta(hours=5)).isoformat(), "cluster_id": earlier})
    db.execute("UPDATE items SET cluster_id = ? WHERE id = ?", [earlier, earlier])
    tag_items(db, config.taxonomy)
    bulletin = bulletin_data_for(db, config)
    assert rewrite not in [i.id for s in bulletin.sections for i in s.items]
    curate(db, config.taxonomy, rewrite, highlight=True)  # unless the curator wants it again
    assert rewrite in [i.id for i in bulletin_data_for(db, config).highlights]


def test_agenda_keeps_a_call_announced_in_an_earlier_week_until_its_deadline(db, config):
    start, _ = week_bounds(WEEK, PARIS)
    earlier = insert_item(db, {"url": "https://gazette.example.org/aap-fse", "raw_url": "x", "source_id": "gazette",
                               "title": "Appel à projets FSE+ : candidatures jusqu'au 20 décembre",
                               "text": "La Région ouvre un appel à projets FSE+. Date limite : le 20 décembre 2026.",
                               "first_seen_at": (start - timedelta(days=15)).isoformat()})
    tag_items(db, config.taxonomy)
    bulletin = bulletin_data_for(db, config)
    assert earlier not in [i.id for s in bulletin.sections for i in s.items]  # not news this week…
    assert [(e.item_id, e.kind, e.day.isoformat()) for e in bulletin.agenda if e.item_id == earlier] == [
        (earlier, "Date limite", "2026-12-20")]  # …but its deadline is still ahead


def test_agenda_look_back_is_a_setting(db, config):
    start, _ = week_bounds(WEEK, PARIS)
    earlier = insert_item(db, {"url": "https://gazette.example.org/aap-iae", "raw_url": "x", "source_id": "gazette",
                               "title": "Appel à projets IAE : candidatures jusqu'au 18 décembre",
                               "text": "La Région ouvre un appel à projets IAE. Date limite : le 18 décembre 2026.",
                               "first_seen_at": (start - timedelta(days=20)).isoformat()})  # three weeks before
    tag_items(db, config.taxonomy)
    from newsletter.bulletin import bulletin_data

    def agenda_ids(weeks):
        settings = config.settings.model_copy(update={"bulletin": config.settings.bulletin.model_copy(
            update={"agenda_lookback_weeks": weeks})})
        return {e.item_id for e in bulletin_data(db, WEEK, settings, config.taxonomy).agenda}

    assert earlier in agenda_ids(3) and earlier not in agenda_ids(2) and earlier not in agenda_ids(0)


def test_each_letter_caps_its_sections_at_the_setting(db, config):
    from newsletter.bulletin import bulletin_data
    from newsletter.letters import letter_composer
    from newsletter.subscribers import Subscriber

    whole = bulletin_data(db, WEEK, config.settings, config.taxonomy)
    biggest = max(len(s.items) for s in whole.sections)
    assert biggest >= 2  # the fixture week has a section to cut
    reader = Subscriber(1, "anne@example.org", "Anne", [], [])
    for cap in (1, biggest):
        settings = config.settings.model_copy(update={"secret": SecretStr("s"), "bulletin": config.settings.bulletin.model_copy(
            update={"section_cap": cap})})
        letter = letter_composer(whole, settings)(reader)
        assert ("de plus)" in letter.text) == (cap < biggest)


def test_the_gazetteer_is_a_setting(tmp_path, config_dir):
    from tests.conftest import run_veille

    settings = config_dir / "settings.yaml"
    settings.write_text(settings.read_text(encoding="utf-8").replace(
        str(ROOT / "config" / "gazetteer.json"), str(tmp_path / "absent.json")), encoding="utf-8")
    source = tmp_path / "docs.jsonl"
    source.write_text('{"id": "1", "title": "Guéret", "text": "La mission locale de Guéret."}\n', encoding="utf-8")
    result = run_veille("tag", "--jsonl", str(source), "--config", str(config_dir), check=False)
    assert result.returncode == 1 and "répertoire géographique introuvable" in result.stderr
    assert str(tmp_path / "absent.json") in result.stderr and "Traceback" not in result.stderr


def shown_and_online(html: str, text: str, copy) -> None:
    """Every item of `copy` is in its HTML and text, and the « de plus » figures of both add up to
    the items and agenda entries the copy leaves online."""
    from lxml import html as lxml_html

    titles = [i.title for i in copy.highlights + [i for s in copy.sections for i in s.items]]
    assert [h3.text_content() for h3 in lxml_html.document_fromstring(html).iter("h3")] == titles
    assert all(title in text for title in titles)
    online = copy.highlights_more + copy.agenda_more + sum(s.more for s in copy.sections)
    assert sum(int(n) for n in re.findall(r"\((\d+) de plus\)", html)) == online
    assert sum(int(n) for n in re.findall(r"\((\d+) de plus\)", text)) == online


def test_every_copy_of_a_full_week_stays_under_the_clipping_size(config):
    """Gmail clips past 102 KB: a 60-item week fits in every copy at the usual cap, by its markup
    alone (no copy needs shortening), with the rest online."""
    from benchmarks.bench_bulletin import profiles, sample_week
    from newsletter.bulletin import capped, personalise, render_bulletin
    from newsletter.letters import MAX_HTML_BYTES, largest_copy, render_copy, subscriber_copy
    from pipeline.places import load_gazetteer

    settings, week = config.settings, sample_week(60)
    assert len(week.highlights) + sum(len(s.items) for s in week.sections) == 60
    size, profile = largest_copy(week, settings, profiles())
    # 70 KB with the « pratiques inspirantes » and the actors cited (64 KB without); 84 KB with the markup before
    assert size < MAX_HTML_BYTES and size < 75_000, size
    assert profile == ([], [])  # the copy with everything
    labels = load_gazetteer().region_departements
    for departements, themes in profiles():
        copy = subscriber_copy(week, settings, departements, themes)
        assert copy == capped(personalise(week, departements, themes, labels), settings.bulletin.section_cap)
        html, text = render_copy(week, settings, departements, themes)
        assert render_bulletin(copy) == (html, text)
        shown_and_online(html, text, copy)
        personal = personalise(week, departements, themes, labels)
        assert copy.count == personal.count  # the header's figure counts the items online too
    whole = subscriber_copy(week, settings, [], [])
    assert sum(s.more for s in whole.sections) == 60 - 4 - sum(len(s.items) for s in whole.sections) > 0


@pytest.mark.parametrize("highlights", [4, 150])
def test_an_extreme_week_is_shortened_until_every_letter_fits(config, caplog, highlights):
    """200 items with long titles and notes and a cap of 50 a section: each letter shows fewer items,
    the rest counted online, and says so; with 150 highlights, fewer highlights and agenda entries too."""
    from benchmarks.bench_bulletin import sample_week
    from newsletter.bulletin import capped, personalise, render_bulletin
    from newsletter.letters import MAX_HTML_BYTES, html_bytes, letter_composer, subscriber_copy
    from newsletter.subscribers import Subscriber
    from pipeline.places import load_gazetteer

    labels = load_gazetteer().region_departements
    week = sample_week(200, highlights=highlights, notes=200, long_texts=True)
    settings = config.settings.model_copy(update={"secret": SecretStr("s"), "bulletin": config.settings.bulletin.model_copy(
        update={"section_cap": 50})})
    everything = render_bulletin(capped(week, 50))[0]
    assert html_bytes(everything) > 2 * MAX_HTML_BYTES  # far beyond the limit at the setting's cap
    compose = letter_composer(week, settings)
    readers = [Subscriber(1, "anne@example.org", "Anne", [], []),
               Subscriber(2, "bruno@example.org", "Bruno", ["23"], []),
               Subscriber(3, "chloe@example.org", "Chloé", ["33", "64"], ["publics"])]
    for reader in readers:
        letter = compose(reader)
        assert html_bytes(letter.html) <= MAX_HTML_BYTES
        assert letter.unsubscribe_url and f'href="{letter.unsubscribe_url}"' in letter.html  # the end is there
        copy = subscriber_copy(week, settings, reader.departements, reader.themes)
        personal = personalise(week, reader.departements, reader.themes, labels)
        assert copy.unsubscribe_url is None and copy.count == personal.count
        shown_and_online(letter.html, letter.text, copy)
        too_big = html_bytes(render_bulletin(capped(personal, 50))[0]) > MAX_HTML_BYTES
        assert (reader.email in compose.shortened) == too_big
        if too_big:
            assert max(len(s.items) for s in copy.sections) < 50 and compose.shortened[reader.email] > 0
        else:
            assert copy == capped(personal, 50)
        if highlights > 100 and too_big:  # one item a section is not enough: fewer highlights (and agenda entries)
            assert copy.highlights_more and "Voir toute la une dans l'archive" in letter.html
            assert "#a-la-une" in letter.text and all(len(s.items) == 1 for s in copy.sections)
            assert bool(copy.agenda_more) == (len(personal.agenda) > len(copy.highlights))
    assert "anne@example.org" in compose.shortened  # everything: the largest copy
    assert "raccourcie pour rester sous 100000 octets" in caplog.text


def test_a_copy_that_fits_is_not_shortened(db, config):
    from newsletter.bulletin import bulletin_data
    from newsletter.letters import letter_composer
    from newsletter.subscribers import Subscriber

    settings = config.settings.model_copy(update={"secret": SecretStr("s")})
    compose = letter_composer(bulletin_data(db, WEEK, settings, config.taxonomy), settings)
    compose(Subscriber(1, "anne@example.org", "Anne", [], []))
    assert compose.shortened == {}


def test_the_inspiring_window_is_a_setting(db, config):
    from newsletter.bulletin import bulletin_data
    settings = config.settings.model_copy(update={"bulletin": config.settings.bulletin.model_copy(
        update={"inspiring_window_days": 100})})
    (plie,) = [i for s in bulletin_data(db, WEEK, settings, config.taxonomy).sections for i in s.items
               if i.id == db.ids["plie"]]
    assert [e.title for e in plie.elsewhere][:2] == ["Périgueux : le PLIE ouvre un atelier de remobilisation",
                                                     "Pau : des parrains pour les demandeurs d'emploi"]  # Limoges: 151 days
