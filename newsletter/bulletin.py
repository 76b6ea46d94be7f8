"""The weekly bulletin: which items of an ISO week go in, and how they are rendered.

`bulletin_data` selects and arranges (pure data: sections, "À la une", agenda, items per
département); `personalise` keeps a subscriber's départements and themes; `render_bulletin` turns
the data into HTML (table layout, CSS inlined by css-inline) and plain text with two Jinja2
templates (the HTML one autoescaped); `build_bulletin` writes the whole week's issue,
`bulletin-YYYY-Www.html` and `.txt`, into the archive of bulletins.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import css_inline
import sqlite_utils
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from newsletter.agenda import AgendaEntry, agenda
from newsletter.frenchdates import french_date
from pipeline.archive import effective_tags
from pipeline.curation import in_scope, items_seen_between
from pipeline.places import load_gazetteer
from pipeline.urls import is_web_url
from veille.config import NATURES, Settings, Taxonomy
from veille.errors import VeilleError

PARIS = ZoneInfo("Europe/Paris")
WEEK_FORMAT = re.compile(r"^(\d{4})-W(\d{2})$")
SUMMARY_MAX_CHARS = 320
SECTION_CAP = 8  # items a section shows in an e-mail; the whole issue is online


def parse_week(week: str) -> date:
    """Monday of an ISO week written YYYY-Www."""
    match = WEEK_FORMAT.match(week or "")
    if not match:
        raise VeilleError(f"semaine invalide « {week} » : format attendu AAAA-Sss, par exemple 2026-W48")
    try:
        return date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise VeilleError(f"la semaine « {week} » n'existe pas") from None


def current_week(now: datetime | None = None) -> str:
    year, week, _ = (now or datetime.now(timezone.utc)).astimezone(PARIS).isocalendar()
    return f"{year}-W{week:02d}"


def week_bounds(week: str) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of an ISO week, Paris time, as UTC datetimes."""
    monday = parse_week(week)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=PARIS)
    return start.astimezone(timezone.utc), (start + timedelta(days=7)).astimezone(timezone.utc)


def summarize(text: str, max_chars: int = SUMMARY_MAX_CHARS) -> str:
    """The first two or three sentences of a text, cut at a sentence end when possible."""
    text = " ".join((text or "").split())
    sentences = re.split(r"(?<=[.!?…»])\s+(?=[A-ZÀ-ÖØ-Þ«])", text)
    summary = ""
    for sentence in sentences[:3]:
        if summary and len(summary) + len(sentence) + 1 > max_chars:
            break
        summary = f"{summary} {sentence}".strip()
    if len(summary) > max_chars:
        summary = summary[:max_chars].rsplit(" ", 1)[0] + " …"
    return summary


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

    @property
    def count(self) -> int:
        return len(self.highlights) + sum(len(s.items) + s.more for s in self.sections)

    @property
    def chart_max(self) -> int:
        return max((n for _, n in self.departements), default=1)


def _drop_stories_already_told(db: sqlite_utils.Database, rows: list[dict], week_start: datetime) -> list[dict]:
    """A rewrite of a story first collected in an earlier week was in that week's bulletin."""
    clusters = {r["cluster_id"] for r in rows if r["cluster_id"]}
    if not clusters:
        return rows
    marks = ", ".join("?" for _ in clusters)
    told = {cluster for (cluster,) in db.execute(
        f"SELECT DISTINCT cluster_id FROM items WHERE cluster_id IN ({marks}) AND first_seen_at < ?",
        [*clusters, week_start.isoformat()])}
    return [r for r in rows if r["cluster_id"] not in told or r["highlight"]]


def _one_per_story(db: sqlite_utils.Database, rows: list[dict]) -> tuple[list[dict], dict[int, list[str]]]:
    """Keep one item per near-duplicate cluster (a highlighted one, else the first archived) and
    name the other sources of the story, exact copies included."""
    kept: dict[int, dict] = {}
    members: dict[int, list[dict]] = {}
    for row in rows:
        story = row["cluster_id"] or row["id"]
        members.setdefault(story, []).append(row)
    for story, group in members.items():
        kept[story] = min(group, key=lambda r: (not r["highlight"], r["id"]))
    also: dict[int, list[str]] = {}
    for story, group in members.items():
        chosen = kept[story]
        names = [r["source_name"] or r["source_id"] for r in group if r is not chosen]
        ids = [r["id"] for r in group]
        marks = ", ".join("?" for _ in ids)
        names += [name for (name,) in db.execute(
            f"SELECT COALESCE(sources.name, duplicates.source_id) FROM duplicates "
            f"LEFT JOIN sources ON sources.id = duplicates.source_id WHERE duplicates.item_id IN ({marks})", ids)]
        own = chosen["source_name"] or chosen["source_id"]
        also[chosen["id"]] = sorted({n for n in names if n != own})
    return [r for r in rows if kept[r["cluster_id"] or r["id"]] is r], also


def bulletin_data(db: sqlite_utils.Database, week: str, settings: Settings, taxonomy: Taxonomy) -> Bulletin:
    start, end = week_bounds(week)
    oldest = end - timedelta(days=settings.bulletin.max_age_days)
    recent = sorted((r for r in items_seen_between(db, start.isoformat(), end.isoformat())
                     if r["published_at"] is None or r["published_at"] >= oldest.isoformat()),
                    key=lambda r: r["id"])
    rows = sorted(recent, key=lambda r: r["published_at"] or r["first_seen_at"], reverse=True)  # newest first
    tags = effective_tags(db, [r["id"] for r in rows])
    gazetteer = load_gazetteer()
    rows = [r for r in rows if not r["rejected"] and in_scope(r, tags[r["id"]])]
    rows = _drop_stories_already_told(db, rows, start)
    rows, also = _one_per_story(db, rows)
    highlights: list[BulletinItem] = []
    sections = {slug: Section(slug, taxonomy.nature[slug].label) for slug in NATURES}
    texts: dict[int, str] = {}
    for row in rows:
        item_tags = tags[row["id"]]
        nature = (item_tags.get("nature") or ["initiative"])[0]
        published = datetime.fromisoformat(row["published_at"]).astimezone(PARIS).date() \
            if row["published_at"] else None
        item = BulletinItem(
            id=row["id"],
            title=row["title"] or "(sans titre)",
            url=row["url"] if is_web_url(row["url"]) else None,
            source=row["source_name"] or row["source_id"],
            published=published,
            summary=summarize(row["text"] or row["summary"] or ""),
            nature=nature,
            themes=[taxonomy.label("themes", t) for t in item_tags.get("themes", [])],
            dispositifs=[taxonomy.label("dispositifs", d) for d in item_tags.get("dispositifs", [])],
            places=[gazetteer.label("departements", d) for d in item_tags.get("departements", [])],
            highlight=bool(row["highlight"]),
            note=row["note"],
            also_published_by=also.get(row["id"], []),
            departement_codes=item_tags.get("departements", []),
            theme_slugs=item_tags.get("themes", []),
        )
        texts[item.id] = row["text"] or row["summary"] or ""
        (highlights if item.highlight else sections[nature].items).append(item)
    monday = parse_week(week)
    items = highlights + [i for s in sections.values() for i in s.items]
    per_departement = Counter(d for item in items for d in item.departement_codes)
    return Bulletin(
        week=week,
        title=settings.bulletin.title,
        period=f"Semaine du {french_date(monday)} au {french_date(monday + timedelta(days=6))}",
        highlights=highlights,
        sections=[s for s in sections.values() if s.items],
        archive_url=f"{settings.public_url.rstrip('/')}/-/bulletins/bulletin-{week}.html",
        agenda=agenda([_AgendaInput(i.id, i.title, i.url, i.nature, texts[i.id]) for i in items]
                      + _earlier_agenda_items(db, start, {i.id for i in items}), monday),
        departements=[(gazetteer.label("departements", code), per_departement[code])
                      for code in sorted(gazetteer.region_departements) if per_departement[code]],
    )


AGENDA_LOOKBACK_DAYS = 42  # a call for projects announced weeks ago stays in the agenda until its deadline


def _earlier_agenda_items(db: sqlite_utils.Database, week_start: datetime, seen: set[int]) -> list[_AgendaInput]:
    """Calls and events collected in the previous weeks (in scope, not set aside): their dates may
    still be ahead."""
    rows = items_seen_between(db, (week_start - timedelta(days=AGENDA_LOOKBACK_DAYS)).isoformat(),
                              week_start.isoformat())
    rows = [r for r in rows if not r["rejected"]]
    rows = [r for r in rows if r["id"] not in seen]
    tags = effective_tags(db, [r["id"] for r in rows])
    return [_AgendaInput(r["id"], r["title"] or "", r["url"] if is_web_url(r["url"]) else None,
                         (tags[r["id"]].get("nature") or ["initiative"])[0], r["text"] or r["summary"] or "")
            for r in rows if in_scope(r, tags[r["id"]]) and (tags[r["id"]].get("nature") or [""])[0] in ("appel", "evenement")]


@dataclass
class _AgendaInput:
    id: int
    title: str
    url: str | None
    nature: str
    text: str


def personalise(bulletin: Bulletin, departements: list[str], themes: list[str],
                labels: dict[str, str] | None = None) -> Bulletin:
    """A subscriber's copy: the items of their départements and the regional or national ones (no
    département), of their themes and those without a theme; everything when no preference."""
    def wanted(item: BulletinItem) -> bool:
        place_ok = not departements or not item.departement_codes or bool(set(item.departement_codes) & set(departements))
        theme_ok = not themes or not item.theme_slugs or bool(set(item.theme_slugs) & set(themes))
        return place_ok and theme_ok

    sections = [replace(s, items=[i for i in s.items if wanted(i)]) for s in bulletin.sections]
    kept = {i.id for s in sections for i in s.items} | {i.id for i in bulletin.highlights if wanted(i)}
    names = [(labels or {}).get(d, d) for d in departements]
    return replace(
        bulletin,
        highlights=[i for i in bulletin.highlights if wanted(i)],
        sections=[s for s in sections if s.items],
        agenda=[e for e in bulletin.agenda if e.item_id in kept],
        for_whom=" · ".join(filter(None, [", ".join(names), ", ".join(themes)])) or None,
    )


def capped(bulletin: Bulletin, per_section: int = SECTION_CAP) -> Bulletin:
    """At most `per_section` items a section, the rest counted and left to the online issue."""
    return replace(bulletin, sections=[replace(s, items=s.items[:per_section], more=s.more + max(0, len(s.items) - per_section))
                                       for s in bulletin.sections])


@lru_cache(maxsize=1)
def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("newsletter", "templates"),
        autoescape=select_autoescape(["html", "html.j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["french_date"] = french_date
    env.filters["web_url"] = lambda url: url if is_web_url(url) else None
    return env


_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)


def render_bulletin(bulletin: Bulletin) -> tuple[str, str]:
    """(HTML with its CSS inlined for mail clients, plain text) of a bulletin."""
    env = _templates()
    html = env.get_template("bulletin.html.j2").render(b=bulletin)
    return _INLINER.inline(html), env.get_template("bulletin.txt.j2").render(b=bulletin)


def build_bulletin(db: sqlite_utils.Database, week: str, out_dir: Path | str, settings: Settings,
                   taxonomy: Taxonomy) -> tuple[Path, Path, Bulletin]:
    """Render the bulletin of `week` into `out_dir`; return the two paths and the data."""
    bulletin = bulletin_data(db, week, settings, taxonomy)
    html, text = render_bulletin(bulletin)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path = out_dir / f"bulletin-{week}.html"
    text_path = out_dir / f"bulletin-{week}.txt"
    html_path.write_text(html, encoding="utf-8")
    text_path.write_text(text, encoding="utf-8")
    return html_path, text_path, bulletin
