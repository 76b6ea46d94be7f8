"""A live news site built from fixture files, served on loopback: the demo's web and the tests'.

Each `<source-id>.yaml` in a folder (format in demo/README.md) becomes a small site:

    /<source-id>/feed.xml      RSS 2.0 feed (links carry tracking parameters, as real feeds do)
    /<source-id>/              listing page linking every article
    /<source-id>/<slug>.html   the article page: navigation, article, footer
    /<source-id>/sitemap.xml   sitemap of the articles, with lastmod
    /sitemap.xml               sitemap index of every source
    /robots.txt                disallows /private/

Every page has an ETag and answers 304 to a matching If-None-Match, as real servers do.

Articles are dated `age_hours` before the moment the site is built, never before the start
of the current ISO week (Europe/Paris), so that the demo always has a bulletin for this week.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape
from zoneinfo import ZoneInfo

import yaml

from config.dates import week_start
from config.schema import DEFAULT_TIMEZONE

PARIS = ZoneInfo(DEFAULT_TIMEZONE)  # the fixture sites are French: dates in their pages are Paris time
ROBOTS_TXT = "User-agent: *\nDisallow: /private/\n"


@dataclass
class FixtureArticle:
    slug: str
    title: str
    summary: str
    body: str
    published: datetime
    author: str | None = None


@dataclass
class FixtureSource:
    id: str
    name: str
    description: str
    articles: list[FixtureArticle]
    topical: bool = False
    collect: dict | None = None  # how the demo collects it: Source fields such as type, links


def load_fixture_sources(folder: Path | str, now: datetime | None = None) -> list[FixtureSource]:
    now = now or datetime.now(timezone.utc)
    floor = week_start(now, PARIS)
    sources = []
    for path in sorted(Path(folder).glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        articles = []
        for rank, a in enumerate(data["articles"]):
            published = max(now - timedelta(hours=a["age_hours"]), floor + timedelta(minutes=rank + 1))
            published = min(published, now)
            articles.append(FixtureArticle(a["slug"], a["title"], a["summary"], a["body"],
                                           published.replace(microsecond=0), a.get("author")))
        sources.append(FixtureSource(data["id"], data["name"], data.get("description", ""), articles,
                                     bool(data.get("topical", False)), data.get("collect")))
    return sources


# ------------------------------------------------------------------ rendering


def render_feed(source: FixtureSource, base_url: str) -> str:
    items = []
    for a in sorted(source.articles, key=lambda a: a.published, reverse=True):
        link = f"{base_url}/{source.id}/{a.slug}.html"
        items.append(
            "<item>"
            f"<title>{xml_escape(a.title)}</title>"
            f"<link>{xml_escape(link)}?utm_source=rss&amp;utm_medium=flux</link>"
            f"<guid isPermaLink=\"true\">{xml_escape(link)}</guid>"
            f"<description>{xml_escape(a.summary)}</description>"
            f"<pubDate>{format_datetime(a.published)}</pubDate>"
            + (f"<dc:creator>{xml_escape(a.author)}</dc:creator>" if a.author else "")
            + "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>{xml_escape(source.name)}</title>"
        f"<link>{xml_escape(base_url)}/{source.id}/</link>"
        f"<description>{xml_escape(source.description)}</description>"
        "<language>fr</language>"
        + "".join(items)
        + "</channel></rss>\n"
    )


def _page(title: str, content: str, source: FixtureSource, head: str = "") -> str:
    return f"""<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>{escape(title)}</title>{head}</head>
<body>
<header><nav><a href="/">Accueil</a> | <a href="/{source.id}/">Actualités</a> | <a href="/contact">Contact</a></nav>
<p class="site-name">{escape(source.name)}</p></header>
<main>{content}</main>
<footer><p>© {escape(source.name)} — Mentions légales — Plan du site — Accessibilité</p></footer>
</body></html>
"""


def render_listing(source: FixtureSource) -> str:
    entries = "".join(
        f'<article><h2><a href="/{source.id}/{a.slug}.html">{escape(a.title)}</a></h2>'
        f'<time datetime="{a.published.isoformat()}">{a.published.astimezone(PARIS):%d/%m/%Y}</time>'
        f"<p>{escape(a.summary)}</p></article>"
        for a in sorted(source.articles, key=lambda a: a.published, reverse=True)
    )
    return _page(source.name, f"<h1>Actualités</h1>{entries}", source)


def render_article(source: FixtureSource, article: FixtureArticle, base_url: str) -> str:
    url = f"{base_url}/{source.id}/{article.slug}.html"
    paragraphs = "".join(f"<p>{escape(p.strip())}</p>" for p in article.body.split("\n\n") if p.strip())
    head = (
        f'<link rel="canonical" href="{escape(url)}">'
        f'<meta property="og:title" content="{escape(article.title)}">'
        f'<meta property="article:published_time" content="{article.published.isoformat()}">'
        + (f'<meta name="author" content="{escape(article.author)}">' if article.author else "")
    )
    content = (
        f"<article><h1>{escape(article.title)}</h1>"
        f'<p class="date">Publié le <time datetime="{article.published.isoformat()}">'
        f"{article.published.astimezone(PARIS):%d/%m/%Y à %Hh%M}</time></p>"
        f'<p class="chapo"><strong>{escape(article.summary)}</strong></p>{paragraphs}</article>'
        '<aside><h2>À lire aussi</h2><ul><li><a href="/">Toutes les actualités</a></li></ul></aside>'
    )
    return _page(article.title, content, source, head)


def render_sitemap(source: FixtureSource, base_url: str) -> str:
    urls = "".join(
        f"<url><loc>{xml_escape(base_url)}/{source.id}/{a.slug}.html</loc>"
        f"<lastmod>{a.published.isoformat()}</lastmod></url>"
        for a in sorted(source.articles, key=lambda a: a.published, reverse=True)
    )
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>\n')


def render_sitemap_index(sources: list[FixtureSource], base_url: str) -> str:
    entries = "".join(f"<sitemap><loc>{xml_escape(base_url)}/{s.id}/sitemap.xml</loc></sitemap>" for s in sources)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>\n')


def render_index(sources: list[FixtureSource]) -> str:
    links = "".join(
        f'<li><a href="/{s.id}/">{escape(s.name)}</a> — <a href="/{s.id}/feed.xml">flux RSS</a></li>'
        for s in sources
    )
    return (f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Sites de démonstration</title>'
            f"</head><body><h1>Sites de démonstration</h1><ul>{links}</ul></body></html>")


# -------------------------------------------------------------------- serving


class FixtureSiteHandler(BaseHTTPRequestHandler):
    """Serves `self.server.sources`; subclasses add routes by overriding `route`, which returns
    (status, content type, body[, extra headers]) or None for a 404."""

    server_version = "VeilleFixtureSite/1.0"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        response = self.route(path)
        if response is None:
            response = (404, "text/html; charset=utf-8", b"<h1>Page introuvable</h1>")
        status, content_type, body, *extra = response
        etag = f'"{hashlib.sha1(body).hexdigest()[:16]}"'
        if status == 200 and self.headers.get("If-None-Match") == etag:
            status, body = 304, b""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if status in (200, 304):
            self.send_header("ETag", etag)
        headers = {"Content-Length": str(len(body)), **(extra[0] if extra else {})}
        for name, value in headers.items():
            self.send_header(name, value)
        try:
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a size limit, a timeout): nothing left to do

    do_HEAD = do_GET

    def route(self, path: str) -> tuple[int, str, bytes] | None:
        sources = {s.id: s for s in self.server.sources}
        base_url = f"http://{self.headers.get('Host', '127.0.0.1')}"
        if path == "/robots.txt":
            return 200, "text/plain; charset=utf-8", ROBOTS_TXT.encode()
        if path == "/":
            return 200, "text/html; charset=utf-8", render_index(list(sources.values())).encode()
        if path == "/sitemap.xml":
            return 200, "application/xml", render_sitemap_index(list(sources.values()), base_url).encode()
        parts = path.strip("/").split("/")
        source = sources.get(parts[0])
        if source is None or len(parts) > 2:
            return None
        if len(parts) == 1 or parts[1] == "":
            return 200, "text/html; charset=utf-8", render_listing(source).encode()
        if parts[1] == "feed.xml":
            return 200, "application/rss+xml; charset=utf-8", render_feed(source, base_url).encode()
        if parts[1] == "sitemap.xml":
            return 200, "application/xml", render_sitemap(source, base_url).encode()
        for article in source.articles:
            if parts[1] == f"{article.slug}.html":
                return 200, "text/html; charset=utf-8", render_article(source, article, base_url).encode()
        return None

    def log_message(self, format: str, *args) -> None:  # quiet: the crawl reports what matters
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # socketserver's default (5) drops connections when a crawler opens many


def serve(sources: list[FixtureSource], host: str = "127.0.0.1", port: int = 0,
          handler: type[FixtureSiteHandler] = FixtureSiteHandler) -> ThreadingHTTPServer:
    """Start serving in a daemon thread; `server.server_address` has the port; `shutdown()` stops."""
    server = _Server((host, port), handler)
    server.sources = sources
    threading.Thread(target=server.serve_forever, name="fixture-site", daemon=True).start()
    return server


def base_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"
