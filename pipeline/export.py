"""Every item with its effective tags, as JSON lines or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import sqlite_utils

from config.schema import LIST_FACETS
from pipeline.archive import effective_tags

CSV_FIELDS = ("id", "url", "title", "source_id", "published_at", "first_seen_at", "nature",
              *LIST_FACETS, "region_na", "outside", "rejected", "highlight", "note")


def export_records(db: sqlite_utils.Database, since: str | None = None, until: str | None = None,
                   batch: int = 500) -> Iterator[dict]:
    """Items (first seen in [since, until], ISO dates) with their tags after curator decisions."""
    where, params = [], {}
    if since:
        where.append("items.first_seen_at >= :since")
        params["since"] = since
    if until:
        where.append("items.first_seen_at < date(:until, '+1 day')")
        params["until"] = until
    sql = (
        "SELECT items.id, url, title, source_id, published_at, first_seen_at, "
        "COALESCE(curation.rejected, 0) AS rejected, COALESCE(curation.highlight, 0) AS highlight, "
        "curation.note FROM items LEFT JOIN curation ON curation.item_id = items.id"
        + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY items.id"
    )
    rows = db.query(sql, params)
    while chunk := [row for _, row in zip(range(batch), rows)]:
        tags = effective_tags(db, [r["id"] for r in chunk])
        for row in chunk:
            t = tags[row["id"]]
            yield {
                **{k: row[k] for k in ("id", "url", "title", "source_id", "published_at", "first_seen_at")},
                "nature": (t.get("nature") or [None])[0],
                **{f: t.get(f, []) for f in LIST_FACETS},
                "region_na": "na" in t.get("region", []),
                "outside": "outside" in t.get("region", []),
                "rejected": bool(row["rejected"]),
                "highlight": bool(row["highlight"]),
                "note": row["note"],
            }


def to_jsonl(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False)


def to_csv_rows(records) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "|".join(v) if isinstance(v, list) else v for k, v in record.items()})
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
