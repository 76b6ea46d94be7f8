"""The offline demo: the whole job, end to end, on a fixture site served on loopback.

1. serve the fixture sources of demo/site/ on 127.0.0.1 (a free port), dated this week;
2. crawl their feeds into demo/out/veille.db (Scrapy, the real pipeline);
3. tag the items; 4. play the curator: approve this week's bulletin (as « demo »), showing its
   status before and after; 5. build it;
6. deliver it to demo subscribers through a real local SMTP server that saves .eml files (the
   approval checked first, as `veille bulletin send` does).
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import yaml
from pydantic import SecretStr

from config.dates import current_week
from config.errors import VeilleError
from config.loading import Config, load_config
from config.schema import Settings, Source
from crawlers.run import run_crawl
from newsletter.bulletin import build_bulletin
from newsletter.letters import letter_composer
from newsletter.send import send_bulletin
from newsletter.smtp_sink import start_smtp_sink
from newsletter.subscribers import add_subscriber, open_subscribers_db
from pipeline.approval import approval_status, approve_week, check_approved
from pipeline.archive import open_db
from pipeline.articles import Labels, refresh_all
from pipeline.places import load_gazetteer
from pipeline.tagging import tag_items
from veille.fixture_site import base_url, load_fixture_sources, serve

DEMO_CURATOR = "demo"  # who approves the demo's week

DEMO_SUBSCRIBERS = [
    ("chargee.de.mission@centre-ressources.example", "Chargée de mission DTE", [], []),
    ("coordination@plie-des-graves.example", "PLIE des Graves", ["33"], []),
    ("insertion@creuse.example", "Service insertion de la Creuse", ["23"], ["publics"]),
]

# Outputs of a previous run, removed before a new one (nothing else in --out is touched).
OUTPUTS = ("veille.db", "veille.db-wal", "veille.db-shm", "subscribers.db", "subscribers.db-wal",
           "subscribers.db-shm", "sources.yaml", "mail", "bulletins")


def demo_source(fixture, base: str) -> Source:
    """The Source that collects a fixture source: its `collect:` fields, by default its full-text feed."""
    collect = {"type": "rss", "fetch_full": True, **(fixture.collect or {})}
    path = {"rss": "feed.xml", "html": "", "sitemap": "sitemap.xml"}[collect["type"]]
    return Source(id=fixture.id, name=fixture.name, url=f"{base}/{fixture.id}/{path}", topical=fixture.topical,
                  **collect)


def _empty(out_dir: Path) -> None:
    """Remove the outputs of a previous run (nothing else in `out_dir` is touched)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:
        target = out_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def demo_settings(settings: Settings, out_dir: Path, smtp_host: str, smtp_port: int) -> Settings:
    """The configured settings, with the demo's own paths, secret, loopback politeness and SMTP server."""
    return settings.model_copy(update={
        "secret": SecretStr(secrets.token_hex(16)),  # its own, never the configured one: the demo prints it
        "paths": settings.paths.model_copy(update={
            "db": str(out_dir / "veille.db"), "subscribers_db": str(out_dir / "subscribers.db"),
            "bulletins": str(out_dir / "bulletins")}),
        # Loopback: no politeness delay needed; robots.txt is still obeyed.
        "crawl": settings.crawl.model_copy(update={"download_delay": 0, "autothrottle": False}),
        "smtp": settings.smtp.model_copy(update={
            "host": smtp_host, "port": smtp_port, "tls": "none", "user": "", "password": "", "rate_per_second": 50}),
    })


def _write_sources(sources: list[Source], path: Path) -> None:
    """The demo's sources as a sources.yaml, to show what was collected and how."""
    path.write_text(yaml.safe_dump({"sources": [s.model_dump(exclude_defaults=True) | {"type": s.type} for s in sources]},
                                   allow_unicode=True, sort_keys=False), encoding="utf-8")


def _run(config: Config, settings: Settings, sources: list[Source], out_dir: Path, echo) -> dict:
    """Crawl, tag, build this week's bulletin, send it: the main job, on the demo's own files."""
    gazetteer = load_gazetteer(config.gazetteer_path)
    db_path = out_dir / "veille.db"
    runs, _ = run_crawl(sources, db_path, settings.crawl, timezone=settings.timezone)
    failed = [r for r in runs if r["status"] != "ok"]
    echo(f"Collecte : {sum(r['items_new'] for r in runs)} article(s) nouveaux, {len(failed)} source(s) en erreur.")

    db = open_db(db_path)
    echo(f"Étiquetage : {tag_items(db, config.taxonomy, gazetteer=gazetteer).items} article(s).")
    refresh_all(db, Labels(config.taxonomy, gazetteer, settings.tz, settings.bulletin.max_age_days))

    week = current_week(settings.tz)
    max_age = settings.bulletin.max_age_days
    # The demo plays the curator: the first line of `veille bulletin status`, before and after.
    echo(f"Statut du bulletin, avant et après sa validation par « {DEMO_CURATOR} » :")
    echo(f"  {approval_status(db, week, settings.tz, max_age).headline(settings.tz)}")
    echo(f"  {approve_week(db, week, settings.tz, max_age, DEMO_CURATOR).headline(settings.tz)}")

    html_path, text_path, bulletin = build_bulletin(db, week, out_dir / "bulletins", settings, config.taxonomy,
                                                    gazetteer)
    echo(f"Bulletin {week} : {bulletin.count} article(s) retenu(s).")

    subscribers = open_subscribers_db(out_dir / "subscribers.db")
    for email, name, departements, themes in DEMO_SUBSCRIBERS:
        add_subscriber(subscribers, email, name, departements, themes)
    if settings.bulletin.require_approval:
        check_approved(db, week, settings.tz, max_age)  # what `veille bulletin send` checks
    sent = send_bulletin(subscribers, week, letter_composer(bulletin, settings, gazetteer), settings.smtp)
    echo(f"Envoi : {len(sent.sent)} bulletin(s) personnalisé(s) remis au serveur SMTP local.")
    actors = db["acteurs"].count
    return {"runs": runs, "bulletin": bulletin, "week": week, "html": html_path, "text": text_path,
            "db": db_path, "send": sent, "actors": actors}


def run_demo(out_dir: Path | str, site_dir: Path | str, config_dir: Path | str, echo=print) -> dict:
    out_dir, site_dir = Path(out_dir), Path(site_dir)
    config = load_config(config_dir)
    _empty(out_dir)
    fixture_sources = load_fixture_sources(site_dir)
    if not fixture_sources:
        raise VeilleError(f"aucune source de démonstration dans {site_dir}")
    site = serve(fixture_sources)
    smtp_server = start_smtp_sink(out_dir / "mail")
    try:
        url = base_url(site)
        settings = demo_settings(config.settings, out_dir, smtp_server.hostname, smtp_server.port)
        sources = [demo_source(s, url) for s in fixture_sources]
        _write_sources(sources, out_dir / "sources.yaml")
        echo(f"Site de démonstration : {url}/ ({len(sources)} sources)")
        result = _run(config, settings, sources, out_dir, echo)
    finally:
        smtp_server.stop()
        site.shutdown()

    result["messages"] = sorted((out_dir / "mail").glob("*.eml"))
    echo("")
    echo("Résultats de la démonstration :")
    echo(f"  bulletin HTML   : {result['html']}")
    echo(f"  bulletin texte  : {result['text']}")
    echo(f"  messages (.eml) : {out_dir / 'mail'} ({len(result['messages'])} message(s))")
    echo(f"  archive         : {result['db']}")
    echo(f"  sélection       : .venv/bin/veille bulletin plan --db {result['db']} --week {result['week']}")
    echo(f"  validation      : .venv/bin/veille bulletin status --db {result['db']} --week {result['week']}")
    echo(f"  acteurs         : .venv/bin/veille actors --db {result['db']} ({result['actors']} acteur(s) dans l'annuaire)")
    echo(f"Pour parcourir l'archive (et essayer les liens de désabonnement) : VEILLE_SECRET={settings.secret.get_secret_value()} "
         f".venv/bin/veille serve --db {result['db']} --subscribers-db {out_dir / 'subscribers.db'} "
         f"--bulletins {out_dir / 'bulletins'}")
    return result
