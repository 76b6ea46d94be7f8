"""Item pipelines, one job each, in this order:

1. CanonicalUrlPipeline: the article's identity (canonical URL, rel=canonical honoured on its site);
2. FingerprintPipeline: content hash and MinHash signature (pure computation);
3. DuplicatesPipeline: an exact copy of an archived article is dropped (and remembered as
   « aussi publié par »); a near-duplicate joins that article's cluster;
4. ArchivePipeline: store the article; record each source's run and the crawl's figures.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from scrapy.exceptions import DropItem

from crawlers.items import Article
from crawlers.runs import OK
from crawlers.spiders.sources import source_done
from config.dates import utcnow
from pipeline.archive import insert_item, open_db
from pipeline.neardup import NearDuplicateIndex, from_bytes, signature, to_bytes
from pipeline.text import content_hash
from pipeline.urls import canonical_url

ITEM_COLUMNS = ("source_id", "raw_url", "title", "text", "summary", "published_at", "author", "lang", "url",
                "link_url", "content_hash", "cluster_id")


class _Timed:
    """Counts the CPU seconds spent in Veille's own pipeline code (crawl figures, `make bench`)."""

    stats = None

    @classmethod
    def from_crawler(cls, crawler):
        pipeline = cls()
        pipeline.stats = crawler.stats
        return pipeline

    def _add_cpu(self, started: float) -> None:
        if self.stats is not None:
            self.stats.inc_value("veille/cpu_seconds", time.process_time() - started)


def _host(url: str) -> str:
    host = urlsplit(url).hostname or ""
    return host[4:] if host.startswith("www.") else host


class CanonicalUrlPipeline(_Timed):
    """Canonical URL of the followed link; the page's own rel=canonical wins when on the same site
    (a page cannot claim another site's address). Links that are not http(s) are dropped."""

    def process_item(self, item: Article) -> Article:
        started = time.process_time()
        try:
            item.link_url = canonical_url(item.raw_url)
        except ValueError as e:
            raise DropItem(str(e)) from None
        item.url = item.link_url
        if item.declared_url and _host(item.declared_url) == _host(item.link_url):
            try:
                item.url = canonical_url(item.declared_url)
            except ValueError:
                pass
        self._add_cpu(started)
        return item


class FingerprintPipeline(_Timed):
    """Content hash (exact copies) and MinHash signature (near-duplicates) of the text."""

    def process_item(self, item: Article) -> Article:
        started = time.process_time()
        item.content_hash = content_hash(item.title, item.text) if item.text else None
        minhash = signature(item.text or "")
        item.signature = to_bytes(minhash) if minhash is not None else None
        self._add_cpu(started)
        return item


class DuplicatesPipeline(_Timed):
    """Drop exact copies of an archived article (remembered for « aussi publié par »); put
    near-duplicates in the cluster of the article they copy."""

    def __init__(self, crawler, db_path: str):
        self.crawler, self.db_path = crawler, db_path
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler, crawler.settings["VEILLE_DB"])

    def open_spider(self) -> None:
        self.db = open_db(self.db_path)
        self.index = NearDuplicateIndex.load(self.db)

    def close_spider(self) -> None:
        self.db.close()

    def process_item(self, item: Article) -> Article:
        started = time.process_time()
        item.cluster_id = None
        if item.content_hash:
            original = self.db.execute("SELECT id, url FROM items WHERE content_hash = ? LIMIT 1",
                                       [item.content_hash]).fetchone()
            if original and original[1] != item.url:
                self.db["duplicates"].upsert(
                    {"url": item.url, "item_id": original[0], "source_id": item.source_id, "seen_at": utcnow()},
                    pk="url")
                self._add_cpu(started)
                raise DropItem(f"copie exacte de l'article n°{original[0]}")
        if item.signature:
            minhash = from_bytes(item.signature)
            for url in self.index.match(minhash):
                row = self.db.execute("SELECT id, cluster_id FROM items WHERE url = ?", [url]).fetchone()
                if row and url != item.url:
                    item.cluster_id = row[1] or row[0]
                    if row[1] is None:
                        self.db.execute("UPDATE items SET cluster_id = id WHERE id = ?", [row[0]])
                    break
            self.index.add(item.url, minhash)
        self._add_cpu(started)
        return item


class ArchivePipeline(_Timed):
    """Store new articles (one row per canonical URL) and each source's run as it ends."""

    def __init__(self, crawler, db_path: str):
        self.crawler, self.db_path = crawler, db_path
        self.stats = crawler.stats
        crawler.signals.connect(self.record_run, signal=source_done)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler, crawler.settings["VEILLE_DB"])

    def open_spider(self) -> None:
        self.db = open_db(self.db_path)
        self.cpu_at_start = time.process_time()

    def process_item(self, item: Article) -> Article:
        started = time.process_time()
        row = {column: getattr(item, column) for column in ITEM_COLUMNS}
        with self.db.atomic():
            item_id = insert_item(self.db, row)
            if item_id is not None and item.signature:
                self.db["minhashes"].insert({"item_id": item_id, "signature": item.signature})
        if item_id is not None:
            self.crawler.spider.runs[item.source_id].items_new += 1
        self._add_cpu(started)
        return item

    def record_run(self, run) -> None:
        """A source has ended: write its run and its page errors now (a killed crawl keeps them)."""
        with self.db.atomic():
            self.db.execute("DELETE FROM source_runs WHERE crawl_id = ? AND source_id = ?",
                            [run.crawl_id, run.source_id])
            self.db["source_runs"].insert(run.as_row())
            self.db.execute("DELETE FROM page_errors WHERE crawl_id = ? AND source_id = ?",
                            [run.crawl_id, run.source_id])
            self.db["page_errors"].insert_all(
                [{"crawl_id": run.crawl_id, "source_id": run.source_id, "at": utcnow(), **error}
                 for error in run.page_errors])
            if run.status == OK:
                self.db["http_validators"].upsert_all(
                    [{**v, "updated_at": utcnow()} for v in run.validators], pk="url")

    def close_spider(self) -> None:
        spider = self.crawler.spider
        for run in spider.runs.values():  # final counts (items of a source's last page are now stored)
            run.finished_at = run.finished_at or utcnow()
            self.record_run(run)
        stats = self.stats.get_stats()
        self.db["crawls"].upsert({
            "id": spider.crawl_id,
            "started_at": stats.get("start_time").isoformat() if stats.get("start_time") else None,
            "finished_at": utcnow(),
            "sources": len(spider.runs),
            "requests": stats.get("downloader/request_count", 0),
            "responses": stats.get("downloader/response_count", 0),
            "bytes": stats.get("downloader/response_bytes", 0),
            "items_new": sum(r.items_new for r in spider.runs.values()),
            "cpu_seconds": time.process_time() - self.cpu_at_start,
            "cpu_seconds_veille": stats.get("veille/cpu_seconds", 0.0),
        }, pk="id")
        self.db.close()
