"""Downloader middlewares: no request to private hosts, robots.txt for every request, conditional
GET, known articles skipped."""

from __future__ import annotations

import socket

from scrapy import signals
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred
from twisted.internet.threads import deferToThread

from crawlers.runs import PrivateAddressRefused, UnresolvedHost
from crawlers.spiders.sources import KNOWN_ARTICLE
from pipeline.archive import open_db
from pipeline.storage import find_validators, is_known_article
from pipeline.urls import canonical_url, ip_literal, is_public_address, origin


def _resolve(host: str, port: int) -> list[str] | None:
    """Every address `host` resolves to (IPv4 and IPv6), None if it does not resolve; blocking:
    run in a thread."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return None
    return sorted({info[4][0] for info in infos}) or None


class PrivateHostsMiddleware:
    """Fetch nothing from a host on the machine's private network or loopback.

    A request goes out only if every address its host resolves to is public
    (`pipeline.urls.is_public_address`), or if it goes to the exact origin (scheme, host, port)
    of its own source's configured URL (the offline demo and the tests serve on loopback).
    Requests without a source (robots.txt) may go to the origin of any source. It comes before
    robots.txt (a private host's robots.txt is never asked for) and sees every request again,
    redirects included, since Scrapy sends a redirect's new request through every downloader
    middleware. A refusal is a `PrivateAddressRefused`, an `IgnoreRequest` (never retried).

    Each host is resolved once per crawl, with `socket.getaddrinfo` in Twisted's thread pool, so
    the reactor does not wait. (Scrapy's downloader resolves the name again to connect; a DNS
    answer that changes in between, rebinding, is not caught here.)
    """

    def __init__(self, crawler):
        self.crawler = crawler
        self._addresses: dict[str, list[str] | None] = {}
        self._lookups: dict[str, Deferred] = {}
        self._origins: dict[str | None, set[tuple[str, str, int]]] | None = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def _allowed_origins(self, source_id: str | None) -> set[tuple[str, str, int]]:
        if self._origins is None:
            self._origins = {}
            for source in getattr(self.crawler.spider, "sources", {}).values():
                try:
                    self._origins[source.id] = {origin(source.url)}
                except ValueError:
                    self._origins[source.id] = set()
            self._origins[None] = set().union(*self._origins.values())
        return self._origins.get(source_id, set()) if source_id else self._origins[None]

    async def process_request(self, request):
        try:
            target = origin(request.url)
        except ValueError:
            return None  # not http(s): Scrapy refuses it on its own
        if target in self._allowed_origins(request.meta.get("source_id")):
            return None
        scheme, host, port = target
        literal = ip_literal(host)
        addresses = [str(literal)] if literal is not None else await self._resolved(host, port)
        for address in addresses:
            if not is_public_address(address):
                raise PrivateAddressRefused(address, host)
        return None

    async def _resolved(self, host: str, port: int) -> list[str]:
        """The host's addresses, looked up once per crawl (concurrent requests share the lookup)."""
        if host not in self._addresses:
            pending = self._lookups.get(host)
            if pending is None:
                pending = self._lookups[host] = deferToThread(_resolve, host, port)

                def keep(result):
                    self._addresses[host] = result
                    del self._lookups[host]
                    return result

                pending.addCallback(keep)
            own: Deferred = Deferred()

            def relay(result):
                own.callback(None)
                return result

            pending.addCallback(relay)
            await maybe_deferred_to_future(own)
        addresses = self._addresses[host]
        if not addresses:
            raise UnresolvedHost(host)
        return addresses


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
