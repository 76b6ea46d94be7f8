"""Run one crawl of the given sources into the archive, in this process.

Twisted's reactor starts once per process: call `run_crawl` once per process (the CLI does;
the scheduler runs each crawl in a subprocess).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from scrapy.crawler import CrawlerProcess

from crawlers.runs import SourceRun, source_done
from crawlers.settings import scrapy_settings
from crawlers.spiders.sources import SourcesSpider
from config.dates import utcnow
from pipeline.archive import open_db, sync_sources
from pipeline.storage import find_crawl, find_source_runs
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
    """Collect the enabled `sources`; return this crawl's source_runs rows and its crawls row.

    The crawl writes its runs itself (`crawlers.runs.RunRecorder`); they are only read back here,
    once, for the caller's report.
    """
    enabled = [s for s in sources if s.enabled]
    crawl_id = new_crawl_id()
    db = open_db(db_path)
    sync_sources(db, sources)
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
    rows = find_source_runs(db, crawl_id)
    figures = find_crawl(db, crawl_id) or {"id": crawl_id, "finished_at": utcnow()}
    db.close()
    return rows, figures
