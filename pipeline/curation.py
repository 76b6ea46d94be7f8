"""Curator decisions: the same functions serve `veille curate` and the curation pages.

A decision is stored with origin `curator` and is never overwritten by the machine: re-tagging
only replaces rows of origin `auto`.
"""

from __future__ import annotations

import re
from datetime import tzinfo

import sqlite_utils

from config.dates import utcnow
from config.errors import VeilleError
from config.schema import PLACE_CODE_FORMATS, TAG_FACETS, Taxonomy
from pipeline.selection import WeekItem, week_plan


def parse_tag(spec: str, taxonomy: Taxonomy) -> tuple[str, str]:
    """"plie" -> ("dispositifs", "plie"); "communes:33063" -> ("communes", "33063")."""
    spec = spec.strip()
    if ":" in spec:
        facet, value = (part.strip() for part in spec.split(":", 1))
        if facet not in TAG_FACETS:
            raise VeilleError(f"facette inconnue « {facet} » (permises : {', '.join(TAG_FACETS)})")
        if facet == "region":  # machine flags (na, outside), computed from the places: not a curator's tag
            raise VeilleError("« region » est calculée à partir des lieux : ajoutez ou retirez un département, "
                              "une commune ou un EPCI")
        if facet in PLACE_CODE_FORMATS:
            if not re.fullmatch(PLACE_CODE_FORMATS[facet], value):
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
    by: str | None = None,
) -> dict:
    """Record a curator decision on an item; return the item's curation row.

    `by` is the name of the curator's account that made it (stored in `curator` on the tags and the
    curation row it writes); None when unknown (the command line without a name)."""
    if not 0 < item_id < 2**63 or not db.execute("SELECT 1 FROM items WHERE id = ?", [item_id]).fetchone():
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
            _set_curator_tag(db, item_id, facet, value, "add", now, by)
        for facet, value in removals:
            _set_curator_tag(db, item_id, facet, value, "remove", now, by)
        row = {"item_id": item_id, "updated_at": now, "curator": by}  # who made the item's last decision
        if reject is not None:
            row["rejected"] = int(reject)
        if highlight is not None:
            row["highlight"] = int(highlight)
        if note is not None:
            row["note"] = note.strip() or None
        db["curation"].upsert(row, pk="item_id", alter=False)
    return db["curation"].get(item_id)


def _set_curator_tag(db, item_id: int, facet: str, value: str, action: str, now: str, by: str | None) -> None:
    db["tags"].upsert(
        {"item_id": item_id, "facet": facet, "value": value, "origin": "curator", "action": action,
         "score": None, "evidence": None, "updated_at": now, "curator": by},
        pk=("item_id", "facet", "value", "origin"),
    )


def curation_queue(db: sqlite_utils.Database, week: str, tz: tzinfo, max_age_days: int) -> list[WeekItem]:
    """The week's items as the curator reviews them: the week plan (each item in or out of the
    bulletin, and why), with the tags the curator set herself in `curator_tags`."""
    items = week_plan(db, week, tz, max_age_days)
    ids = [i.id for i in items]
    by_curator: dict[int, set[tuple[str, str]]] = {i: set() for i in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        for item_id, facet, value in db.execute(
                f"SELECT item_id, facet, value FROM tags WHERE origin = 'curator' AND action = 'add' "
                f"AND item_id IN ({marks})", chunk):
            by_curator[item_id].add((facet, value))
    for item in items:
        item.curator_tags = by_curator[item.id]
    return items
