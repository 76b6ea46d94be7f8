"""Run one crawl of the given sources into the archive, in this process.

Twisted's reactor starts once per process: call `run_crawl` once per process (the CLI does;
the scheduler runs each crawl in a subprocess).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from scrapy.crawler import CrawlerProcess

from crawlers.runs import SourceRun
from crawlers.settings import scrapy_settings
from crawlers.spiders.sources import SourcesSpider, source_done
from config.dates import utcnow
from pipeline.archive import open_db, sync_sources
from config.schema import DEFAULT_TIMEZONE, CrawlSettings, Source


def new_crawl_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def run_crawl(
    sources: Sequence[Source],
    db_path: Path | str,
    crawl: CrawlSettings,
    on_source_done: Callable[[SourceRun], None] | None = None,
    timezone: str = DEFAULT_TIMEZONE,
) -> tuple[list[dict], dict]:
    """Collect the enabled `sources`; return this crawl's source_runs rows and its crawls row."""
    enabled = [s for s in sources if s.enabled]
    crawl_id = new_crawl_id()
    db = open_db(db_path)
    sync_sources(db, sources)
    with db.atomic():
        # Runs left "running" by a crawl that was killed say so; their sources are collected again now.
        db.execute("UPDATE source_runs SET status = 'interrupted', error = 'collecte interrompue' "
                   "WHERE status = 'running'")
        db["source_runs"].insert_all(
            [{**SourceRun(crawl_id, s.id, status="running").as_row()} for s in enabled])
    db.close()
    if enabled:
        process = CrawlerProcess(scrapy_settings(crawl, db_path, timezone))
        crawler = process.create_crawler(SourcesSpider)
        if on_source_done:
            # weak=False: the signal dispatcher would otherwise drop a lambda as soon as it is connected.
            crawler.signals.connect(on_source_done, signal=source_done, weak=False)
        process.crawl(crawler, sources=enabled, crawl_id=crawl_id)
        process.start()
    db = open_db(db_path)
    rows = list(db["source_runs"].rows_where("crawl_id = ?", [crawl_id], order_by="source_id"))
    figures = next(db["crawls"].rows_where("id = ?", [crawl_id]), {"id": crawl_id, "finished_at": utcnow()})
    db.close()
    return rows, figures
