"""What spiders yield."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Article:
    source_id: str
    raw_url: str             # the link as found in the feed or page
    title: str
    text: str                # plain text
    summary: str = ""        # the feed's own summary, plain text
    published_at: str | None = None  # ISO 8601, UTC
    author: str | None = None
    lang: str | None = None
    url: str | None = None   # canonical URL, set by CanonicalUrlPipeline
