"""The article page and the sources page: public, read-only views of the archive.

Routes:
- `GET /-/article/<id>`: one item as a person reads it — title (a link out only when http/https),
  source, date, summary, tags by label (places by name) with their origin and the words that
  produced them (`pipeline.review.review_item`), its week's decision (from the `articles` table:
  in the bulletin, where, or why not), the built bulletins it appeared in (read from the files of
  the bulletins folder), its near-duplicates (same `cluster_id`) and exact copies (`duplicates`),
  the actors it names after the curator's decisions (`pipeline.directory.actors_of_items`: hidden
  ones left out; none on an archive older than the directory), each linked to `/-/acteur/<key>`,
  and links to the archive filtered on its dispositifs and départements. Lookups by id and
  `cluster_id` only; a week plan only when the item has no `articles` row yet.
- `GET /-/sources`: each source's health (`pipeline.health.source_health`), failing first.

`render_cell` links the title of each row of the `articles` table, and of every query of the
archive that returns `id` and `title`, to the article page.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import sqlite_utils
from datasette import Response, hookimpl
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from config.dates import french_date, shift_week, week_of
from config.errors import VeilleError
from pipeline.directory import actors_of_items
from pipeline.health import DISABLED, FAILING, NEVER, OK, SILENT, source_health
from pipeline.places import load_gazetteer
from pipeline.review import ReviewItem, review_item
from pipeline.selection import HIGHLIGHTS, section_label, week_plan
from pipeline.text import summarize
from pipeline.urls import is_web_url
from veille.datasette_plugin.site import Site, archive_name, page, with_site

MAX_ID_DIGITS = 18     # beyond SQLite's integers: no such item
MAX_NEAR = 50          # near-duplicates listed
MAX_COPIES = 50        # exact copies listed


@lru_cache(maxsize=1)
def _templates() -> Environment:
    """A plain synchronous environment, as the workspace's items (see workspace._items_templates)."""
    return Environment(loader=PackageLoader("veille.datasette_plugin", "templates"), autoescape=True,
                       undefined=StrictUndefined)


async def _read(datasette, site: Site, work):
    return await datasette.get_database(site.database).execute_fn(lambda conn: work(sqlite_utils.Database(conn)))


def _french_day(value: str | None, tz) -> str | None:
    """An ISO day or datetime as « 24 novembre 2026 » (a datetime in the settings' time zone)."""
    if not value:
        return None
    try:
        if len(value) > 10:
            moment = datetime.fromisoformat(value)
            return french_date(moment.astimezone(tz).date() if moment.tzinfo else moment.date())
        return french_date(date.fromisoformat(value))
    except ValueError:
        return value[:10]


def _french_moment(value: str | None, tz) -> str | None:
    """An ISO datetime as « 24 novembre 2026 à 10 h 05 » in the settings' time zone."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value[:16]
    if moment.tzinfo:
        moment = moment.astimezone(tz)
    return f"{french_date(moment.date())} à {moment.hour} h {moment.minute:02d}"


# ------------------------------------------------------------------ bulletins


class _BulletinLinks(HTMLParser):
    """The links of a built bulletin and the titles without link, each with its section (<h2>)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []   # (href, section)
        self.titles: list[tuple[str, str]] = []  # (h3 text, section)
        self._section, self._in_h2, self._in_h3, self._text = "", False, False, []

    def handle_starttag(self, tag, attrs):
        if tag in ("h2", "h3"):
            self._in_h2, self._in_h3, self._text = tag == "h2", tag == "h3", []
        elif tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.links.append((href, self._section))

    def handle_endtag(self, tag):
        if tag == "h2" and self._in_h2:
            self._section, self._in_h2 = " ".join("".join(self._text).split()), False
        elif tag == "h3" and self._in_h3:
            self.titles.append((" ".join("".join(self._text).split()), self._section))
            self._in_h3 = False

    def handle_data(self, data):
        if self._in_h2 or self._in_h3:
            self._text.append(data)


@lru_cache(maxsize=64)
def _bulletin_links(path: str, mtime_ns: int, size: int) -> _BulletinLinks:
    """A bulletin file read once per version (its path, modification time and size)."""
    parser = _BulletinLinks()
    parser.feed(Path(path).read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return parser


def bulletin_appearances(folder: Path, weeks: list[str], url: str, title: str) -> list[tuple[str, list[str]]]:
    """[(week, sections)] of the built bulletins, among `weeks`, that show the item: a link to its
    URL (an http(s) one), else its title as an item's heading."""
    found = []
    for week in weeks:
        path = folder / f"bulletin-{week}.html"
        try:
            stat = path.stat()
        except OSError:
            continue
        parsed = _bulletin_links(str(path), stat.st_mtime_ns, stat.st_size)
        if is_web_url(url):
            sections = [section for href, section in parsed.links if href == url]
        else:
            sections = [section for text, section in parsed.titles if text == " ".join(title.split())]
        if sections:
            found.append((week, list(dict.fromkeys(s for s in sections if s)) or ["bulletin"]))
    return found


# ---------------------------------------------------------------- the article


@dataclass
class ArticleView:
    review: ReviewItem
    week: str
    in_bulletin: bool
    reason: str | None
    section_title: str | None
    day: str | None
    nature: str
    summary: str
    near: list[dict]
    copies: list[dict]
    archive_links: list[tuple[str, str]]
    actors: list[dict] = field(default_factory=list)
    bulletins: list[tuple[str, list[str]]] = field(default_factory=list)


def _article(db: sqlite_utils.Database, site: Site, item_id: int) -> ArticleView | None:
    config, settings = site.config, site.config.settings
    gazetteer = load_gazetteer(config.gazetteer_path)
    review = review_item(db, item_id, config.taxonomy, gazetteer)
    if review is None:
        return None
    item = review.item
    row = db.execute("SELECT week, in_bulletin, reason, published FROM articles WHERE id = ?", [item_id]).fetchone()
    if row:
        week, in_bulletin, reason, published = row[0], bool(row[1]), row[2], row[3]
    else:  # not yet in `articles` (an archive being refreshed): its week's plan decides
        week = week_of(datetime.fromisoformat(item.first_seen_at).astimezone(settings.tz).date())
        planned = next(i for i in week_plan(db, week, settings.tz, settings.bulletin.max_age_days) if i.id == item_id)
        in_bulletin, reason, published = planned.in_bulletin, planned.reason, None
    section = (HIGHLIGHTS if item.highlight else item.nature) if in_bulletin else None
    near = []
    if item.cluster_id is not None:
        near = [{"id": r[0], "title": r[1] or "(sans titre)", "url": r[2], "source": r[3]} for r in db.execute(
            "SELECT items.id, items.title, items.url, COALESCE(sources.name, items.source_id) FROM items "
            "LEFT JOIN sources ON sources.id = items.source_id WHERE items.cluster_id = ? AND items.id != ? "
            "ORDER BY items.id LIMIT ?", [item.cluster_id, item_id, MAX_NEAR])]
    copies = [{"url": r[0], "source": r[1]} for r in db.execute(
        "SELECT duplicates.url, COALESCE(sources.name, duplicates.source_id) FROM duplicates "
        "LEFT JOIN sources ON sources.id = duplicates.source_id WHERE duplicates.item_id = ? "
        "ORDER BY duplicates.seen_at, duplicates.url LIMIT ?", [item_id, MAX_COPIES])]
    table = f"/{urllib.parse.quote(site.database)}/articles"
    archive_links = [(tag.label, f"{table}?{urllib.parse.urlencode({f'{tag.facet}__arraycontains': tag.label})}")
                     for facet in ("dispositifs", "departements") for tag in review.effective_tags(facet)]
    return ArticleView(
        review=review, week=week, in_bulletin=in_bulletin, reason=reason,
        section_title=section_label(section, config.taxonomy) if section else None,
        day=_french_day(published or item.published_at or item.first_seen_at, settings.tz),
        nature=config.taxonomy.label("nature", item.nature), summary=summarize(item.text or item.summary),
        near=near, copies=copies, archive_links=archive_links, actors=_actors(db, item_id))


DIRECTORY_TABLES = {"actor_mentions", "actor_decisions", "acteurs"}


def _actors(db: sqlite_utils.Database, item_id: int) -> list[dict]:
    """The item's actors; none when the archive predates the directory (served without migration)."""
    if not DIRECTORY_TABLES <= set(db.table_names()):
        return []
    return actors_of_items(db, [item_id])[item_id]


def _not_found(digits: str) -> Response:
    shown = digits if len(digits) <= 20 else digits[:20] + "…"
    return page("Article introuvable", f"<p>Aucun article n°{escape(shown)} dans l'archive.</p>"
                '<p><a href="/">Retour à l\'archive</a></p>', 404)


@with_site
async def article(datasette, request, site: Site):
    digits = request.url_vars["item_id"]
    if len(digits) > MAX_ID_DIGITS:
        return _not_found(digits)
    view = await _read(datasette, site, lambda db: _article(db, site, int(digits)))
    if view is None:
        return _not_found(digits)
    lookback = site.config.settings.bulletin.agenda_lookback_weeks
    try:
        weeks = [shift_week(view.week, n) for n in range(lookback + 1)]
    except VeilleError:  # a week beyond the years Veille knows
        weeks = []
    view.bulletins = bulletin_appearances(site.bulletins_dir, weeks, view.review.item.url, view.review.item.title)
    html = _templates().get_template("veille_article.html").render(
        v=view, r=view.review, item=view.review.item, site_title=site.title, database=site.database,
        web_url=is_web_url)
    return Response.html(html)


# ------------------------------------------------------------------ sources

STATE_ORDER = {FAILING: 0, SILENT: 1, NEVER: 2, OK: 3, DISABLED: 4}


def _sources(db: sqlite_utils.Database, site: Site) -> list[dict]:
    tz = site.config.settings.tz
    sources = [SimpleNamespace(id=r[0], name=r[1] or r[0], type=r[2] or "", url=r[3] or "", enabled=bool(r[4]))
               for r in db.execute("SELECT id, name, type, url, COALESCE(enabled, 1) FROM sources")]
    urls = {s.id: s.url for s in sources}
    health = sorted(source_health(db, sources), key=lambda h: (STATE_ORDER.get(h.state, 9), h.name.casefold()))
    return [{"h": h, "url": urls[h.id], "last_success": _french_moment(h.last_success_at, tz),
             "last_error_at": _french_moment(h.last_error_at, tz), "last_item": _french_moment(h.last_item_at, tz),
             "per_week": f"{h.items_per_week:.1f}".replace(".", ",")} for h in health]


@with_site
async def sources_page(datasette, request, site: Site):
    rows = await _read(datasette, site, lambda db: _sources(db, site))
    counts = {state: sum(r["h"].state == state for r in rows) for state in STATE_ORDER}
    html = _templates().get_template("veille_sources.html").render(
        rows=rows, counts=counts, site_title=site.title, database=site.database, web_url=is_web_url)
    return Response.html(html)


ROUTES = [
    (r"^/-/article/(?P<item_id>\d+)/?$", article),
    (r"^/-/sources/?$", sources_page),
]


# ------------------------------------------------------------------ table cells


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    """The title of an article, in the `articles` table and in the archive's queries that return
    `id` and `title`, links to its page. Anything else is left to Datasette."""
    if column != "title" or not isinstance(value, str) or table not in ("articles", None):
        return None
    if database != archive_name(datasette.plugin_config("veille")):
        return None
    try:
        item_id = row["id"]
    except (IndexError, KeyError, TypeError):
        return None
    if isinstance(item_id, dict):  # `articles.id` is a foreign key to `items`: Datasette expands it
        item_id = item_id.get("value")
    if not isinstance(item_id, int) or isinstance(item_id, bool):
        return None
    return Markup('<a href="/-/article/{}">{}</a>').format(item_id, value)
