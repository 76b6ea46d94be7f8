"""A real HTTP server on loopback for the tests, run in a subprocess like Scrapy's own mock server.

It serves the fixture sites of tests/fixtures/site (see veille.fixture_site) plus one endpoint
per fault under /faults/. Started with `python tests/mockserver.py`, it prints its base URL on
the first line of stdout and serves until its stdin closes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from veille.fixture_site import FixtureSiteHandler, base_url, load_fixture_sources, serve  # noqa: E402

SITE = Path(__file__).parent / "fixtures" / "site"

TRUNCATED_FEED = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Coupe</title>'
                  b"<item><title>Un article</title><link>http://example.org/a</li")
HTML_PAGE = b"<!doctype html><html><head><title>Accueil</title></head><body><h1>Bienvenue</h1></body></html>"


class MockHandler(FixtureSiteHandler):
    def route(self, path):
        if path == "/faults/500.xml":
            return 500, "text/plain", b"Internal Server Error"
        if path == "/faults/not-a-feed.xml":
            return 200, "text/html; charset=utf-8", HTML_PAGE
        if path == "/faults/truncated.xml":
            return 200, "application/rss+xml", TRUNCATED_FEED
        if path == "/faults/slow.xml":
            time.sleep(3)
            return 200, "application/rss+xml", TRUNCATED_FEED
        if path == "/faults/redirect-loop.xml":
            return 302, "text/plain", b"", {"Location": "/faults/redirect-loop.xml"}
        if path.startswith("/private/"):
            return 200, "application/rss+xml", TRUNCATED_FEED
        return super().route(path)


if __name__ == "__main__":
    server = serve(load_fixture_sources(SITE), handler=MockHandler)
    print(base_url(server), flush=True)
    sys.stdin.read()  # serve until the test session closes our stdin
    server.shutdown()
