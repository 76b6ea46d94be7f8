"""The crawl's storage functions (pipeline/storage.py) on real SQLite files, and how often a crawl
writes its source runs."""

from __future__ import annotations

import pytest
from scrapy.utils.test import get_crawler

from crawlers.runs import RunRecorder, source_done
from crawlers.spiders.sources import SourcesSpider
from config.schema import Source
from pipeline.archive import insert_item, open_db
from pipeline.storage import (
    find_crawl,
    find_original,
    find_source_runs,
    find_validators,
    finish_source_run,
    is_known_article,
    save_article,
    save_cluster,
    save_crawl,
    save_duplicate,
    start_source_runs,
)
from tests.conftest import run_veille, write_sources


@pytest.fixture
def db(tmp_path):
    db = open_db(tmp_path / "veille.db")
    yield db
    db.close()


def article(url: str, **extra) -> dict:
    return {"url": url, "link_url": url, "raw_url": url, "title": "Titre", "text": "Texte", "source_id": "s",
            **extra}


def run_row(source_id: str, crawl_id: str = "c1", **extra) -> dict:
    return {"crawl_id": crawl_id, "source_id": source_id, "started_at": "2026-11-24T10:00:00+00:00",
            "finished_at": None, "status": "ok", "http_status": None, "items_seen": 0, "items_new": 0,
            "error": None, "items_failed": 0, **extra}


# ------------------------------------------------------------------ articles


def test_an_exact_copy_is_found_by_its_hash_and_remembered(db):
    item_id = insert_item(db, article("https://a.example/1", content_hash="h1"))
    assert find_original(db, "h1") == (item_id, "https://a.example/1")
    assert find_original(db, "h2") is None
    save_duplicate(db, "https://b.example/copie", item_id, "b")
    save_duplicate(db, "https://b.example/copie", item_id, "b")  # seen again: one row
    (row,) = db["duplicates"].rows
    assert (row["url"], row["item_id"], row["source_id"]) == ("https://b.example/copie", item_id, "b")
    assert row["seen_at"]


def test_a_cluster_is_named_after_its_first_article(db):
    first = insert_item(db, article("https://a.example/1"))
    assert save_cluster(db, "https://a.example/1") == first
    assert db["items"].get(first)["cluster_id"] == first  # the first article starts the cluster
    assert save_cluster(db, "https://a.example/1") == first
    second = insert_item(db, article("https://b.example/2", cluster_id=first))
    assert save_cluster(db, "https://b.example/2") == first  # joining a member joins its cluster
    assert save_cluster(db, "https://inconnu.example/") is None


def test_an_article_is_stored_once_with_its_signature(db):
    item_id = save_article(db, article("https://a.example/1"), b"\x01\x02")
    assert item_id is not None
    assert db["minhashes"].get(item_id)["signature"] == b"\x01\x02"
    assert save_article(db, article("https://a.example/1", title="Autre"), b"\x03") is None
    assert db["items"].count == 1 and db["minhashes"].count == 1
    assert save_article(db, article("https://a.example/2")) is not None  # no signature: short text
    assert db["minhashes"].count == 1


def test_known_articles_by_followed_link_canonical_url_or_copy(db):
    item_id = insert_item(db, article("https://a.example/canonique", link_url="https://a.example/lien"))
    save_duplicate(db, "https://b.example/copie", item_id, "b")
    assert is_known_article(db, "https://a.example/lien")
    assert is_known_article(db, "https://a.example/canonique")
    assert is_known_article(db, "https://b.example/copie")
    assert not is_known_article(db, "https://a.example/nouveau")


# --------------------------------------------------------------- source runs


def test_starting_a_crawl_marks_runs_left_running_as_interrupted(db):
    start_source_runs(db, [run_row("a", "c1"), run_row("b", "c1")])
    finish_source_run(db, run_row("a", "c1", finished_at="2026-11-24T10:01:00+00:00"))
    start_source_runs(db, [run_row("a", "c2"), run_row("b", "c2")])  # c1 was killed while b ran
    rows = {(r["crawl_id"], r["source_id"]): (r["status"], r["error"]) for r in db["source_runs"].rows}
    assert rows == {("c1", "a"): ("ok", None), ("c1", "b"): ("interrupted", "collecte interrompue"),
                    ("c2", "a"): ("running", None), ("c2", "b"): ("running", None)}


def test_finishing_a_run_updates_its_row_and_keeps_validators_only_when_ok(db):
    start_source_runs(db, [run_row("a"), run_row("b")])
    ids = {r["source_id"]: r["id"] for r in db["source_runs"].rows}
    error = {"url": "https://a.example/404", "status": "http_error", "http_status": 404, "error": "réponse HTTP 404"}
    finish_source_run(db, run_row("a", items_seen=3, items_new=2, items_failed=1, finished_at="fin"),
                      page_errors=[error],
                      validators=[{"url": "https://a.example/flux", "etag": '"v1"', "last_modified": None}])
    finish_source_run(db, run_row("b", status="timeout", error="pas de réponse"),
                      validators=[{"url": "https://b.example/flux", "etag": '"v2"', "last_modified": None}])
    runs = {r["source_id"]: r for r in find_source_runs(db, "c1")}
    assert {k: r["id"] for k, r in runs.items()} == ids  # the rows written at the start, updated
    assert (runs["a"]["status"], runs["a"]["items_new"], runs["a"]["items_failed"]) == ("ok", 2, 1)
    assert runs["a"]["started_at"] == "2026-11-24T10:00:00+00:00" and runs["a"]["finished_at"] == "fin"
    assert runs["b"]["status"] == "timeout"
    (stored,) = db["page_errors"].rows
    assert (stored["crawl_id"], stored["source_id"], stored["http_status"]) == ("c1", "a", 404)
    assert find_validators(db, "https://a.example/flux") == ('"v1"', None)
    assert find_validators(db, "https://b.example/flux") is None  # b failed: fetched in full next time


def test_crawl_figures_are_one_row_per_crawl(db):
    assert find_crawl(db, "c1") is None
    save_crawl(db, {"id": "c1", "requests": 3, "bytes": 100})
    save_crawl(db, {"id": "c1", "requests": 4, "bytes": 120})
    assert db["crawls"].count == 1 and find_crawl(db, "c1")["requests"] == 4


# ------------------------------------------------------------- the recorder


def test_the_recorder_writes_a_run_at_the_start_at_its_end_and_interrupted_if_it_never_ended(tmp_path):
    path = tmp_path / "veille.db"
    sources = [Source(id=i, name=i, type="rss", url=f"https://{i}.example/flux.xml") for i in ("fini", "coupe")]
    crawler = get_crawler(SourcesSpider, {"VEILLE_DB": str(path)})
    recorder = RunRecorder(crawler)
    spider = SourcesSpider.from_crawler(crawler, sources=sources, crawl_id="c1")
    crawler.spider = spider
    recorder.open(spider)
    db = open_db(path)
    assert [r["status"] for r in find_source_runs(db, "c1")] == ["running", "running"]

    done = spider.runs["fini"]
    done.items_new = 2
    done.validators.append({"url": "https://fini.example/flux.xml", "etag": '"e"', "last_modified": None})
    crawler.signals.send_catch_log(source_done, run=done)
    spider.runs["coupe"].validators.append({"url": "https://coupe.example/flux.xml", "etag": '"e"',
                                            "last_modified": None})
    recorder.close(spider)  # "coupe" never ended: the crawl was stopped
    runs = {r["source_id"]: r for r in find_source_runs(db, "c1")}
    assert (runs["fini"]["status"], runs["fini"]["items_new"]) == ("ok", 2)
    assert (runs["coupe"]["status"], runs["coupe"]["error"]) == ("interrupted", "collecte interrompue")
    assert runs["coupe"]["finished_at"]
    assert find_validators(db, "https://fini.example/flux.xml") and not find_validators(
        db, "https://coupe.example/flux.xml")
    figures = find_crawl(db, "c1")
    assert (figures["sources"], figures["items_new"]) == (2, 2) and figures["cpu_seconds"] >= 0


# --------------------------------------------------------- a real crawl's writes

WRITE_LOG = """
CREATE TABLE run_writes (id INTEGER PRIMARY KEY, op TEXT, row_id INT, source_id TEXT, status TEXT, items_new INT);
CREATE TRIGGER run_inserted AFTER INSERT ON source_runs BEGIN
  INSERT INTO run_writes (op, row_id, source_id, status, items_new)
  VALUES ('insert', NEW.id, NEW.source_id, NEW.status, NEW.items_new); END;
CREATE TRIGGER run_updated AFTER UPDATE ON source_runs BEGIN
  INSERT INTO run_writes (op, row_id, source_id, status, items_new)
  VALUES ('update', NEW.id, NEW.source_id, NEW.status, NEW.items_new); END;
CREATE TRIGGER run_deleted AFTER DELETE ON source_runs BEGIN
  INSERT INTO run_writes (op, row_id, source_id, status, items_new)
  VALUES ('delete', OLD.id, OLD.source_id, OLD.status, OLD.items_new); END;
"""


def test_a_crawl_writes_each_source_run_once_at_its_start_and_once_at_its_end(mockserver, config_dir):
    """One INSERT (`running`) and one UPDATE with the final counts, on the same row, never a DELETE.

    "presse-test" is a feed without full text: its articles come straight from the feed callback,
    which Scrapy runs to its end before the item pipelines store them. Its one UPDATE must still
    count them: the source ends only once its articles have left the pipelines.
    """
    write_sources(config_dir, [
        {"id": "plie-test", "name": "PLIE", "type": "rss", "url": f"{mockserver}/plie-test/feed.xml",
         "fetch_full": True},
        {"id": "presse-test", "name": "Presse", "type": "rss", "url": f"{mockserver}/presse-test/feed.xml"},
        {"id": "erreur-500", "name": "500", "type": "rss", "url": f"{mockserver}/faults/500.xml"},
    ])
    db = open_db(config_dir.parent / "data" / "veille.db")
    db.executescript(WRITE_LOG)
    run_veille("crawl", "--config", str(config_dir))

    writes = list(db["run_writes"].rows_where(order_by="id"))
    by_source: dict[str, list[tuple]] = {}
    for w in writes:
        by_source.setdefault(w["source_id"], []).append((w["op"], w["status"], w["items_new"]))
    assert by_source == {
        "plie-test": [("insert", "running", 0), ("update", "ok", 3)],
        "presse-test": [("insert", "running", 0), ("update", "ok", 3)],
        "erreur-500": [("insert", "running", 0), ("update", "http_error", 0)],
    }
    rows = {r["source_id"]: r["id"] for r in db["source_runs"].rows}
    assert all(w["row_id"] == rows[w["source_id"]] for w in writes)  # one row per source, never replaced
    assert find_crawl(db, db.execute("SELECT crawl_id FROM source_runs").fetchone()[0])["items_new"] == 6
