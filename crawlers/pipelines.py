"""Item pipelines, one job each, in this order:

1. CanonicalUrlPipeline: the article's identity (canonical URL, rel=canonical honoured on its site);
2. FingerprintPipeline: content hash and MinHash signature (pure computation);
3. DuplicatesPipeline: an exact copy of an archived article is dropped (and remembered as
   « aussi publié par »); a near-duplicate joins that article's cluster;
4. ArchivePipeline: store the article (an article already archived is dropped).

Each stores through `pipeline.storage`; none writes SQL itself. Source runs and the crawl's figures
are recorded by `crawlers.runs.RunRecorder`, not here.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from scrapy.exceptions import DropItem

from crawlers.items import Article
from crawlers.spiders.sources import KNOWN_ARTICLE
from pipeline.archive import open_db
from pipeline.neardup import NearDuplicateIndex, from_bytes, signature, to_bytes
from pipeline.storage import find_original, save_article, save_cluster, save_duplicate
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


class _ArchivePipelineBase(_Timed):
    """A pipeline with its own connection to the archive, open while the spider is."""

    def __init__(self, stats, db_path: str):
        self.stats, self.db_path = stats, db_path

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats, crawler.settings["VEILLE_DB"])

    def open_spider(self) -> None:
        self.db = open_db(self.db_path)

    def close_spider(self) -> None:
        self.db.close()


class DuplicatesPipeline(_ArchivePipelineBase):
    """Drop exact copies of an archived article (remembered for « aussi publié par »); put
    near-duplicates in the cluster of the article they copy."""

    def open_spider(self) -> None:
        super().open_spider()
        self.index = NearDuplicateIndex.load(self.db)

    def process_item(self, item: Article) -> Article:
        started = time.process_time()
        try:
            self._drop_exact_copy(item)
            item.cluster_id = self._cluster(item)
        finally:
            self._add_cpu(started)
        return item

    def _drop_exact_copy(self, item: Article) -> None:
        original = find_original(self.db, item.content_hash) if item.content_hash else None
        if original and original[1] != item.url:
            save_duplicate(self.db, item.url, original[0], item.source_id)
            raise DropItem(f"copie exacte de l'article n°{original[0]}")

    def _cluster(self, item: Article) -> int | None:
        """The cluster of the first archived near-duplicate, if any; the article joins the index
        either way, so that later articles of this crawl are compared with it too."""
        if not item.signature:
            return None
        minhash = from_bytes(item.signature)
        cluster_id = None
        for url in self.index.match(minhash):
            if url != item.url:
                cluster_id = save_cluster(self.db, url)
                if cluster_id is not None:
                    break
        self.index.add(item.url, minhash)
        return cluster_id


class ArchivePipeline(_ArchivePipelineBase):
    """Store new articles (one row per canonical URL), with their MinHash signature.

    Must come last: an article it returns is stored as new, and Scrapy's `item_scraped` signal,
    which follows, is what the spider counts as its source's `items_new`. An article whose URL is
    already archived is dropped instead (nothing is written, nothing counted).
    """

    def process_item(self, item: Article) -> Article:
        started = time.process_time()
        row = {column: getattr(item, column) for column in ITEM_COLUMNS}
        item_id = save_article(self.db, row, item.signature)
        self._add_cpu(started)
        if item_id is None:
            raise DropItem(KNOWN_ARTICLE)
        return item
