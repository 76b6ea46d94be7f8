"""The spider's parsing on inline responses (as Scrapy's own tests do): no network here."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from scrapy import signals
from scrapy.exceptions import DropItem
from scrapy.http import HtmlResponse, Request, Response, XmlResponse
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from crawlers.items import Article
from crawlers.spiders.sources import SourcesSpider, source_done
from config.schema import Source


def make_spider(**source):
    source = Source(**{"id": "s", "name": "S", "type": "html", "url": "https://ville.example/actus/",
                       "links": "article h2 a", **source})
    crawler = get_crawler(SourcesSpider)
    spider = SourcesSpider.from_crawler(crawler, sources=[source], crawl_id="c1",
                                        now=datetime(2026, 11, 26, tzinfo=timezone.utc))
    done = []
    crawler.signals.connect(lambda run: done.append(run), signal=source_done, weak=False)
    return spider, done


def response(cls, url, body, kind, **meta):
    spider_meta = {"source_id": "s", "kind": kind, **meta}
    return cls(url=url, body=body, encoding="utf-8", request=Request(url, meta=spider_meta),
               headers={"Content-Type": "text/html; charset=utf-8" if cls is HtmlResponse else "application/xml"})


def test_listing_links_are_absolute_unique_and_web_only():
    spider, done = make_spider(next="a.suivant", max_pages=2)
    spider._pending["s"] = 1
    body = """<html><body>
      <article><h2><a href="/actus/forum.html">Forum</a></h2></article>
      <article><h2><a href="/actus/forum.html">Forum (doublon)</a></h2></article>
      <article><h2><a href="javascript:void(0)">Script</a></h2></article>
      <article><h2><a href="https://autre.example/aap">AAP</a></h2></article>
      <a class="suivant" href="?page=2">Suivant</a></body></html>"""
    out = list(spider.parse_listing(response(HtmlResponse, "https://ville.example/actus/", body, "listing", page=1)))
    urls = [r.url for r in out]
    assert urls == ["https://ville.example/actus/forum.html", "https://autre.example/aap",
                    "https://ville.example/actus/?page=2"]
    assert [r.meta["kind"] for r in out] == ["article", "article", "listing"]
    assert spider.runs["s"].items_seen == 2 and spider.runs["s"].status == "ok"
    assert done == []  # three requests still pending


def test_listing_without_links_is_a_parse_error():
    spider, done = make_spider()
    spider._pending["s"] = 1
    out = list(spider.parse_listing(response(HtmlResponse, "https://ville.example/actus/",
                                             "<html><body><p>Refonte du site</p></body></html>", "listing", page=1)))
    assert out == [] and spider.runs["s"].status == "parse_error"
    assert [r.source_id for r in done] == ["s"]


def test_sitemap_filters_by_pattern_and_age():
    spider, _ = make_spider(type="sitemap", url="https://ville.example/sitemap.xml", links=None,
                            url_filter="/actus/", max_age_days=30)
    spider._pending["s"] = 1
    body = """<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
      <url><loc>https://ville.example/actus/recent.html</loc><lastmod>2026-11-20</lastmod></url>
      <url><loc>https://ville.example/actus/ancien.html</loc><lastmod>2025-01-10</lastmod></url>
      <url><loc>https://ville.example/mentions-legales</loc><lastmod>2026-11-21</lastmod></url>
      <url><loc>https://ville.example/actus/sans-date.html</loc></url></urlset>"""
    out = list(spider.parse_sitemap(response(XmlResponse, "https://ville.example/sitemap.xml", body, "sitemap")))
    assert [r.url for r in out] == ["https://ville.example/actus/recent.html",
                                    "https://ville.example/actus/sans-date.html"]


def test_unreadable_article_keeps_the_feed_text_and_reports_it():
    spider, _ = make_spider(type="rss", links=None, fetch_full=True)
    spider._pending["s"] = 1
    feed_article = Article("s", "https://ville.example/affiche.png", "Affiche", "Résumé de l'affiche.")
    image = Response(url="https://ville.example/affiche.png", body=b"\x89PNG", headers={"Content-Type": "image/png"},
                     request=Request("https://ville.example/affiche.png",
                                     meta={"source_id": "s", "kind": "article", "fallback": feed_article}))
    assert list(spider.parse_article(image)) == [feed_article]
    broken = Response(url="https://ville.example/rapport.pdf", body=b"%PDF-1.4 broken",
                      headers={"Content-Type": "application/pdf"},
                      request=Request("https://ville.example/rapport.pdf",
                                      meta={"source_id": "s", "kind": "article", "fallback": feed_article}))
    assert list(spider.parse_article(broken)) == [feed_article]
    image_error, pdf_error = spider.runs["s"].page_errors
    assert image_error["status"] == "not_html" and "image/png" in image_error["error"]
    assert pdf_error["status"] == "parse_error" and "PDF illisible" in pdf_error["error"]


def test_a_broken_callback_is_recorded_not_silent():
    spider, done = make_spider()
    spider._pending["s"] = 1
    page = response(HtmlResponse, "https://ville.example/actus/", "<html></html>", "listing", page=1)
    spider.callback_failed(Failure(ValueError("inattendu")), page, spider)
    assert spider.runs["s"].status == "error" and "inattendu" in spider.runs["s"].error
    assert [r.source_id for r in done] == ["s"]


@pytest.mark.parametrize("body", [b"", b"<html>pas un sitemap</html>", b"\x1f\x8b\x08 corrupted gzip"])
def test_broken_sitemaps_are_parse_errors(body):
    spider, _ = make_spider(type="sitemap", url="https://ville.example/sitemap.xml", links=None)
    spider._pending["s"] = 1
    page = Response(url="https://ville.example/sitemap.xml", body=body,
                    request=Request("https://ville.example/sitemap.xml", meta={"source_id": "s", "kind": "sitemap"}))
    assert list(spider.parse_sitemap(page)) == []
    assert spider.runs["s"].status == "parse_error"


def test_a_source_ends_once_its_articles_have_left_the_pipelines():
    """Scrapy runs a callback to its end before its items go through the pipelines: the source's
    run must stay open until each article is stored (item_scraped) or dropped (item_dropped)."""
    spider, done = make_spider(type="rss", url="https://ville.example/flux.xml", links=None)
    spider._pending["s"] = 1
    body = """<?xml version="1.0"?><rss version="2.0"><channel><title>Ville</title>
      <item><title>Forum</title><link>https://ville.example/forum.html</link><description>Forum.</description></item>
      <item><title>AAP</title><link>https://ville.example/aap.html</link><description>AAP.</description></item>
      </channel></rss>"""
    first, second = spider.parse_feed(response(XmlResponse, "https://ville.example/flux.xml", body, "feed"))
    assert done == []  # the feed's callback has ended, its two articles have not
    spider.crawler.signals.send_catch_log(signals.item_scraped, item=first, response=None, spider=spider)
    assert done == []
    spider.crawler.signals.send_catch_log(signals.item_dropped, item=second, response=None, spider=spider,
                                          exception=DropItem("déjà archivé"))
    assert [r.source_id for r in done] == ["s"]
    assert (done[0].items_seen, done[0].items_new) == (2, 1)
