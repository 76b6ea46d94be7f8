"""The offline demo: the whole job, end to end, on a fixture site served on loopback.

1. serve the fixture sources of demo/site/ on 127.0.0.1 (a free port), dated this week;
2. crawl their feeds into demo/out/veille.db (Scrapy, the real pipeline);
3. tag the items; 4. build this week's bulletin;
5. deliver it to demo subscribers through a real local SMTP server that saves .eml files.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import yaml

from crawlers.run import run_crawl
from newsletter.bulletin import build_bulletin, current_week
from newsletter.letters import letter_composer
from newsletter.send import send_bulletin
from newsletter.smtp_sink import start_smtp_sink
from newsletter.subscribers import add_subscriber, open_subscribers_db
from pipeline.archive import open_db
from pipeline.tagging import tag_items
from veille.config import Paths, Source, load_config
from veille.fixture_site import base_url, load_fixture_sources, serve

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


def run_demo(out_dir: Path | str, site_dir: Path | str, config_dir: Path | str, echo=print) -> dict:
    out_dir, site_dir = Path(out_dir), Path(site_dir)
    config = load_config(config_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in OUTPUTS:
        target = out_dir / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    fixture_sources = load_fixture_sources(site_dir)
    if not fixture_sources:
        raise FileNotFoundError(f"aucune source de démonstration dans {site_dir}")
    site = serve(fixture_sources)
    smtp_server = start_smtp_sink(out_dir / "mail")
    try:
        url = base_url(site)
        settings = config.settings.model_copy(update={
            "secret": secrets.token_hex(16),  # its own, never the configured one: the demo prints it
            "paths": Paths(db=str(out_dir / "veille.db"), subscribers_db=str(out_dir / "subscribers.db"),
                           bulletins=str(out_dir / "bulletins")),
            # Loopback: no politeness delay needed; robots.txt is still obeyed.
            "crawl": config.settings.crawl.model_copy(update={"download_delay": 0, "autothrottle": False}),
            "smtp": config.settings.smtp.model_copy(update={
                "host": smtp_server.hostname, "port": smtp_server.port, "tls": "none", "user": "", "password": "",
                "rate_per_second": 50}),
        })
        sources = [demo_source(s, url) for s in fixture_sources]
        (out_dir / "sources.yaml").write_text(
            yaml.safe_dump({"sources": [s.model_dump(exclude_defaults=True) | {"type": s.type} for s in sources]},
                           allow_unicode=True, sort_keys=False), encoding="utf-8")

        echo(f"Site de démonstration : {url}/ ({len(sources)} sources)")
        db_path = out_dir / "veille.db"
        runs, _ = run_crawl(sources, db_path, settings.crawl)
        new = sum(r["items_new"] for r in runs)
        failed = [r for r in runs if r["status"] != "ok"]
        echo(f"Collecte : {new} article(s) nouveaux, {len(failed)} source(s) en erreur.")

        db = open_db(db_path)
        report = tag_items(db, config.taxonomy)
        echo(f"Étiquetage : {report.items} article(s).")

        week = current_week()
        html_path, text_path, bulletin = build_bulletin(db, week, out_dir / "bulletins", settings, config.taxonomy)
        echo(f"Bulletin {week} : {bulletin.count} article(s) retenu(s).")

        subscribers = open_subscribers_db(out_dir / "subscribers.db")
        for email, name, departements, themes in DEMO_SUBSCRIBERS:
            add_subscriber(subscribers, email, name, departements, themes)
        sent = send_bulletin(subscribers, week, letter_composer(bulletin, settings), settings.smtp)
        echo(f"Envoi : {len(sent.sent)} bulletin(s) personnalisé(s) remis au serveur SMTP local.")
    finally:
        smtp_server.stop()
        site.shutdown()

    messages = sorted((out_dir / "mail").glob("*.eml"))
    echo("")
    echo("Résultats de la démonstration :")
    echo(f"  bulletin HTML   : {html_path}")
    echo(f"  bulletin texte  : {text_path}")
    echo(f"  messages (.eml) : {out_dir / 'mail'} ({len(messages)} message(s))")
    echo(f"  archive         : {db_path}")
    echo(f"Pour parcourir l'archive (et essayer les liens de désabonnement) : VEILLE_SECRET={settings.secret} "
         f".venv/bin/veille serve --db {db_path} --subscribers-db {out_dir / 'subscribers.db'} "
         f"--bulletins {out_dir / 'bulletins'}")
    return {"runs": runs, "bulletin": bulletin, "html": html_path, "text": text_path, "messages": messages,
            "db": db_path, "send": sent}
