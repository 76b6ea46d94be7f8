"""From a site's address to candidate sources (issue 15): find, fetch politely, judge, rank.

`discover(url, …)` looks for every way to collect a site:

- feeds linked in the page head (RSS, Atom, RDF; relative or absolute addresses), and feeds at the
  conventions of the CMSs French public bodies use (`CMS_FEED_PATHS`: WordPress, SPIP, Drupal, Joomla,
  TYPO3, the State's sites, generic names);
- sitemaps: robots.txt `Sitemap:` lines, `/sitemap.xml` and its usual siblings, indexes (the children
  whose names or dates look like news first), news sitemaps, with the `url_filter` of the news section;
- listing pages: the given page and the site's « actualités » pages, where links to article-like pages
  share one structure; the `links` selector, a `next` selector and `max_pages` are proposed.

Each candidate is fetched and judged (`Candidate`: items, newest date, share of items on topic by the
tagger, sample titles, full text or not) and the list comes back best first (`rank`).

Fetching is synchronous and polite (`Fetcher`): the crawl's user agent, robots.txt, a delay between
requests, a size and a time limit per response, a cap on the number of requests, no redirect or request
to a private or loopback host other than the site's own origin (the crawl's rule). Nothing is written.
trafilatura's own discovery (`feeds.find_feed_urls`, `sitemaps.sitemap_search`) fetches by itself with its
own user agent and no robots.txt, so only the ideas are reused here, not the calls.
"""

from __future__ import annotations

import gzip
import io
import re
import socket
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from urllib import robotparser
from urllib.parse import urljoin, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import httpx
import yaml
from lxml import etree
from lxml import html as lxml_html

from config.errors import VeilleError
from crawlers.feeds import FeedError, parse_feed
from pipeline.extract import decode_html, extract_article
from pipeline.urls import canonical_url, ip_literal, is_public_address, is_web_url, origin

# Feeds at the conventions of CMSs (path and query, from the site's root).
CMS_FEED_PATHS = (
    "/feed/",                              # WordPress
    "/spip.php?page=backend",              # SPIP
    "/rss.xml",                            # Drupal
    "/index.php?format=feed&type=rss",     # Joomla
    "/?type=100",                          # TYPO3 (tx_news' usual typeNum)
    "/syndication/flux/actualites",        # the State's sites (préfectures, ministries' platform)
    "/feed", "/rss", "/atom.xml", "/feed.xml", "/index.xml",
)
SITEMAP_PATHS = ("/sitemap.xml", "/sitemap_index.xml", "/wp-sitemap.xml", "/sitemap.xml.gz")
NEWS_WORDS = ("actualite", "actualites", "actus", "actu", "news", "presse", "communique", "communiques",
              "a-la-une", "articles", "article", "blog", "breves", "agenda", "evenements", "publications")
NEXT_WORDS = re.compile(r"^\s*(suivant|suivante|page suivante|next|›|»|>|>>)\s*[›»>]?\s*$", re.I)
FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+json",
              "application/xml", "text/xml")
SAMPLE_PAGES = 4        # article pages fetched to judge a sitemap or a listing
MAX_SITEMAP_CHILDREN = 3
MAX_LISTING_PAGES = 2   # listing pages besides the given one
MAX_NEXT_PAGES = 2      # next pages followed to check the `next` selector


OFF_SITE = "redirection hors du site"


class DiscoveryError(VeilleError):
    """Nothing usable, or the address itself is unusable (message in French, with what was tried)."""


# ------------------------------------------------------------------------ polite fetching


@dataclass
class Page:
    url: str                 # after redirects
    status: int
    content_type: str
    body: bytes
    error: str | None = None  # French, when nothing usable came back

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200


class Fetcher:
    """Synchronous, polite GET: robots.txt, user agent, delay, size and time limits, a request budget,
    redirects followed by hand (each hop checked), private hosts refused but for `allowed_origins`."""

    def __init__(self, user_agent: str, timeout: float = 30, max_bytes: int = 10 * 1024 * 1024,
                 delay: float = 1.0, obey_robots: bool = True, allowed_origins=(), max_requests: int = 80,
                 max_seconds: float = 300):
        self.user_agent = user_agent
        self.timeout, self.max_bytes, self.delay = timeout, max_bytes, delay
        self.obey_robots = obey_robots
        self.allowed_origins = set(allowed_origins)
        self.max_requests = max_requests
        self.deadline = time.monotonic() + max_seconds  # the whole discovery, whatever the site does
        self.requests = 0
        self.log: list[tuple[str, str]] = []  # (url, outcome): what was tried, for messages
        self._robots: dict[tuple, robotparser.RobotFileParser | None] = {}
        self._public: dict[str, bool] = {}
        self._last = 0.0
        self.client = httpx.Client(headers={"User-Agent": user_agent, "Accept-Language": "fr"},
                                   timeout=timeout, follow_redirects=False)

    @classmethod
    def from_settings(cls, crawl, start_url: str, **overrides) -> Fetcher:
        """A fetcher with the crawl settings (`Settings.crawl`), allowed on `start_url`'s origin."""
        options = dict(user_agent=crawl.full_user_agent, timeout=crawl.timeout,
                       max_bytes=int(crawl.max_size_mb * 1024 * 1024), delay=crawl.download_delay,
                       obey_robots=crawl.obey_robots, allowed_origins=[origin(start_url)])
        return cls(**{**options, **overrides})

    def close(self) -> None:
        self.client.close()

    def _host_refused(self, url: str) -> str | None:
        try:
            target = origin(url)
        except ValueError:
            return "adresse non http(s)"
        if target in self.allowed_origins:
            return None
        host = target[1]
        if host not in self._public:
            literal = ip_literal(host)
            if literal is not None:
                addresses = [str(literal)]
            else:
                try:
                    addresses = sorted({i[4][0] for i in socket.getaddrinfo(host, target[2], type=socket.SOCK_STREAM)})
                except (OSError, UnicodeError):
                    return f"l'hôte {host} est introuvable"
            self._public[host] = bool(addresses) and all(is_public_address(a) for a in addresses)
        return None if self._public[host] else f"l'hôte {host} est une adresse privée : refusé"

    def allowed_by_robots(self, url: str) -> bool:
        if not self.obey_robots:
            return True
        key = origin(url)
        if key not in self._robots:
            parts = urlsplit(url)
            robots_url = urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))
            page = self._get(robots_url, robots=False)
            parser = None
            if page.status == 200 and not page.error:
                parser = robotparser.RobotFileParser(robots_url)
                parser.parse(page.body.decode("utf-8", "replace").splitlines())
            elif page.status in (401, 403):
                parser = robotparser.RobotFileParser(robots_url)
                parser.disallow_all = True
            self._robots[key] = parser
        parser = self._robots[key]
        return parser is None or parser.can_fetch(self.user_agent, url)

    def robots_sitemaps(self, url: str) -> list[str]:
        self.allowed_by_robots(url)
        parser = self._robots.get(origin(url))
        return list(parser.site_maps() or []) if parser else []

    def get(self, url: str, stay_on_site: bool = False) -> Page:
        """The response at `url`; with `stay_on_site`, a redirect to another site is not followed."""
        return self._get(url, robots=True, stay_on_site=stay_on_site)

    def _get(self, url: str, robots: bool, hops: int = 5, stay_on_site: bool = False) -> Page:
        start = url
        for _ in range(hops + 1):
            refused = self._host_refused(url)
            if refused:
                return self._done(Page(url, 0, "", b"", refused))
            if robots and not self.allowed_by_robots(url):
                return self._done(Page(url, 0, "", b"", "interdit par robots.txt"))
            if self.requests >= self.max_requests:
                return self._done(Page(url, 0, "", b"", "trop de requêtes pour une découverte : abandon"))
            if time.monotonic() > self.deadline:
                return self._done(Page(url, 0, "", b"", "temps total de la découverte dépassé : abandon"))
            wait = self._last + self.delay - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.requests += 1
            try:
                page = self._once(url)
            finally:
                self._last = time.monotonic()
            if page.status in (301, 302, 303, 307, 308) and page.error is None:
                url = urljoin(url, page.content_type)  # _once puts the Location there
                if stay_on_site and not _same_site(start, url):
                    return self._done(Page(url, page.status, "", b"", OFF_SITE))
                continue
            return self._done(page)
        return self._done(Page(url, 0, "", b"", "trop de redirections"))

    def _once(self, url: str) -> Page:
        deadline = time.monotonic() + self.timeout
        try:
            with self.client.stream("GET", url) as response:
                if response.is_redirect:
                    return Page(url, response.status_code, response.headers.get("location", ""), b"")
                chunks, size = [], 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > self.max_bytes:
                        return Page(url, response.status_code, "", b"",
                                    f"réponse trop grosse (plus de {self.max_bytes // (1024 * 1024)} Mo)")
                    if time.monotonic() > deadline:
                        return Page(url, response.status_code, "", b"", "délai dépassé")
                    chunks.append(chunk)
                body = b"".join(chunks)
                content_type = response.headers.get("content-type", "")
                status = response.status_code
        except httpx.TimeoutException:
            return Page(url, 0, "", b"", f"pas de réponse en {self.timeout:g} s")
        except httpx.HTTPError as e:
            return Page(url, 0, "", b"", f"le site ne répond pas ({type(e).__name__})")
        if status != 200:
            return Page(url, status, content_type, body, f"réponse HTTP {status}")
        if body[:2] == b"\x1f\x8b":
            try:
                body = _gunzip(body, self.max_bytes)
            except (OSError, EOFError, ValueError):
                return Page(url, status, content_type, b"", "contenu gzip illisible ou trop gros")
        return Page(url, status, content_type, body)

    def _done(self, page: Page) -> Page:
        self.log.append((page.url, page.error or f"HTTP {page.status}"))
        return page


def _gunzip(body: bytes, limit: int) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(body)) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError("too big")
    return data


# ------------------------------------------------------------------------------ judging


@dataclass
class Candidate:
    type: str                       # rss, sitemap, html
    url: str
    links: str | None = None
    next: str | None = None
    max_pages: int | None = None
    url_filter: str | None = None
    items: int = 0
    newest: str | None = None       # ISO 8601
    on_topic: float | None = None   # share of the sampled items the tagger finds on topic
    sample: list[str] = field(default_factory=list)
    full_text: bool = False         # the feed carries the whole text (else articles are fetched)
    found_by: str = ""              # how it was found, French
    error: str | None = None
    penalty: float = 0.0            # comment feeds, category feeds (a subset of another feed)
    item_urls: list[str] = field(default_factory=list)
    score: float = 0.0

    def entry(self, source_id: str, name: str) -> dict:
        """The source entry for sources.yaml."""
        entry: dict = {"id": source_id, "name": name, "type": self.type, "url": self.url}
        if self.type != "rss" or not self.full_text:
            entry["fetch_full"] = True
        if self.type == "html":
            entry["links"] = self.links
            if self.next:
                entry["next"] = self.next
                entry["max_pages"] = self.max_pages or 3
        if self.url_filter:
            entry["url_filter"] = self.url_filter
        if self.type == "sitemap":
            entry["max_age_days"] = 60
        entry["enabled"] = True
        entry["topical"] = False
        return entry

    def as_json(self, source_id: str, name: str) -> dict:
        out = {"type": self.type, "url": self.url}
        for key in ("links", "next", "url_filter"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        out.update(items=self.items, newest=self.newest, on_topic=self.on_topic, sample=self.sample,
                   yaml=entry_yaml(self.entry(source_id, name)))
        return out


def entry_yaml(entry: dict) -> str:
    """A source entry as YAML lines ready to paste under `sources:`."""
    lines = []
    for i, (key, value) in enumerate(entry.items()):
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(value)
        elif key in ("name", "links", "next", "url_filter") or not re.fullmatch(r"[\w:/.?&=%~+,;@!$()*'-]+", str(value)):
            text = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        else:
            text = str(value)  # slugs, types and plain addresses, as in sources.yaml
            if yaml.safe_load(f"k: {text}") != {"k": value}:  # a slug YAML would read as a number or a date
                text = f'"{text}"'
        lines.append(("- " if i == 0 else "  ") + f"{key}: {text}")
    return "\n".join(lines) + "\n"


class Judge:
    """Tells whether sampled items are on topic (the tagger: a theme or a dispositif)."""

    def __init__(self, taxonomy=None, gazetteer=None):
        self.taxonomy, self.gazetteer = taxonomy, gazetteer

    def on_topic(self, documents: list[tuple[str, str]]) -> float | None:
        if not documents or self.taxonomy is None:
            return None
        from pipeline.tagging import tag_document
        hits = 0
        for i, (title, text) in enumerate(documents):
            tags = tag_document(self.taxonomy, f"d{i}", title, text[:5000], self.gazetteer)
            hits += bool(tags.get("themes") or tags.get("dispositifs"))
        return round(hits / len(documents), 2)


def _age_points(newest: str | None, now: datetime) -> float:
    if not newest:
        return 5
    try:
        moment = datetime.fromisoformat(newest)
    except ValueError:
        return 5
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    days = (now - moment).days
    return 40 if days <= 30 else 30 if days <= 90 else 15 if days <= 365 else 0


TYPE_POINTS = {"rss": 10, "sitemap": 5, "html": 3}


def rank(candidates: list[Candidate], now: datetime) -> list[Candidate]:
    """The usable candidates, best first: fresh, many items, on topic, full text, a feed before a
    sitemap before a listing; duplicates (the same items) kept once."""
    usable = [c for c in candidates if c.error is None and c.items > 0]
    # A feed whose items are all in a bigger feed is a category (or tag) feed.
    feeds = [c for c in usable if c.type == "rss"]
    for c in feeds:
        mine = set(c.item_urls)
        if mine and any(o is not c and len(o.item_urls) > len(mine) and mine <= set(o.item_urls) for o in feeds):
            c.penalty += 8
    for c in usable:
        c.score = (_age_points(c.newest, now) + min(c.items, 20) + 20 * (c.on_topic or 0)
                   + TYPE_POINTS[c.type] + (5 if c.full_text else 0) - c.penalty)
    usable.sort(key=lambda c: (-c.score, c.url))
    seen, kept = set(), []
    for c in usable:
        key = (c.type, frozenset(c.item_urls)) if c.item_urls else (c.type, c.url)
        if key in seen:
            continue
        seen.add(key)
        kept.append(c)
    return kept


# ----------------------------------------------------------------------------- discovery


@dataclass
class Discovery:
    url: str                 # the page, after redirects
    site_name: str
    source_id: str
    candidates: list[Candidate]  # ranked, usable
    failed: list[Candidate]      # tried and unusable, with their error
    tried: list[tuple[str, str]]


def discover(url: str, fetcher: Fetcher, judge: Judge | None = None, now: datetime | None = None,
             tz: tzinfo | None = None) -> Discovery:
    """Every candidate source for the site at `url`, judged and ranked; DiscoveryError if the address
    is unusable or nothing usable was found."""
    now = now or datetime.now(timezone.utc)
    tz = tz or ZoneInfo("Europe/Paris")
    judge = judge or Judge()
    if not is_web_url(url):
        raise DiscoveryError(f"« {url} » n'est pas une adresse http(s) complète")
    page = fetcher.get(url, stay_on_site=True)
    if page.error == OFF_SITE or not _same_site(url, page.url):
        raise DiscoveryError(f"{url} redirige hors du site, vers {page.url} : donnez l'adresse du site "
                             "lui-même. Rien n'a été écrit.")
    if page.error:
        raise DiscoveryError(f"{url} : {page.error}. Rien n'a été écrit.")
    candidates: list[Candidate] = []
    if _looks_like_feed(page.body):  # the address of a feed itself
        candidates.append(_judge_feed(page, page.url, fetcher, judge, "l'adresse donnée"))
        tree, name = None, urlsplit(page.url).hostname or ""
    elif _looks_like_sitemap(page.body):
        candidates += _sitemap_candidates(page.url, fetcher, judge, tz, "l'adresse donnée", first=page)
        tree, name = None, urlsplit(page.url).hostname or ""
    else:
        if not _is_html(page):
            raise DiscoveryError(f"{url} n'est pas une page HTML ({page.content_type or 'type inconnu'}) "
                                 "ni un flux ni un sitemap. Rien n'a été écrit.")
        tree = _parse(page)
        name = _site_name(tree, page.url)
        candidates += _feed_candidates(page, tree, fetcher, judge)
        candidates += _all_sitemaps(page.url, fetcher, judge, tz)
        candidates += _listing_candidates(page, tree, fetcher, judge, tz)
    source_id = _slug(urlsplit(page.url).hostname or "source")
    ranked = rank(candidates, now)
    failed = [c for c in candidates if c.error is not None or c.items == 0]
    result = Discovery(page.url, name, source_id, ranked, failed, list(fetcher.log))
    if not ranked:
        raise DiscoveryError(nothing_found_message(result))
    return result


def nothing_found_message(result: Discovery) -> str:
    lines = [f"{result.url} : aucune source utilisable trouvée (ni flux, ni sitemap, ni page de liste "
             "d'articles). Rien n'a été écrit. Essayé :"]
    for url, outcome in result.tried:
        lines.append(f"  - {url} : {outcome}")
    return "\n".join(lines)


def _same_site(a: str, b: str) -> bool:
    def host(u):
        h = (urlsplit(u).hostname or "").lower()
        return h[4:] if h.startswith("www.") else h
    return host(a) == host(b) and (urlsplit(a).port or 0) == (urlsplit(b).port or 0)


def _slug(host: str) -> str:
    host = host[4:] if host.startswith("www.") else host
    return re.sub(r"[^a-z0-9]+", "-", host.lower()).strip("-") or "source"


def _is_html(page: Page) -> bool:
    head = page.body[:1024].lstrip().lower()
    return "html" in page.content_type.lower() or head.startswith((b"<!doctype html", b"<html"))


def _looks_like_feed(body: bytes) -> bool:
    head = body[:2048].lower()
    return b"<rss" in head or b"<feed" in head or b"<rdf:rdf" in head


def _looks_like_sitemap(body: bytes) -> bool:
    head = body[:2048].lower()
    return b"<urlset" in head or b"<sitemapindex" in head


def _parse(page: Page):
    try:
        return lxml_html.document_fromstring(decode_html(page.body, page.content_type)[:3_000_000])
    except (ValueError, etree.ParserError):
        return None


def _site_name(tree, url: str) -> str:
    if tree is not None:
        for xpath in ('//meta[@property="og:site_name"]/@content', "//title/text()"):
            value = next(iter(tree.xpath(xpath)), "")
            if value and value.strip():
                return " ".join(value.split())
    return urlsplit(url).hostname or url


def _root(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", "")) + path


# ---------------------------------------------------------------------------------- feeds


HEAD_LINK = "lien dans l'en-tête de la page"


def _feed_candidates(page: Page, tree, fetcher: Fetcher, judge: Judge) -> list[Candidate]:
    found: dict[str, str] = {}
    if tree is not None:
        for link in tree.xpath("//link[@href]"):
            rel = (link.get("rel") or "").lower().split()
            kind = (link.get("type") or "").lower().split(";")[0].strip()
            if "alternate" in rel and kind in FEED_TYPES:
                feed_url = urljoin(page.url, link.get("href").strip())
                if is_web_url(feed_url):
                    found.setdefault(feed_url, HEAD_LINK)
        # Links to feeds in the page body (« S'abonner au flux RSS »): trafilatura's parsing, not its fetching.
        try:
            from trafilatura.feeds import FeedParameters, determine_feed
            parts = urlsplit(page.url)
            params = FeedParameters(f"{parts.scheme}://{parts.netloc}", parts.hostname or "", page.url)
            for feed_url in determine_feed(etree.tostring(tree, encoding="unicode"), params):
                if is_web_url(feed_url) and _same_site(page.url, feed_url):
                    found.setdefault(feed_url, "lien vers un flux dans la page")
        except Exception:  # noqa: BLE001 — a helper's failure must not stop discovery
            pass
    for path in CMS_FEED_PATHS:
        found.setdefault(_root(page.url, path), "adresse conventionnelle d'un CMS")
    candidates = []
    for feed_url, how in found.items():
        feed_page = fetcher.get(feed_url)
        if how != HEAD_LINK and (feed_page.error or not _looks_like_feed(feed_page.body)):
            continue  # a convention that does not apply, a link that only looked like a feed's
        candidates.append(_judge_feed(feed_page, feed_url, fetcher, judge, how))
    return candidates


def _judge_feed(page: Page, feed_url: str, fetcher: Fetcher, judge: Judge, how: str) -> Candidate:
    candidate = Candidate("rss", feed_url, found_by=how)
    if page.error:
        candidate.error = page.error
        return candidate
    try:
        articles = parse_feed(page.body, page.url, "discovery", page.content_type)
    except FeedError as e:
        candidate.error = str(e)
        return candidate
    if not articles:
        candidate.error = "flux vide"
        return candidate
    candidate.items = len(articles)
    candidate.item_urls = [a.raw_url for a in articles]
    dates = [a.published_at for a in articles if a.published_at]
    candidate.newest = max(dates) if dates else None
    candidate.sample = [a.title for a in articles[:3]]
    candidate.full_text = sum(len(a.text) for a in articles) / len(articles) >= 600
    candidate.on_topic = judge.on_topic([(a.title, a.text or a.summary) for a in articles[:20]])
    feed_title = articles and page.body[:4000].decode("utf-8", "replace").lower()
    if re.search(r"comment", urlsplit(feed_url).path + "?" + urlsplit(feed_url).query, re.I) or (
            feed_title and re.search(r"<title>[^<]*commentaire", feed_title)):
        candidate.penalty += 50  # a comment feed: readers' comments, not the site's news
    return candidate


# ------------------------------------------------------------------------------- sitemaps


SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def _sitemap_entries(body: bytes) -> tuple[str, list[dict]]:
    """('urlset' | 'sitemapindex', entries with loc, lastmod, title) of a sitemap body."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)
    root = etree.fromstring(body, parser=parser)
    if root is None:
        raise ValueError("pas de XML")
    kind = etree.QName(root).localname
    entries = []
    for element in root:
        if not isinstance(element.tag, str):
            continue
        entry: dict = {}
        for child in element.iter():
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child).localname
            text = (child.text or "").strip()
            if name == "loc" and "loc" not in entry:
                entry["loc"] = text
            elif name in ("lastmod", "publication_date") and text:
                entry["date"] = max(entry.get("date", ""), text)
            elif name == "title" and text:
                entry["title"] = text
        if entry.get("loc"):
            entries.append(entry)
    return kind, entries


def _all_sitemaps(url: str, fetcher: Fetcher, judge: Judge, tz) -> list[Candidate]:
    found: dict[str, str] = {}
    for sitemap in fetcher.robots_sitemaps(url):
        found.setdefault(urljoin(url, sitemap), "ligne Sitemap: de robots.txt")
    for path in SITEMAP_PATHS:
        found.setdefault(_root(url, path), "adresse conventionnelle")
    candidates = []
    for sitemap_url, how in found.items():
        candidates += _sitemap_candidates(sitemap_url, fetcher, judge, tz, how)
    return candidates


def _sitemap_candidates(sitemap_url: str, fetcher: Fetcher, judge: Judge, tz, how: str,
                        first: Page | None = None) -> list[Candidate]:
    page = first or fetcher.get(sitemap_url)
    candidate = Candidate("sitemap", sitemap_url, found_by=how)
    if page.error or not _looks_like_sitemap(page.body):
        if how.startswith("adresse conventionnelle"):
            return []
        candidate.error = page.error or "la réponse n'est pas un sitemap"
        return [candidate]
    try:
        kind, entries = _sitemap_entries(page.body)
    except (ValueError, etree.XMLSyntaxError) as e:
        candidate.error = f"sitemap illisible ({type(e).__name__})"
        return [candidate]
    if kind == "sitemapindex":
        # The children that look like news, then the most recent.
        def interest(e):
            return (any(w in e["loc"].lower() for w in ("news", "actu", "post", "article")), e.get("date", ""))
        urls: list[dict] = []
        for child in sorted(entries, key=interest, reverse=True)[:MAX_SITEMAP_CHILDREN]:
            child_page = fetcher.get(urljoin(page.url, child["loc"]))
            if child_page.ok and _looks_like_sitemap(child_page.body):
                try:
                    child_kind, child_entries = _sitemap_entries(child_page.body)
                except (ValueError, etree.XMLSyntaxError):
                    continue
                if child_kind == "urlset":
                    urls += child_entries
        entries = urls
    entries = [e for e in entries if is_web_url(urljoin(page.url, e["loc"]))]
    url_filter = _news_filter([e["loc"] for e in entries])
    if url_filter:
        entries = [e for e in entries if re.search(url_filter, e["loc"])]
        candidate.url_filter = url_filter
    if not entries:
        candidate.error = "sitemap sans adresse d'article"
        return [candidate]
    entries.sort(key=lambda e: e.get("date", ""), reverse=True)
    candidate.items = len(entries)
    candidate.item_urls = [e["loc"] for e in entries]
    dated = [_iso_date(e.get("date"), tz) for e in entries]
    dated = [d for d in dated if d]
    candidate.newest = max(dated) if dated else None
    _judge_pages(candidate, [urljoin(page.url, e["loc"]) for e in entries[:SAMPLE_PAGES]], fetcher, judge, tz,
                 titles=[e.get("title") for e in entries[:SAMPLE_PAGES]])
    return [candidate]


def _news_filter(urls: list[str]) -> str | None:
    """The regular expression of the news section: the first path segment most news-like and frequent."""
    sections = Counter()
    for url in urls:
        segments = [s for s in urlsplit(url).path.split("/") if s]
        if len(segments) >= 2:
            sections[segments[0]] += 1
    news = [(n, s) for s, n in sections.items() if s.lower().strip("-_") in NEWS_WORDS or
            any(s.lower().startswith(w) for w in ("actu", "news", "communique"))]
    if news:
        return f"/{re.escape(max(news)[1])}/"
    return None


def _iso_date(value: str | None, tz) -> str | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _judge_pages(candidate: Candidate, urls: list[str], fetcher: Fetcher, judge: Judge, tz,
                 titles: list[str | None] | None = None) -> None:
    """Fetch a few article pages: sample titles, dates, share on topic."""
    documents, dates = [], []
    for i, url in enumerate(urls):
        page = fetcher.get(url)
        if not page.ok or not _is_html(page):
            continue
        article = extract_article(decode_html(page.body, page.content_type), page.url, tz)
        title = (titles[i] if titles and titles[i] else None) or article.title
        documents.append((title, article.text))
        if article.published_at:
            dates.append(_iso_date(article.published_at, tz) or article.published_at)
    candidate.sample = [t for t, _ in documents[:3]]
    if dates and (not candidate.newest or max(dates) > candidate.newest):
        candidate.newest = max(dates)
    candidate.on_topic = judge.on_topic(documents)


# ------------------------------------------------------------------------------- listings


def _listing_candidates(page: Page, tree, fetcher: Fetcher, judge: Judge, tz) -> list[Candidate]:
    if tree is None:
        return []
    pages = [(page, tree)]
    # The site's news pages, linked from the given one.
    seen = {_strip(page.url)}
    for a in tree.xpath("//a[@href]"):
        href = urljoin(page.url, a.get("href").strip())
        if len(pages) > MAX_LISTING_PAGES or not _same_site(page.url, href) or _strip(href) in seen:
            continue
        path = urlsplit(href).path.lower().strip("/")
        label = " ".join(a.text_content().split()).lower()
        if (path.split("/")[-1] if path else "") in NEWS_WORDS or label in ("actualités", "actualites", "actus",
                                                                          "actualité", "toutes les actualités"):
            seen.add(_strip(href))
            other = fetcher.get(href)
            if other.ok and _is_html(other):
                other_tree = _parse(other)
                if other_tree is not None:
                    pages.append((other, other_tree))
    candidates = []
    for listing_page, listing_tree in pages:
        candidate = _listing(listing_page, listing_tree, fetcher, judge, tz)
        if candidate:
            candidates.append(candidate)
    return candidates


def _strip(url: str) -> str:
    try:
        return canonical_url(url).rstrip("/")
    except ValueError:
        return url


def _signature(element) -> tuple:
    """The element's ancestry, tags and classes, without positions: links of one list share it."""
    chain = []
    node = element
    while node is not None and isinstance(node.tag, str) and node.tag not in ("html", "body"):
        chain.append((node.tag, tuple(sorted((node.get("class") or "").split()))))
        node = node.getparent()
    return tuple(reversed(chain))


def _article_like(url: str, page_url: str) -> bool:
    if not _same_site(page_url, url) or _strip(url) == _strip(page_url):
        return False
    path = urlsplit(url).path
    last = [s for s in path.split("/") if s]
    if not last:
        return False
    if re.search(r"\.(pdf|jpe?g|png|gif|zip|docx?|xlsx?|odt)$", path, re.I):
        return False
    slug = last[-1]
    return (len(last) >= 2 and (slug.count("-") >= 2 or slug.isdigit() or len(slug) >= 20)) or slug.count("-") >= 3 \
        or bool(re.search(r"article\d+|[?&](p|id|article)=?\d+", url))


def _listing(page: Page, tree, fetcher: Fetcher, judge: Judge, tz) -> Candidate | None:
    groups: dict[tuple, list] = defaultdict(list)
    for a in tree.xpath("//body//a[@href]"):
        href = urljoin(page.url, a.get("href").strip())
        if _article_like(href, page.url):
            groups[_signature(a)].append((a, href))
    best, best_score = None, 0.0
    for signature, members in groups.items():
        urls = list(dict.fromkeys(h for _, h in members))
        if len(urls) < 3 or any(tag in ("nav", "header", "footer") for tag, _ in signature):
            continue
        score = len(urls) * (1 + sum(len(urlsplit(u).path) for u in urls) / len(urls) / 40)
        if score > best_score:
            best, best_score = (signature, urls), score
    if best is None:
        return None
    signature, urls = best
    selector = _selector_for(tree, signature, set(urls), page.url)
    if selector is None:
        return None
    candidate = Candidate("html", page.url, links=selector, found_by="page de liste d'articles")
    next_selector, next_url = _next_link(tree, page.url)
    all_urls = list(urls)
    if next_selector:
        candidate.next = next_selector
        pages, url = 1, next_url
        while url and pages <= MAX_NEXT_PAGES:
            next_page = fetcher.get(url)
            if not next_page.ok or not _is_html(next_page):
                break
            next_tree = _parse(next_page)
            if next_tree is None:
                break
            more = _select(next_tree, selector, next_page.url)
            if not more:
                break
            pages += 1
            all_urls += [u for u in more if u not in all_urls]
            following = _select(next_tree, next_selector, next_page.url)
            url = following[0] if following else None
        candidate.max_pages = max(3, pages)
    candidate.items = len(all_urls)
    candidate.item_urls = all_urls
    _judge_pages(candidate, all_urls[:SAMPLE_PAGES], fetcher, judge, tz)
    return candidate


def _select(tree, selector: str, base: str) -> list[str]:
    urls = []
    for element in tree.cssselect(selector):
        href = element.get("href") or next(iter(element.xpath(".//a/@href")), None)
        if href:
            url = urljoin(base, href.strip())
            if is_web_url(url) and url not in urls:
                urls.append(url)
    return urls


def _part(tag: str, classes: tuple) -> str:
    return tag + "".join("." + c for c in classes if re.fullmatch(r"[A-Za-z_][\w-]*", c))


def _selector_for(tree, signature: tuple, urls: set[str], base: str) -> str | None:
    """A selector from a classed ancestor (the outermost that works) down to the link, selecting exactly
    the group's links, no more."""
    tags = [_part(tag, classes) for tag, classes in signature]
    attempts = []
    for start in range(len(tags)):  # the outermost list-like ancestor first: sturdier over redesigns
        if start < len(tags) - 1 and "." not in tags[start]:
            continue
        # from this ancestor: the ancestor, then the link (with its classes)
        attempts.append(f"{tags[start]} {tags[-1]}" if start < len(tags) - 1 else tags[-1])
        attempts.append(" > ".join(tags[start:]))
    attempts.append(" > ".join(tags))
    for selector in attempts:
        try:
            chosen = set(_select(tree, selector, base))
        except Exception:  # noqa: BLE001 — a selector cssselect cannot read: try the next
            continue
        if chosen == urls:
            return selector
    return None


def _next_link(tree, base: str) -> tuple[str | None, str | None]:
    """(selector, url) of the link to the next listing page, if any."""
    for selector in ("a[rel~='next']", "link[rel~='next']"):
        found = _select(tree, selector, base) if selector.startswith("a") else []
        if found:
            return selector, found[0]
    for a in tree.xpath("//body//a[@href]"):
        label = " ".join(a.text_content().split())
        classes = " ".join(filter(None, [a.get("class"), (a.getparent().get("class") if a.getparent() is not None
                                                                      else None)])).lower()
        if NEXT_WORDS.match(label) or "next" in classes or "suivant" in classes:
            url = urljoin(base, a.get("href").strip())
            if not _same_site(base, url):
                continue
            for selector in _next_selectors(a, label):
                try:
                    if _select(tree, selector, base)[:1] == [url] and len(_select(tree, selector, base)) == 1:
                        return selector, url
                except Exception:  # noqa: BLE001
                    continue
    return None, None


def _next_selectors(a, label: str) -> list[str]:
    out = []
    for c in (a.get("class") or "").split():
        out.append(f"a.{c}")
    parent = a.getparent()
    if parent is not None:
        for c in (parent.get("class") or "").split():
            out.append(f"{parent.tag}.{c} a")
    if a.get("title"):
        out.append(f"a[title='{a.get('title')}']")
    if a.get("aria-label"):
        out.append(f"a[aria-label='{a.get('aria-label')}']")
    out.sort(key=lambda s: not re.search(r"next|suiv", s, re.I))  # the class that says « next » first
    return [s for s in out if re.fullmatch(r"[\w.\-\[\]=' >~]+", s)]


# ------------------------------------------------------------------------- dry run (check)


@dataclass
class CheckResult:
    id: str
    type: str
    url: str
    enabled: bool
    items: int = 0
    newest: str | None = None
    sample: list[str] = field(default_factory=list)
    error: str | None = None
    pages: int = 0      # listing pages read

    @property
    def ok(self) -> bool:
        return self.error is None and self.items > 0


def check_source(source, fetcher: Fetcher, tz, now: datetime | None = None) -> CheckResult:
    """Fetch and parse one source as the crawl would (feed, listing pages through `next`, sitemap with its
    filters), without storing anything: items found, newest date, sample titles, the error if any."""
    now = now or datetime.now(timezone.utc)
    result = CheckResult(source.id, source.type, source.url, source.enabled)
    page = fetcher.get(source.url)
    if page.error:
        result.error = page.error
        return result
    if source.type == "rss":
        try:
            articles = parse_feed(page.body, page.url, source.id, page.content_type)
        except FeedError as e:
            result.error = str(e)
            return result
        result.items = len(articles)
        dates = [a.published_at for a in articles if a.published_at]
        result.newest = max(dates) if dates else None
        result.sample = [a.title for a in articles[:3]]
    elif source.type == "html":
        urls: list[str] = []
        while page is not None and result.pages < source.max_pages:
            tree = _parse(page) if _is_html(page) else None
            if tree is None:
                result.error = "la page de liste n'est pas du HTML lisible"
                return result
            found = _select(tree, source.links, page.url)
            result.pages += 1
            if not found and result.pages == 1:
                result.error = f"le sélecteur « {source.links} » ne trouve aucun lien d'article sur la page"
                return result
            urls += [u for u in found if u not in urls]
            following = _select(tree, source.next, page.url)[:1] if source.next else []
            page = fetcher.get(following[0]) if following and result.pages < source.max_pages else None
            if page is not None and page.error:
                result.error = f"page suivante {page.url} : {page.error}"
                page = None
        result.items = len(urls)
        _sample_articles(result, urls[:3], fetcher, tz)
    else:
        if not _looks_like_sitemap(page.body):
            result.error = "la réponse n'est pas un sitemap"
            return result
        kind, entries = _sitemap_entries(page.body)
        if kind == "sitemapindex":
            children = entries
            entries = []
            for child in children[:10]:
                child_page = fetcher.get(urljoin(page.url, child["loc"]))
                if child_page.ok and _looks_like_sitemap(child_page.body):
                    entries += _sitemap_entries(child_page.body)[1]
        if source.url_filter:
            entries = [e for e in entries if re.search(source.url_filter, e["loc"])]
        if source.max_age_days:
            limit = (now - timedelta(days=source.max_age_days)).isoformat()
            entries = [e for e in entries if not e.get("date") or (_iso_date(e["date"], tz) or "") >= limit]
        entries.sort(key=lambda e: e.get("date", ""), reverse=True)
        result.items = len(entries)
        dates = [d for d in (_iso_date(e.get("date"), tz) for e in entries) if d]
        result.newest = max(dates) if dates else None
        titled = [e["title"] for e in entries[:3] if e.get("title")]
        if titled:
            result.sample = titled
        else:
            _sample_articles(result, [urljoin(page.url, e["loc"]) for e in entries[:3]], fetcher, tz)
    if result.items == 0 and result.error is None:
        result.error = "aucun article trouvé"
    return result


def _sample_articles(result: CheckResult, urls: list[str], fetcher: Fetcher, tz) -> None:
    for url in urls:
        page = fetcher.get(url)
        if page.ok and _is_html(page):
            article = extract_article(decode_html(page.body, page.content_type), page.url, tz)
            result.sample.append(article.title)
            date = _iso_date(article.published_at, tz) if article.published_at else None
            if date and (not result.newest or date > result.newest):
                result.newest = date


# ---------------------------------------------------------------------------- self-repair


REPAIRABLE = (
    (re.compile(r"ne trouve aucun lien d'article"), "le sélecteur de liens ne trouve plus rien (site refait ?)"),
    (re.compile(r"réponse HTTP (404|410)"), "l'adresse ne répond plus (404 ou 410)"),
    (re.compile(r"n'est pas un (flux|sitemap)|pas un flux RSS"), "l'adresse ne donne plus de flux"),
)


def repair_reason(health) -> str | None:
    """Why a source that used to work needs mending (French), or None: a listing whose selector finds
    nothing, a feed or sitemap that answers 404, or no longer a feed. `health`: a SourceHealth."""
    if not health.enabled or not health.last_success_at or not health.last_error:
        return None
    if health.last_error_at and health.last_error_at < health.last_success_at:
        return None  # the last run worked
    for pattern, reason in REPAIRABLE:
        if pattern.search(health.last_error):
            return reason
    return None


def repair_start(source) -> str:
    """Where discovery starts for a source: its listing page, or the site's home page."""
    if source.type == "html":
        return source.url
    return _root(source.url, "/")


def proposal(source, result: Discovery) -> Candidate | None:
    """The candidate that replaces a broken source: the best of its own type, else the best; None when
    discovery only finds what the source already has."""
    same = [c for c in result.candidates if c.type == source.type]
    for c in same + result.candidates:
        if c.url != source.url or c.links != source.links or c.url_filter != source.url_filter:
            return c
    return None


def repair_changes(source, candidate: Candidate) -> tuple[dict, tuple[str, ...]]:
    """(fields to set, fields to drop) in the source's entry; id, name, enabled, topical, max_age_days kept."""
    entry = candidate.entry(source.id, source.name)
    changes = {k: v for k, v in entry.items() if k not in ("id", "name", "enabled", "topical", "max_age_days")}
    drop = tuple(k for k in ("links", "next", "max_pages", "url_filter", "fetch_full") if k not in changes)
    return changes, drop
