"""Issue 15: `veille sources discover / check / add` over loopback fixture sites, one per CMS pattern.

Each sub-site is its own HTTP server on 127.0.0.1 (port 0), in a thread, so that robots.txt and
/sitemap.xml are per site; the articles are tests/fixtures/discovery/articles.yaml.
"""

from __future__ import annotations

import json
import socket
import threading
from datetime import datetime, timezone
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from config.loading import load_taxonomy
from crawlers.discovery import DiscoveryError, Fetcher, Judge, discover
from tests.conftest import run_veille

ROOT = Path(__file__).resolve().parents[1]
ARTICLES = yaml.safe_load((Path(__file__).parent / "fixtures" / "discovery" / "articles.yaml").read_text(
    encoding="utf-8"))["articles"]
TOPIC = [a for a in ARTICLES if a["topic"]]
NOW = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
HTML, RSS, ATOM, XML = ("text/html; charset=utf-8", "application/rss+xml; charset=utf-8",
                        "application/atom+xml; charset=utf-8", "application/xml; charset=utf-8")


def page(title: str, body: str, head: str = "") -> bytes:
    return (f'<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{escape(title)}</title>{head}'
            f"</head><body><header><nav><a href='/'>Accueil</a> <a href='/contact/'>Contact</a> "
            f"<a href='/mentions-legales/'>Mentions légales</a></nav></header>{body}"
            "<footer><a href='/plan-du-site/'>Plan du site</a> <a href='/accessibilite/'>Accessibilité</a>"
            "</footer></body></html>").encode()


def article(a: dict) -> bytes:
    return page(a["title"], f"<main><article><h1>{escape(a['title'])}</h1>"
                f"<p class='date'>Publié le {a['date'][:10]}</p><p>{escape(a['text'])}</p></article></main>",
                f'<meta property="article:published_time" content="{a["date"]}">')


def rss(title: str, items: list[tuple[str, str, str, str]]) -> bytes:
    """items: (title, link, RFC 822 date, description)."""
    body = "".join(f"<item><title>{escape(t)}</title><link>{escape(l)}</link><pubDate>{d}</pubDate>"
                   f"<description>{escape(s)}</description></item>" for t, l, d, s in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
            f"<link>/</link><description>Fil</description>{body}</channel></rss>").encode()


def rfc822(iso: str, year: int | None = None) -> str:
    moment = datetime.fromisoformat(iso)
    if year:
        moment = moment.replace(year=year)
    return moment.strftime("%a, %d %b %Y %H:%M:%S %z")


def urlset(entries: list[tuple[str, str]], news: bool = False, titles: list[str] | None = None) -> bytes:
    ns = ' xmlns:news="http://www.google.com/schemas/sitemap-news/0.9"' if news else ""
    body = ""
    for i, (loc, lastmod) in enumerate(entries):
        extra = (f"<news:news><news:publication><news:name>Ville</news:name><news:language>fr</news:language>"
                 f"</news:publication><news:publication_date>{lastmod}</news:publication_date>"
                 f"<news:title>{escape(titles[i])}</news:title></news:news>") if news else f"<lastmod>{lastmod}</lastmod>"
        body += f"<url><loc>{escape(loc)}</loc>{extra}</url>"
    return (f'<?xml version="1.0" encoding="UTF-8"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
            f"{ns}>{body}</urlset>").encode()


def news_list(items: list[dict], prefix: str, css: str = "liste-actus") -> str:
    return (f"<ul class='{css}'>" + "".join(
        f"<li class='item'><h3><a href='{prefix}{a['slug']}/'>{escape(a['title'])}</a></h3>"
        f"<p>{escape(a['text'][:80])}…</p></li>" for a in items) + "</ul>")


# --------------------------------------------------------------------- the sub-sites


def site_head(base):
    """The feed linked in the head (relative address); a fresh sitemap besides."""
    routes = {"/": (HTML, page("Ville de Tête — accueil", "<main><h1>Bienvenue</h1></main>",
                              '<link rel="alternate" type="application/rss+xml" title="Actualités" '
                              'href="actualites/flux.xml">')),
              "/actualites/flux.xml": (RSS, rss("Actualités", [
                  (a["title"], f"{base}/actualites/{a['slug']}/", rfc822(a["date"]), a["text"]) for a in TOPIC])),
              "/sitemap.xml": (XML, urlset([(f"{base}/actualites/{a['slug']}/", a["date"]) for a in TOPIC]))}
    routes.update({f"/actualites/{a['slug']}/": (HTML, article(a)) for a in ARTICLES})
    return routes


def site_spip(base):
    """SPIP: no feed linked, the feed at spip.php?page=backend only."""
    routes = {"/": (HTML, page("Communauté de communes", "<main><h1>Accueil</h1></main>",
                              '<meta name="generator" content="SPIP 4.2.8">')),
              "/spip.php?page=backend": (RSS, rss("Communauté de communes", [
                  (a["title"], f"{base}/spip.php?article{i}", rfc822(a["date"]), a["text"])
                  for i, a in enumerate(ARTICLES, start=10)]))}
    routes.update({f"/spip.php?article{i}": (HTML, article(a)) for i, a in enumerate(ARTICLES, start=10)})
    return routes


def site_broken(base):
    """A feed linked but answering 404; a news listing linked from the menu."""
    body = ("<main><h1>Département</h1><p><a href='/actualites/'>Actualités</a></p></main>")
    listing = "<main><h1>Actualités</h1><div class='grille-actus'>" + "".join(
        f"<article class='carte'><h2><a href='/actualites/2026/{a['slug']}'>{escape(a['title'])}</a></h2></article>"
        for a in TOPIC) + "</div></main>"
    routes = {"/": (HTML, page("Département", body, '<link rel="alternate" type="application/rss+xml" '
                                                    'href="/rss.xml">')),
              "/actualites/": (HTML, page("Actualités", listing))}
    routes.update({f"/actualites/2026/{a['slug']}": (HTML, article(a)) for a in TOPIC})
    return routes


def site_stale(base):
    """A linked feed that stopped in 2023 while the sitemap is fresh."""
    routes = {"/": (HTML, page("Agglo", "<main><h1>Agglo</h1></main>",
                              '<link rel="alternate" type="application/rss+xml" href="/feed.xml">')),
              "/feed.xml": (RSS, rss("Agglo", [(a["title"], f"{base}/anciennes/{a['slug']}",
                                                 rfc822(a["date"], 2023), a["text"]) for a in TOPIC[:4]])),
              "/sitemap.xml": (XML, urlset(
                  [(f"{base}/actualites/{a['slug']}", a["date"]) for a in TOPIC]
                  + [(f"{base}/demarches/{p}", "2026-11-30") for p in ("etat-civil", "urbanisme", "dechets")]))}
    routes.update({f"/actualites/{a['slug']}": (HTML, article(a)) for a in TOPIC})
    return routes


def site_robots(base):
    """The sitemap only through robots.txt: an index, one child a news sitemap."""
    routes = {"/": (HTML, page("Mairie", "<main><h1>Mairie</h1></main>")),
              "/robots.txt": ("text/plain", f"User-agent: *\nDisallow: /prive/\n\nSitemap: {base}/plans/index-du-site.xml\n"
                              .encode()),
              "/plans/index-du-site.xml": (XML, (
                  '<?xml version="1.0" encoding="UTF-8"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                  f"<sitemap><loc>{base}/plans/pages.xml</loc></sitemap>"
                  f"<sitemap><loc>{base}/plans/actualites-news.xml</loc></sitemap></sitemapindex>").encode()),
              "/plans/pages.xml": (XML, urlset([(f"{base}/{p}", "2025-01-10") for p in ("mairie", "ecoles", "horaires")])),
              "/plans/actualites-news.xml": (XML, urlset([(f"{base}/actualites/{a['slug']}", a["date"]) for a in ARTICLES],
                                                         news=True, titles=[a["title"] for a in ARTICLES]))}
    routes.update({f"/actualites/{a['slug']}": (HTML, article(a)) for a in ARTICLES})
    return routes


def site_listing(base):
    """No feed, no sitemap: a listing with pagination; a « À la une » block on the home page."""
    pages = [TOPIC[0:3], TOPIC[3:6], TOPIC[6:8] + ARTICLES[8:9]]
    routes = {"/": (HTML, page("Ville de Liste", "<main><p><a href='/actualites/'>Actualités</a></p>"
                                                 "<div class='une'>" + news_list(TOPIC[:2], "/actualites/", "a-la-une")
                               + "</div></main>"))}
    for number, items in enumerate(pages, start=1):
        pager = ("<ul class='pager'><li class='pager__item pager__item--next'><a href='/actualites/?page="
                 f"{number + 1}' title='Page suivante'>Suivant ›</a></li></ul>") if number < len(pages) else ""
        key = "/actualites/" if number == 1 else f"/actualites/?page={number}"
        routes[key] = (HTML, page(f"Actualités — page {number}",
                                  "<main><h1>Actualités</h1>" + news_list(items, "/actualites/") + pager + "</main>"))
    routes.update({f"/actualites/{a['slug']}/": (HTML, article(a)) for a in ARTICLES})
    return routes


def site_atom(base):
    """An Atom feed with relative links (resolved against the feed's address)."""
    entries = "".join(f"<entry><title>{escape(a['title'])}</title><link href='articles/{a['slug']}.html'/>"
                      f"<id>urn:actu:{a['slug']}</id><updated>{a['date']}</updated>"
                      f"<summary>{escape(a['text'])}</summary></entry>" for a in TOPIC)
    feed = (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Observatoire</title>'
            f"<id>urn:observatoire</id><updated>{TOPIC[0]['date']}</updated>{entries}</feed>").encode()
    routes = {"/": (HTML, page("Observatoire", "<main><h1>Observatoire</h1></main>",
                              '<link rel="alternate" type="application/atom+xml" href="/fil/atom.xml">')),
              "/fil/atom.xml": (ATOM, feed)}
    routes.update({f"/fil/articles/{a['slug']}.html": (HTML, article(a)) for a in TOPIC})
    return routes


def site_wordpress(base):
    """WordPress: the main feed, the comments feed and a category feed, all in the head."""
    head = ('<meta name="generator" content="WordPress 6.7">'
            '<link rel="alternate" type="application/rss+xml" title="Asso » Flux" href="{b}/feed/">'
            '<link rel="alternate" type="application/rss+xml" title="Asso » Flux des commentaires" href="{b}/comments/feed/">'
            '<link rel="alternate" type="application/rss+xml" title="Asso » Flux de la catégorie Emploi" '
            'href="{b}/category/emploi/feed/">').format(b=base)
    main = [(a["title"], f"{base}/{a['slug']}/", rfc822(a["date"]), a["text"]) for a in ARTICLES]
    comments = [(f"Commentaires sur {a['title']} par Lucie", f"{base}/{a['slug']}/#comment-{i}",
                 rfc822(a["date"]), "Merci pour cet article, très utile pour notre association.")
                for i, a in enumerate(ARTICLES)]
    routes = {"/": (HTML, page("Asso", "<main><h1>Asso</h1></main>", head)),
              "/feed/": (RSS, rss("Asso", main)),
              "/comments/feed/": (RSS, rss("Commentaires pour Asso", comments)),
              "/category/emploi/feed/": (RSS, rss("Asso » Emploi", main[:4]))}
    routes.update({f"/{a['slug']}/": (HTML, article(a)) for a in ARTICLES})
    return routes


def site_body(base):
    """A feed linked only from the page body (« S'abonner »), beside a page that merely looks like one."""
    body = ("<main><h1>Centre de ressources</h1></main><aside><a href='/abonnement/actualites.rss'>S'abonner au flux "
            "RSS</a> <a href='/rss-et-lettre'>Nos flux RSS et notre lettre</a></aside>")
    return {"/": (HTML, page("Centre de ressources", body)),
            "/rss-et-lettre": (HTML, page("Flux", "<main>Abonnez-vous</main>")),
            "/abonnement/actualites.rss": (RSS, rss("Centre", [
                (a["title"], f"{base}/ressources/{a['slug']}", rfc822(a["date"]), a["text"]) for a in TOPIC]))}


def site_forbidden(base):
    return {"/": (HTML, page("Privé", "<main>Rien</main>")), "/robots.txt": ("text/plain", b"User-agent: *\nDisallow: /\n")}


def site_empty(base):
    return {"/": (HTML, page("Vide", "<main><p>Page en construction.</p></main>")),
            "/logo.png": ("image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64),
            "/enorme.xml": (RSS, b"<rss>" + b" " * (2 * 1024 * 1024) + b"</rss>"),
            "/ailleurs": ("redirect", f"http://localhost:{base.rsplit(':', 1)[1]}/".encode())}


SITES = {"head": site_head, "spip": site_spip, "broken": site_broken, "stale": site_stale, "robots": site_robots,
         "listing": site_listing, "atom": site_atom, "wordpress": site_wordpress, "body": site_body, "forbidden": site_forbidden,
         "empty": site_empty}


class Site(BaseHTTPRequestHandler):
    routes: dict = {}
    log: list = []
    agents: list = []

    def do_GET(self):  # noqa: N802
        self.log.append(self.path)
        self.agents.append(self.headers.get("User-Agent"))
        found = self.routes.get(self.path)
        if found is None:
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html><body>Introuvable</body></html>")
            return
        content_type, body = found
        if content_type == "redirect":
            self.send_response(302)
            self.send_header("Location", body.decode())
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def sites():
    servers, bases = [], {}
    for name, build in SITES.items():
        handler = type(f"Site_{name}", (Site,), {"routes": {}, "log": [], "agents": []})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        handler.routes = build(base)
        bases[name] = base
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append((server, handler))
    yield {name: (bases[name], handler) for name, (_, handler) in zip(SITES, servers)}
    for server, _ in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def judge():
    return Judge(load_taxonomy(ROOT / "config" / "taxonomy.yaml"))


def run(url: str, judge: Judge):
    fetcher = Fetcher("VeilleTest/1.0 (+https://example.org)", timeout=5, delay=0,
                      allowed_origins=[("http", "127.0.0.1", int(url.split(":")[2].split("/")[0]))])
    try:
        return discover(url, fetcher, judge, now=NOW)
    finally:
        fetcher.close()


# ------------------------------------------------------------------------- ranking


def test_feed_linked_in_the_head_relative_address_first(sites, judge):
    base, _ = sites["head"]
    result = run(base + "/", judge)
    best = result.candidates[0]
    assert (best.type, best.url) == ("rss", f"{base}/actualites/flux.xml")
    assert best.items == len(TOPIC) and best.newest.startswith("2026-11-28") and best.on_topic >= 0.75
    assert best.sample[0] == TOPIC[0]["title"]
    assert any(c.type == "sitemap" for c in result.candidates[1:])  # the sitemap comes after


def test_feed_only_at_the_cms_path(sites, judge):
    base, _ = sites["spip"]
    best = run(base + "/", judge).candidates[0]
    assert (best.type, best.url) == ("rss", f"{base}/spip.php?page=backend")
    assert best.items == len(ARTICLES) and 0.5 <= best.on_topic <= 0.8


def test_broken_feed_reported_listing_proposed(sites, judge):
    base, _ = sites["broken"]
    result = run(base + "/", judge)
    best = result.candidates[0]
    assert (best.type, best.url, best.links) == ("html", f"{base}/actualites/", "div.grille-actus a")
    assert best.items == len(TOPIC) and best.newest.startswith("2026-11-28")
    assert [(c.url, c.error) for c in result.failed] == [(f"{base}/rss.xml", "réponse HTTP 404")]


def test_stale_feed_loses_to_the_fresh_sitemap(sites, judge):
    base, _ = sites["stale"]
    result = run(base + "/", judge)
    best = result.candidates[0]
    assert (best.type, best.url, best.url_filter) == ("sitemap", f"{base}/sitemap.xml", "/actualites/")
    assert best.items == len(TOPIC)
    stale = next(c for c in result.candidates if c.type == "rss")
    assert stale.newest.startswith("2023")


def test_sitemap_only_through_robots_txt_news_sitemap(sites, judge):
    base, _ = sites["robots"]
    best = run(base + "/", judge).candidates[0]
    assert (best.type, best.url, best.url_filter) == ("sitemap", f"{base}/plans/index-du-site.xml", "/actualites/")
    assert best.items == len(ARTICLES) and best.newest.startswith("2026-11-28")
    assert best.sample[0] == ARTICLES[0]["title"]  # the news sitemap's own title


def test_listing_with_pagination(sites, judge):
    base, log = sites["listing"]
    best = run(base + "/", judge).candidates[0]
    assert (best.type, best.url) == ("html", f"{base}/actualites/")
    assert best.links == "ul.liste-actus a" and best.next and best.max_pages >= 3
    assert best.items == 9  # three pages followed through `next`
    assert "/actualites/?page=3" in log.log


def test_atom_with_relative_links(sites, judge):
    base, _ = sites["atom"]
    best = run(base + "/", judge).candidates[0]
    assert (best.type, best.url) == ("rss", f"{base}/fil/atom.xml")
    assert best.item_urls[0] == f"{base}/fil/articles/{TOPIC[0]['slug']}.html"


def test_main_feed_before_comment_and_category_feeds(sites, judge):
    base, _ = sites["wordpress"]
    urls = [c.url for c in run(base + "/", judge).candidates]
    assert urls[0] == f"{base}/feed/"
    assert urls.index(f"{base}/category/emploi/feed/") < urls.index(f"{base}/comments/feed/")


def test_feed_linked_in_the_body_only(sites, judge):
    base, _ = sites["body"]
    result = run(base + "/", judge)
    assert (result.candidates[0].type, result.candidates[0].url) == ("rss", f"{base}/abonnement/actualites.rss")
    assert result.failed == []  # the page that only looked like a feed is not a failure


# ----------------------------------------------------------------------- bad input


def test_address_that_does_not_answer(judge):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DiscoveryError, match="ne répond pas.*Rien n'a été écrit"):
        run(f"http://127.0.0.1:{port}/", judge)


@pytest.mark.parametrize(("site", "path", "message"), [
    ("empty", "/logo.png", "n'est pas une page HTML"),
    ("empty", "/ailleurs", "redirige hors du site"),
    ("forbidden", "/", "interdit par robots.txt"),
    ("empty", "/", "aucune source utilisable.*Essayé :.*/feed/ : réponse HTTP 404"),
])
def test_bad_input_gets_a_clear_message(sites, judge, site, path, message):
    base, _ = sites[site]
    with pytest.raises(DiscoveryError, match=f"(?s){message}"):
        run(base + path, judge)


def test_robots_txt_obeyed_for_every_candidate(sites, judge):
    base, handler = sites["robots"]
    run(base + "/", judge)
    assert not [p for p in handler.log if p.startswith("/prive/")]
    assert handler.log[0] == "/robots.txt"


def test_fetcher_limits_and_user_agent(sites):
    base, handler = sites["empty"]
    fetcher = Fetcher("VeilleTest/2.0 (+https://example.org)", timeout=5, delay=0, max_bytes=1024 * 1024,
                      allowed_origins=[("http", "127.0.0.1", int(base.rsplit(":", 1)[1]))])
    try:
        assert "trop grosse" in fetcher.get(base + "/enorme.xml").error
        assert fetcher.get(base + "/").ok
        # Another loopback origin than the site's own is refused, as in the crawl.
        assert "adresse privée" in fetcher.get(sites["head"][0] + "/").error
    finally:
        fetcher.close()
    assert set(handler.agents[-3:]) == {"VeilleTest/2.0 (+https://example.org)"}


# ------------------------------------------------------------------------- the CLI


@pytest.fixture
def config_dir(tmp_path):
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "taxonomy.yaml").write_bytes((ROOT / "config" / "taxonomy.yaml").read_bytes())
    settings = {"paths": {"db": "data/veille.db", "subscribers_db": "data/subscribers.db",
                          "bulletins": "data/bulletins", "gazetteer": str(ROOT / "config" / "gazetteer.json")},
                "public_url": "https://veille.example.org", "secret": "test-secret",
                "crawl": {"timeout": 5, "retry_times": 0, "download_delay": 0, "autothrottle": False}}
    (folder / "settings.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (folder / "sources.yaml").write_text("sources: []\n", encoding="utf-8")
    return folder


def test_cli_discover_json(sites, config_dir):
    from veille.cli import cli

    base, _ = sites["listing"]
    result = CliRunner().invoke(cli, ["sources", "discover", base + "/", "--json", "--config", str(config_dir)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert lines[0]["type"] == "html" and lines[0]["links"] == "ul.liste-actus a"
    assert set(lines[0]) >= {"type", "url", "links", "next", "items", "newest", "on_topic", "sample", "yaml"}
    entry = yaml.safe_load(lines[0]["yaml"])[0]
    assert entry["type"] == "html" and entry["max_pages"] >= 3 and entry["fetch_full"] is True


def test_cli_discover_bad_input_exits_1(sites, config_dir):
    from veille.cli import cli

    base, _ = sites["forbidden"]
    result = CliRunner().invoke(cli, ["sources", "discover", base + "/", "--config", str(config_dir)])
    assert result.exit_code == 1 and "interdit par robots.txt" in result.output


# ------------------------------------------------------------------ check, add, repair

COMMENTED = """# Sources de test : ce commentaire doit rester.
sources:

  # --- bloc des départements (commentaire de section)

  - id: ancienne
    name: "Ancienne source"
    type: rss
    url: https://www.example.org/feed.xml   # seen: page d'accueil
    enabled: false
"""


def invoke(*args):
    from veille.cli import cli

    return CliRunner().invoke(cli, list(args))


def test_check_reports_and_stores_nothing(sites, config_dir):
    sources = [
        {"id": "tete", "name": "Tête", "type": "rss", "url": sites["head"][0] + "/actualites/flux.xml"},
        {"id": "liste", "name": "Liste", "type": "html", "url": sites["listing"][0] + "/actualites/",
         "links": "ul.liste-actus a", "next": "li.pager__item--next a", "max_pages": 3, "enabled": False},
        {"id": "plan", "name": "Plan", "type": "sitemap", "url": sites["robots"][0] + "/plans/index-du-site.xml",
         "url_filter": "/actualites/"},
        {"id": "cassee", "name": "Cassée", "type": "html", "url": sites["listing"][0] + "/actualites/",
         "links": "div.ancienne-liste a"},
    ]
    (config_dir / "sources.yaml").write_text(yaml.safe_dump({"sources": sources}, allow_unicode=True), encoding="utf-8")
    before = (config_dir / "sources.yaml").read_bytes()
    result = invoke("sources", "check", "--json", "--config", str(config_dir))
    assert result.exit_code == 0, result.output
    checks = {c["id"]: c for c in map(json.loads, result.output.splitlines())}
    assert checks["tete"]["items"] == len(TOPIC) and checks["tete"]["newest"].startswith("2026-11-28")
    assert checks["liste"]["items"] == 9 and checks["liste"]["pages"] == 3 and checks["liste"]["sample"]
    assert checks["plan"]["items"] == len(ARTICLES) and checks["plan"]["sample"][0] == ARTICLES[0]["title"]
    assert checks["cassee"]["items"] == 0 and "ne trouve aucun lien" in checks["cassee"]["error"]
    assert not (config_dir.parent / "data").exists()  # no archive, no run history
    assert (config_dir / "sources.yaml").read_bytes() == before
    text = invoke("sources", "check", "--only", "tete", "--config", str(config_dir)).output
    assert "tete  [ok]" in text and "rien n'a été enregistré" in text and "cassee" not in text


def test_add_keeps_comments_and_refuses_duplicates(sites, config_dir):
    path = config_dir / "sources.yaml"
    path.write_text(COMMENTED, encoding="utf-8")
    base = sites["atom"][0]
    result = invoke("sources", "add", base + "/", "--id", "observatoire", "--config", str(config_dir))
    assert result.exit_code == 0, result.output
    text = path.read_text(encoding="utf-8")
    assert text.startswith(COMMENTED)  # comments, quotes and layout untouched
    assert "\n  - id: observatoire\n    name: Observatoire\n    type: rss\n" in text
    from config.loading import load_sources
    added = load_sources(path)[-1]
    assert (added.type, added.url, added.fetch_full) == ("rss", f"{base}/fil/atom.xml", True)
    again = invoke("sources", "add", base + "/", "--id", "autre", "--config", str(config_dir))
    assert again.exit_code == 1 and "déjà l'adresse" in again.output
    same_id = invoke("sources", "add", sites["head"][0] + "/", "--id", "ancienne", "--config", str(config_dir))
    assert same_id.exit_code == 1 and "déjà l'identifiant" in same_id.output
    assert path.read_text(encoding="utf-8") == text  # nothing written


def test_add_chosen_type_and_bad_input_writes_nothing(sites, config_dir):
    path = config_dir / "sources.yaml"
    result = invoke("sources", "add", sites["head"][0] + "/", "--type", "sitemap", "--config", str(config_dir))
    assert result.exit_code == 0, result.output
    from config.loading import load_sources
    (entry,) = load_sources(path)
    assert entry.type == "sitemap" and entry.url_filter == "/actualites/" and entry.id == "127-0-0-1"
    before = path.read_text(encoding="utf-8")
    refused = invoke("sources", "add", sites["forbidden"][0] + "/", "--config", str(config_dir))
    assert refused.exit_code == 1 and "robots.txt" in refused.output
    assert path.read_text(encoding="utf-8") == before


def test_redesigned_listing_detected_and_repaired(sites, config_dir):
    from pipeline.archive import open_db

    base = sites["listing"][0]
    path = config_dir / "sources.yaml"
    path.write_text(COMMENTED + f"""
  - id: ville-liste
    name: "Ville de Liste — actualités"
    type: html
    url: {base}/actualites/   # seen: menu du site
    links: "div.ancienne-liste h2 a"
    max_pages: 2
    max_age_days: 30
""", encoding="utf-8")
    db = open_db(config_dir.parent / "data" / "veille.db")
    db["source_runs"].insert({"crawl_id": "c1", "source_id": "ville-liste", "started_at": "2026-11-20T10:00:00+00:00",
                              "status": "ok", "items_seen": 9, "items_new": 9})
    db["source_runs"].insert({"crawl_id": "c2", "source_id": "ville-liste", "started_at": "2026-11-27T10:00:00+00:00",
                              "status": "parse_error", "error": "le sélecteur « div.ancienne-liste h2 a » ne trouve "
                                                                "aucun lien d'article sur la page"})
    db.close()
    listed = invoke("sources", "--json", "--propose", "--config", str(config_dir))
    assert listed.exit_code == 0, listed.output
    health = {h["id"]: h for h in map(json.loads, listed.output.splitlines())}
    assert health["ancienne"]["repair"] is None
    assert "sélecteur" in health["ville-liste"]["repair"]
    assert health["ville-liste"]["proposal"]["links"] == "ul.liste-actus a"
    # The proposal is kept: listed again without fetching, and shown by `veille status` (exit 1: a
    # source failing) with the candidate and the command that applies it.
    text = invoke("sources", "--config", str(config_dir)).output
    assert "à réparer" in text and "veille sources repair ville-liste" in text
    assert "proposition de réparation (20" in text and f"[html] {base}/actualites/" in text
    status = invoke("status", "--json", "--config", str(config_dir))
    failing = {f["id"]: f for f in json.loads(status.output)["sources"]["failing"]}
    assert "sélecteur" in failing["ville-liste"]["repair"]
    assert failing["ville-liste"]["proposal"]["candidate"]["links"] == "ul.liste-actus a"
    status_text = invoke("status", "--config", str(config_dir)).output
    assert "Proposition de réparation : [html]" in status_text and "« ul.liste-actus a »" in status_text
    assert "veille sources repair ville-liste" in status_text

    declined = CliRunner().invoke(__import__("veille.cli", fromlist=["cli"]).cli,
                                  ["sources", "repair", "ville-liste", "--config", str(config_dir)], input="n\n")
    assert "Proposition de réparation" in declined.output and "Rien n'a été changé" in declined.output
    repaired = invoke("sources", "repair", "ville-liste", "--yes", "--config", str(config_dir))
    assert repaired.exit_code == 0, repaired.output
    new_text = path.read_text(encoding="utf-8")
    assert new_text.startswith(COMMENTED) and "# seen: menu du site" in new_text
    from config.loading import load_sources
    fixed = load_sources(path)[-1]
    assert (fixed.links, fixed.next, fixed.max_pages, fixed.max_age_days) == (
        "ul.liste-actus a", "li.pager__item--next a", 3, 30)
    check = invoke("sources", "check", "--only", "ville-liste", "--json", "--config", str(config_dir))
    assert json.loads(check.output)["items"] == 9


def test_feed_answering_404_detected_and_repaired(sites, config_dir):
    from pipeline.archive import open_db

    base = sites["head"][0]
    path = config_dir / "sources.yaml"
    path.write_text(COMMENTED + f"""
  - id: tete
    name: "Ville de Tête"
    type: rss
    url: {base}/rss/ancien-flux.xml
    topical: true
""", encoding="utf-8")
    db = open_db(config_dir.parent / "data" / "veille.db")
    db["source_runs"].insert({"crawl_id": "c1", "source_id": "tete", "started_at": "2026-11-20T10:00:00+00:00",
                              "status": "ok", "items_seen": 8, "items_new": 8})
    db["source_runs"].insert({"crawl_id": "c2", "source_id": "tete", "started_at": "2026-11-27T10:00:00+00:00",
                              "status": "http_error", "http_status": 404, "error": "réponse HTTP 404"})
    db.close()
    text = invoke("sources", "--propose", "--config", str(config_dir)).output
    assert "à réparer : l'adresse ne répond plus" in text
    assert "proposition de réparation (20" in text and f"[rss] {base}/actualites/flux.xml" in text
    assert invoke("sources", "repair", "tete", "--yes", "--config", str(config_dir)).exit_code == 0
    # Mended: its proposal is forgotten.
    from pipeline.operations import open_operations_db, repair_proposals
    assert repair_proposals(open_operations_db(config_dir.parent / "data" / "operations.db")) == {}
    from config.loading import load_sources
    fixed = load_sources(path)[-1]
    assert (fixed.type, fixed.url, fixed.topical, fixed.name) == ("rss", f"{base}/actualites/flux.xml", True, "Ville de Tête")


def test_crawl_looks_for_a_repair_once(sites, config_dir):
    """A real crawl of a listing whose selector broke: the crawl itself runs discovery on the site and
    keeps the proposal, which `veille status` shows without fetching; the next crawl the same day does
    not explore the site again."""
    from pipeline.archive import open_db
    from pipeline.operations import open_operations_db, repair_proposals

    base = sites["listing"][0]
    (config_dir / "sources.yaml").write_text(f"""sources:
  - id: ville-liste
    name: "Ville de Liste"
    type: html
    url: {base}/actualites/
    links: "div.ancienne-liste h2 a"
""", encoding="utf-8")
    db = open_db(config_dir.parent / "data" / "veille.db")
    db["source_runs"].insert({"crawl_id": "c1", "source_id": "ville-liste", "started_at": "2026-11-20T10:00:00+00:00",
                              "status": "ok", "items_seen": 9, "items_new": 9})
    db.close()
    crawled = run_veille("crawl", "--config", str(config_dir))  # a subprocess: Scrapy's reactor runs once a process
    assert "ville-liste à réparer" in crawled.stdout and "ul.liste-actus a" in crawled.stdout
    ops_path = config_dir.parent / "data" / "operations.db"
    stored = repair_proposals(open_operations_db(ops_path))["ville-liste"]
    assert stored["candidate"]["links"] == "ul.liste-actus a" and "sélecteur" in stored["reason"]
    assert "Proposition de réparation : [html]" in invoke("status", "--config", str(config_dir)).output
    # What the next crawl of the day does after collecting.
    from config.loading import load_config, load_sources
    from veille.repairs import refresh_repair_proposals

    config, explored = load_config(config_dir), []
    refresh_repair_proposals(config, open_db(config.db_path), open_operations_db(ops_path),
                             load_sources(config.sources_file), on_proposal=lambda *a: explored.append(a))
    assert explored == []
    assert repair_proposals(open_operations_db(ops_path))["ville-liste"]["proposed_at"] == stored["proposed_at"]
