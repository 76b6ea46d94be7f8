"""Veille's Datasette plugin: the curation pages, the unsubscribe route and the archive of bulletins.

It stands alone: installed with Veille (entry point `datasette` → `veille`), it serves every route
under a plain `datasette data/veille.db`, configured through Datasette's plugin configuration:

    plugins:
      veille:
        config: config                  # Veille's configuration folder (default: $VEILLE_CONFIG or ./config)
        database: veille                # the archive's name in Datasette (default: veille)
        subscribers_db: data/subscribers.db   # default: paths.subscribers_db of settings.yaml
        bulletins: data/bulletins             # default: paths.bulletins of settings.yaml
        secret: {"$env": "VEILLE_SECRET"}     # default: settings.yaml, then VEILLE_SECRET
        curator_password: {"$env": "VEILLE_CURATOR_PASSWORD"}

Routes:
- `/-/curation` (login at `/-/curation/login` with the curator's password): the week's items, each
  in or out of the bulletin and why (`pipeline.selection.week_plan`), with their tags; add or remove
  a tag, put "À la une", set aside, write a note, through `pipeline.curation.curate`, the function
  of `veille curate`. Forms carry Datasette's CSRF token.
- `/-/unsubscribe/<token>`: GET shows a confirmation page; POST (a bare one-click POST from a mail
  client, RFC 8058, or the page's button) unsubscribes, through `newsletter.subscribers`. The
  subscribers database is opened here only, never served.
- `/-/bulletins`: the built bulletins; `/-/bulletins/bulletin-YYYY-Www.html|txt`: one of them.

The archive is read and written through Datasette's own connections (`execute_fn`,
`execute_write_fn`: one write thread per database).
"""

from __future__ import annotations

import asyncio
import hmac
import os
import re
import sys
import weakref
from dataclasses import dataclass
from html import escape
from pathlib import Path

import sqlite_utils
from datasette import Response, hookimpl

from config.dates import current_week, parse_week, shift_week
from config.errors import VeilleError
from config.loading import Config, load_config
from config.schema import FACET_LABELS, TAXONOMY_FACETS
from newsletter.subscribers import open_subscribers_db, unsubscribe_by_token
from pipeline.archive import migrations
from pipeline.curation import curate, curation_queue
from pipeline.places import load_gazetteer
from pipeline.selection import section_label
from pipeline.urls import is_web_url


@dataclass
class Site:
    """What the plugin needs, read once per Datasette instance from its plugin configuration."""

    config: Config
    database: str
    subscribers_db: Path
    bulletins_dir: Path
    secret: str
    curator_password: str

    @property
    def title(self) -> str:
        return self.config.settings.bulletin.title


_sites: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def site_from_plugin_config(plugin_config: dict | None) -> Site:
    """The plugin's settings: its configuration, then Veille's config folder and its defaults."""
    options = plugin_config or {}
    config = load_config(options.get("config") or os.environ.get("VEILLE_CONFIG") or "config")
    settings = config.settings
    return Site(
        config=config,
        database=options.get("database") or "veille",
        subscribers_db=config.path(options.get("subscribers_db") or settings.paths.subscribers_db),
        bulletins_dir=config.path(options.get("bulletins") or settings.paths.bulletins),
        secret=options.get("secret") or settings.secret.get_secret_value(),
        curator_password=options.get("curator_password") or settings.curator_password,
    )


async def _site(datasette) -> Site:
    site = _sites.get(datasette)
    if site is None:
        site = site_from_plugin_config(datasette.plugin_config("veille"))
        if site.database not in datasette.databases:
            raise VeilleError(f"Datasette ne sert aucune base « {site.database} » : réglez plugins.veille.database")
        # Create or migrate the archive once, on Datasette's write connection.
        await datasette.get_database(site.database).execute_write_fn(
            lambda conn: migrations.apply(sqlite_utils.Database(conn)), block=True)
        _sites[datasette] = site
    return site


def with_site(route):
    """Give the route the plugin's `Site`; a configuration it cannot read is said on the server's
    error output, and the visitor gets a plain page without its details."""

    # Not functools.wraps: Datasette reads the signature to choose the arguments it passes.
    async def wrapper(datasette, request):
        try:
            site = await _site(datasette)
        except VeilleError as e:
            print(f"veille : configuration du greffon illisible : {e}", file=sys.stderr)
            return _page("Service indisponible", "<p>La veille n'est pas configurée sur ce serveur.</p>", 503)
        return await route(datasette, request, site)

    return wrapper


def _page(title: str, body: str, status: int = 200) -> Response:
    html = (f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<style>body{font-family:Arial,sans-serif;max-width:640px;margin:2em auto;padding:0 1em;color:#1d2733}'
            'h1{color:#0b4f6c;font-size:22px}button{font-size:16px;padding:8px 16px}</style></head>'
            f"<body><h1>{escape(title)}</h1>{body}</body></html>")
    return Response.html(html, status=status)


# ------------------------------------------------------------------ unsubscribe


@with_site
async def unsubscribe(datasette, request, site: Site):
    token = request.url_vars["token"]
    confirm = request.method == "POST"

    def act():
        if not site.subscribers_db.exists():
            return None
        db = open_subscribers_db(site.subscribers_db)
        try:
            return unsubscribe_by_token(db, site.secret, token, confirm=confirm)
        finally:
            db.close()

    outcome = await asyncio.to_thread(act)
    if outcome is None:
        return _page("Lien de désabonnement invalide",
                     "<p>Ce lien n'est pas valide ou a été altéré. Écrivez-nous pour vous désabonner.</p>", 400)
    email, was_unsubscribed = outcome
    if confirm:
        return _page("Désabonnement confirmé",
                     f"<p>L'adresse {escape(email)} ne recevra plus le bulletin de veille.</p>")
    if was_unsubscribed:
        return _page("Déjà désabonné·e", f"<p>L'adresse {escape(email)} ne reçoit plus le bulletin.</p>")
    return _page("Se désabonner du bulletin",
                 f"<p>Ne plus recevoir le bulletin de veille à l'adresse {escape(email)} ?</p>"
                 f'<form method="post" action="{escape(request.path)}"><button type="submit">'
                 "Confirmer le désabonnement</button></form>")


# -------------------------------------------------------------------- bulletins

_BULLETIN = re.compile(r"^bulletin-\d{4}-W\d{2}\.(html|txt)$")


@with_site
async def bulletins(datasette, request, site: Site):
    folder = site.bulletins_dir
    files = sorted(folder.glob("bulletin-*.html"), reverse=True) if folder.is_dir() else []
    items = "".join(f'<li><a href="/-/bulletins/{f.name}">{escape(f.stem.removeprefix("bulletin-"))}</a> '
                    f'(<a href="/-/bulletins/{f.with_suffix(".txt").name}">texte</a>)</li>' for f in files)
    return _page(f"{site.title} — bulletins", f"<ul>{items}</ul>" if items else "<p>Aucun bulletin pour l'instant.</p>")


@with_site
async def bulletin_file(datasette, request, site: Site):
    name = request.url_vars["name"]
    path = site.bulletins_dir / name
    if not _BULLETIN.match(name) or not path.is_file():
        return _page("Bulletin introuvable", "<p>Ce bulletin n'existe pas.</p>", 404)
    content = path.read_text(encoding="utf-8")
    return Response.html(content) if name.endswith(".html") else Response.text(content)


# --------------------------------------------------------------------- curation

CURATOR = {"id": "curatrice"}


def _is_curator(request) -> bool:
    return bool(request.actor) and request.actor.get("id") == CURATOR["id"]


@with_site
async def login(datasette, request, site: Site):
    error = None
    if not site.curator_password:
        error = "La curation est fermée : définissez VEILLE_CURATOR_PASSWORD au lancement du serveur."
    elif request.method == "POST":
        form = await request.post_vars()
        if hmac.compare_digest(form.get("password", "").encode(), site.curator_password.encode()):
            response = Response.redirect("/-/curation")
            response.set_cookie("ds_actor", datasette.sign({"a": CURATOR}, "actor"), httponly=True, samesite="lax")
            return response
        error = "Mot de passe incorrect."
    html = await datasette.render_template("veille_login.html", {"error": error}, request=request)
    return Response.html(html, status=403 if error and request.method == "POST" else 200)


async def logout(datasette, request):
    response = Response.redirect("/-/curation/login")
    response.set_cookie("ds_actor", "", expires=0)
    return response


def _tag_list(item, site: Site, gazetteer) -> list[dict]:
    """The item's tags as the curator reads them: taxonomy labels, places by name."""
    taxonomy = site.config.taxonomy
    return [{"label": taxonomy.label(facet, value) if facet in TAXONOMY_FACETS else gazetteer.label(facet, value),
             "spec": f"{facet}:{value}", "curator": (facet, value) in item.curator_tags}
            for facet, values in sorted(item.tags.items()) if facet != "region" for value in values]


@with_site
async def curation(datasette, request, site: Site):
    if not _is_curator(request):
        return Response.redirect("/-/curation/login")
    settings = site.config.settings
    week, error = request.args.get("week") or current_week(settings.tz), None
    try:
        parse_week(week)
    except VeilleError as e:
        week, error = current_week(settings.tz), str(e)
    items = await datasette.get_database(site.database).execute_fn(
        lambda conn: curation_queue(sqlite_utils.Database(conn), week, settings.tz, settings.bulletin.max_age_days))
    gazetteer = load_gazetteer(site.config.gazetteer_path)
    rows = [{"item": item, "safe_url": item.url if is_web_url(item.url) else None,
             "published": (item.published_at or "")[:10], "excerpt": item.text[:400],
             "section": section_label(item.section, site.config.taxonomy) if item.in_bulletin else None,
             "tag_list": _tag_list(item, site, gazetteer)} for item in items]
    taxonomy = site.config.taxonomy
    options = [(FACET_LABELS[facet], [(f"{facet}:{slug}", entry.label) for slug, entry in getattr(taxonomy, facet).items()])
               for facet in TAXONOMY_FACETS]
    html = await datasette.render_template("veille_curation.html", {
        "title": site.title, "week": week, "previous_week": shift_week(week, -1), "next_week": shift_week(week, 1),
        "rows": rows, "in_bulletin": sum(1 for item in items if item.in_bulletin),
        "tag_options": options, "message": request.args.get("ok"), "error": error,
    }, request=request)
    return Response.html(html)


@with_site
async def curate_item(datasette, request, site: Site):
    if not _is_curator(request):
        return Response.redirect("/-/curation/login")
    item_id = int(request.url_vars["item_id"])
    form = await request.post_vars()
    week = form.get("week") or ""
    try:
        parse_week(week)
    except VeilleError:
        week = current_week(site.config.settings.tz)
    flag = lambda name: None if name not in form else form[name] == "1"  # noqa: E731

    def record(conn):
        return curate(sqlite_utils.Database(conn), site.config.taxonomy, item_id,
                      add=[form["add"]] if form.get("add") else [],
                      remove=[form["remove"]] if form.get("remove") else [],
                      reject=flag("reject"), highlight=flag("highlight"), note=form.get("note"))

    try:
        await datasette.get_database(site.database).execute_write_fn(record, block=True)
    except VeilleError as e:
        return Response.html(f"<p>{escape(str(e))}</p><p><a href='/-/curation?week={escape(week)}'>Retour</a></p>",
                             status=400)
    return Response.redirect(f"/-/curation?week={week}&ok=Article+{item_id}+mis+à+jour#item-{item_id}")


@hookimpl
def register_routes():
    return [
        (r"^/-/curation/?$", curation),
        (r"^/-/curation/login$", login),
        (r"^/-/curation/logout$", logout),
        (r"^/-/curation/items/(?P<item_id>\d+)$", curate_item),
        (r"^/-/unsubscribe/(?P<token>[A-Za-z0-9_.-]+)$", unsubscribe),
        (r"^/-/bulletins/?$", bulletins),
        (r"^/-/bulletins/(?P<name>[^/]+)$", bulletin_file),
    ]


@hookimpl
def skip_csrf(scope):
    # RFC 8058: a mail client's one-click unsubscribe is a bare POST, with no cookie and no CSRF token.
    return scope["path"].startswith("/-/unsubscribe/")
