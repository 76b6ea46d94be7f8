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
from crawlers.spiders.feeds import FeedSpider
from pipeline.archive import open_db, sync_sources
from veille.config import CrawlSettings, Source


def new_crawl_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")


def run_crawl(
    sources: Sequence[Source],
    db_path: Path | str,
    crawl: CrawlSettings,
    on_source_done: Callable[[SourceRun], None] | None = None,
) -> list[dict]:
    """Collect `sources` (the enabled ones) and return this crawl's source_runs rows."""
    enabled = [s for s in sources if s.enabled]
    crawl_id = new_crawl_id()
    db = open_db(db_path)
    sync_sources(db, sources)
    db.close()
    feeds = [s for s in enabled if s.type == "rss"]
    skipped = [s for s in enabled if s.type != "rss"]
    if feeds:
        process = CrawlerProcess(scrapy_settings(crawl, db_path))
        process.crawl(FeedSpider, sources=feeds, crawl_id=crawl_id, on_source_done=on_source_done)
        process.start()
    db = open_db(db_path)
    for source in skipped:
        # html and sitemap sources come with the next collection stage; say so rather than skip silently.
        run = SourceRun(crawl_id, source.id)
        run.fail("error", f"type de source « {source.type} » pas encore pris en charge")
        run.finished_at = run.started_at
        db["source_runs"].insert(run.as_row())
        if on_source_done:
            on_source_done(run)
    rows = list(db["source_runs"].rows_where("crawl_id = ?", [crawl_id], order_by="source_id"))
    db.close()
    return rows
