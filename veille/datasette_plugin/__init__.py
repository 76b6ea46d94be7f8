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

Routes:
- `/-/curation/login`, `/-/curation/logout`: a curator's account name and password (see
  `veille.curators` and `veille curators add`). The login opens a server-side session (12 h) whose
  random id is the only content of the `veille_session` cookie (`actor_from_request` turns it
  into the actor `{"id": "curator:NAME"}`); logging out, a password change or the account's
  removal closes it. Failed logins lock the account, and the client address, for 15 minutes
  after 5 failures.
- `/-/curation` and below (`workspace.py`): the curator's week — review, decisions, tag
  suggestions, bulletin preview, approval. Forms carry Datasette's CSRF token; every decision
  goes through `pipeline.curation.curate` with the curator's name.
- `/-/unsubscribe/<token>`: GET shows a confirmation page; POST (a bare one-click POST from a mail
  client, RFC 8058, or the page's button) unsubscribes, through `newsletter.subscribers`. The
  subscribers database is opened here only, never served.
- `/-/bulletins`: the built bulletins; `/-/bulletins/bulletin-YYYY-Www.html|txt`: one of them.
- `/-/article/<id>` and `/-/sources` (`item_page.py`, public): an article as a person reads it, and
  each source's health; `render_cell` links article titles in Datasette's pages to the former.
- `/-/acteur/<key>` (`actors_page.py`, public): an actor of the directory, its partners and items;
  POST `/-/acteur/<key>/decision`: a logged-in curator's decision on it (rename, kind, merge, split,
  hide); `render_cell` links actor names in the `acteurs` table to it.
- `.atom` on the `articles` table and on the canned queries listing articles (`atom.py`).

The archive is read and written through Datasette's own connections (`execute_fn`,
`execute_write_fn`: one write thread per database).

Errors: every route answers bad input with a 400 or 404 page in French; any other exception, in
these routes or in Datasette's, is answered by this plugin's `handle_exception` (a French page, one
line on the server's error output: status, exception type, route and where it was raised), which
replaces Datasette's own: that one prints the local variables of every frame, secrets included,
when rich is installed.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import sys
import traceback
from html import escape
from pathlib import Path

from datasette import Response, hookimpl
from datasette.utils.asgi import Base400, NotFound

from config.errors import VeilleError
from newsletter.subscribers import open_subscribers_db, unsubscribe_by_token
from veille import curators as accounts
from veille.datasette_plugin import actors_page, item_page, workspace
from veille.datasette_plugin.item_page import render_cell  # noqa: F401 - a hook, found here by pluggy
from veille.datasette_plugin.actors_page import render_actor_cell  # noqa: F401 - a hook (render_cell)
from veille.datasette_plugin.atom import register_output_renderer  # noqa: F401 - a hook, found here by pluggy
from veille.datasette_plugin.facets import filters_from_request, register_facet_classes, startup  # noqa: F401 - hooks
from veille.datasette_plugin.site import (SESSION_COOKIE, ACTOR_PREFIX, Site, client_address, load_site,
                                          logged_curator, page, read_form, with_site)


# ------------------------------------------------------------------ unsubscribe


@with_site
async def unsubscribe(datasette, request, site: Site):
    token = request.url_vars["token"]
    confirm = request.method == "POST"
    head, _, _ = token.partition(".")

    def act():
        if len(token) > 100 or not head.isdigit() or len(head) > 18 or not site.subscribers_db.exists():
            return None
        db = open_subscribers_db(site.subscribers_db)
        try:
            return unsubscribe_by_token(db, site.secret.get_secret_value(), token, confirm=confirm)
        finally:
            db.close()

    outcome = await asyncio.to_thread(act)
    if outcome is None:
        return page("Lien de désabonnement invalide",
                     "<p>Ce lien n'est pas valide ou a été altéré. Écrivez-nous pour vous désabonner.</p>", 400)
    email, was_unsubscribed = outcome
    if confirm:
        return page("Désabonnement confirmé",
                     f"<p>L'adresse {escape(email)} ne recevra plus le bulletin de veille.</p>")
    if was_unsubscribed:
        return page("Déjà désabonné·e", f"<p>L'adresse {escape(email)} ne reçoit plus le bulletin.</p>")
    return page("Se désabonner du bulletin",
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
    return page(f"{site.title} — bulletins", f"<ul>{items}</ul>" if items else "<p>Aucun bulletin pour l'instant.</p>")


@with_site
async def bulletin_file(datasette, request, site: Site):
    name = request.url_vars["name"]
    path = site.bulletins_dir / name
    if not _BULLETIN.match(name) or not path.is_file():
        return page("Bulletin introuvable", "<p>Ce bulletin n'existe pas.</p>", 404)
    content = path.read_text(encoding="utf-8")
    return Response.html(content) if name.endswith(".html") else Response.text(content)


# --------------------------------------------------------------------- curation

async def _accounts(site: Site, work):
    """Run `work(db)` on the curators' tables of the subscribers database, in a thread."""

    def run():
        db = accounts.open_curators_db(site.subscribers_db)
        try:
            return work(db)
        finally:
            db.close()

    return await asyncio.to_thread(run)


@hookimpl
def actor_from_request(datasette, request):
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None

    async def inner():
        try:
            site = await load_site(datasette)
            if not site.subscribers_db.exists():
                return None
            name = await _accounts(site, lambda db: accounts.session_curator(db, session_id))
        except (VeilleError, sqlite3.Error) as e:
            # Outside Datasette's error handling: never raise here.
            print(f"veille : session illisible ({type(e).__name__})", file=sys.stderr)
            return None
        return {"id": ACTOR_PREFIX + name, "veille": "session"} if name else None

    return inner


def _set_session_cookie(response: Response, request, value: str, max_age: int) -> None:
    response.set_cookie(SESSION_COOKIE, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=request.scheme == "https")


@with_site
async def login(datasette, request, site: Site):
    error, status = None, 200
    opened = site.subscribers_db.exists() and await _accounts(site, accounts.has_curators)
    if not opened:
        error = ("La curation est fermée : aucun compte de curation n'existe encore. "
                 "Créez-en un sur le serveur avec « veille curators add NOM ».")
        status = 403 if request.method == "POST" else 200
    elif request.method == "POST":
        form = await read_form(request)
        name, password, client = form.get("name", ""), form.get("password", ""), client_address(request)

        def check(db):
            name_ok = accounts.verify(db, name, password, client)
            return name_ok, accounts.open_session(db, name_ok, client)

        try:
            _, session_id = await _accounts(site, check)
        except accounts.LoginRefused as e:
            error, status = str(e), 429 if e.locked_until else 403
        else:
            response = Response.redirect("/-/curation")
            _set_session_cookie(response, request, session_id, int(accounts.SESSION_DURATION.total_seconds()))
            return response
    html = await datasette.render_template("veille_login.html", {"error": error, "opened": opened},
                                           request=request)
    return Response.html(html, status=status)


@with_site
async def logout(datasette, request, site: Site):
    if request.method != "POST":  # logging out changes state: a POST with Datasette's CSRF token
        return Response.redirect("/-/curation" if logged_curator(request) else "/-/curation/login")
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id and site.subscribers_db.exists():
        await _accounts(site, lambda db: accounts.close_session(db, session_id))
    response = Response.redirect("/-/curation/login")
    _set_session_cookie(response, request, "", 0)
    return response


async def unknown_page(datasette, request):
    return page("Page introuvable", "<p>Cette page n'existe pas. <a href=\"/-/curation\">Curation</a> · "
                 "<a href=\"/-/bulletins\">Bulletins</a></p>", 404)


async def invalid_unsubscribe_link(datasette, request):
    return page("Lien de désabonnement invalide",
                 "<p>Ce lien n'est pas valide ou a été altéré. Écrivez-nous pour vous désabonner.</p>", 400)


@hookimpl
def register_routes():
    return [
        (r"^/-/curation/login$", login),
        (r"^/-/curation/logout$", logout),
        *workspace.ROUTES,
        *item_page.ROUTES,
        *actors_page.ROUTES,
        (r"^/-/curation/.*$", unknown_page),
        (r"^/-/unsubscribe/(?P<token>[A-Za-z0-9_.-]+)$", unsubscribe),
        (r"^/-/unsubscribe(/.*)?$", invalid_unsubscribe_link),
        (r"^/-/bulletins/?$", bulletins),
        (r"^/-/bulletins/(?P<name>[^/]+)$", bulletin_file),
        (r"^/-/bulletins/.*$", unknown_page),
    ]


@hookimpl
def extra_css_urls(template, database, table):
    # Datasette's own pages of the archive: see static/archive.css.
    return ["/-/curation/static/archive.css"] if template.startswith(("table", "row", "query", "database")) else []


@hookimpl
def skip_csrf(scope):
    # RFC 8058: a mail client's one-click unsubscribe is a bare POST, with no cookie and no CSRF token.
    return scope["path"].startswith("/-/unsubscribe/")


# ------------------------------------------------------------------------ errors


@hookimpl
def asgi_wrapper(datasette):
    """Around the whole application, Datasette's CSRF check included: a form that is not UTF-8 gets
    a 400 (the CSRF check would fail on it with a 500), and an exception that escapes Datasette's
    own handling one line on the error output and a French 500, never a traceback."""

    def wrap(app):
        async def wrapped(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            started = False

            async def send_tracking(message):
                nonlocal started
                started = started or message["type"] == "http.response.start"
                await send(message)

            headers = dict(scope.get("headers") or [])
            if scope.get("method") == "POST" and headers.get(b"content-type", b"").startswith(
                    b"application/x-www-form-urlencoded"):
                messages, more = [], True
                while more:
                    message = await receive()
                    messages.append(message)
                    more = message.get("type") == "http.request" and message.get("more_body", False)
                try:
                    b"".join(m.get("body", b"") for m in messages).decode("utf-8")
                except UnicodeDecodeError:
                    return await page("Requête invalide", "<p>Formulaire illisible : il n'est pas encodé "
                                       "en UTF-8.</p>", 400).asgi_send(send)

                async def replay():
                    return messages.pop(0) if messages else await receive()

                receive = replay
            try:
                await app(scope, receive, send_tracking)
            except Exception as e:  # noqa: BLE001 - answered and logged in one line, never re-raised
                route = _route(scope.get("path") or "")
                print(f"veille : 500 {type(e).__name__} sur {scope.get('method')} {route}{_where(e)}", file=sys.stderr)
                if not started:
                    await page("Erreur du serveur", "<p>Une erreur inattendue s'est produite ; elle a été "
                                "consignée sur le serveur.</p>", 500).asgi_send(send)

        return wrapped

    return wrap


def _route(path: str) -> str:
    """The path for the log, an unsubscribe link's token left out (it unsubscribes whoever has it)."""
    return "/-/unsubscribe/…" if path.startswith("/-/unsubscribe/") else path[:200]


def _where(exception: BaseException) -> str:
    """Where an exception was raised (file, line, function): no message, no variables."""
    frames = traceback.extract_tb(exception.__traceback__)
    return f" ({Path(frames[-1].filename).name}:{frames[-1].lineno}, {frames[-1].name})" if frames else ""

_TITLES = {400: "Requête invalide", 403: "Accès refusé", 404: "Page introuvable", 405: "Méthode non permise",
           500: "Erreur du serveur"}


@hookimpl(wrapper=True)
def handle_exception(datasette, request, exception):
    """Every uncaught exception: one line on the server's error output, a French page.

    A wrapper, so that it replaces the answers of the other handlers rather than adding to them:
    Datasette's own prints every frame's local variables (secrets included) when rich is
    installed, as soon as its answer is awaited."""
    try:
        yield
    except Exception:  # another handler failed: ours answers all the same
        pass
    return [_answer_exception(request, exception)]


async def _answer_exception(request, exception) -> Response:
    from datasette.views.base import DatasetteError

    detail = None
    if isinstance(exception, Base400):
        status = exception.status
        detail = str(exception.args[0]) if exception.args else None
    elif isinstance(exception, DatasetteError):
        status, detail = exception.status, None if exception.message_is_html else exception.message
    else:
        status = 500
    where = _where(exception) if status >= 500 else ""
    # Never the exception's message nor its locals: they may hold anything, secrets included.
    print(f"veille : {status} {type(exception).__name__} sur {request.method} {_route(request.path)}{where}",
          file=sys.stderr)
    if status >= 500:
        detail = "Une erreur inattendue s'est produite ; elle a été consignée sur le serveur."
    if request.path.endswith(".json"):
        return Response.json({"ok": False, "error": detail, "status": status, "title": None}, status=status)
    title = _TITLES.get(status, "Requête refusée" if status < 500 else "Erreur du serveur")
    if isinstance(exception, NotFound) or status == 404:
        detail = "Cette page n'existe pas."  # Datasette's own messages are in English
    body = f"<p>{escape(detail)}</p>" if detail else ""
    return page(title, body + '<p><a href="/">Retour à l\'accueil</a></p>', status)


def _register_whole() -> None:
    """Datasette loads its plugins (this package) when it is first imported. When that import starts
    from inside this package (one of its modules imported before Datasette, as a test may), pluggy
    registered the package half-executed, without the hooks defined below `from datasette import`:
    register it again, whole."""
    from datasette.plugins import pm

    module = sys.modules[__name__]
    if pm.is_registered(module):
        name = pm.get_name(module)
        pm.unregister(module)
        pm.register(module, name=name)


_register_whole()
