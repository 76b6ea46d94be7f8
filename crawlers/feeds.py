"""Feed bodies to articles: a pure function over bytes Scrapy already fetched.

feedparser is never handed a URL or a string (it could fetch by itself, bypassing Scrapy's
throttling, robots.txt and caching): it gets the body as bytes plus the response headers.
"""

from __future__ import annotations

import calendar
import io
from datetime import datetime, timezone
from urllib.parse import urljoin

import feedparser

from crawlers.items import Article
from pipeline.text import html_to_text


# Warnings feedparser raises on feeds it read fine (a missing or odd Content-Type header).
_HARMLESS = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)


class FeedError(Exception):
    """The body is not a usable feed (message in French, for source_runs)."""


def parse_feed(body: bytes, url: str, source_id: str, content_type: str = "") -> list[Article]:
    parsed = feedparser.parse(
        io.BytesIO(body),
        response_headers={"content-location": url, **({"content-type": content_type} if content_type else {})},
        sanitize_html=True,
        resolve_relative_uris=True,
    )
    articles = [a for a in (_article(entry, url, source_id) for entry in parsed.entries) if a]
    if not articles:
        # No usable entry and a parse error is a failure to record, not an empty feed.
        if not parsed.get("version"):
            raise FeedError("la réponse n'est pas un flux RSS ou Atom")
        reason = parsed.get("bozo_exception")
        if parsed.bozo and not isinstance(reason, _HARMLESS):
            raise FeedError(f"flux illisible : {type(reason).__name__} : {reason}"[:500])
    return articles


def _article(entry: feedparser.FeedParserDict, feed_url: str, source_id: str) -> Article | None:
    link = entry.get("link") or (entry.get("id") if str(entry.get("id", "")).startswith("http") else None)
    if not link:
        return None
    summary_html = entry.get("summary", "")
    content_html = max((c.get("value", "") for c in entry.get("content", [])), key=len, default="")
    summary = html_to_text(summary_html)
    return Article(
        source_id=source_id,
        raw_url=urljoin(feed_url, link.strip()),
        title=html_to_text(entry.get("title", "")),
        text=html_to_text(content_html) or summary,
        summary=summary,
        published_at=_iso(entry.get("published_parsed") or entry.get("updated_parsed")),
        author=html_to_text(entry.get("author", "")) or None,
        lang=(entry.get("language") or None),
    )


def _iso(parsed_time) -> str | None:
    """feedparser's UTC struct_time to ISO 8601."""
    if not parsed_time:
        return None
    try:
        moment = datetime.fromtimestamp(calendar.timegm(parsed_time), tz=timezone.utc)
    except (OverflowError, ValueError, TypeError):
        return None
    return moment.isoformat(timespec="seconds")
