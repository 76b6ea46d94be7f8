"""What a crawl reads from and writes to the archive: every SQL statement of the collection.

The Scrapy side (`crawlers/`) only adapts: its middlewares, item pipelines and the run recorder
call these functions with plain values and rows, so that the storage of a crawl can be read,
tested and changed in one place, on a bare SQLite file, without a reactor.

Functions follow github-to-sqlite's naming: `find_*` read, `save_*` write, `start_*`/`finish_*`
write a source run at the two moments it changes (a source-run row is written once when the
crawl starts, as `running`, and once when its source ends).
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlite_utils

from config.dates import utcnow
from pipeline.archive import insert_item

RUNNING = "running"          # status of a source run until its source ends
INTERRUPTED = "interrupted"  # a run left running by a crawl that was killed
INTERRUPTED_MESSAGE = "collecte interrompue"
OK = "ok"


# ------------------------------------------------------------------ articles


def find_original(db: sqlite_utils.Database, content_hash: str) -> tuple[int, str] | None:
    """(id, url) of an archived article with this exact content, if any."""
    return db.execute("SELECT id, url FROM items WHERE content_hash = ? LIMIT 1", [content_hash]).fetchone()


def save_duplicate(db: sqlite_utils.Database, url: str, item_id: int, source_id: str) -> None:
    """Remember an exact copy of article `item_id` seen at `url` (« aussi publié par »); it is kept
    out of `items`, and its URL is never fetched again."""
    db["duplicates"].upsert({"url": url, "item_id": item_id, "source_id": source_id, "seen_at": utcnow()}, pk="url")


def save_cluster(db: sqlite_utils.Database, url: str) -> int | None:
    """The near-duplicate cluster of the archived article at `url`, for a newcomer to join.

    A cluster is named after its first article: an article not yet in a cluster starts one (its
    `cluster_id` becomes its own id). None when no article is archived at `url`.
    """
    row = db.execute("SELECT id, cluster_id FROM items WHERE url = ?", [url]).fetchone()
    if row is None:
        return None
    item_id, cluster_id = row
    if cluster_id is None:
        db.execute("UPDATE items SET cluster_id = id WHERE id = ?", [item_id])
    return cluster_id or item_id


def save_article(db: sqlite_utils.Database, row: dict, signature: bytes | None = None) -> int | None:
    """Store an article and its MinHash signature together; return its new id, or None when its
    canonical URL is already archived (then nothing is written)."""
    with db.atomic():
        item_id = insert_item(db, row)
        if item_id is not None and signature:
            db["minhashes"].insert({"item_id": item_id, "signature": signature})
    return item_id


def is_known_article(db: sqlite_utils.Database, url: str) -> bool:
    """Whether a canonical article URL is archived (as followed link or canonical URL) or known as
    an exact copy: such an article is never fetched again."""
    return bool(
        db.execute("SELECT 1 FROM items WHERE link_url = ? OR url = ? LIMIT 1", [url, url]).fetchone()
        or db.execute("SELECT 1 FROM duplicates WHERE url = ?", [url]).fetchone())


# --------------------------------------------------------------- conditional GET


def find_validators(db: sqlite_utils.Database, url: str) -> tuple[str | None, str | None] | None:
    """(ETag, Last-Modified) last stored for a feed, listing or sitemap URL, if any."""
    return db.execute("SELECT etag, last_modified FROM http_validators WHERE url = ?", [url]).fetchone()


def save_validators(db: sqlite_utils.Database, validators: Iterable[dict]) -> None:
    """Store ETag / Last-Modified rows ({url, etag, last_modified}); see `finish_source_run` for when."""
    db["http_validators"].upsert_all([{**v, "updated_at": utcnow()} for v in validators], pk="url")


# ------------------------------------------------------------------ source runs


def start_source_runs(db: sqlite_utils.Database, runs: Iterable[dict]) -> None:
    """Write the source runs of a crawl as it starts, status `running`: a crawl killed before a source
    ends leaves that trace. Runs still `running` from an earlier crawl are marked `interrupted`
    first (that crawl died; their sources are collected again now)."""
    with db.atomic():
        db.execute("UPDATE source_runs SET status = ?, error = ? WHERE status = ?",
                   [INTERRUPTED, INTERRUPTED_MESSAGE, RUNNING])
        db["source_runs"].insert_all([{**run, "status": RUNNING} for run in runs])


def finish_source_run(db: sqlite_utils.Database, run: dict, page_errors: Iterable[dict] = (),
                      validators: Iterable[dict] = ()) -> None:
    """A source has ended: update its run row (one UPDATE, the row of `start_source_runs`), store its
    page errors, and its HTTP validators only when it completed ok (an interrupted or failed source
    must be fetched in full next time, not answered 304)."""
    keys = ("crawl_id", "source_id")
    changes = {k: v for k, v in run.items() if k not in (*keys, "id", "started_at")}
    assignments = ", ".join(f"{column} = :{column}" for column in changes)
    with db.atomic():
        db.execute(f"UPDATE source_runs SET {assignments} WHERE crawl_id = :crawl_id AND source_id = :source_id",
                   {**changes, "crawl_id": run["crawl_id"], "source_id": run["source_id"]})
        at = utcnow()
        db["page_errors"].insert_all(
            [{"crawl_id": run["crawl_id"], "source_id": run["source_id"], "at": at, **error} for error in page_errors])
        if run["status"] == OK:
            save_validators(db, validators)


def find_source_runs(db: sqlite_utils.Database, crawl_id: str) -> list[dict]:
    """The source-run rows of a crawl, by source."""
    return list(db["source_runs"].rows_where("crawl_id = ?", [crawl_id], order_by="source_id"))


# ------------------------------------------------------------------- crawls


def save_crawl(db: sqlite_utils.Database, figures: dict) -> None:
    """Record a crawl's figures (requests, bytes, new items, CPU seconds…), one row per crawl id."""
    db["crawls"].upsert(figures, pk="id")


def find_crawl(db: sqlite_utils.Database, crawl_id: str) -> dict | None:
    """A crawl's figures, if recorded."""
    return next(db["crawls"].rows_where("id = ?", [crawl_id]), None)
