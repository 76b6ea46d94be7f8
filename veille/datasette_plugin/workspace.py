"""The curator's workspace: review a week, act on its items, preview the bulletin, approve it.

Routes (each needs a curator's session; see the plugin's login):
- `GET /-/curation?week=YYYY-Www&scope=&nature=&themes=&dispositifs=&departements=&source=&doubts=&untagged=`:
  the week's items (`pipeline.review`), filtered;
- `POST /-/curation/items/<id>`: one decision (add, remove, nature, highlight, reject, note) through
  `pipeline.curation.curate`, refused when the item changed since the page showed it (`version`).
  A plain form gets a redirect back to the page (or a French page when refused); a request that
  accepts JSON (the page's script) gets the re-rendered items whose state changed;
- `GET /-/curation/suggest?q=`: tags and places named like q, for the add-a-tag field;
- `GET /-/curation/preview?week=&departement=&themes=`: the bulletin as one subscriber profile will
  receive it (in a sandboxed frame, `/-/curation/preview/copy`), with its size against the limit
  Gmail clips at, and the largest copy among the subscribers' profiles;
- `POST /-/curation/approve`: « Valider le bulletin de la semaine » (`pipeline.approval`).
"""

from __future__ import annotations

import asyncio
import urllib.parse
from datetime import date
from functools import lru_cache
from html import escape
from importlib import resources

import sqlite_utils
from datasette import Response
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from config.dates import french_date, parse_week, shift_week
from config.errors import VeilleError
from config.schema import NATURES
from newsletter.bulletin import bulletin_data, capped, personalise, render_bulletin
from newsletter.letters import MAX_HTML_BYTES, html_bytes, largest_copy, render_copy, subscriber_copy
from newsletter.subscribers import active_subscribers, open_subscribers_db
from pipeline.articles import Labels, refresh_items
from pipeline.approval import approval_status, approve_week
from pipeline.curation import AmbiguousTag, StaleItem, curate, resolve_tag, suggest_tags
from pipeline.places import load_gazetteer
from pipeline.review import FILTER_LABELS, FILTERS, ReviewItem, facet_counts, matches, review_week
from pipeline.selection import WeekItem, week_plan
from pipeline.urls import is_web_url
from veille.schedule import next_bulletin_week
from veille.datasette_plugin.site import Site, logged_curator, page, read_form, with_site

LOGIN = "/-/curation/login"


def _week(site: Site, value: str | None) -> tuple[str, str | None]:
    """The week asked for, or the one the next scheduled bulletin covers (with the reason the one
    asked for was not understood)."""
    if value:
        try:
            parse_week(value)
            return value, None
        except VeilleError as e:
            return next_bulletin_week(site.config), str(e)
    return next_bulletin_week(site.config), None


def _filters(args) -> dict[str, str]:
    return {name: args.get(name, "")[:100] for name in FILTERS if args.get(name)}


def _query(week: str, filters: dict[str, str]) -> str:
    return urllib.parse.urlencode({"week": week, **filters})


async def _read(datasette, site: Site, work):
    return await datasette.get_database(site.database).execute_fn(lambda conn: work(sqlite_utils.Database(conn)))


def _review(site: Site, db, week: str, only: set[int] | None = None) -> list[ReviewItem]:
    settings = site.config.settings
    return review_week(db, week, settings.tz, settings.bulletin.max_age_days, site.config.taxonomy,
                       load_gazetteer(site.config.gazetteer_path), only)


def _status(site: Site, db, week: str):
    settings = site.config.settings
    return approval_status(db, week, settings.tz, settings.bulletin.max_age_days)


def _common(site: Site, week: str, curator: str, status) -> dict:
    """What every workspace template shows in its header."""
    return {"title": site.title, "week": week, "previous_week": shift_week(week, -1),
            "next_week": shift_week(week, 1), "curator": curator, "status": status,
            "status_text": status.summary(site.config.settings.tz)}


@lru_cache(maxsize=1)
def _items_templates() -> Environment:
    """The items are rendered with a plain (synchronous) Jinja2 environment: Datasette's own is
    asynchronous, several times slower for the thousands of small pieces of a week of 300 items."""
    return Environment(loader=PackageLoader("veille.datasette_plugin", "templates"), autoescape=True,
                       undefined=StrictUndefined)


def render_items(request, site: Site, week: str, back: str, reviews) -> dict[str, str]:
    """{item id: its <article>} for the workspace and for the answers to its script."""
    template = _items_templates().get_template("veille_item.html")
    context = {**_item_context(site, week, back), "token": request.scope["csrftoken"]()}
    return {str(r.id): template.render(context, r=r) for r in reviews}


def _item_context(site: Site, week: str, back: str) -> dict:
    taxonomy = site.config.taxonomy
    return {"week": week, "back": back, "natures": [(slug, taxonomy.label("nature", slug)) for slug in NATURES],
            "web_url": is_web_url, "french_day": _french_day}


def _french_day(iso: str) -> str:
    try:
        return french_date(date.fromisoformat(iso[:10]))
    except ValueError:
        return iso[:10]


def for_curator(route):
    """A route of the workspace: the plugin's `Site` and the logged-in curator's name; without a
    session, the login page (or a 401 for the page's script, which asks for JSON)."""

    # Not functools.wraps: Datasette reads the signature to choose the arguments it passes.
    async def wrapper(datasette, request, site: Site):
        curator = logged_curator(request)
        if curator:
            return await route(datasette, request, site, curator)
        if _wants_json(request) or request.path == "/-/curation/suggest":
            return Response.json({"ok": False, "error": "Session expirée : reconnectez-vous."}, status=401)
        return Response.redirect(LOGIN)

    return with_site(wrapper)


# ------------------------------------------------------------------ the week


@for_curator
async def workspace(datasette, request, site: Site, curator: str):
    week, error = _week(site, request.args.get("week"))
    filters = _filters(request.args)

    def read(db):
        return _review(site, db, week), _status(site, db, week)

    reviews, status = await _read(datasette, site, read)
    shown = [r for r in reviews if matches(r, filters)]
    gazetteer = load_gazetteer(site.config.gazetteer_path)
    counts = facet_counts(reviews, site.config.taxonomy, gazetteer)
    back = _query(week, filters)
    html = await datasette.render_template("veille_workspace.html", {
        **_common(site, week, curator, status), **_item_context(site, week, back),
        "items_html": Markup("".join(render_items(request, site, week, back, shown).values())),
        "shown": len(shown), "total": len(reviews), "in_bulletin": sum(r.item.in_bulletin for r in reviews),
        "filters": filters, "filter_names": FILTERS, "filter_labels": FILTER_LABELS, "counts": counts,
        "message": request.args.get("ok"), "error": error,
        "tag_labels": _tag_labels(site),
    }, request=request)
    return Response.html(html)


def _tag_labels(site: Site) -> list[str]:
    """The taxonomy's labels, offered by the add-a-tag field even without the page's script."""
    taxonomy = site.config.taxonomy
    return sorted({entry.label for facet in ("themes", "dispositifs") for entry in getattr(taxonomy, facet).values()})


# ------------------------------------------------------------------ decisions


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@for_curator
async def decide(datasette, request, site: Site, curator: str):
    as_json = _wants_json(request)
    digits = request.url_vars["item_id"]
    form = await read_form(request)
    week, _ = _week(site, form.get("week"))
    back = _safe_back(form.get("back"), week)
    if len(digits) > 18:  # beyond SQLite's integers: no such item
        return _refusal(as_json, "Article introuvable", f"Aucun article n°{digits[:20]}… dans l'archive.", 404, back)
    item_id = int(digits)
    flag = lambda name: None if name not in form else form[name] == "1"  # noqa: E731
    taxonomy, gazetteer = site.config.taxonomy, load_gazetteer(site.config.gazetteer_path)

    def record(db):
        if not db.execute("SELECT 1 FROM items WHERE id = ?", [item_id]).fetchone():
            return None
        settings = site.config.settings
        before = {i.id: _state(i) for i in week_plan(db, week, settings.tz, settings.bulletin.max_age_days)}
        add = []
        if form.get("add", "").strip():
            facet, value = resolve_tag(form["add"], taxonomy, gazetteer)
            add.append(f"{facet}:{value}")
        if form.get("do") == "nature":  # the form's other buttons send the select too
            add.append(f"nature:{form.get('nature', '')}")
        curate(db, taxonomy, item_id, add=add, remove=[form["remove"]] if form.get("remove") else [],
               reject=flag("reject"), highlight=flag("highlight"), note=form.get("note"), by=curator,
               expected_version=form.get("version") or None, gazetteer=gazetteer)
        refresh_items(db, [item_id], Labels(taxonomy, gazetteer, settings.tz, settings.bulletin.max_age_days))
        after = week_plan(db, week, settings.tz, settings.bulletin.max_age_days)
        changed = {i.id for i in after if i.id == item_id or before.get(i.id) != _state(i)}
        return _review(site, db, week, only=changed), after, _status(site, db, week)

    try:
        outcome = await _write(datasette, site, record)
    except AmbiguousTag as e:
        return await _choices(datasette, request, site, as_json, item_id, form, week, back, e)
    except StaleItem as e:
        fresh = await _read(datasette, site, lambda db: [r for r in _review(site, db, week) if r.id == item_id])
        html = render_items(request, site, week, back, fresh) if as_json else None
        return _refusal(as_json, "Décision non enregistrée", _sentence(e), 409, back, html=html)
    except VeilleError as e:
        return _refusal(as_json, "Décision refusée", _sentence(e), 400, back)
    if outcome is None:
        return _refusal(as_json, "Article introuvable", f"Aucun article n°{item_id} dans l'archive.", 404, back)
    changed, everything, status = outcome
    message = f"Article n°{item_id} mis à jour."
    if not as_json:
        return Response.redirect(f"/-/curation?{back}&ok={urllib.parse.quote(message)}#item-{item_id}")
    return Response.json({
        "ok": True, "message": message,
        "items": render_items(request, site, week, back, changed),
        "in_bulletin": sum(i.in_bulletin for i in everything), "total": len(everything),
        "status": await _render_status(datasette, request, site, week, curator, status),
    })


def _state(item: WeekItem) -> tuple:
    """What a decision on another item may change on this one."""
    return item.in_bulletin, item.reason, item.section, tuple(item.also_published_by)


def _sentence(error: Exception) -> str:
    text = str(error).rstrip(".")
    return text[:1].upper() + text[1:] + ("" if text.endswith(("…", "?", "!")) else ".")


async def _write(datasette, site: Site, work):
    """Run `work(db)` on the archive's write connection; a refusal (VeilleError) comes back raised
    here, not printed by Datasette's write thread (which writes every exception to stderr)."""

    def run(conn):
        try:
            return False, work(sqlite_utils.Database(conn))
        except VeilleError as e:
            return True, e

    failed, result = await datasette.get_database(site.database).execute_write_fn(run, block=True)
    if failed:
        raise result
    return result


def _safe_back(value: str | None, week: str) -> str:
    """The page's query string to return to: only the workspace's own parameters survive."""
    parsed = urllib.parse.parse_qs(value or "")
    filters = {name: parsed[name][0][:100] for name in FILTERS if parsed.get(name)}
    return _query(week, filters)


def _refusal(as_json: bool, title: str, message: str, status: int, back: str, html: dict | None = None) -> Response:
    if as_json:
        return Response.json({"ok": False, "error": message, "items": html or {}}, status=status)
    return page(title, f"<p>{escape(message)}</p><p><a href='/-/curation?{escape(back)}'>Retour à la curation</a></p>",
                status)


async def _choices(datasette, request, site, as_json, item_id, form, week, back, error: AmbiguousTag) -> Response:
    """A name several places bear, or none exactly: she picks, nothing is saved meanwhile."""
    if as_json:
        return Response.json({"ok": False, "error": _sentence(error),
                              "choices": [{"spec": s, "label": label} for s, label in error.choices]}, status=400)
    html = await datasette.render_template("veille_choices.html", {
        "message": _sentence(error), "choices": error.choices, "item_id": item_id, "week": week, "back": back,
        "version": form.get("version", ""),
    }, request=request)
    return Response.html(html, status=400)


async def _render_status(datasette, request, site: Site, week: str, curator: str, status) -> str:
    return await datasette.render_template("veille_approval.html", _common(site, week, curator, status),
                                           request=request)


@for_curator
async def suggest(datasette, request, site: Site, curator: str):
    query = (request.args.get("q") or "")[:80]
    found = suggest_tags(query, site.config.taxonomy, load_gazetteer(site.config.gazetteer_path))
    return Response.json([{"spec": spec, "label": label} for spec, label in found])


# ------------------------------------------------------------------ approval


@for_curator
async def approve(datasette, request, site: Site, curator: str):
    if request.method != "POST":
        return Response.redirect("/-/curation")
    form = await read_form(request)
    week, error = _week(site, form.get("week"))
    back = "/-/curation/preview?" if form.get("from") == "preview" else "/-/curation?"
    if error:
        return page("Validation refusée", f"<p>{escape(_sentence(VeilleError(error)))}</p>", 400)
    settings = site.config.settings

    try:
        await _write(datasette, site, lambda db: approve_week(db, week, settings.tz, settings.bulletin.max_age_days,
                                                            curator))
    except VeilleError as e:
        return page("Validation refusée", f"<p>{escape(_sentence(e))}</p>"
                    f"<p><a href='{back}week={escape(week)}'>Retour</a></p>", 400)
    message = urllib.parse.quote(f"Bulletin de la semaine {week} validé par {curator}.")
    return Response.redirect(f"{back}week={week}&ok={message}")


# ------------------------------------------------------------------ preview


def _profile(site: Site, args) -> tuple[list[str], list[str]]:
    gazetteer = load_gazetteer(site.config.gazetteer_path)
    departement = args.get("departement", "")
    themes = [t for t in args.getlist("themes") if t in site.config.taxonomy.themes]
    return ([departement] if departement in gazetteer.region_departements else []), themes


def _subscriber_profiles(site: Site) -> list[tuple[list[str], list[str]]]:
    """The distinct (départements, themes) of the active subscribers (their addresses stay here)."""
    if not site.subscribers_db.exists():
        return []
    db = open_subscribers_db(site.subscribers_db)
    try:
        return sorted({(tuple(s.departements), tuple(s.themes)) for s in active_subscribers(db)})
    finally:
        db.close()


@for_curator
async def preview(datasette, request, site: Site, curator: str):
    week, error = _week(site, request.args.get("week"))
    departements, themes = _profile(site, request.args)
    settings, gazetteer = site.config.settings, load_gazetteer(site.config.gazetteer_path)

    def read(db):
        return bulletin_data(db, week, settings, site.config.taxonomy, gazetteer), _status(site, db, week)

    bulletin, status = await _read(datasette, site, read)
    profiles = [(list(d), list(t)) for d, t in await asyncio.to_thread(_subscriber_profiles, site)]

    def measure():
        html, _ = render_copy(bulletin, settings, departements, themes, gazetteer)
        copy = subscriber_copy(bulletin, settings, departements, themes, gazetteer)
        # The same copy at the setting's cap, before it is shortened to fit under the limit.
        personal = capped(personalise(bulletin, departements, themes, gazetteer.region_departements),
                          settings.bulletin.section_cap)
        at_cap, _ = render_bulletin(personal)
        moved = _shown(personal) - _shown(copy)
        return (copy.count, html_bytes(html), html_bytes(at_cap), max(0, moved),
                largest_copy(bulletin, settings, profiles, gazetteer))

    copy_count, size, size_at_cap, moved, (largest, largest_profile) = await asyncio.to_thread(measure)
    labels = gazetteer.region_departements
    copy_query = urllib.parse.urlencode([("week", week), *[("departement", d) for d in departements],
                                         *[("themes", t) for t in themes]])
    html = await datasette.render_template("veille_preview.html", {
        **_common(site, week, curator, status), "error": error, "message": request.args.get("ok"),
        "count": bulletin.count, "copy_count": copy_count, "departements": sorted(labels.items(), key=lambda kv: kv[0]),
        "themes": [(slug, entry.label) for slug, entry in site.config.taxonomy.themes.items()],
        "chosen_departement": departements[0] if departements else "", "chosen_themes": themes,
        "size": size, "size_at_cap": size_at_cap, "moved": moved, "largest": largest, "limit": MAX_HTML_BYTES,
        "largest_profile": _describe_profile(largest_profile, labels, site), "subscriber_profiles": len(profiles),
        "copy_url": f"/-/curation/preview/copy?{copy_query}",
    }, request=request)
    return Response.html(html)


def _shown(bulletin) -> int:
    """The articles a copy shows in full (the others are counted « de plus », to read online)."""
    return len(bulletin.highlights) + sum(len(section.items) for section in bulletin.sections)


def _describe_profile(profile, labels: dict[str, str], site: Site) -> str:
    departements, themes = profile
    parts = [", ".join(labels.get(d, d) for d in departements), ", ".join(
        site.config.taxonomy.label("themes", t) for t in themes)]
    return " · ".join(p for p in parts if p) or "sans préférence (tout le bulletin)"


@for_curator
async def preview_copy(datasette, request, site: Site, curator: str):
    week, _ = _week(site, request.args.get("week"))
    departements, themes = _profile(site, request.args)
    settings, gazetteer = site.config.settings, load_gazetteer(site.config.gazetteer_path)
    bulletin = await _read(datasette, site, lambda db: bulletin_data(db, week, settings, site.config.taxonomy,
                                                                      gazetteer))
    html, _ = await asyncio.to_thread(render_copy, bulletin, settings, departements, themes, gazetteer)
    # Shown in a sandboxed frame: no script, no form, links open outside.
    return Response.html(html, headers={"Content-Security-Policy": "sandbox allow-popups allow-top-navigation-by-user-activation; script-src 'none'",
                                        "X-Frame-Options": "SAMEORIGIN"})


# ------------------------------------------------------------------ static


_STATIC_TYPES = {"js": "application/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}


async def static(datasette, request):
    name = request.url_vars["name"]
    body = resources.files("veille.datasette_plugin").joinpath("static", name).read_text(encoding="utf-8")
    return Response(body, content_type=_STATIC_TYPES[name.rsplit(".", 1)[1]],
                    headers={"Cache-Control": "no-cache"})


ROUTES = [
    (r"^/-/curation/?$", workspace),
    (r"^/-/curation/items/(?P<item_id>\d+)$", decide),
    (r"^/-/curation/suggest$", suggest),
    (r"^/-/curation/approve$", approve),
    (r"^/-/curation/preview$", preview),
    (r"^/-/curation/preview/copy$", preview_copy),
    (r"^/-/curation/static/(?P<name>(?:curation|archive)\.(?:js|css))$", static),
]
