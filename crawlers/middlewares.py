"""Downloader middlewares: robots.txt for every request, conditional GET, known articles skipped."""

from __future__ import annotations

from scrapy import signals
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred

from crawlers.spiders.sources import KNOWN_ARTICLE
from pipeline.archive import open_db
from pipeline.storage import find_validators, is_known_article
from pipeline.urls import canonical_url


class SharedRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's RobotsTxtMiddleware, with robots.txt obeyed by every request, not only the first.

    In Scrapy 2.19, requests that arrive while a host's robots.txt is being fetched all await one
    shared Deferred: the first waiter consumes its result and every later waiter receives None,
    so their requests go out unchecked. Here each waiter gets its own Deferred, fed by a callback
    that passes the parser on down the shared chain.
    """

    async def robot_parser(self, request):
        pending = self._parsers.get(urlparse_cached(request).netloc)
        if isinstance(pending, Deferred):
            own: Deferred = Deferred()

            def relay(result):
                own.callback(result)
                return result

            pending.addBoth(relay)
            return await maybe_deferred_to_future(own)
        return await super().robot_parser(request)


class _ArchiveMiddleware:
    """A downloader middleware with its own connection to the archive."""

    def __init__(self, db_path: str):
        self.db = open_db(db_path)

    @classmethod
    def from_crawler(cls, crawler):
        middleware = cls(crawler.settings["VEILLE_DB"])
        crawler.signals.connect(middleware.db.close, signal=signals.spider_closed)
        return middleware


class ConditionalGetMiddleware(_ArchiveMiddleware):
    """Send back the ETag / Last-Modified of feeds, listings and sitemaps.

    New validators are only put in `request.meta["validators"]`: the spider keeps them in the
    source's run, and `RunRecorder` stores them once the whole source has been collected, so that
    an interrupted crawl is completed next time instead of being answered 304. A 304 reaches the
    spider (handle_httpstatus_list), which reads it as "nothing new". Articles are not
    revalidated: a known article is never fetched again.
    """

    def process_request(self, request):
        if request.meta.get("kind") in (None, "article"):
            return None
        row = find_validators(self.db, request.url)
        if row:
            if row[0]:
                request.headers.setdefault(b"If-None-Match", row[0].encode("latin-1"))
            if row[1]:
                request.headers.setdefault(b"If-Modified-Since", row[1].encode("latin-1"))
        return None

    def process_response(self, request, response):
        if request.meta.get("kind") not in (None, "article") and response.status == 200:
            etag = response.headers.get(b"ETag")
            modified = response.headers.get(b"Last-Modified")
            if etag or modified:
                request.meta["validators"] = {
                    "url": request.url, "etag": etag.decode("latin-1") if etag else None,
                    "last_modified": modified.decode("latin-1") if modified else None}
        return response


class KnownArticlesMiddleware(_ArchiveMiddleware):
    """Never fetch an article already archived (by its canonical link or canonical URL)."""

    def process_request(self, request):
        if request.meta.get("kind") != "article":
            return None
        try:
            url = canonical_url(request.url)
        except ValueError:
            return None
        if is_known_article(self.db, url):
            raise IgnoreRequest(KNOWN_ARTICLE)
        return None
