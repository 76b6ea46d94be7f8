"""Curator decisions: the same functions serve `veille curate` and, later, the curation pages.

A decision is stored with origin `curator` and is never overwritten by the machine: re-tagging
only replaces rows of origin `auto`.
"""

from __future__ import annotations

import re

import sqlite_utils

from pipeline.archive import effective_tags, utcnow
from pipeline.tagging import TAG_FACETS
from veille.config import Taxonomy
from veille.errors import VeilleError

PLACE_FORMATS = {"departements": r"\d[\dAB]", "communes": r"\d[\dAB]\d{3}", "epci": r"\d{9}"}


def parse_tag(spec: str, taxonomy: Taxonomy) -> tuple[str, str]:
    """"plie" -> ("dispositifs", "plie"); "communes:33063" -> ("communes", "33063")."""
    spec = spec.strip()
    if ":" in spec:
        facet, value = (part.strip() for part in spec.split(":", 1))
        if facet not in TAG_FACETS:
            raise VeilleError(f"facette inconnue « {facet} » (permises : {', '.join(TAG_FACETS)})")
        if facet in PLACE_FORMATS:
            if not re.fullmatch(PLACE_FORMATS[facet], value):
                raise VeilleError(f"code {facet} invalide : « {value} »")
            return facet, value
        if value not in getattr(taxonomy, facet):
            raise VeilleError(f"« {value} » n'est pas un slug de {facet}")
        return facet, value
    facet = taxonomy.facet_of(spec)
    if facet is None:
        raise VeilleError(
            f"étiquette inconnue « {spec} » : donnez un slug de la taxonomie "
            "ou facette:valeur (ex. departements:23)"
        )
    return facet, spec


def curate(
    db: sqlite_utils.Database,
    taxonomy: Taxonomy,
    item_id: int,
    add: list[str] = (),
    remove: list[str] = (),
    reject: bool | None = None,
    highlight: bool | None = None,
    note: str | None = None,
) -> dict:
    """Record a curator decision on an item; return the item's curation row."""
    if not db.execute("SELECT 1 FROM items WHERE id = ?", [item_id]).fetchone():
        raise VeilleError(f"aucun article n°{item_id} dans l'archive")
    additions = [parse_tag(spec, taxonomy) for spec in add]
    removals = [parse_tag(spec, taxonomy) for spec in remove]
    if len([f for f, _ in additions if f == "nature"]) > 1:
        raise VeilleError("un article n'a qu'une nature")
    now = utcnow()
    with db.atomic():
        for facet, value in additions:
            if facet == "nature":  # a new curator nature replaces the previous one
                db.execute("DELETE FROM tags WHERE item_id = ? AND facet = 'nature' AND origin = 'curator'",
                           [item_id])
            _set_curator_tag(db, item_id, facet, value, "add", now)
        for facet, value in removals:
            _set_curator_tag(db, item_id, facet, value, "remove", now)
        row = {"item_id": item_id, "updated_at": now}
        if reject is not None:
            row["rejected"] = int(reject)
        if highlight is not None:
            row["highlight"] = int(highlight)
        if note is not None:
            row["note"] = note.strip() or None
        db["curation"].upsert(row, pk="item_id", alter=False)
    return db["curation"].get(item_id)


def _set_curator_tag(db, item_id: int, facet: str, value: str, action: str, now: str) -> None:
    db["tags"].upsert(
        {"item_id": item_id, "facet": facet, "value": value, "origin": "curator", "action": action,
         "score": None, "evidence": None, "updated_at": now},
        pk=("item_id", "facet", "value", "origin"),
    )


def items_seen_between(db: sqlite_utils.Database, start: str, end: str) -> list[dict]:
    """The items first seen in [start, end) (ISO datetimes), newest first, with their source and the
    curator's decisions: what the bulletin and the curation pages start from."""
    return list(db.query(
        """
        SELECT items.id, items.title, items.url, items.text, items.summary, items.published_at,
               items.first_seen_at, items.cluster_id, items.source_id, sources.name AS source_name,
               COALESCE(sources.topical, 0) AS topical, COALESCE(curation.rejected, 0) AS rejected,
               COALESCE(curation.highlight, 0) AS highlight, curation.note
        FROM items
        LEFT JOIN sources ON sources.id = items.source_id
        LEFT JOIN curation ON curation.item_id = items.id
        WHERE items.first_seen_at >= :start AND items.first_seen_at < :end
        ORDER BY items.first_seen_at DESC, items.id DESC
        """, {"start": start, "end": end}))


def in_scope(row: dict, tags: dict) -> bool:
    """In the bulletin's scope: a theme or a dispositif, a specialist (topical) source, or the
    curator's highlight. A place alone is not enough."""
    return bool(tags.get("themes") or tags.get("dispositifs") or row["topical"] or row["highlight"])


def curation_queue(db: sqlite_utils.Database, start: str, end: str) -> list[dict]:
    """The items of `items_seen_between`, each with its effective tags, which of them the curator
    set, and whether it is in the bulletin's scope."""
    rows = items_seen_between(db, start, end)
    ids = [r["id"] for r in rows]
    tags = effective_tags(db, ids)
    by_curator: dict[int, set[tuple[str, str]]] = {i: set() for i in ids}
    for start_id in range(0, len(ids), 500):
        chunk = ids[start_id:start_id + 500]
        marks = ", ".join("?" for _ in chunk)
        for item_id, facet, value in db.execute(
                f"SELECT item_id, facet, value FROM tags WHERE origin = 'curator' AND action = 'add' "
                f"AND item_id IN ({marks})", chunk):
            by_curator[item_id].add((facet, value))
    for row in rows:
        row["tags"] = tags[row["id"]]
        row["curator_tags"] = by_curator[row["id"]]
        row["in_scope"] = in_scope(row, row["tags"])
        row["excerpt"] = (row["text"] or "")[:400]
    return rows
