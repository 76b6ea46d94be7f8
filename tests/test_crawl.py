"""`veille crawl` against a real loopback HTTP server: fixture feeds and faults."""

from __future__ import annotations

import socket

import sqlite_utils

from tests.conftest import run_veille, write_sources


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


def test_crawl_collects_good_sources_records_failures_and_rerun_adds_nothing(mockserver, config_dir):
    write_sources(config_dir, [
        {"id": "plie-test", "name": "PLIE", "type": "rss", "url": f"{mockserver}/plie-test/feed.xml"},
        {"id": "presse-test", "name": "Presse", "type": "rss", "url": f"{mockserver}/presse-test/feed.xml"},
        {"id": "erreur-500", "name": "500", "type": "rss", "url": f"{mockserver}/faults/500.xml"},
        {"id": "pas-un-flux", "name": "HTML", "type": "rss", "url": f"{mockserver}/faults/not-a-feed.xml"},
        {"id": "tronque", "name": "Tronqué", "type": "rss", "url": f"{mockserver}/faults/truncated.xml"},
        {"id": "injoignable", "name": "Fermé", "type": "rss", "url": f"http://127.0.0.1:{closed_port()}/feed.xml"},
        {"id": "lent", "name": "Lent", "type": "rss", "url": f"{mockserver}/faults/slow.xml"},
        {"id": "boucle", "name": "Boucle", "type": "rss", "url": f"{mockserver}/faults/redirect-loop.xml"},
        {"id": "interdit", "name": "Robots", "type": "rss", "url": f"{mockserver}/private/feed.xml"},
        {"id": "inactive", "name": "Off", "type": "rss", "url": f"{mockserver}/plie-test/feed.xml", "enabled": False},
    ])
    result = run_veille("crawl", "--config", str(config_dir))
    db = sqlite_utils.Database(config_dir.parent / "data" / "veille.db")
    runs = {r["source_id"]: r for r in db["source_runs"].rows}
    assert set(runs) == {"plie-test", "presse-test", "erreur-500", "pas-un-flux", "tronque", "injoignable", "lent",
                         "boucle", "interdit"}
    assert {k: (r["status"], r["items_new"]) for k, r in runs.items() if r["status"] == "ok"} == {
        "plie-test": ("ok", 3), "presse-test": ("ok", 3)}
    assert (runs["erreur-500"]["status"], runs["erreur-500"]["http_status"]) == ("http_error", 500)
    assert runs["pas-un-flux"]["status"] == "parse_error" and "pas un flux" in runs["pas-un-flux"]["error"]
    assert runs["tronque"]["status"] == "parse_error"
    assert runs["injoignable"]["status"] == "connection_error"
    assert runs["lent"]["status"] == "timeout"
    assert runs["boucle"]["status"] == "redirect_loop"
    assert runs["interdit"]["status"] == "blocked_by_robots"
    for source_id, run in runs.items():
        line = next(l for l in result.stdout.splitlines() if l.startswith(source_id + " "))
        assert run["status"] in line
    assert "2 source(s)" not in result.stdout and "9 source(s), 6 nouvel(s) article(s), 7 source(s) en erreur" in result.stdout

    urls = [r["url"] for r in db["items"].rows]
    assert len(urls) == 6 and not any("utm_" in u for u in urls)
    hostile = next(r for r in db["items"].rows if r["url"].endswith("contenu-hostile.html"))
    assert "<script" not in hostile["title"] + hostile["text"] and "alert" not in hostile["text"]
    assert hostile["published_at"] and hostile["source_id"] == "presse-test"

    again = run_veille("crawl", "--config", str(config_dir), "--only", "plie-test", "--only", "presse-test")
    assert db["items"].count == 6
    second = [r for r in db["source_runs"].rows if r["id"] > max(x["id"] for x in runs.values())]
    assert {(r["source_id"], r["items_seen"], r["items_new"]) for r in second} == {("plie-test", 3, 0),
                                                                                  ("presse-test", 3, 0)}
    assert "0 nouvel(s) article(s)" in again.stdout


def test_crawl_with_unknown_only_is_refused(config_dir, mockserver):
    write_sources(config_dir, [{"id": "plie-test", "name": "PLIE", "type": "rss",
                                "url": f"{mockserver}/plie-test/feed.xml"}])
    result = run_veille("crawl", "--config", str(config_dir), "--only", "nope", check=False)
    assert result.returncode == 1 and "nope" in result.stderr
