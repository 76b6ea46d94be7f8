"""Veille's Datasette plugin: the curation pages, the unsubscribe route and the archive of bulletins.

- `/-/curation` (login at `/-/curation/login` with the curator's password): the week's items with
  their tags; add or remove a tag, put "À la une", set aside, write a note. Every action goes through
  `pipeline.curation.curate`, the same function as `veille curate`; forms carry Datasette's CSRF token.

- `/-/unsubscribe/<token>`: GET shows a confirmation page; POST (a bare one-click POST from a mail
  client, RFC 8058, or the page's button) unsubscribes. The token is signed (newsletter/unsubscribe.py);
  the subscribers database is opened here only, never served.
- `/-/bulletins`: the list of built bulletins; `/-/bulletins/bulletin-YYYY-Www.html|txt`: one of them.

`veille serve` gives the plugin its settings through `datasette._veille` (a `SiteSettings`).
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from html import escape
from pathlib import Path

from datasette import Response, hookimpl

from newsletter.bulletin import current_week, parse_week, week_bounds
from newsletter.subscribers import open_subscribers_db
from newsletter.unsubscribe import token_is_valid, token_subscriber_id
from pipeline.archive import open_db, utcnow
from pipeline.curation import curate, curation_queue
from pipeline.urls import is_web_url
from veille.errors import VeilleError


@dataclass
class SiteSettings:
    subscribers_db: Path
    bulletins_dir: Path
    secret: str
    title: str
    archive_db: Path | None = None
    taxonomy: object | None = None      # veille.config.Taxonomy
    curator_password: str = ""


def _page(title: str, body: str, status: int = 200) -> Response:
    html = (f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<style>body{font-family:Arial,sans-serif;max-width:640px;margin:2em auto;padding:0 1em;color:#1d2733}'
            'h1{color:#0b4f6c;font-size:22px}button{font-size:16px;padding:8px 16px}</style></head>'
            f"<body><h1>{escape(title)}</h1>{body}</body></html>")
    return Response.html(html, status=status)


def _subscriber(site: SiteSettings, token: str):
    subscriber_id = token_subscriber_id(token)
    if subscriber_id is None or not site.subscribers_db.exists():
        return None, None
    db = open_subscribers_db(site.subscribers_db)
    row = db.execute("SELECT email, unsubscribed_at FROM subscribers WHERE id = ?", [subscriber_id]).fetchone()
    if row is None or not token_is_valid(site.secret, token, row[0]):
        return db, None
    return db, (subscriber_id, row[0], row[1])


async def unsubscribe(datasette, request):
    site: SiteSettings = datasette._veille
    token = request.url_vars["token"]
    db, subscriber = _subscriber(site, token)
    if subscriber is None:
        return _page("Lien de désabonnement invalide",
                     "<p>Ce lien n'est pas valide ou a été altéré. Écrivez-nous pour vous désabonner.</p>", 400)
    subscriber_id, email, unsubscribed_at = subscriber
    if request.method == "POST":
        if unsubscribed_at is None:
            db["subscribers"].update(subscriber_id, {"unsubscribed_at": utcnow()})
        return _page("Désabonnement confirmé",
                     f"<p>L'adresse {escape(email)} ne recevra plus le bulletin de veille.</p>")
    if unsubscribed_at is not None:
        return _page("Déjà désabonné·e", f"<p>L'adresse {escape(email)} ne reçoit plus le bulletin.</p>")
    return _page("Se désabonner du bulletin",
                 f"<p>Ne plus recevoir le bulletin de veille à l'adresse {escape(email)} ?</p>"
                 f'<form method="post" action="{escape(request.path)}"><button type="submit">'
                 "Confirmer le désabonnement</button></form>")


_BULLETIN = re.compile(r"^bulletin-\d{4}-W\d{2}\.(html|txt)$")


async def bulletins(datasette, request):
    site: SiteSettings = datasette._veille
    files = sorted(site.bulletins_dir.glob("bulletin-*.html"), reverse=True) if site.bulletins_dir.is_dir() else []
    items = "".join(f'<li><a href="/-/bulletins/{f.name}">{escape(f.stem.removeprefix("bulletin-"))}</a> '
                    f'(<a href="/-/bulletins/{f.with_suffix(".txt").name}">texte</a>)</li>' for f in files)
    return _page(f"{site.title} — bulletins", f"<ul>{items}</ul>" if items else "<p>Aucun bulletin pour l'instant.</p>")


async def bulletin_file(datasette, request):
    site: SiteSettings = datasette._veille
    name = request.url_vars["name"]
    path = site.bulletins_dir / name
    if not _BULLETIN.match(name) or not path.is_file():
        return _page("Bulletin introuvable", "<p>Ce bulletin n'existe pas.</p>", 404)
    content = path.read_text(encoding="utf-8")
    return Response.html(content) if name.endswith(".html") else Response.text(content)


CURATOR = {"id": "curatrice"}


def _is_curator(request) -> bool:
    return bool(request.actor) and request.actor.get("id") == CURATOR["id"]


async def login(datasette, request):
    site: SiteSettings = datasette._veille
    error = None
    if not site.curator_password:
        error = "La curation est fermée : définissez VEILLE_CURATOR_PASSWORD au lancement de « veille serve »."
    elif request.method == "POST":
        form = await request.post_vars()
        if hmac.compare_digest(form.get("password", "").encode(), site.curator_password.encode()):
            response = Response.redirect("/-/curation")
            response.set_cookie("ds_actor", datasette.sign({"a": CURATOR}, "actor"), httponly=True, samesite="lax")
            return response
        error = "Mot de passe incorrect."
    html = await datasette.render_template("veille_login.html", {"error": error}, request=request)
    return Response.html(html, status=200 if error is None else 403 if request.method == "POST" else 200)


async def logout(datasette, request):
    response = Response.redirect("/-/curation/login")
    response.set_cookie("ds_actor", "", expires=0)
    return response


def _weeks(week: str) -> tuple[str, str]:
    monday = parse_week(week)
    return current_week(datetime(*(monday - timedelta(days=7)).timetuple()[:3], 12, tzinfo=timezone.utc)), \
        current_week(datetime(*(monday + timedelta(days=7)).timetuple()[:3], 12, tzinfo=timezone.utc))


async def curation(datasette, request):
    if not _is_curator(request):
        return Response.redirect("/-/curation/login")
    site: SiteSettings = datasette._veille
    week = request.args.get("week") or current_week()
    try:
        start, end = week_bounds(week)
    except VeilleError as e:
        week, (start, end), error = current_week(), week_bounds(current_week()), str(e)
    else:
        error = None
    items = curation_queue(open_db(site.archive_db), start.isoformat(), end.isoformat())
    taxonomy = site.taxonomy
    for item in items:
        item["safe_url"] = item["url"] if is_web_url(item["url"]) else None
        item["published"] = (item["published_at"] or "")[:10]
        item["tag_list"] = [
            {"label": taxonomy.label(facet, value) if facet in ("nature", "themes", "dispositifs") else f"{facet} {value}",
             "spec": f"{facet}:{value}", "curator": (facet, value) in item["curator_tags"]}
            for facet, values in sorted(item["tags"].items()) if facet != "region" for value in values]
    previous_week, next_week = _weeks(week)
    options = [(group, [(f"{facet}:{slug}", entry.label) for slug, entry in getattr(taxonomy, facet).items()])
               for group, facet in (("Nature", "nature"), ("Thèmes", "themes"), ("Dispositifs", "dispositifs"))]
    html = await datasette.render_template("veille_curation.html", {
        "title": site.title, "week": week, "previous_week": previous_week, "next_week": next_week,
        "items": items, "in_scope": sum(1 for i in items if i["in_scope"] and not i["rejected"]),
        "tag_options": options, "message": request.args.get("ok"), "error": error,
    }, request=request)
    return Response.html(html)


async def curate_item(datasette, request):
    if not _is_curator(request):
        return Response.redirect("/-/curation/login")
    site: SiteSettings = datasette._veille
    item_id = int(request.url_vars["item_id"])
    form = await request.post_vars()
    week = form.get("week") or current_week()
    flag = lambda name: None if name not in form else form[name] == "1"  # noqa: E731
    try:
        curate(open_db(site.archive_db), site.taxonomy, item_id,
               add=[form["add"]] if form.get("add") else [], remove=[form["remove"]] if form.get("remove") else [],
               reject=flag("reject"), highlight=flag("highlight"), note=form.get("note"))
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
