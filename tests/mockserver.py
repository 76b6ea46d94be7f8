"""A real HTTP server on loopback for the tests, run in a subprocess like Scrapy's own mock server.

It serves the fixture sites of tests/fixtures/site (see veille.fixture_site), one endpoint per
fault under /faults/, pages in odd charsets under /charsets/, copies of one story under /copies/,
slow articles under /slow/, a SPIP site under /spip/ (spip.php?page=backend, spip.php?articleNNN),
links and redirects to any address under /elsewhere/ (the address in `?to=`), and /__log (the
requests received so far, as JSON).
Started with `python tests/mockserver.py`, it prints its base URL on the first line of stdout and
serves until its stdin closes.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from html import escape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.corpora import FEEDPARSER_CORPUS  # noqa: E402
from veille.fixture_site import FixtureSiteHandler, base_url, load_fixture_sources, serve  # noqa: E402

SITE = Path(__file__).parent / "fixtures" / "site"
SPIP_ARTICLES = {a["number"]: a for a in yaml.safe_load((SITE / "spip" / "articles.yaml").read_text(
    encoding="utf-8"))["articles"]}
CORPUS = FEEDPARSER_CORPUS  # None when neither the fetched nor the shared copy is there (tests/corpora.py)
HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"

TRUNCATED_FEED = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Coupe</title>'
                  b"<item><title>Un article</title><link>http://example.org/a</li")
HTML_PAGE = b"<!doctype html><html><head><title>Accueil</title></head><body><h1>Bienvenue</h1></body></html>"
GZIP_BOMB = gzip.compress(b"\0" * (40 * 1024 * 1024), compresslevel=9)  # 40 MB once inflated, ~40 kB sent

STORY = ("Le plan local pour l'insertion et l'emploi de l'agglomération a présenté mardi son bilan annuel "
         "devant le comité de pilotage réuni à la mairie. Quatre cent douze personnes ont été accompagnées "
         "cette année par les référents de parcours, dont près de la moitié sont sorties en emploi durable "
         "ou en formation qualifiante. Le Fonds social européen finance la moitié des postes de référents, "
         "et les clauses sociales des marchés publics ont représenté trente mille heures de travail pour "
         "les participants. Les élus ont voté la reconduction du protocole pour trois ans.")


def article_page(title: str, body: str, charset: str = "utf-8", canonical: str | None = None,
                 published: str = "2026-11-24T09:00:00+01:00", declare_meta: bool = True) -> str:
    meta = f'<meta charset="{charset}">' if declare_meta else ""
    link = f'<link rel="canonical" href="{escape(canonical)}">' if canonical else ""
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in body.split("\n\n"))
    return (f"<!doctype html><html lang=\"fr\"><head>{meta}<title>{escape(title)}</title>{link}"
            f'<meta property="article:published_time" content="{published}"></head><body>'
            "<nav><a href='/'>Accueil</a> | <a href='/contact'>Contact</a> | Plan du site</nav>"
            f"<article><h1>{escape(title)}</h1>{paragraphs}</article>"
            "<footer>Mentions légales - Accessibilité - Tous droits réservés</footer></body></html>")


def pdf(lines: list[str], title: str = "rapport_v3_final.pdf") -> bytes:
    """A small real PDF (one page of text in Helvetica), written by hand."""
    content = "BT /F1 12 Tf 50 750 Td 14 TL " + " ".join(f"({line}) '" for line in lines) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        "/Resources << /Font << /F1 5 0 R >> >> >>",
        f"<< /Length {len(content.encode('latin-1'))} >>\nstream\n{content}\nendstream",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        f"<< /Title ({title}) >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 6 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


REPORT_PDF = pdf(["Rapport annuel de la mission locale de la Creuse",
                  "En 2026, la mission locale a accompagne 1 240 jeunes a Gueret et Aubusson."])


def listing(links: list[str]) -> bytes:
    items = "".join(f'<article><h2><a href="{href}">Article {i}</a></h2></article>' for i, href in enumerate(links))
    return f"<!doctype html><html><body><main>{items}</main></body></html>".encode()


def feed(items: list[tuple[str, str, str]]) -> bytes:
    """RSS of (title, link, description)."""
    entries = "".join(f"<item><title>{escape(t)}</title><link>{escape(link)}</link>"
                      f"<description>{escape(d)}</description>"
                      "<pubDate>Tue, 24 Nov 2026 10:00:00 +0100</pubDate></item>" for t, link, d in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Flux</title>'
            f"{entries}</channel></rss>").encode()


LATIN_TEXT = "Guéret : l'atelier chantier d'insertion « Bois et forêt » recrute dix salariés en parcours."

CHARSETS = {
    # name: (bytes, Content-Type header); each page has its own text (else they would be exact copies)
    "latin1-declared.html": (article_page("Créer son activité à Guéret (1)", LATIN_TEXT + " Déclaré Latin-1.",
                                          "iso-8859-1").encode("latin-1"), "text/html; charset=iso-8859-1"),
    "cp1252-undeclared.html": (article_page("Créer son activité à Guéret (2)", LATIN_TEXT + " Coût : 5 €.",
                                            declare_meta=False).encode("cp1252"), "text/html"),
    "utf8-declared-latin1.html": (article_page("Créer son activité à Guéret (3)", LATIN_TEXT + " En UTF-8.",
                                               "iso-8859-1").encode("utf-8"), "text/html; charset=iso-8859-1"),
    "cp1252-declared-utf8.html": (article_page("Créer son activité à Guéret (4) – œuvre", LATIN_TEXT + " Prix : 9 €.")
                                  .encode("cp1252"), "text/html; charset=utf-8"),
}


class MockHandler(FixtureSiteHandler):
    def route(self, path):
        self.server.log.append({"path": self.path, "if_none_match": self.headers.get("If-None-Match"),
                                "user_agent": self.headers.get("User-Agent")})
        if path == "/__log":
            return 200, "application/json", json.dumps(self.server.log).encode()
        for prefix, handler in (("/faults/", self.fault), ("/charsets/", self.charset), ("/copies/", self.copy),
                                ("/slow/", self.slow), ("/spip/", self.spip), ("/elsewhere/", self.elsewhere)):
            if path.startswith(prefix):
                return handler(path[len(prefix):])
        if path.startswith("/corpus/") and CORPUS is not None:
            file = (CORPUS / path[len("/corpus/"):]).resolve()
            if file.is_relative_to(CORPUS) and file.is_file():
                return 200, "application/xml", file.read_bytes()
            return None
        if path.startswith("/private/"):
            return 200, HTML, article_page("Privé", "Page interdite par robots.txt.").encode()
        return super().route(path)

    def fault(self, name):
        here = base_url(self.server)
        if name == "500.xml":
            return 500, "text/plain", b"Internal Server Error"
        if name == "not-a-feed.xml":
            return 200, HTML, HTML_PAGE
        if name == "truncated.xml":
            return 200, RSS, TRUNCATED_FEED
        if name == "slow.xml":
            time.sleep(3)
            return 200, RSS, TRUNCATED_FEED
        if name == "redirect-loop.xml":
            return 302, "text/plain", b"", {"Location": "/faults/redirect-loop.xml"}
        if name == "huge.xml":  # announces 80 MB: the client must give up before reading it
            return 200, RSS, b"<rss>" + b" " * 1024, {"Content-Length": str(80 * 1024 * 1024)}
        if name == "bomb.xml":
            return 200, RSS, GZIP_BOMB, {"Content-Encoding": "gzip"}
        if name == "document.pdf":  # announced as a PDF, but broken
            return 200, "application/pdf", b"%PDF-1.4\n% fake pdf for the tests\n"
        if name == "rapport.pdf":
            return 200, "application/pdf", REPORT_PDF
        if name == "image.png":
            return 200, "image/png", b"\x89PNG\r\n\x1a\n not really"
        if name == "full-feed.xml":  # fetch_full: one good article, then a PDF, a 404, a robots-forbidden page
            return 200, RSS, feed([
                ("Bilan du PLIE", f"{here}/copies/original.html?utm_source=rss", "Résumé du bilan du PLIE."),
                ("Rapport en PDF", f"{here}/faults/document.pdf", "Le rapport annuel de la mission locale en PDF."),
                ("Page disparue", f"{here}/faults/missing.html", "Un forum de l'emploi à Périgueux."),
                ("Page privée", f"{here}/private/page.html", "Une page que robots.txt interdit."),
            ])
        if name == "listing.html":
            return 200, HTML, listing([f"/charsets/{n}" for n in CHARSETS] + [
                "/faults/missing.html", "/faults/document.pdf", "/faults/rapport.pdf", "/faults/image.png"])
        if name == "moved.html":  # an article link that redirects to its new address
            return 301, "text/plain", b"", {"Location": "/copies/original.html"}
        if name == "listing-moved.html":
            return 200, HTML, listing(["/faults/moved.html"])
        if name == "listing-tracked.html":
            return 200, HTML, listing(["/copies/tracked.html?ref=lettre"])
        if name == "listing-page1.html":
            return 200, HTML, listing(["/copies/original.html"]).replace(
                b"</main>", b'</main><a class="next" href="/faults/listing-page2.html">Suivant</a>')
        if name == "listing-page2.html":
            return 200, HTML, listing(["/copies/near.html"]).replace(
                b"</main>", b'</main><a class="next" href="/faults/listing-page3.html">Suivant</a>')
        if name == "listing-page3.html":
            return 200, HTML, listing(["/copies/exact.html"])
        if name == "sitemap.xml.gz":
            urls = "".join(f"<url><loc>{here}/copies/{n}.html</loc><lastmod>2026-11-2{i}</lastmod></url>"
                           for i, n in enumerate(("original", "near", "exact")))
            xml = f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
            return 200, "application/x-gzip", gzip.compress(xml.encode())
        return None

    def charset(self, name):
        if name in CHARSETS:
            body, content_type = CHARSETS[name]
            return 200, content_type, body
        return None

    def copy(self, name):
        """One story: the original, an exact copy elsewhere, a rewrite; and a page with a canonical link."""
        here = base_url(self.server)
        pages = {
            "original.html": ("Le PLIE présente son bilan annuel", STORY, None),
            "exact.html": ("Le PLIE présente son bilan annuel", STORY, None),
            "near.html": ("Le PLIE présente son bilan annuel", STORY.replace("mardi", "ce mardi 24 novembre")
                          + " Contact presse : 05 00 00 00 00.", None),
            "tracked.html": ("Forum de l'emploi saisonnier à Royan", "Le forum de l'emploi saisonnier se tiendra "
                             "le 12 mars à Royan avec quarante employeurs du tourisme.",
                             f"{here}/copies/forum-royan.html"),
        }
        if name not in pages:
            return None
        title, body, canonical = pages[name]
        return 200, HTML, article_page(title, body, canonical=canonical).encode()

    def spip(self, name):
        """A SPIP site: every page is spip.php, told apart by its query alone (`?article101`)."""
        if name != "spip.php":
            return None
        query = urlsplit(self.path).query
        here = base_url(self.server)
        if query == "page=backend":
            return 200, RSS, feed([(a["title"], f"{here}/spip/spip.php?article{n}&utm_source=rss",
                                    a["body"].split("\n\n")[0]) for n, a in SPIP_ARTICLES.items()])
        key = query.split("&")[0].removeprefix("article")  # other keys (trackers) are ignored, as SPIP does
        number = int(key) if key.isdigit() else None
        if number not in SPIP_ARTICLES:
            return None
        article = SPIP_ARTICLES[number]
        return 200, HTML, article_page(article["title"], article["body"].strip()).encode()

    def elsewhere(self, name):
        """`feed.xml?to=URL&to=…`: a feed whose entries link to each URL; `redirect?to=URL`: a 302 to URL."""
        targets = parse_qs(urlsplit(self.path).query).get("to", [])
        if name == "feed.xml":
            return 200, RSS, feed([(f"Un article ailleurs ({i})", to, f"Le résumé que donne le flux de l'article {i}.")
                                   for i, to in enumerate(targets, start=1)])
        if name == "redirect" and targets:
            return 302, "text/plain", b"", {"Location": targets[0]}
        return None

    def slow(self, name):
        if name == "":
            return 200, HTML, listing([f"/slow/a{i}.html" for i in range(12)])
        number = int(name.removeprefix("a").removesuffix(".html") or 0)
        time.sleep(0.1 * (number + 1))  # spread over seconds (each under the tests' 1.5 s timeout)
        return 200, HTML, article_page(f"Article lent {name}", f"Texte de l'article lent {name} à Limoges.").encode()


if __name__ == "__main__":
    server = serve(load_fixture_sources(SITE), handler=MockHandler)
    server.log = []
    print(base_url(server), flush=True)
    sys.stdin.read()  # serve until the test session closes our stdin
    server.shutdown()
