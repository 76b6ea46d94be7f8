"""Repair proposals: discovery run again on the site of a source that broke (a listing whose
selector finds nothing, a feed answering 404: crawlers.discovery.repair_reason), its proposal kept in
the operations database (`repair_proposals`) so that `veille status`, `veille sources` and the
alerts show « la proposition de réparation » without fetching anything.

After each crawl, `veille crawl` refreshes the proposals of the sources that broke, a few at a time
(discovery fetches a site's pages: bounded in number and polite like the crawl), at most once a day
per source; `veille sources --propose` refreshes them all now; `veille sources repair ID` applies one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for type checks only: `veille --help` imports this module (through veille/sources_cli.py)
    import sqlite_utils

    from config.loading import Config

PER_CRAWL = 3                      # sites explored after one crawl
REFRESH_AFTER = timedelta(hours=20)  # a proposal is looked for again after this (once a day)


def discovery(config: Config, url: str):
    """Discovery from `url` with the crawl's politeness settings (DiscoveryError when nothing is usable)."""
    from crawlers.discovery import DiscoveryError, Fetcher, Judge, discover
    from pipeline.places import load_gazetteer
    from pipeline.urls import is_web_url

    if not is_web_url(url):
        raise DiscoveryError(f"« {url} » n'est pas une adresse http(s) complète. Rien n'a été écrit.")
    fetcher = Fetcher.from_settings(config.settings.crawl, url)
    try:
        judge = Judge(config.taxonomy, load_gazetteer(config.gazetteer_path))
        return discover(url, fetcher, judge, tz=config.settings.tz)
    finally:
        fetcher.close()


def propose_repair(config: Config, source) -> tuple[dict | None, str | None]:
    """(the candidate discovery proposes now for a broken source, as `discover --json` prints it, or
    None; the French reason discovery failed, or None)."""
    from crawlers.discovery import DiscoveryError, proposal, repair_start

    try:
        result = discovery(config, repair_start(source))
    except DiscoveryError as e:
        return None, str(e)
    candidate = proposal(source, result)
    return (candidate.as_json(source.id, source.name) if candidate else None), None


def broken_sources(archive: sqlite_utils.Database, sources: Iterable) -> list[tuple[object, str]]:
    """(source, why it needs mending) for every enabled source that used to work and broke."""
    from crawlers.discovery import repair_reason
    from pipeline.health import source_health

    sources = list(sources)
    by_id = {s.id: s for s in sources}
    return [(by_id[h.id], reason) for h in source_health(archive, sources)
            if (reason := repair_reason(h)) is not None]


def refresh_repair_proposals(config: Config, archive: sqlite_utils.Database, ops: sqlite_utils.Database,
                             sources: Iterable, limit: int | None = PER_CRAWL, force: bool = False,
                             now: datetime | None = None, on_proposal=None) -> dict[str, dict]:
    """Look for a repair for the broken sources without a recent proposal (all of them with
    `force`), at most `limit` sites; forget the proposals of sources that work again. Returns
    every current proposal by source id (`pipeline.operations.repair_proposals`). `on_proposal(source,
    reason, candidate, error)` is called after each site explored (progress, output)."""
    from pipeline.operations import forget_repair_proposals, repair_proposals, save_repair_proposal

    now = now or datetime.now(timezone.utc)
    broken = broken_sources(archive, sources)
    forget_repair_proposals(ops, keep={source.id for source, _ in broken})
    known = repair_proposals(ops)
    explored = 0
    for source, reason in broken:
        if limit is not None and explored >= limit:
            break
        previous = known.get(source.id)
        if (not force and previous is not None and previous["reason"] == reason
                and datetime.fromisoformat(previous["proposed_at"]) > now - REFRESH_AFTER):
            continue
        candidate, error = propose_repair(config, source)
        save_repair_proposal(ops, source.id, reason, candidate, error)
        explored += 1
        if on_proposal:
            on_proposal(source, reason, candidate, error)
    return repair_proposals(ops)


def describe_candidate(candidate: dict | None, error: str | None = None) -> str:
    """One French line for a proposal: « [rss] https://… (12 articles, le plus récent 2026-11-30) »."""
    if candidate is None:
        return f"aucune ({error})" if error else "aucune (la découverte ne trouve rien d'autre que l'entrée actuelle)"
    details = [f"{candidate['items']} articles"] if candidate.get("items") is not None else []
    if candidate.get("newest"):
        details.append(f"le plus récent {candidate['newest']}")
    links = f", liens « {candidate['links']} »" if candidate.get("links") else ""
    return f"[{candidate.get('type')}] {candidate.get('url')}{links}" + (f" ({', '.join(details)})" if details else "")
