"""Canonical URLs: one article, one address, whatever tracking was glued to the link."""

from __future__ import annotations

from urllib.parse import urlsplit

import courlan
from w3lib.url import canonicalize_url

ALLOWED_SCHEMES = ("http", "https")


def is_web_url(url: str | None) -> bool:
    """True for an absolute http(s) URL: the only links Veille stores or sends out."""
    if not url:
        return False
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in ALLOWED_SCHEMES and bool(parts.netloc)


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no fragment, no tracking parameters, sorted query.

    Raises ValueError for anything that is not an absolute http(s) URL.
    """
    url = url.strip()
    if not is_web_url(url):
        raise ValueError(f"adresse non http(s) : {url!r}")
    cleaned = courlan.clean_url(url) or url  # drops utm_*, fbclid, gclid, xtor…
    return canonicalize_url(cleaned, keep_fragments=False)
