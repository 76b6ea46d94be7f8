"""What spiders yield."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(repr=False)
class Article:
    source_id: str
    raw_url: str             # the link as found in the feed or page
    title: str
    text: str                # plain text
    summary: str = ""        # the feed's own summary, plain text
    published_at: str | None = None  # ISO 8601, UTC
    author: str | None = None
    lang: str | None = None
    declared_url: str | None = None  # the page's rel=canonical / og:url, absolute, unchecked
    # Set by the pipelines:
    url: str | None = None           # canonical URL (CanonicalUrlPipeline)
    link_url: str | None = None      # canonical form of the followed link (CanonicalUrlPipeline)
    content_hash: str | None = None  # FingerprintPipeline
    signature: bytes | None = None   # MinHash of the text, for near-duplicates (FingerprintPipeline)
    cluster_id: int | None = None    # near-duplicate cluster it joins, if any (DuplicatesPipeline)

    def __repr__(self) -> str:  # short: Scrapy logs items on errors
        return f"Article({self.source_id!r}, {self.raw_url!r})"
