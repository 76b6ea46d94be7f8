"""Veille's Datasette plugin: the unsubscribe route and the archive of bulletins.

- `/-/unsubscribe/<token>`: GET shows a confirmation page; POST (a bare one-click POST from a mail
  client, RFC 8058, or the page's button) unsubscribes. The token is signed (newsletter/unsubscribe.py);
  the subscribers database is opened here only, never served.
- `/-/bulletins`: the list of built bulletins; `/-/bulletins/bulletin-YYYY-Www.html|txt`: one of them.

`veille serve` gives the plugin its settings through `datasette._veille` (a `SiteSettings`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from pathlib import Path

from datasette import Response, hookimpl

from newsletter.subscribers import open_subscribers_db
from newsletter.unsubscribe import token_is_valid, token_subscriber_id
from pipeline.archive import utcnow


@dataclass
class SiteSettings:
    subscribers_db: Path
    bulletins_dir: Path
    secret: str
    title: str


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


@hookimpl
def register_routes():
    return [
        (r"^/-/unsubscribe/(?P<token>[A-Za-z0-9_.-]+)$", unsubscribe),
        (r"^/-/bulletins/?$", bulletins),
        (r"^/-/bulletins/(?P<name>[^/]+)$", bulletin_file),
    ]


@hookimpl
def skip_csrf(scope):
    # RFC 8058: a mail client's one-click unsubscribe is a bare POST, with no cookie and no CSRF token.
    return scope["path"].startswith("/-/unsubscribe/")
