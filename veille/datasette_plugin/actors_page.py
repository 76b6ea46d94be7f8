"""The actor page of the directory (issue 16): public, with the curator's decisions when logged in.

Routes:
- `GET /-/acteur/<key>`: one actor of `acteurs` — name, kind, territory, départements and
  dispositifs (linked to the archive filtered on them), the actors most often named with it (linked
  to their pages), the items that name it (linked to `/-/article/<id>`), the variants merged into
  it. A key merged into another redirects there; a hidden actor is « introuvable » except to a
  logged-in curator, who sees it with the button that shows it again.
- `POST /-/acteur/<key>/decision` (a logged-in curator, Datasette's CSRF token): one decision on the
  actor — `action` rename (`value`), kind (`value`), merge (`target`), split, hide, unhide —
  through `pipeline.directory.decide` with her name, then the directory rebuilt; back to the
  actor's page with a French message (a refusal: a 400 page saying why).
- `render_cell` links each name of the `acteurs` table to its page.
"""

from __future__ import annotations

import re
import urllib.parse
from datetime import date
from html import escape

import sqlite_utils
from datasette import Response, hookimpl
from markupsafe import Markup

from config.dates import french_date
from config.errors import VeilleError
from pipeline.actors import KINDS
from pipeline.directory import ActorView, actor_view, decide, load_decisions, rebuild_directory
from pipeline.places import load_gazetteer
from veille.datasette_plugin.item_page import _templates
from veille.datasette_plugin.site import Site, archive_name, logged_curator, page, read_form, with_site
from veille.datasette_plugin.workspace import _write

KEY = re.compile(r"^[a-z0-9][a-z0-9-]{0,199}$")  # the keys pipeline.actors derives: ascii slugs


def _not_found(key: str) -> Response:
    shown = key if len(key) <= 60 else key[:60] + "…"
    return page("Acteur introuvable", f"<p>Aucun acteur « {escape(shown)} » dans l'annuaire.</p>"
                '<p><a href="/">Retour à l\'archive</a></p>', 404)


def _day(value: str | None) -> str | None:
    try:
        return french_date(date.fromisoformat(value)) if value else None
    except ValueError:
        return value


@with_site
async def actor(datasette, request, site: Site):
    key = request.url_vars["key"]
    if not KEY.match(key):
        return _not_found(key)
    curator = logged_curator(request)
    view = await datasette.get_database(site.database).execute_fn(
        lambda conn: actor_view(sqlite_utils.Database(conn), key))
    if isinstance(view, str):  # merged into another actor: its page
        return Response.redirect(f"/-/acteur/{view}")
    if view is None or (view.hidden and not curator):
        return _not_found(key)
    return Response.html(_render(request, site, view, curator, request.args.get("ok")))


def _render(request, site: Site, view: ActorView, curator: str | None, message: str | None) -> str:
    row = view.row or {}
    return _templates().get_template("veille_actor.html").render(
        a=view, row=view.row, items=[{**item, "day": _day(item["published"])} for item in view.items],
        curator=curator, message=(message or "")[:300] or None,
        token=request.scope["csrftoken"]() if curator else "", kinds=list(KINDS.items()),
        first_seen=_day(row.get("first_seen")), last_seen=_day(row.get("last_seen")),
        site_title=site.title, database=site.database)


@with_site
async def actor_decision(datasette, request, site: Site):
    key = request.url_vars["key"]
    curator = logged_curator(request)
    if not curator:
        return Response.redirect("/-/curation/login")
    if request.method != "POST":
        return Response.redirect(f"/-/acteur/{key}" if KEY.match(key) else "/")
    form = await read_form(request)
    back = form.get("back", "")
    config = site.config

    def record(db):
        message = decide(db, form.get("action", ""), key, target=form.get("target"), value=form.get("value"),
                         curator=curator)
        rebuild_directory(db, load_gazetteer(config.gazetteer_path), config.taxonomy)
        # After a merge the actor's page is its new one; after a split, the page it was posted from.
        return message, load_decisions(db).resolve(back if KEY.match(back) else key)

    if not KEY.match(key):
        return _not_found(key)
    try:
        message, shown = await _write(datasette, site, record)
    except VeilleError as e:
        text = str(e)
        return page("Décision refusée", f"<p>{escape(text[:1].upper() + text[1:])}.</p>"
                    f'<p><a href="/-/acteur/{escape(key)}">Retour à l\'acteur</a></p>', 400)
    return Response.redirect(f"/-/acteur/{shown}?{urllib.parse.urlencode({'ok': message})}")


ROUTES = [
    (r"^/-/acteur/(?P<key>[^/]+)/?$", actor),
    (r"^/-/acteur/(?P<key>[^/]+)/decision$", actor_decision),
]


# ------------------------------------------------------------------ table cells


@hookimpl(specname="render_cell")
def render_actor_cell(row, value, column, table, database, datasette):
    """The name of an actor, in the `acteurs` table, links to its page."""
    if table != "acteurs" or column != "name" or not isinstance(value, str):
        return None
    if database != archive_name(datasette.plugin_config("veille")):
        return None
    try:
        key = row["id"]
    except (IndexError, KeyError, TypeError):
        return None
    if not isinstance(key, str) or not KEY.match(key):
        return None
    return Markup('<a href="/-/acteur/{}">{}</a>').format(key, value)
