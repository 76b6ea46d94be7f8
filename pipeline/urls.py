"""URLs: one article, one address (canonical URLs), and which hosts a crawl may fetch.

Canonical URLs keep whatever identifies a page and drop only what is known noise. Many French
sites run a CMS whose pages are told apart by their query alone: SPIP (`spip.php?article101`,
a key without a value, or `?id_article=101`, `?page=article`), WordPress (`?p=42`, `?page_id=7`),
Joomla (`?option=com_content&view=article&id=12&Itemid=101`), Drupal (`?q=node/12`), TYPO3
(`?id=12&tx_news_pi1[news]=7`). Every query key is kept, valueless or not, except the tracking
and session keys listed in `NOISE_KEYS` / `NOISE_PREFIXES`.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import unquote, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}

# Query keys that never identify a page (compared lower-cased): campaign and click trackers,
# newsletter and ad-platform tags, referrers, session ids.
NOISE_KEYS = frozenset({
    # click identifiers of ad platforms and social networks
    "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "ttclid",
    "igshid", "igsh", "li_fat_id", "epik", "s_cid", "ncid", "cmpid", "ocid",
    # AT Internet (Xiti) and other French press trackers
    "xtor", "xtref", "xts", "xtdt", "xtcr", "at_medium", "at_campaign", "at_platform", "at_format",
    "at_creation", "at_variant", "at_send_date", "at_recipient_id", "at_recipient_list", "at_ptr_name",
    # mailing tools (Mailchimp, Sendinblue/Brevo, HubSpot, Marketo)
    "mc_cid", "mc_eid", "_hsenc", "_hsmi", "__hstc", "__hssc", "__hsfp", "hsctatracking", "mkt_tok",
    # Google Analytics cross-domain, Matomo/Piwik
    "_ga", "_gl", "_ke",
    # referrers
    "ref", "referer", "referrer", "ref_src", "ref_url",
    # session ids
    "phpsessid", "jsessionid", "sid", "sessionid", "session_id", "aspsessionid", "cfid", "cftoken",
    "zenid", "oscsid",
})
NOISE_PREFIXES = ("utm_", "pk_", "mtm_", "piwik_", "matomo_", "hsa_", "oly_", "vero_", "aspsessionid")
# `;jsessionid=…` glued to a path by Java servers
_PATH_SESSION = re.compile(r";jsessionid=[^/?#;]*", re.IGNORECASE)
_SLASHES = re.compile(r"/{2,}")


def is_web_url(url: str | None) -> bool:
    """True for an absolute http(s) URL: the only links Veille stores or sends out."""
    if not url:
        return False
    parts = urlsplit(url.strip())
    return parts.scheme.lower() in ALLOWED_SCHEMES and bool(parts.netloc)


def is_noise_key(key: str) -> bool:
    """Whether a query key (raw or percent-encoded) is known noise: tracking or session."""
    key = unquote(key.replace("+", " ")).strip().lower()
    return key in NOISE_KEYS or key.startswith(NOISE_PREFIXES)


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, no default port, no credentials, no fragment, no tracking or
    session parameters; every other query key kept (a key without a value stays bare: SPIP's
    `?article101`), sorted; percent-encoding normalised (w3lib).

    Raises ValueError for anything that is not an absolute http(s) URL.
    """
    url = url.strip()
    if not is_web_url(url):
        raise ValueError(f"adresse non http(s) : {url!r}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"port invalide : {url!r}") from None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValueError(f"adresse sans hôte : {url!r}")
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _SLASHES.sub("/", _PATH_SESSION.sub("", parts.path))
    kept = [pair for pair in parts.query.split("&") if pair and not is_noise_key(pair.split("=", 1)[0])]
    cleaned = canonicalize_url(urlunsplit((scheme, netloc, path, "&".join(kept), "")), keep_fragments=False)
    # w3lib writes a valueless key as `key=`; SPIP's `?article101` is the address its pages link to.
    head, _, query = cleaned.partition("?")
    if not query:
        return head
    return head + "?" + "&".join(pair.removesuffix("=") if pair.count("=") == 1 and pair.endswith("=") else pair
                                 for pair in query.split("&"))


# -------------------------------------------------------------- hosts a crawl may fetch


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL, lower-cased, the port made explicit; ValueError if none."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in ALLOWED_SCHEMES or not host:
        raise ValueError(f"adresse non http(s) : {url!r}")
    return scheme, host, parts.port or DEFAULT_PORTS[scheme]


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host names literally (`127.0.0.1`, `::1`, `[::1]`), else None (a name)."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _embedded(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list:
    """The addresses to judge: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is its IPv4
    address; a 6to4 address is judged with the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return [address.ipv4_mapped]
        if address.sixtofour is not None:
            return [address, address.sixtofour]
    return [address]


def is_public_address(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an IP address is public: not private, loopback, link-local, reserved, multicast,
    unspecified or otherwise non-global (carrier-grade NAT), in IPv4 or IPv6, including the IPv4
    address an IPv6 address maps. A string that is not an address is not public."""
    if isinstance(address, str):
        address = ip_literal(address.split("%", 1)[0])  # a zone id (fe80::1%eth0) names no other host
        if address is None:
            return False
    return not any(a.is_private or a.is_loopback or a.is_link_local or a.is_reserved or a.is_multicast
                   or a.is_unspecified or not a.is_global for a in _embedded(address))
