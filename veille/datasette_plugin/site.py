"""What every route of the plugin shares: its configuration (`Site`), plain French pages, forms,
and who is asking (the logged-in curator)."""

from __future__ import annotations

import os
import sys
import weakref
from dataclasses import dataclass
from html import escape
from pathlib import Path

import sqlite_utils
from datasette import Response
from datasette.utils.asgi import BadRequest
from pydantic import SecretStr

from config.errors import VeilleError
from config.loading import Config, load_config
from pipeline.archive import migrations


@dataclass
class Site:
    """What the plugin needs, read once per Datasette instance from its plugin configuration."""

    config: Config
    database: str
    subscribers_db: Path
    bulletins_dir: Path
    secret: SecretStr  # masked in every repr

    @property
    def title(self) -> str:
        return self.config.settings.bulletin.title


_sites: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def archive_name(plugin_config: dict | None) -> str:
    """The archive's database name in Datasette (plugins.veille.database, « veille » by default)."""
    return (plugin_config or {}).get("database") or "veille"


def site_from_plugin_config(plugin_config: dict | None) -> Site:
    """The plugin's settings: its configuration, then Veille's config folder and its defaults."""
    options = plugin_config or {}
    config = load_config(options.get("config") or os.environ.get("VEILLE_CONFIG") or "config")
    settings = config.settings
    return Site(
        config=config,
        database=archive_name(options),
        subscribers_db=config.path(options.get("subscribers_db") or settings.paths.subscribers_db),
        bulletins_dir=config.path(options.get("bulletins") or settings.paths.bulletins),
        secret=SecretStr(options.get("secret") or settings.secret.get_secret_value()),
    )


async def load_site(datasette) -> Site:
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
            site = await load_site(datasette)
        except VeilleError as e:
            print(f"veille : configuration du greffon illisible : {e}", file=sys.stderr)
            return page("Service indisponible", "<p>La veille n'est pas configurée sur ce serveur.</p>", 503)
        return await route(datasette, request, site)

    return wrapper


def page(title: str, body: str, status: int = 200) -> Response:
    html = (f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<style>body{font-family:Arial,sans-serif;max-width:640px;margin:2em auto;padding:0 1em;color:#1d2733}'
            'h1{color:#0b4f6c;font-size:22px}button{font-size:16px;padding:8px 16px}</style></head>'
            f"<body><h1>{escape(title)}</h1>{body}</body></html>")
    return Response.html(html, status=status)


async def read_form(request) -> dict:
    try:
        return await request.post_vars()
    except UnicodeDecodeError:
        raise BadRequest("Formulaire illisible : il n'est pas encodé en UTF-8.") from None


def client_address(request) -> str | None:
    """The client's address, from the ASGI scope (set by the server, not by the client)."""
    client = request.scope.get("client")
    return str(client[0]) if client else None


SESSION_COOKIE = "veille_session"
ACTOR_PREFIX = "curator:"


def logged_curator(request) -> str | None:
    """The logged-in curator's account name (from the session cookie, see `actor_from_request`)."""
    actor = request.actor or {}
    actor_id = actor.get("id")
    if actor.get("veille") == "session" and isinstance(actor_id, str) and actor_id.startswith(ACTOR_PREFIX):
        return actor_id.removeprefix(ACTOR_PREFIX)
    return None


