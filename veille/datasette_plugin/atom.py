"""Atom feeds of any selection of the archive: `.atom` after the `articles` table (with any search,
filter or facet of its page) or after a canned query whose rows are articles (`appels_ouverts`,
`cette_semaine`, `agenda`, `non_classes`).

Not datasette-atom: it wants `atom_id`/`atom_title`/`atom_updated` columns, which a table's page
cannot have. Here rows are articles as the `articles` table holds them: `id`, `title`, `url` and a
day (`published`, else `deadline` or `event_day`); `source`, `summary`, `deadline` and `event_day`
are used when present. Everything from the web is text, escaped by ElementTree (never HTML), and a
link out is given only for an http(s) address.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, datetime, timezone
from urllib.parse import urlencode, urlsplit

from datasette import Response, hookimpl
from datasette.utils.asgi import BadRequest

from config.errors import VeilleError
from veille.datasette_plugin.site import load_site

ATOM = "http://www.w3.org/2005/Atom"
NEEDED = {"id", "title", "url"}
DAYS = ("published", "deadline", "event_day")  # the entry's day: the first one present

# Short French names of the columns, for the feed's title.
_COLUMNS = {"themes": "thème", "dispositifs": "dispositif", "departements": "département", "epci": "EPCI",
            "communes": "commune", "nature": "nature", "source": "source", "week": "semaine",
            "published": "publication", "deadline": "date limite", "event_day": "événement"}
_OPERATORS = {"not": "≠", "contains": "contient", "arraynotcontains": "sans", "gt": ">", "gte": "≥", "lt": "<",
              "lte": "≤", "startswith": "commence par", "endswith": "finit par", "in": "parmi",
              "notin": "hors de", "date": "le", "isnull": "vide", "notnull": "renseigné", "isblank": "vide",
              "notblank": "renseigné", "like": "comme", "notlike": "pas comme", "glob": "comme"}
# Arguments that change the page, not the rows: left out of the feed's id and self link.
_DISPLAY_ONLY = {"_labels", "_facet", "_facet_array", "_facet_date", "_nofacet", "_nocount", "_trace", "_format"}
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")  # not allowed in XML 1.0


def _fits(columns) -> bool:
    return NEEDED <= set(columns) and any(day in columns for day in DAYS)


def can_render_atom(datasette, columns, database, view_name):
    if view_name not in ("table", "database") or not _fits(columns):
        return False

    async def inner():
        try:
            return database == (await load_site(datasette)).database
        except VeilleError:
            return False

    return inner


def _text(value) -> str:
    return _NOT_XML.sub("", "" if value is None else str(value))


def _day(value) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _french_day(day: date) -> str:
    months = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
              "novembre", "décembre")
    return f"{'1er' if day.day == 1 else day.day} {months[day.month - 1]} {day.year}"


def selection(request, query_name) -> list[str]:
    """The page's selection in French: its search, filters and query parameters."""
    bits = []
    for key in request.args:
        for value in request.args.getlist(key):
            if key == "_search" or key.startswith("_search_"):
                bits.append(f"« {value} »")
            elif key == "_where":
                bits.append(f"condition SQL {value}")
            elif not key.startswith("_") and not (query_name is None and key == "sql") and value != "":
                column, _, operator = key.rpartition("__") if "__" in key else (key, "", "exact")
                name = _COLUMNS.get(column, column)
                if operator in ("exact", "arraycontains"):
                    bits.append(f"{name} {value}")
                elif operator in ("isnull", "notnull", "isblank", "notblank"):
                    bits.append(f"{name} {_OPERATORS[operator]}")
                else:
                    bits.append(f"{name} {_OPERATORS.get(operator, operator)} {value}")
    return bits


async def render_atom(datasette, request, columns, rows, database, table, query_name, view_name, data):
    # Raised, not returned: Datasette would give a returned page the query's status (200).
    if data.get("error"):
        raise BadRequest("Flux Atom impossible : la requête de cette sélection a échoué.")
    site = await load_site(datasette)
    if not _fits(columns) or view_name not in ("table", "database") or database != site.database:
        raise BadRequest("Flux Atom impossible : cette sélection ne donne pas des articles ; un flux Atom demande "
                         "les colonnes id, title, url et une date (published, deadline ou event_day).")
    settings = site.config.settings
    base = settings.public_url.rstrip("/")
    rows = [dict(zip(columns, row)) for row in rows]
    published = {}
    ids = [row["id"] for row in rows if isinstance(row["id"], int)]
    if "published" not in columns and ids:
        # Calls or events: an entry's date is still its article's publication (not a future deadline).
        found = await datasette.get_database(database).execute(
            f"SELECT id, published FROM articles WHERE id IN ({', '.join('?' for _ in ids)})", ids)
        published = {row["id"]: row["published"] for row in found.rows}

    if query_name:
        query = await datasette.get_canned_query(database, query_name, request.actor) or {}
        what = query.get("title") or query_name
    elif table:
        what = datasette.table_metadata(database, table).get("title") or table
    else:
        what = "Requête SQL"
    bits = selection(request, query_name)
    title = f"{settings.bulletin.title} — {what}" + (f" : {', '.join(bits)}" if bits else "")
    args = [(k, v) for k in request.args if k not in _DISPLAY_ONLY for v in request.args.getlist(k)]
    self_url = f"{base}{request.path}" + (f"?{urlencode(args)}" if args else "")

    feed = ET.Element("feed", xmlns=ATOM)
    feed.set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    ET.SubElement(feed, "title").text = _text(title)
    ET.SubElement(feed, "id").text = self_url
    ET.SubElement(feed, "link", rel="self", type="application/atom+xml", href=self_url)
    ET.SubElement(feed, "link", rel="alternate", type="text/html",
                  href=self_url.replace(request.path, request.path.removesuffix(".atom"), 1))
    ET.SubElement(ET.SubElement(feed, "author"), "name").text = _text(settings.bulletin.title)
    updated_at = ET.SubElement(feed, "updated")
    newest = None
    for row in rows:
        entry = ET.SubElement(feed, "entry")
        ET.SubElement(entry, "title").text = _text(row["title"]) or "(sans titre)"
        ET.SubElement(entry, "id").text = f"{base}/-/article/{_text(row['id'])}"
        url = _text(row["url"]).strip()
        if urlsplit(url).scheme.lower() in ("http", "https") and urlsplit(url).netloc:
            ET.SubElement(entry, "link", rel="alternate", href=url)
        day = _day(row.get("published") or published.get(row["id"])) or next(
            (d for d in (_day(row.get(c)) for c in DAYS) if d), None)
        moment = datetime(*(day or date(1970, 1, 1)).timetuple()[:3], tzinfo=settings.tz)
        newest = max(newest or moment, moment)
        ET.SubElement(entry, "updated").text = moment.isoformat()
        if row.get("source"):
            ET.SubElement(ET.SubElement(entry, "author"), "name").text = _text(row["source"])
        lines = [f"Date limite : {_french_day(d)}" for d in [_day(row.get("deadline"))] if d]
        lines += [f"Événement : {_french_day(d)}" for d in [_day(row.get("event_day"))] if d]
        lines += [_text(row["summary"])] if row.get("summary") else []
        if lines:
            ET.SubElement(entry, "summary", type="text").text = "\n\n".join(lines)
    updated_at.text = (newest or datetime.now(timezone.utc).replace(microsecond=0)).isoformat()
    body = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode")
    return Response(body, content_type="application/atom+xml; charset=utf-8")


@hookimpl
def register_output_renderer(datasette):
    return {"extension": "atom", "render": render_atom, "can_render": can_render_atom}
