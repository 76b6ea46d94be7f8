"""Source health: failing, silent for longer than its rhythm, or fine."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pipeline.archive import insert_item, open_db
from pipeline.health import source_health
from config.schema import Source

NOW = datetime(2026, 11, 26, 12, tzinfo=timezone.utc)


def source(source_id, **extra):
    return Source(id=source_id, name=source_id, type="rss", url=f"https://{source_id}.example/rss", **extra)


def add_items(db, source_id, days_ago):
    for n, days in enumerate(days_ago):
        seen = (NOW - timedelta(days=days)).isoformat()
        insert_item(db, {"url": f"https://{source_id}.example/{n}", "raw_url": "x", "source_id": source_id,
                         "title": "t", "text": "t", "first_seen_at": seen})


def ok_run(db, source_id, days_ago=0):
    db["source_runs"].insert({"crawl_id": f"c{days_ago}", "source_id": source_id, "status": "ok",
                           "started_at": (NOW - timedelta(days=days_ago)).isoformat()})


def test_health_states(tmp_path):
    db = open_db(tmp_path / "veille.db")
    add_items(db, "quotidien", [1, 2, 3, 4, 5, 6, 8, 9])          # daily, still publishing
    add_items(db, "muet", [20, 21, 22, 23, 24, 25, 26, 27, 28])     # daily until three weeks ago
    add_items(db, "mensuel", [10, 40])                              # a slow rhythm: 10 days is normal
    for source_id in ("quotidien", "muet", "mensuel", "vide"):
        ok_run(db, source_id)
    db["source_runs"].insert({"crawl_id": "c0", "source_id": "cassee", "status": "timeout", "error": "délai",
                           "started_at": NOW.isoformat()})
    health = {h.id: h for h in source_health(db, [source("quotidien"), source("muet"), source("mensuel"),
                                                  source("vide"), source("cassee"), source("jamais"),
                                                  source("off", enabled=False)], now=NOW)}
    assert {k: h.state for k, h in health.items()} == {
        "quotidien": "ok", "muet": "silencieuse", "mensuel": "ok", "vide": "silencieuse", "cassee": "en échec",
        "jamais": "jamais collectée", "off": "désactivée"}
    assert health["quotidien"].items_per_week == 1.0 and health["cassee"].last_error == "timeout : délai"
