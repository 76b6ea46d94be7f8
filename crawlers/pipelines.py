"""Item pipelines, one job each."""

from __future__ import annotations

from dataclasses import asdict

from scrapy.exceptions import DropItem

from crawlers.items import Article
from pipeline.archive import insert_item, open_db, record_source_run
from pipeline.text import content_hash
from pipeline.urls import canonical_url


class CanonicalUrlPipeline:
    """Give each article its canonical URL; drop links that are not http(s)."""

    def process_item(self, item: Article) -> Article:
        try:
            item.url = canonical_url(item.raw_url)
        except ValueError as e:
            raise DropItem(str(e)) from None
        return item


class ArchivePipeline:
    """Store new articles (one row per canonical URL) and, at the end, one source_runs row per source."""

    def __init__(self, crawler, db_path: str):
        self.crawler = crawler
        self.db_path = db_path
        self.db = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler, crawler.settings["VEILLE_DB"])

    def open_spider(self) -> None:
        self.db = open_db(self.db_path)

    def process_item(self, item: Article) -> Article:
        row = asdict(item)
        row["content_hash"] = content_hash(item.title, item.text)
        if insert_item(self.db, row) is not None:
            self.crawler.spider.runs[item.source_id].items_new += 1
        return item

    def close_spider(self) -> None:
        for run in self.crawler.spider.runs.values():
            record_source_run(self.db, run.as_row())
        self.db.close()
