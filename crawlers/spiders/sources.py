"""The spider of every source type: it fetches and parses, nothing else.

- `rss`: the feed, parsed with feedparser; with `fetch_full`, each linked article page too
  (the feed's text is kept when the page fails or is not HTML);
- `html`: a listing page, its article links (CSS selector `links`), `next` pages up to `max_pages`;
- `sitemap`: a sitemap or sitemap index (gzip or not), filtered by `url_filter` and `max_age_days`.

Requests carry `meta["source_id"]` and `meta["kind"]` (feed, listing, sitemap, article):
middlewares use them for conditional GET (not articles) and to skip articles already archived.
An article linked by several sources in one crawl is requested once, by the first.
Each source's outcome is a `SourceRun`, owned by the spider. A source is open while one of its
requests or one of its articles is pending: an article counts from the moment it is yielded until
Scrapy's `item_scraped` (stored as new: `items_new`), `item_dropped` (a copy, already archived)
or `item_error` signal. Scrapy pulls a callback's output ahead of the item pipelines (up to
CONCURRENT_ITEMS at once), so a callback's end comes before its last articles are stored; only
once both have ended does the spider send `source_done` (`RunRecorder` records the run then).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo
from urllib.parse import urljoin

import scrapy
from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.utils.gz import gunzip
from scrapy.utils.sitemap import Sitemap
from twisted.python.failure import Failure

from crawlers.feeds import FeedError, parse_feed
from crawlers.items import Article
from crawlers.runs import ERROR, NOT_HTML, PARSE_ERROR, SourceRun, describe_failure, source_done
from config.dates import utcnow
from pipeline.extract import UnreadableDocument, decode_html, extract_article, extract_pdf
from pipeline.urls import is_web_url
from config.schema import DEFAULT_TIMEZONE, Source

MAX_SITEMAP_ARTICLES = 200  # newest first; a sitemap can list a whole site's history
MAX_SITEMAP_CHILDREN = 20
KNOWN_ARTICLE = "déjà archivé"  # IgnoreRequest message of KnownArticlesMiddleware
_HTML_TYPES = ("text/html", "application/xhtml+xml")


def _is_pdf(content_type: str, body: bytes) -> bool:
    return content_type.startswith("application/pdf") or body[:5] == b"%PDF-"


def _is_html(content_type: str, body: bytes) -> bool:
    if content_type:
        return content_type.startswith(_HTML_TYPES)
    head = body[:1024].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html")) or b"<body" in head


class SourcesSpider(scrapy.Spider):
    name = "sources"

    def __init__(self, sources: list[Source], crawl_id: str, now: datetime | None = None, **kwargs):
        super().__init__(**kwargs)
        self.crawl_id = crawl_id
        self.sources = {s.id: s for s in sources}
        self.runs = {s.id: SourceRun(crawl_id, s.id) for s in sources}
        self.now = now or datetime.now(timezone.utc)
        self._pending: Counter = Counter()
        self._articles_requested: set[str] = set()

    # ------------------------------------------------------------ requests

    async def start(self):
        for source in self.sources.values():
            kind, callback = {"rss": ("feed", self.parse_feed), "html": ("listing", self.parse_listing),
                              "sitemap": ("sitemap", self.parse_sitemap)}[source.type]
            yield self._request(source.id, source.url, callback, kind, page=1)

    def _request(self, source_id: str, url: str, callback, kind: str, **meta) -> scrapy.Request:
        self._pending[source_id] += 1
        return scrapy.Request(
            url, callback=callback, errback=self.request_failed, dont_filter=True,
            meta={"source_id": source_id, "kind": kind, "handle_httpstatus_list": [304], **meta},
        )

    def _article_requests(self, source_id: str, url: str, fallback: Article | None = None):
        """A request for the article, unless another source of this crawl already asked for it."""
        if url not in self._articles_requested:
            self._articles_requested.add(url)
            yield self._request(source_id, url, self.parse_article, "article", fallback=fallback)

    def _item(self, article: Article) -> Article:
        """An article on its way to the item pipelines: its source stays open until it comes out."""
        self._pending[article.source_id] += 1
        return article

    def item_stored(self, item: Article) -> None:
        """item_scraped: the archive pipeline stored the article as new (it drops the others)."""
        self.runs[item.source_id].items_new += 1
        self._end(item.source_id)

    def item_left(self, item: Article) -> None:
        """item_dropped or item_error: the article is not new (a copy, already archived) or failed."""
        self._end(item.source_id)

    def _end(self, source_id: str) -> None:
        """One request or article of the source has ended; the last one closes the source's run."""
        self._pending[source_id] -= 1
        if self._pending[source_id] == 0:
            run = self.runs[source_id]
            run.finished_at = utcnow()
            self.crawler.signals.send_catch_log(source_done, run=run)

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.tz = ZoneInfo(crawler.settings.get("VEILLE_TIMEZONE") or DEFAULT_TIMEZONE)
        crawler.signals.connect(spider.callback_failed, signal=signals.spider_error)
        crawler.signals.connect(spider.item_stored, signal=signals.item_scraped)
        crawler.signals.connect(spider.item_left, signal=signals.item_dropped)
        crawler.signals.connect(spider.item_left, signal=signals.item_error)
        return spider

    def callback_failed(self, failure: Failure, response, spider) -> None:
        """A bug or an unforeseen input broke a callback: say so in the source's run, and go on."""
        source_id = response.meta.get("source_id")
        if source_id in self.runs:
            kind = response.meta.get("kind")
            message = f"erreur interne sur {response.url} : {type(failure.value).__name__} : {failure.value}"[:500]
            if kind in ("article",) or response.meta.get("page", 1) > 1:
                self.runs[source_id].add_page_error(response.url, ERROR, message)
            else:
                self.runs[source_id].fail(ERROR, message)
            self._end(source_id)

    # ----------------------------------------------------------- callbacks

    def parse_feed(self, response):
        run = self._root_response(response)
        self._keep_validators(response)
        source = self.sources[run.source_id]
        if response.status != 304:
            content_type = response.headers.get(b"Content-Type", b"").decode("latin-1")
            try:
                articles = parse_feed(response.body, response.url, run.source_id, content_type)
            except FeedError as e:
                run.fail(PARSE_ERROR, str(e))
                articles = []
            run.items_seen += len(articles)
            for article in articles:
                if source.fetch_full and is_web_url(article.raw_url):
                    yield from self._article_requests(run.source_id, article.raw_url, fallback=article)
                else:
                    yield self._item(article)
        self._end(run.source_id)

    def parse_listing(self, response):
        run = self.runs[response.meta["source_id"]]
        source = self.sources[run.source_id]
        page = response.meta["page"]
        if page == 1:
            self._root_response(response)
        self._keep_validators(response)
        if response.status != 304:
            links = self._links(response, source.links)
            if not links and page == 1:
                run.fail(PARSE_ERROR, f"le sélecteur « {source.links} » ne trouve aucun lien d'article sur la page")
            run.items_seen += len(links)
            for url in links:
                yield from self._article_requests(run.source_id, url)
            if source.next and page < source.max_pages:
                next_url = next(iter(self._links(response, source.next)), None)
                if next_url:
                    yield self._request(run.source_id, next_url, self.parse_listing, "listing", page=page + 1)
        self._end(run.source_id)

    def parse_sitemap(self, response):
        run = self.runs[response.meta["source_id"]]
        source = self.sources[run.source_id]
        depth = response.meta.get("depth_in_index", 0)
        if depth == 0:
            self._root_response(response)
        self._keep_validators(response)
        if response.status != 304:
            try:
                entries, sitemap_type = self._sitemap_entries(response)
            except FeedError as e:
                if depth == 0:
                    run.fail(PARSE_ERROR, str(e))
                else:
                    run.add_page_error(response.url, PARSE_ERROR, str(e))
                entries, sitemap_type = [], None
            recent = [e for e in entries if self._recent(e.get("lastmod"), source.max_age_days)]
            recent.sort(key=lambda e: e.get("lastmod") or "", reverse=True)
            if sitemap_type == "sitemapindex" and depth == 0:
                for entry in recent[:MAX_SITEMAP_CHILDREN]:
                    yield self._request(run.source_id, entry["loc"], self.parse_sitemap, "sitemap",
                                        depth_in_index=1)
            elif sitemap_type == "urlset":
                pattern = re.compile(source.url_filter) if source.url_filter else None
                chosen = [e["loc"] for e in recent if not pattern or pattern.search(e["loc"])]
                run.items_seen += len(chosen[:MAX_SITEMAP_ARTICLES])
                for url in chosen[:MAX_SITEMAP_ARTICLES]:
                    yield from self._article_requests(run.source_id, url)
        self._end(run.source_id)

    def parse_article(self, response):
        run = self.runs[response.meta["source_id"]]
        fallback: Article | None = response.meta.get("fallback")
        content_type = response.headers.get(b"Content-Type", b"").decode("latin-1").lower()
        started = time.process_time()
        if _is_pdf(content_type, response.body):
            try:
                document = extract_pdf(response.body)
            except UnreadableDocument as e:
                run.add_page_error(response.url, PARSE_ERROR, str(e) + (" : texte du flux conservé" if fallback else ""))
                if fallback:
                    yield self._item(fallback)
            else:
                yield self._item(self._article(run, response, document, fallback, feed_title_first=True))
        elif not _is_html(content_type, response.body):
            kind = content_type.split(";")[0] or "type inconnu"
            if fallback:
                run.add_page_error(response.url, NOT_HTML, f"document non HTML ({kind}) : texte du flux conservé")
                yield self._item(fallback)  # the feed's own text stands in for the page
            else:
                run.add_page_error(response.url, NOT_HTML, f"document non HTML ({kind}) : non extrait")
        else:
            page = extract_article(decode_html(response.body, content_type), response.url, self.tz)
            yield self._item(self._article(run, response, page, fallback))
        self.crawler.stats.inc_value("veille/cpu_seconds", time.process_time() - started)
        self._end(run.source_id)

    @staticmethod
    def _article(run: SourceRun, response, page, fallback: Article | None, feed_title_first: bool = False) -> Article:
        """An article from an extracted page (HTML or PDF), the feed's entry filling what it lacks (a
        PDF's own title, often a file name, comes after the feed's)."""
        feed_title = fallback.title if fallback else ""
        titles = [feed_title, page.title] if feed_title_first else [page.title, feed_title]
        return Article(
            source_id=run.source_id,
            # The link as followed, before any redirect: what the next crawl will find again.
            raw_url=fallback.raw_url if fallback else (response.meta.get("redirect_urls") or [response.url])[0],
            title=next((t for t in titles if t), page.text[:120]),
            text=page.text or (fallback.text if fallback else ""),
            summary=fallback.summary if fallback else "",
            published_at=page.published_at or (fallback.published_at if fallback else None),
            author=page.author or (fallback.author if fallback else None),
            lang=page.lang,
            # The page's own canonical link, else where a redirect led.
            declared_url=urljoin(response.url, page.canonical_url) if page.canonical_url else (
                response.url if response.meta.get("redirect_urls") else None),
        )

    def request_failed(self, failure: Failure):
        request = failure.request
        run = self.runs[request.meta["source_id"]]
        status, message, http_status = describe_failure(failure)
        if request.meta["kind"] == "article":
            if isinstance(failure.value, IgnoreRequest) and str(failure.value) == KNOWN_ARTICLE:
                pass  # already archived: seen, not fetched again
            else:
                run.add_page_error(request.url, status, message, http_status)
                fallback = request.meta.get("fallback")
                if fallback:
                    yield self._item(fallback)
        elif request.meta.get("page", 1) == 1 and request.meta.get("depth_in_index", 0) == 0:
            run.fail(status, message, http_status)
        else:
            run.add_page_error(request.url, status, message, http_status)
        self._end(run.source_id)

    # ------------------------------------------------------------- helpers

    def _root_response(self, response) -> SourceRun:
        run = self.runs[response.meta["source_id"]]
        run.http_status = response.status
        return run

    def _keep_validators(self, response) -> None:
        if "validators" in response.meta:
            self.runs[response.meta["source_id"]].validators.append(response.meta["validators"])

    @staticmethod
    def _links(response, selector: str) -> list[str]:
        """Absolute http(s) URLs of the elements selected (links, or elements holding one)."""
        urls: list[str] = []
        for element in response.css(selector):
            href = element.attrib.get("href") or element.css("a::attr(href)").get()
            if href:
                url = urljoin(response.url, href.strip())
                if is_web_url(url) and url not in urls:
                    urls.append(url)
        return urls

    def _sitemap_entries(self, response) -> tuple[list[dict], str]:
        body = response.body
        if body[:2] == b"\x1f\x8b":
            try:
                body = gunzip(body, max_size=self.crawler.settings.getint("DOWNLOAD_MAXSIZE"))
            except Exception as e:  # noqa: BLE001 - scrapy raises a private size error or OSError
                raise FeedError(f"sitemap compressé illisible ou trop gros ({type(e).__name__})") from None
        try:
            sitemap = Sitemap(body)
        except Exception as e:  # noqa: BLE001 - lxml raises various errors on garbage
            raise FeedError(f"sitemap illisible : {type(e).__name__}") from None
        if sitemap.type not in ("urlset", "sitemapindex"):
            raise FeedError("la réponse n'est pas un sitemap")
        entries = [e for e in sitemap if is_web_url(urljoin(response.url, e.get("loc", "")))]
        for entry in entries:
            entry["loc"] = urljoin(response.url, entry["loc"])
        return entries, sitemap.type

    def _recent(self, lastmod: str | None, max_age_days: int | None) -> bool:
        if not max_age_days or not lastmod:
            return True
        try:
            moment = datetime.fromisoformat(lastmod.strip().replace("Z", "+00:00"))
        except ValueError:
            return True
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment >= self.now - timedelta(days=max_age_days)

