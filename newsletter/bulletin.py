"""The weekly bulletin: the week's selection (`pipeline.selection.week_plan`) arranged and rendered.

`bulletin_data` arranges the items the plan put in (pure data: sections, "À la une", agenda, items
per département), with under each local initiative its « pratiques inspirantes » (similar
initiatives elsewhere in the région, `pipeline.similar`) and the « Acteurs cités cette semaine »
(`pipeline.directory.actors_of_items`, the curator's decisions applied), each linked to its page
in the archive; `personalise` keeps a subscriber's départements and themes (and the actors their
items cite); `render_bulletin` turns the data into HTML (table layout, CSS inlined by css-inline)
and plain text with two Jinja2 templates (the HTML one autoescaped); `build_bulletin` writes the
whole week's issue, `bulletin-YYYY-Www.html` and `.txt`, into the archive of bulletins.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

import css_inline
import sqlite_utils
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from jinja2.ext import Extension

from config.dates import french_date, parse_week, shift_week
from config.schema import NATURES, Settings, Taxonomy
from pipeline.agenda import AgendaEntry, agenda
from pipeline.directory import actors_of_items
from pipeline.places import Gazetteer, load_gazetteer
from pipeline.selection import HIGHLIGHTS, WeekItem, week_plan
from pipeline.similar import Initiative, similar_initiatives
from pipeline.text import summarize
from pipeline.urls import is_web_url

AGENDA_NATURES = ("appel", "evenement")
INITIATIVE = "initiative"  # the nature whose items get « pratiques inspirantes »
ACTORS_SHOWN = 15          # « Acteurs cités cette semaine »: the most cited, then « et N autres »


@dataclass(frozen=True)
class Elsewhere:
    """A similar initiative elsewhere in the région (`pipeline.similar`), linked to its archive page."""

    title: str
    url: str | None
    place: str
    shared: str  # the dispositif or theme in common


@dataclass(frozen=True)
class Actor:
    """An actor an item names (`pipeline.directory.actors_of_items`), linked to its archive page."""

    key: str
    name: str
    kind: str              # French label
    territory: str | None  # « Libourne (33) », « Gironde »…
    url: str | None


@dataclass
class BulletinItem:
    id: int
    title: str
    url: str | None  # None when the stored URL is not http(s): shown without a link
    source: str
    published: date | None
    summary: str
    nature: str
    themes: list[str]
    dispositifs: list[str]
    places: list[str]
    highlight: bool = False
    note: str | None = None
    also_published_by: list[str] = field(default_factory=list)  # other sources of the same story
    departement_codes: list[str] = field(default_factory=list)  # for personalisation
    theme_slugs: list[str] = field(default_factory=list)
    elsewhere: list[Elsewhere] = field(default_factory=list)  # « pratiques inspirantes » (initiatives)
    actors: list[Actor] = field(default_factory=list)         # the actors it names, curator's decisions applied


@dataclass
class Section:
    slug: str
    title: str
    items: list[BulletinItem] = field(default_factory=list)
    more: int = 0  # items left out by the section's cap, to be read online


@dataclass
class Bulletin:
    week: str
    title: str
    period: str
    highlights: list[BulletinItem]
    sections: list[Section]
    archive_url: str                      # the whole issue online
    agenda: list[AgendaEntry] = field(default_factory=list)
    departements: list[tuple[str, int]] = field(default_factory=list)  # (name, items) for the chart
    for_whom: str | None = None           # "Creuse, Haute-Vienne · publics" when personalised
    unsubscribe_url: str | None = None
    highlights_more: int = 0              # highlights left out of a copy too long for e-mail, to be read online
    agenda_more: int = 0                  # agenda entries left out likewise
    actors: list[tuple[Actor, int]] = field(default_factory=list)  # the most cited, with their number of items
    actors_more: int = 0                  # the other actors cited

    @property
    def count(self) -> int:
        return len(self.highlights) + self.highlights_more + sum(len(s.items) + s.more for s in self.sections)

    @property
    def chart_max(self) -> int:
        return max((n for _, n in self.departements), default=1)


def _bulletin_item(item: WeekItem, taxonomy: Taxonomy, gazetteer: Gazetteer, settings: Settings) -> BulletinItem:
    published = datetime.fromisoformat(item.published_at).astimezone(settings.tz).date() if item.published_at else None
    departements = item.tags.get("departements", [])
    return BulletinItem(
        id=item.id,
        title=item.title or "(sans titre)",
        url=item.url if is_web_url(item.url) else None,
        source=item.source_name,
        published=published,
        summary=summarize(item.text or item.summary),
        nature=item.nature,
        themes=[taxonomy.label("themes", t) for t in item.tags.get("themes", [])],
        dispositifs=[taxonomy.label("dispositifs", d) for d in item.tags.get("dispositifs", [])],
        places=[gazetteer.label("departements", d) for d in departements],
        highlight=item.highlight,
        note=item.note,
        also_published_by=item.also_published_by,
        departement_codes=departements,
        theme_slugs=item.tags.get("themes", []),
    )


def bulletin_data(db: sqlite_utils.Database, week: str, settings: Settings, taxonomy: Taxonomy,
                  gazetteer: Gazetteer | None = None) -> Bulletin:
    """The whole issue of `week`: the items `week_plan` puts in, by section."""
    gazetteer = gazetteer or load_gazetteer()
    chosen = [i for i in week_plan(db, week, settings.tz, settings.bulletin.max_age_days) if i.in_bulletin]
    highlights: list[BulletinItem] = []
    sections = {slug: Section(slug, taxonomy.nature[slug].label) for slug in NATURES}
    for week_item in chosen:
        item = _bulletin_item(week_item, taxonomy, gazetteer, settings)
        (highlights if week_item.section == HIGHLIGHTS else sections[week_item.section].items).append(item)
    monday = parse_week(week)
    items = highlights + [i for s in sections.values() for i in s.items]
    _add_elsewhere(db, items, monday + timedelta(days=7), settings, taxonomy, gazetteer)
    _add_actors(db, items, settings)
    per_departement = Counter(d for item in items for d in item.departement_codes)
    upcoming = agenda(chosen + _earlier_agenda_items(db, week, settings), monday)
    return Bulletin(
        week=week,
        title=settings.bulletin.title,
        period=f"Semaine du {french_date(monday)} au {french_date(monday + timedelta(days=6))}",
        highlights=highlights,
        sections=[s for s in sections.values() if s.items],
        archive_url=f"{settings.public_url.rstrip('/')}/-/bulletins/bulletin-{week}.html",
        agenda=[replace(e, url=e.url if is_web_url(e.url) else None) for e in upcoming],
        departements=[(gazetteer.label("departements", code), per_departement[code])
                      for code in sorted(gazetteer.region_departements) if per_departement[code]],
        **cited_actors(items),
    )


def _archive_page(settings: Settings, path: str) -> str | None:
    url = f"{settings.public_url.rstrip('/')}/-/{path}"
    return url if is_web_url(url) else None


def _add_elsewhere(db: sqlite_utils.Database, items: list[BulletinItem], until: date, settings: Settings,
                   taxonomy: Taxonomy, gazetteer: Gazetteer) -> None:
    """Fill the « pratiques inspirantes » of the week's initiatives (one query for all)."""
    initiatives = [Initiative(i.id, i.dispositifs, i.themes,
                              [gazetteer.display_name("departements", d) for d in i.departement_codes])
                   for i in items if i.nature == INITIATIVE]
    region = [gazetteer.display_name("departements", code) for code in gazetteer.region_departements]
    found = similar_initiatives(db, initiatives, taxonomy.label("nature", INITIATIVE), until, region,
                                settings.bulletin.inspiring_window_days)
    for item in items:
        item.elsewhere = [Elsewhere(s.title, _archive_page(settings, f"article/{s.id}"), s.place, s.shared)
                          for s in found.get(item.id, [])]


def _add_actors(db: sqlite_utils.Database, items: list[BulletinItem], settings: Settings) -> None:
    found = actors_of_items(db, [i.id for i in items])
    for item in items:
        item.actors = [Actor(a["id"], a["name"], a["kind_label"], a["territory"],
                             _archive_page(settings, f"acteur/{quote(a['id'], safe='')}"))
                       for a in found.get(item.id, [])]


def cited_actors(items: list[BulletinItem]) -> dict:
    """The `actors` and `actors_more` of a bulletin of these items: the most cited first (by number
    of items), ACTORS_SHOWN of them."""
    counts = Counter(actor for item in items for actor in item.actors)
    ranked = sorted(counts.items(), key=lambda pair: (-pair[1], pair[0].name.casefold(), pair[0].key))
    return {"actors": ranked[:ACTORS_SHOWN], "actors_more": max(0, len(ranked) - ACTORS_SHOWN)}


def _earlier_agenda_items(db: sqlite_utils.Database, week: str, settings: Settings) -> list[WeekItem]:
    """Calls and events that were in the bulletins of the previous weeks: their dates may still be
    ahead, so the agenda keeps them until then."""
    earlier = []
    for weeks_before in range(1, settings.bulletin.agenda_lookback_weeks + 1):
        plan = week_plan(db, shift_week(week, -weeks_before), settings.tz, settings.bulletin.max_age_days)
        earlier += [i for i in plan if i.in_bulletin and i.nature in AGENDA_NATURES]
    return earlier


def personalise(bulletin: Bulletin, departements: list[str], themes: list[str],
                labels: dict[str, str] | None = None) -> Bulletin:
    """A subscriber's copy: the items of their départements and the regional or national ones (no
    département), of their themes and those without a theme; everything when no preference."""
    def wanted(item: BulletinItem) -> bool:
        place_ok = not departements or not item.departement_codes or bool(set(item.departement_codes) & set(departements))
        theme_ok = not themes or not item.theme_slugs or bool(set(item.theme_slugs) & set(themes))
        return place_ok and theme_ok

    sections = [replace(s, items=[i for i in s.items if wanted(i)]) for s in bulletin.sections]
    highlights = [i for i in bulletin.highlights if wanted(i)]
    kept = highlights + [i for s in sections for i in s.items]
    kept_ids = {i.id for i in kept}
    names = [(labels or {}).get(d, d) for d in departements]
    return replace(
        bulletin,
        highlights=highlights,
        sections=[s for s in sections if s.items],
        agenda=[e for e in bulletin.agenda if e.item_id in kept_ids],
        for_whom=" · ".join(filter(None, [", ".join(names), ", ".join(themes)])) or None,
        **cited_actors(kept),  # the actors of their items
    )


def capped(bulletin: Bulletin, per_section: int, highlights: int | None = None, agenda: int | None = None) -> Bulletin:
    """At most `per_section` items a section (and, when given, at most `highlights` highlights and
    `agenda` agenda entries), the rest counted and left to the online issue."""
    def cut(entries: list, cap: int | None) -> tuple[list, int]:
        return (entries, 0) if cap is None else (entries[:cap], max(0, len(entries) - cap))

    kept_highlights, highlights_more = cut(bulletin.highlights, highlights)
    kept_agenda, agenda_more = cut(bulletin.agenda, agenda)
    return replace(bulletin,
                   sections=[replace(s, items=s.items[:per_section], more=s.more + max(0, len(s.items) - per_section))
                             for s in bulletin.sections],
                   highlights=kept_highlights, highlights_more=bulletin.highlights_more + highlights_more,
                   agenda=kept_agenda, agenda_more=bulletin.agenda_more + agenda_more)


class _Dedent(Extension):
    """The HTML template's indentation is for its readers: dropped from every copy (each byte counts,
    see `newsletter.letters.MAX_HTML_BYTES`). Only the template's own text is touched, never the data."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return re.sub(r"^[ \t]+", "", source, flags=re.M) if name and name.endswith(".html.j2") else source


@lru_cache(maxsize=1)
def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("newsletter", "templates"),
        extensions=[_Dedent],
        autoescape=select_autoescape(["html", "html.j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["french_date"] = french_date
    env.filters["web_url"] = lambda url: url if is_web_url(url) else None
    return env


_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True, minify_css=True)


def render_bulletin(bulletin: Bulletin) -> tuple[str, str]:
    """(HTML with its CSS inlined for mail clients, plain text) of a bulletin."""
    env = _templates()
    html = env.get_template("bulletin.html.j2").render(b=bulletin)
    return _INLINER.inline(html), env.get_template("bulletin.txt.j2").render(b=bulletin)


def build_bulletin(db: sqlite_utils.Database, week: str, out_dir: Path | str, settings: Settings,
                   taxonomy: Taxonomy, gazetteer: Gazetteer | None = None) -> tuple[Path, Path, Bulletin]:
    """Render the bulletin of `week` into `out_dir`; return the two paths and the data."""
    bulletin = bulletin_data(db, week, settings, taxonomy, gazetteer)
    html, text = render_bulletin(bulletin)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"bulletin-{week}.html"
    text_path = out_dir / f"bulletin-{week}.txt"
    html_path.write_text(html, encoding="utf-8")
    text_path.write_text(text, encoding="utf-8")
    return html_path, text_path, bulletin
