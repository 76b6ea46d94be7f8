"""The archive: one SQLite file (served by Datasette), its schema and its migrations.

Tables:
- `sources`: the sources of the last loaded sources.yaml;
- `items`: one row per article (`url` canonical and unique), with full-text search on title and text;
- `source_runs`: one row per source per crawl (status, HTTP status, counts, error);
- `tags`: every tag with its origin, `auto` (the machine) or `curator`; a curator row with
  action `remove` cancels an automatic tag;
- `curation`: per-item curator decisions (rejected, highlight, note), each tag and decision of a
  curator with the name of its `curator` account when known;
- `approvals`: one row per approval of a week's bulletin by the curator (who, when, the items and
  decisions she saw); the latest of a week counts (pipeline/approval.py);
- `duplicates`, `minhashes`: exact copies seen at other URLs, and near-duplicate signatures;
- `http_validators`: ETag/Last-Modified per feed, listing and sitemap URL (conditional GET);
- `page_errors`: per-article failures; `crawls`: the figures of each crawl;
- `articles`: one row per item as the field reads it, names not codes (pipeline/articles.py);
- view `effective_tags`: what an item is tagged with once curator decisions (and the learned
  model's doubts) are applied;
- `actor_mentions`: the actors the machine found named in each item (`veille tag`, replaced on
  re-tag); `actor_decisions`: the curator's merges, splits, renames, hides and kinds, applied on top
  of them; `acteurs`: the directory derived from both (pipeline/directory.py).

The schema is created and migrated in code by `open_db`, idempotently: each migration runs once,
in a transaction, and is recorded in `_sqlite_migrations`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations

from config.dates import utcnow

migrations = Migrations("veille")


@migrations()
def m001_tables(db: sqlite_utils.Database) -> None:
    db["sources"].create(
        {"id": str, "name": str, "type": str, "url": str, "enabled": int, "topical": int,
         "updated_at": str},
        pk="id",
    )
    db["items"].create(
        {"id": int, "url": str, "raw_url": str, "title": str, "text": str, "summary": str,
         "published_at": str, "source_id": str, "first_seen_at": str, "author": str, "lang": str,
         "content_hash": str, "tagged_at": str},
        pk="id",
        not_null={"url", "source_id", "first_seen_at"},
    )
    db["items"].create_index(["url"], unique=True)
    db["items"].create_index(["first_seen_at"])
    db["items"].create_index(["content_hash"])
    db["source_runs"].create(
        {"id": int, "crawl_id": str, "source_id": str, "started_at": str, "finished_at": str,
         "status": str, "http_status": int, "items_seen": int, "items_new": int, "error": str},
        pk="id",
        not_null={"crawl_id", "source_id", "status"},
    )
    db["source_runs"].create_index(["source_id", "started_at"])
    db["tags"].create(
        {"item_id": int, "facet": str, "value": str, "origin": str, "action": str, "score": float,
         "evidence": str, "updated_at": str},
        pk=("item_id", "facet", "value", "origin"),
        not_null={"action"},
        foreign_keys=[("item_id", "items", "id")],
    )
    db["tags"].create_index(["facet", "value"])
    db["curation"].create(
        {"item_id": int, "rejected": int, "highlight": int, "note": str, "updated_at": str},
        pk="item_id",
        foreign_keys=[("item_id", "items", "id")],
    )


@migrations()
def m002_full_text_search(db: sqlite_utils.Database) -> None:
    # Indexes the rows already there, then keeps itself up to date with triggers.
    db["items"].enable_fts(
        ["title", "text"], tokenize="unicode61 remove_diacritics 2", create_triggers=True
    )


@migrations()
def m003_effective_tags_view(db: sqlite_utils.Database) -> None:
    # Curator decisions win: a curator `remove` cancels the automatic tag, and a curator's
    # nature replaces the machine's (an item has exactly one nature).
    db.create_view(
        "effective_tags",
        """
        SELECT t.item_id, t.facet, t.value, t.origin, t.score
        FROM tags t
        WHERE t.action = 'add'
          AND (t.origin = 'curator' OR NOT EXISTS (
                SELECT 1 FROM tags c
                WHERE c.item_id = t.item_id AND c.facet = t.facet AND c.value = t.value
                  AND c.origin = 'curator' AND c.action = 'remove'))
          AND NOT (t.origin = 'auto' AND t.facet = 'nature' AND EXISTS (
                SELECT 1 FROM tags c
                WHERE c.item_id = t.item_id AND c.facet = 'nature'
                  AND c.origin = 'curator' AND c.action = 'add'))
        """,
    )


@migrations()
def m004_collection(db: sqlite_utils.Database) -> None:
    # The followed link (canonical form), so a known article is never fetched again even when the
    # page declares another canonical URL; near-duplicate clusters.
    db["items"].add_column("link_url", str)
    db["items"].add_column("cluster_id", int)
    db.execute("UPDATE items SET link_url = url")
    db["items"].create_index(["link_url"])
    db["items"].create_index(["cluster_id"])
    db["source_runs"].add_column("items_failed", int)
    # Exact copies of an archived item found at another URL: kept out of items, remembered for
    # « aussi publié par ».
    db["duplicates"].create(
        {"url": str, "item_id": int, "source_id": str, "seen_at": str},
        pk="url", foreign_keys=[("item_id", "items", "id")],
    )
    db["duplicates"].create_index(["item_id"])
    db["minhashes"].create({"item_id": int, "signature": bytes}, pk="item_id",
                           foreign_keys=[("item_id", "items", "id")])
    # Conditional GET: validators of feeds, listings and sitemaps.
    db["http_validators"].create(
        {"url": str, "etag": str, "last_modified": str, "updated_at": str}, pk="url")
    # Per-article failures of a crawl (404, not HTML, too large…).
    db["page_errors"].create(
        {"id": int, "crawl_id": str, "source_id": str, "url": str, "status": str, "http_status": int,
         "error": str, "at": str},
        pk="id",
    )
    db["page_errors"].create_index(["source_id", "at"])
    # One row per crawl: its figures (requests, bytes, CPU).
    db["crawls"].create(
        {"id": str, "started_at": str, "finished_at": str, "sources": int, "requests": int,
         "responses": int, "bytes": int, "items_new": int, "cpu_seconds": float,
         "cpu_seconds_veille": float},
        pk="id",
    )


@migrations()
def m005_model_tags(db: sqlite_utils.Database) -> None:
    # The learned model's tags (origin `model`): an addition counts like the rules'; a removal (a
    # theme the model doubts) cancels the rules' tag, never a curator's. Curator decisions still win.
    db.execute("DROP VIEW effective_tags")
    db.create_view(
        "effective_tags",
        """
        SELECT t.item_id, t.facet, t.value, t.origin, t.score
        FROM tags t
        WHERE t.action = 'add'
          AND NOT EXISTS (
                SELECT 1 FROM tags c
                WHERE c.item_id = t.item_id AND c.facet = t.facet AND c.value = t.value AND c.action = 'remove'
                  AND (c.origin = 'curator' OR (c.origin = 'model' AND t.origin = 'auto')))
          AND NOT (t.origin != 'curator' AND t.facet = 'nature' AND EXISTS (
                SELECT 1 FROM tags c
                WHERE c.item_id = t.item_id AND c.facet = 'nature'
                  AND c.origin = 'curator' AND c.action = 'add'))
        """,
    )


@migrations()
def m006_curator_names(db: sqlite_utils.Database) -> None:
    # Who made each curator decision: the logged-in curator's account name (NULL when it came from
    # the command line without a name, or before accounts existed).
    db["tags"].add_column("curator", str)
    db["curation"].add_column("curator", str)


@migrations()
def m007_approvals(db: sqlite_utils.Database) -> None:
    # « Valider le bulletin de la semaine »: every approval is kept (history); the latest of a week
    # counts. `item_ids` (the items then in the bulletin) and `decisions` (the curator decisions on the
    # week's items then recorded) are JSON: what she saw, to tell what changed since.
    db["approvals"].create(
        {"id": int, "week": str, "approved_by": str, "approved_at": str, "items_in": int, "item_ids": str,
         "decisions": str},
        pk="id",
        not_null={"week", "approved_by", "approved_at"},
    )
    db["approvals"].create_index(["week", "id"])


@migrations()
def m008_articles(db: sqlite_utils.Database) -> None:
    # The archive as the field reads it (pipeline/articles.py): names, not codes; derived, rebuilt
    # from items, tags and curation. `id` is the item's, so items_fts serves it too.
    db["articles"].create(
        {"id": int, "title": str, "url": str, "source": str, "source_id": str, "published": str, "week": str,
         "nature": str, "themes": str, "dispositifs": str, "departements": str, "epci": str, "communes": str,
         "summary": str, "in_bulletin": int, "rejected": int, "highlight": int, "note": str, "reason": str,
         "deadline": str, "event_day": str, "updated_at": str},
        pk="id", foreign_keys=[("id", "items", "id")],
    )
    for columns in (["published"], ["week"], ["source"], ["nature"], ["deadline"], ["event_day"]):
        db["articles"].create_index(columns)


# One article's départements counted in (sign 1) or out (sign -1) of its week.
_WEEK_COUNTS = (
    "INSERT INTO article_week_counts (facet, value, week, articles) "
    "SELECT 'departements', value, {row}.week, {sign} FROM json_each({row}.departements) "
    "WHERE {row}.week IS NOT NULL AND json_valid({row}.departements) "
    "ON CONFLICT (facet, value, week) DO UPDATE SET articles = articles + {sign};"
)


@migrations()
def m009_archive_at_scale(db: sqlite_utils.Database) -> None:
    # A million articles (benchmarks/bench_archive.py). A counter of the writes to `articles`: the
    # server's in-memory facet index (veille/datasette_plugin/facets.py) reads it on every page and
    # is rebuilt when it moved.
    db.execute("CREATE TABLE article_changes (id INTEGER PRIMARY KEY CHECK (id = 1), changes INTEGER NOT NULL)")
    db.execute("INSERT INTO article_changes VALUES (1, 0)")
    for event in ("INSERT", "UPDATE", "DELETE"):
        db.execute(f"CREATE TRIGGER article_changes_{event.lower()} AFTER {event} ON articles "
                   "BEGIN UPDATE article_changes SET changes = changes + 1; END")
    # Articles per département and week, kept by triggers: the canned query par_departement read
    # json_each of every row (3 s at a million).
    db.execute("CREATE TABLE article_week_counts (facet TEXT NOT NULL, value TEXT NOT NULL, week TEXT NOT NULL, "
               "articles INTEGER NOT NULL, PRIMARY KEY (facet, value, week)) WITHOUT ROWID")
    db.execute("CREATE INDEX article_week_counts_week ON article_week_counts (facet, week)")
    db.execute("INSERT INTO article_week_counts (facet, value, week, articles) "
               "SELECT 'departements', j.value, a.week, COUNT(*) FROM articles a, json_each(a.departements) j "
               "WHERE a.week IS NOT NULL AND json_valid(a.departements) GROUP BY j.value, a.week")
    plus, minus = _WEEK_COUNTS.format(row="new", sign=1), _WEEK_COUNTS.format(row="old", sign=-1)
    drop_zero = "DELETE FROM article_week_counts WHERE facet = 'departements' AND articles <= 0;"
    db.execute(f"CREATE TRIGGER article_week_counts_ai AFTER INSERT ON articles BEGIN {plus} END")
    db.execute(f"CREATE TRIGGER article_week_counts_ad AFTER DELETE ON articles BEGIN {minus} {drop_zero} END")
    db.execute("CREATE TRIGGER article_week_counts_au AFTER UPDATE OF week, departements ON articles "
               f"BEGIN {minus} {plus} {drop_zero} END")


@migrations()
def m010_source_items_index(db: sqlite_utils.Database) -> None:
    # Each source's recent items (the sources page, `veille sources`): an index, not a scan of the
    # last weeks per source.
    db["items"].create_index(["source_id", "first_seen_at"], if_not_exists=True)


@migrations()
def m011_article_changelog(db: sqlite_utils.Database) -> None:
    # The ids of the articles written, in order, instead of a bare counter (m009): the server's facet
    # index updates those rows rather than reading a million again (16 s) after each crawl. Kept
    # short by pipeline.articles.prune_changelog; AUTOINCREMENT so that a pruned seq is never reused.
    for event in ("insert", "update", "delete"):
        db.execute(f"DROP TRIGGER IF EXISTS article_changes_{event}")
    db.execute("DROP TABLE IF EXISTS article_changes")
    db.execute("CREATE TABLE article_changelog (seq INTEGER PRIMARY KEY AUTOINCREMENT, id INTEGER NOT NULL)")
    for event, row in (("INSERT", "new"), ("UPDATE", "new"), ("DELETE", "old")):
        db.execute(f"CREATE TRIGGER article_changelog_{event.lower()} AFTER {event} ON articles "
                   f"BEGIN INSERT INTO article_changelog (id) VALUES ({row}.id); END")



@migrations()
def m012_actors(db: sqlite_utils.Database) -> None:
    # Issue 16, the directory of actors (pipeline/directory.py). The machine's mentions, one row per
    # mention, replaced whenever the item is tagged again; the curator's decisions, kept forever and
    # applied in order at each rebuild; the directory itself, derived from both (visible actors only).
    db["actor_mentions"].create(
        {"item_id": int, "start": int, "key": str, "name": str, "kind": str, "match": str, "departements": str,
         "communes": str},
        pk=("item_id", "start"), not_null={"key", "name", "kind"},
        foreign_keys=[("item_id", "items", "id")],
    )
    db["actor_mentions"].create_index(["key"])
    db["actor_decisions"].create(
        {"id": int, "action": str, "key": str, "target": str, "value": str, "curator": str, "at": str},
        pk="id", not_null={"action", "key", "at"},
    )
    db["actor_decisions"].create_index(["key"])
    db["acteurs"].create(
        {"id": str, "name": str, "kind": str, "kind_slug": str, "departements": str, "territory": str,
         "dispositifs": str, "items": int, "first_seen": str, "last_seen": str, "partners": str,
         "updated_at": str},
        pk="id",
    )
    for columns in (["kind_slug"], ["items"], ["last_seen"]):
        db["acteurs"].create_index(columns)


def open_migrated(path: Path | str, migration_set: Migrations) -> sqlite_utils.Database:
    """Open (creating if needed) a SQLite file in WAL mode, with every migration of the set applied."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA busy_timeout = 10000")
    db.enable_wal()
    # In WAL mode, NORMAL never corrupts the file; a power cut may lose the last commits, which the
    # next crawl collects again. FULL would sync the disk once per stored article.
    db.execute("PRAGMA synchronous = NORMAL")
    migration_set.apply(db)
    return db


def open_db(path: Path | str) -> sqlite_utils.Database:
    """Open the archive at `path`, creating or migrating it."""
    return open_migrated(path, migrations)


# --------------------------------------------------------------------- writes


def sync_sources(db: sqlite_utils.Database, sources: Iterable[Any]) -> None:
    """Record the sources of the loaded config (kept even if later removed from the file)."""
    now = utcnow()
    db["sources"].upsert_all(
        [{"id": s.id, "name": s.name, "type": s.type, "url": s.url, "enabled": int(s.enabled),
          "topical": int(s.topical), "updated_at": now} for s in sources],
        pk="id",
    )


def insert_item(db: sqlite_utils.Database, item: dict) -> int | None:
    """Insert an article unless its canonical URL is already archived; return its new id or None."""
    row = {"first_seen_at": utcnow(), **item}
    columns = ", ".join(row)
    placeholders = ", ".join(f":{c}" for c in row)
    cursor = db.execute(
        f"INSERT INTO items ({columns}) VALUES ({placeholders}) ON CONFLICT(url) DO NOTHING", row
    )
    return cursor.lastrowid if cursor.rowcount == 1 else None


# ---------------------------------------------------------------------- reads


def effective_tags(db: sqlite_utils.Database, item_ids: Iterable[int]) -> dict[int, dict[str, list[str]]]:
    """{item_id: {facet: [values]}} after curator decisions, for the given items."""
    ids = list(item_ids)
    result: dict[int, dict[str, list[str]]] = {i: {} for i in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        rows = db.execute(
            f"SELECT item_id, facet, value FROM effective_tags WHERE item_id IN ({marks}) "
            "ORDER BY item_id, facet, COALESCE(score, 1e9) DESC, value",
            chunk,
        )
        for item_id, facet, value in rows:
            values = result[item_id].setdefault(facet, [])
            if value not in values:
                values.append(value)
    return result
