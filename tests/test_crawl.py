"""`veille crawl` against a real loopback HTTP server (tests/mockserver.py): fixture sites and faults."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest
import sqlite_utils

from tests.conftest import ROOT, run_veille, write_sources


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def server_log(mockserver: str) -> list[dict]:
    """Requests the mock server received (not counting these log requests)."""
    with urllib.request.urlopen(f"{mockserver}/__log") as response:
        return [r for r in json.load(response) if r["path"] != "/__log"]


def crawl(config_dir, *args):
    result = run_veille("crawl", "--config", str(config_dir), *args)
    db = sqlite_utils.Database(config_dir.parent / "data" / "veille.db")
    return result, db


def last_runs(db) -> dict[str, dict]:
    crawl_id = db.execute("SELECT MAX(crawl_id) FROM source_runs").fetchone()[0]
    return {r["source_id"]: r for r in db["source_runs"].rows_where("crawl_id = ?", [crawl_id])}


def test_each_source_fault_is_recorded_and_the_rest_is_collected(mockserver, config_dir):
    write_sources(config_dir, [
        {"id": "plie-test", "name": "PLIE", "type": "rss", "url": f"{mockserver}/plie-test/feed.xml",
         "fetch_full": True},
        {"id": "presse-test", "name": "Presse", "type": "rss", "url": f"{mockserver}/presse-test/feed.xml"},
        {"id": "erreur-500", "name": "500", "type": "rss", "url": f"{mockserver}/faults/500.xml"},
        {"id": "pas-un-flux", "name": "HTML", "type": "rss", "url": f"{mockserver}/faults/not-a-feed.xml"},
        {"id": "tronque", "name": "Tronqué", "type": "rss", "url": f"{mockserver}/faults/truncated.xml"},
        {"id": "injoignable", "name": "Fermé", "type": "rss", "url": f"http://127.0.0.1:{closed_port()}/feed.xml"},
        {"id": "lent", "name": "Lent", "type": "rss", "url": f"{mockserver}/faults/slow.xml"},
        {"id": "boucle", "name": "Boucle", "type": "rss", "url": f"{mockserver}/faults/redirect-loop.xml"},
        {"id": "interdit", "name": "Robots", "type": "rss", "url": f"{mockserver}/private/feed.xml"},
        {"id": "enorme", "name": "80 Mo", "type": "rss", "url": f"{mockserver}/faults/huge.xml"},
        {"id": "bombe", "name": "Bombe gzip", "type": "rss", "url": f"{mockserver}/faults/bomb.xml"},
        {"id": "inactive", "name": "Off", "type": "rss", "url": f"{mockserver}/plie-test/feed.xml", "enabled": False},
    ])
    result, db = crawl(config_dir)
    runs = last_runs(db)
    assert "inactive" not in runs
    statuses = {k: r["status"] for k, r in runs.items()}
    assert statuses == {
        "plie-test": "ok", "presse-test": "ok", "erreur-500": "http_error", "pas-un-flux": "parse_error",
        "tronque": "parse_error", "injoignable": "connection_error", "lent": "timeout", "boucle": "redirect_loop",
        "interdit": "blocked_by_robots", "enorme": "too_large", "bombe": "too_large"}
    assert runs["erreur-500"]["http_status"] == 500 and "pas un flux" in runs["pas-un-flux"]["error"]
    assert (runs["plie-test"]["items_new"], runs["presse-test"]["items_new"]) == (3, 3)
    for source_id, run in runs.items():
        line = next(l for l in result.stdout.splitlines() if l.startswith(source_id + " "))
        assert run["status"] in line
    assert "11 source(s), 6 nouvel(s) article(s), 9 source(s) en erreur" in result.stdout

    items = list(db["items"].rows)
    assert len(items) == 6 and not any("utm_" in r["url"] for r in items)
    full = next(r for r in items if r["url"].endswith("/plie-test/job-dating-lormont.html"))
    assert "référents de parcours" in full["text"] and "Mentions légales" not in full["text"]  # page, not feed
    assert full["published_at"] and full["lang"] == "fr"
    hostile = next(r for r in items if r["url"].endswith("contenu-hostile.html"))
    assert "<script" not in hostile["title"] + hostile["text"] and "alert" not in hostile["text"]
    assert all("+https://github.com/veille-na/veille" in e["user_agent"] for e in server_log(mockserver))


def test_rerun_uses_conditional_requests_and_fetches_no_known_article(mockserver, config_dir):
    write_sources(config_dir, [
        {"id": "plie-test", "name": "PLIE", "type": "rss", "url": f"{mockserver}/plie-test/feed.xml",
         "fetch_full": True},
        {"id": "liste", "name": "Liste", "type": "html", "url": f"{mockserver}/presse-test/",
         "links": "article h2 a"},
        {"id": "plan", "name": "Plan", "type": "sitemap", "url": f"{mockserver}/sitemap.xml"},
    ])
    _, db = crawl(config_dir)
    first = last_runs(db)
    assert {k: r["items_new"] for k, r in first.items()} == {"plie-test": 3, "liste": 3, "plan": 0}
    assert first["plan"]["items_seen"] == 6  # every article of the site is already archived
    count = db["items"].count
    before = len(server_log(mockserver))

    result, db = crawl(config_dir)
    second = last_runs(db)
    assert db["items"].count == count
    assert {(k, r["status"], r["http_status"], r["items_new"]) for k, r in second.items()} == {
        ("plie-test", "ok", 304, 0), ("liste", "ok", 304, 0), ("plan", "ok", 304, 0)}
    requests = server_log(mockserver)[before:]
    assert {r["path"] for r in requests} == {"/robots.txt", "/plie-test/feed.xml", "/presse-test/", "/sitemap.xml"}
    assert all(r["if_none_match"] for r in requests if r["path"] != "/robots.txt")
    assert "ok (inchangé)" in result.stdout
    figures = list(db["crawls"].rows_where(order_by="id"))
    assert figures[-1]["bytes"] < 0.1 * figures[0]["bytes"]  # headers and robots.txt only (the bench: 5 %)


def test_full_text_falls_back_to_the_feed_and_reports_each_page(mockserver, config_dir):
    write_sources(config_dir, [{"id": "complet", "name": "Complet", "type": "rss",
                                "url": f"{mockserver}/faults/full-feed.xml", "fetch_full": True}])
    result, db = crawl(config_dir)
    run = last_runs(db)["complet"]
    assert (run["status"], run["items_seen"], run["items_new"], run["items_failed"]) == ("ok", 4, 4, 3)
    errors = {e["url"].rsplit("/", 1)[1]: e for e in db["page_errors"].rows}
    assert errors["document.pdf"]["status"] == "parse_error" and "PDF illisible" in errors["document.pdf"]["error"]
    assert (errors["missing.html"]["status"], errors["missing.html"]["http_status"]) == ("http_error", 404)
    assert errors["page.html"]["status"] == "blocked_by_robots"
    texts = {r["url"].rsplit("/", 1)[1]: r["text"] for r in db["items"].rows}
    assert texts["original.html"].startswith("Le plan local pour l'insertion")  # the page's full text
    assert texts["missing.html"] == "Un forum de l'emploi à Périgueux."  # the feed's text, kept
    assert "3 page(s) en échec" in run["error"] and "3 page(s) en échec" in result.stdout


def test_listing_pages_any_charset_no_mojibake(mockserver, config_dir):
    write_sources(config_dir, [{"id": "liste", "name": "Liste", "type": "html",
                                "url": f"{mockserver}/faults/listing.html", "links": "article h2 a"}])
    _, db = crawl(config_dir)
    run = last_runs(db)["liste"]
    assert (run["status"], run["items_seen"], run["items_new"], run["items_failed"]) == ("ok", 8, 5, 3)
    pages = {r["url"].rsplit("/", 1)[1]: r for r in db["items"].rows}
    report = pages.pop("rapport.pdf")  # a real PDF: its text is extracted
    assert report["title"] == "rapport_v3_final.pdf" and "accompagne 1 240 jeunes" in report["text"]
    errors = {e["url"].rsplit("/", 1)[1]: e["status"] for e in db["page_errors"].rows}
    assert errors == {"missing.html": "http_error", "document.pdf": "parse_error", "image.png": "not_html"}
    assert set(pages) == {"latin1-declared.html", "cp1252-undeclared.html", "utf8-declared-latin1.html",
                          "cp1252-declared-utf8.html"}
    for name, page in pages.items():
        assert page["title"].startswith("Créer son activité à Guéret"), (name, page["title"])
        assert "« Bois et forêt »" in page["text"], (name, page["text"])
        assert not any(bad in page["title"] + page["text"] for bad in ("Ã", "Â", "\ufffd", "â€")), name
    assert "– œuvre" in pages["cp1252-declared-utf8.html"]["title"]
    assert "5 €" in pages["cp1252-undeclared.html"]["text"]


def test_pagination_exact_copies_and_near_duplicates(mockserver, config_dir):
    write_sources(config_dir, [{"id": "pages", "name": "Pages", "type": "html", "links": "article h2 a",
                                "url": f"{mockserver}/faults/listing-page1.html", "next": "a.next", "max_pages": 3}])
    _, db = crawl(config_dir)
    run = last_runs(db)["pages"]
    assert (run["items_seen"], run["items_new"]) == (3, 2)  # three listing pages followed
    items = {r["url"].rsplit("/", 1)[1]: r for r in db["items"].rows}
    assert set(items) == {"original.html", "near.html"}
    assert items["near.html"]["cluster_id"] == items["original.html"]["cluster_id"] == items["original.html"]["id"]
    (copy,) = db["duplicates"].rows
    assert copy["url"].endswith("/copies/exact.html") and copy["item_id"] == items["original.html"]["id"]

    write_sources(config_dir, [{"id": "plan", "name": "Plan", "type": "sitemap",
                                "url": f"{mockserver}/faults/sitemap.xml.gz"}])
    before = len(server_log(mockserver))
    _, db = crawl(config_dir)
    run = last_runs(db)["plan"]
    assert (run["status"], run["items_seen"], run["items_new"]) == ("ok", 3, 0)
    fetched = [r["path"] for r in server_log(mockserver)[before:]]
    assert fetched == ["/robots.txt", "/faults/sitemap.xml.gz"]  # known articles and copies: not fetched


def test_max_pages_stops_pagination(mockserver, config_dir):
    write_sources(config_dir, [{"id": "pages", "name": "Pages", "type": "html", "links": "article h2 a",
                                "url": f"{mockserver}/faults/listing-page1.html", "next": "a.next", "max_pages": 2}])
    _, db = crawl(config_dir)
    assert last_runs(db)["pages"]["items_seen"] == 2


def test_rel_canonical_is_honoured_and_sitemaps_filtered(mockserver, config_dir):
    write_sources(config_dir, [
        {"id": "liste", "name": "Liste", "type": "html", "url": f"{mockserver}/faults/listing-tracked.html",
         "links": "article h2 a"},
        {"id": "plan", "name": "Plan", "type": "sitemap", "url": f"{mockserver}/plie-test/sitemap.xml",
         "url_filter": "job-dating", "max_age_days": 30},
    ])
    _, db = crawl(config_dir)
    runs = last_runs(db)
    assert (runs["plan"]["items_seen"], runs["plan"]["items_new"]) == (1, 1)
    (page,) = db["items"].rows_where("source_id = 'liste'")
    assert page["url"] == f"{mockserver}/copies/forum-royan.html"  # the page's rel=canonical
    assert page["raw_url"] == f"{mockserver}/copies/tracked.html?ref=lettre"
    assert page["link_url"] == f"{mockserver}/copies/tracked.html"  # "ref" is a tracking parameter
    assert page["published_at"] == "2026-11-24T08:00:00+00:00"


def test_every_article_of_a_spip_feed_is_kept(mockserver, config_dir):
    """SPIP pages differ by their query alone (spip.php?article101): none may collapse into another."""
    write_sources(config_dir, [{"id": "spip", "name": "SPIP", "type": "rss", "fetch_full": True,
                                "url": f"{mockserver}/spip/spip.php?page=backend"}])
    _, db = crawl(config_dir)
    run = last_runs(db)["spip"]
    assert (run["status"], run["items_seen"], run["items_new"], run["items_failed"]) == ("ok", 14, 14, 0)
    urls = {r["url"] for r in db["items"].rows}
    assert urls == {f"{mockserver}/spip/spip.php?article{n}" for n in range(101, 115)}
    assert db.execute("SELECT COUNT(DISTINCT title) FROM items").fetchone()[0] == 14  # each its own page
    before = len(server_log(mockserver))
    db.execute("DELETE FROM http_validators")  # the feed is read again in full: no article is fetched again
    _, db = crawl(config_dir)
    assert [r["path"] for r in server_log(mockserver)[before:]] == ["/robots.txt", "/spip/spip.php?page=backend"]
    assert db["items"].count == 14


def test_a_redirected_article_is_not_fetched_again(mockserver, config_dir):
    write_sources(config_dir, [{"id": "liste", "name": "Liste", "type": "html", "links": "article h2 a",
                                "url": f"{mockserver}/faults/listing-moved.html"}])
    _, db = crawl(config_dir)
    (item,) = db["items"].rows
    assert item["link_url"] == f"{mockserver}/faults/moved.html" and item["url"].endswith("/copies/original.html")
    before = len(server_log(mockserver))
    db.execute("DELETE FROM http_validators")  # the listing is fetched again in full
    _, db = crawl(config_dir)
    paths = [r["path"] for r in server_log(mockserver)[before:]]
    assert "/faults/moved.html" not in paths and db["items"].count == 1


def test_broken_selector_is_a_failure_not_a_quiet_success(mockserver, config_dir):
    write_sources(config_dir, [{"id": "casse", "name": "Cassé", "type": "html", "url": f"{mockserver}/presse-test/",
                                "links": "div.liste-actus h3 a"}])
    result, db = crawl(config_dir)
    run = last_runs(db)["casse"]
    assert run["status"] == "parse_error" and "div.liste-actus h3 a" in run["error"]
    assert result.returncode == 0


def test_killed_crawl_leaves_a_valid_database_and_the_next_run_completes(mockserver, config_dir):
    write_sources(config_dir, [{"id": "lent", "name": "Lent", "type": "html", "url": f"{mockserver}/slow/",
                                "links": "article h2 a"}])
    db_path = config_dir.parent / "data" / "veille.db"
    process = subprocess.Popen([sys.executable, "-m", "veille", "crawl", "--config", str(config_dir)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if db_path.exists():
            try:
                stored = sqlite_utils.Database(db_path).execute("SELECT COUNT(*) FROM items").fetchone()[0]
            except sqlite3.OperationalError:
                stored = 0  # the crawler is still creating the schema
            if stored >= 2:
                break
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    db = sqlite_utils.Database(db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    partial = db["items"].count
    assert 2 <= partial < 12
    assert [r["status"] for r in db["source_runs"].rows] == ["running"]

    run_veille("crawl", "--config", str(config_dir))
    assert db["items"].count == 12
    statuses = [r["status"] for r in db["source_runs"].rows_where(order_by="id")]
    assert statuses == ["interrupted", "ok"]
    assert last_runs(db)["lent"]["items_new"] == 12 - partial


def test_crawl_with_unknown_only_is_refused(config_dir, mockserver):
    write_sources(config_dir, [{"id": "plie-test", "name": "PLIE", "type": "rss",
                                "url": f"{mockserver}/plie-test/feed.xml"}])
    result = run_veille("crawl", "--config", str(config_dir), "--only", "nope", check=False)
    assert result.returncode == 1 and "nope" in result.stderr


from tests.corpora import CORPUS_MISSING, FEEDPARSER_CORPUS as CORPUS  # noqa: E402


@pytest.mark.skipif(CORPUS is None, reason=CORPUS_MISSING)
def test_every_feed_of_the_feedparser_corpus_is_collected_or_a_recorded_parse_error(mockserver, config_dir):
    files = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.xml"))
    write_sources(config_dir, [
        {"id": f"c{i:04d}", "name": name, "type": "rss", "url": f"{mockserver}/corpus/{name}"}
        for i, name in enumerate(files)])
    _, db = crawl(config_dir)
    runs = last_runs(db)
    assert len(runs) == len(files)
    statuses = {r["status"] for r in runs.values()}
    assert statuses <= {"ok", "parse_error"}, statuses  # never an internal error
    assert sum(r["status"] == "parse_error" for r in runs.values()) >= 10
    assert db["items"].count >= 40  # many corpus entries share their links (example.org/…)


def test_run_crawl_reports_each_source_as_it_ends(mockserver, config_dir):
    """The library function behind `veille crawl` (and its progress bar) calls back once per source."""
    script = f"""
from crawlers.run import run_crawl
from config.schema import CrawlSettings, Source
ended = []
sources = [Source(id="plie-test", name="PLIE", type="rss", url="{mockserver}/plie-test/feed.xml"),
           Source(id="cassee", name="500", type="rss", url="{mockserver}/faults/500.xml")]
rows, figures = run_crawl(sources, "{config_dir.parent}/v.db", CrawlSettings(download_delay=0, retry_times=0),
                          on_source_done=lambda run: ended.append(run.source_id))
print(sorted(ended), [r["status"] for r in rows], figures["requests"])
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    # robots.txt, two feeds: 3 requests
    assert result.stdout.strip() == "['cassee', 'plie-test'] ['http_error', 'ok'] 3", result.stdout + result.stderr
