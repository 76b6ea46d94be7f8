"""The spider of `rss` sources: fetch each feed, parse it, yield its articles."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import scrapy
from twisted.python.failure import Failure

from crawlers.feeds import FeedError, parse_feed
from crawlers.runs import PARSE_ERROR, SourceRun, describe_failure
from pipeline.archive import utcnow
from veille.config import Source


class FeedSpider(scrapy.Spider):
    name = "feeds"

    def __init__(self, sources: Iterable[Source], crawl_id: str,
                 on_source_done: Callable[[SourceRun], None] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.sources = {s.id: s for s in sources}
        self.runs = {s.id: SourceRun(crawl_id, s.id) for s in self.sources.values()}
        self.on_source_done = on_source_done or (lambda run: None)

    async def start(self):
        for source in self.sources.values():
            yield scrapy.Request(
                source.url, callback=self.parse_feed, errback=self.feed_failed,
                meta={"source_id": source.id}, dont_filter=True,
            )

    def parse_feed(self, response: scrapy.http.Response):
        run = self.runs[response.meta["source_id"]]
        run.http_status = response.status
        content_type = response.headers.get(b"Content-Type", b"").decode("latin-1")
        try:
            articles = parse_feed(response.body, response.url, run.source_id, content_type)
        except FeedError as e:
            run.fail(PARSE_ERROR, str(e))
            articles = []
        run.items_seen = len(articles)
        yield from articles
        self._done(run)

    def feed_failed(self, failure: Failure):
        run = self.runs[failure.request.meta["source_id"]]
        run.fail(*describe_failure(failure))
        self._done(run)

    def _done(self, run: SourceRun) -> None:
        run.finished_at = utcnow()
        self.on_source_done(run)
