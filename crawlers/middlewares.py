"""Downloader middlewares."""

from __future__ import annotations

from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet.defer import Deferred


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
