"""Tagging: nature, themes and dispositifs from the curator's taxonomy (pipeline/topics.py), places
from the gazetteer (pipeline/places.py).

`tag_document` is a pure function (text in, tags out); `tag_items` applies it to the archive,
replacing only the machine's tags (origin `auto`): curator decisions are never touched.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import sqlite_utils

from pipeline.archive import utcnow
from pipeline.places import tag_places
from pipeline.text import match_text
from pipeline.topics import topic_matcher
from veille.config import Taxonomy


def tag_document(taxonomy: Taxonomy, doc_id: str, title: str, text: str) -> dict:
    """The tags of one document, in the format of `veille tag --jsonl` (see DESIGN.md).

    Evidence offsets point into `title + "\\n\\n" + text`."""
    full = f"{title}\n\n{text}"
    words = match_text(full)
    topics = topic_matcher(taxonomy).tag(title, text, words)
    places = tag_places(full, words=words)
    return {
        "id": doc_id,
        "nature": topics.nature,
        "themes": topics.themes,
        "dispositifs": topics.dispositifs,
        "departements": places.departements,
        "communes": places.communes,
        "epci": places.epci,
        "region_na": places.region_na,
        "outside": places.outside,
        "evidence": sorted(topics.evidence + places.evidence, key=lambda e: e["start"]),
    }


# ------------------------------------------------------------------- archive

# Facets stored in the `tags` table; `region` holds the flags "na" (region_na) and "outside".
TAG_FACETS = ("nature", "themes", "dispositifs", "departements", "communes", "epci", "region")


def tag_rows(item_id: int, tags: dict) -> list[dict]:
    """Rows of the `tags` table (origin auto) for one document's tags."""
    now = utcnow()
    rows = []
    flags = {**tags, "region": [flag for flag, key in (("na", "region_na"), ("outside", "outside")) if tags[key]]}
    for facet in TAG_FACETS:
        values = flags[facet] if isinstance(flags[facet], list) else [flags[facet]]
        for value in values:
            proof = [e for e in tags["evidence"] if e["facet"] == facet and e["value"] == value]
            rows.append({"item_id": item_id, "facet": facet, "value": value, "origin": "auto",
                         "action": "add", "score": float(len(proof)) or None,
                         "evidence": json.dumps(proof, ensure_ascii=False), "updated_at": now})
    return rows


@dataclass
class TagReport:
    items: int = 0
    gained: Counter = field(default_factory=Counter)  # "facet:value" -> items that gained it
    lost: Counter = field(default_factory=Counter)


def tag_items(db: sqlite_utils.Database, taxonomy: Taxonomy, everything: bool = False,
              progress=None) -> TagReport:
    """Tag the items not yet tagged (all items with `everything`), replacing only automatic tags."""
    where = "" if everything else "WHERE tagged_at IS NULL"
    items = list(db.execute(f"SELECT id, title, text FROM items {where} ORDER BY id").fetchall())
    report = TagReport()
    for item_id, title, text in items:
        before = {f"{f}:{v}" for f, v in db.execute(
            "SELECT facet, value FROM tags WHERE item_id = ? AND origin = 'auto'", [item_id])}
        rows = tag_rows(item_id, tag_document(taxonomy, str(item_id), title or "", text or ""))
        after = {f"{r['facet']}:{r['value']}" for r in rows}
        with db.atomic():
            db.execute("DELETE FROM tags WHERE item_id = ? AND origin = 'auto'", [item_id])
            if rows:
                db["tags"].insert_all(rows)
            db.execute("UPDATE items SET tagged_at = ? WHERE id = ?", [utcnow(), item_id])
        report.items += 1
        report.gained.update(after - before)
        report.lost.update(before - after)
        if progress:
            progress()
    return report
