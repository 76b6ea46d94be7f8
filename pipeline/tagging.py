"""Tagging: nature, themes and dispositifs from the curator's taxonomy (pipeline/topics.py), places
from the gazetteer (pipeline/places.py).

`tag_text`/`tag_document` are pure functions (text in, tags out); `tag_items` applies them to the
archive, with the learned suggestions of `pipeline/learning.py` when a model was trained, replacing
only the machine's tags (origins `auto` and `model`): curator decisions are never touched.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import sqlite_utils

from config.dates import utcnow
from pipeline.learning import TagModel, suggestion_evidence
from pipeline.places import Gazetteer, tag_places
from pipeline.text import match_text
from pipeline.topics import topic_matcher
from config.schema import TAG_FACETS, Taxonomy


@dataclass
class TagResult:
    tags: dict                                  # the format of `veille tag --jsonl` (README)
    scores: dict[tuple[str, str], float]        # (facet, value) -> rule score, for nature, themes, dispositifs


def tag_text(taxonomy: Taxonomy, doc_id: str, title: str, text: str,
             gazetteer: Gazetteer | None = None) -> TagResult:
    """The tags of one document and their scores. Evidence offsets point into `title + "\\n\\n" + text`."""
    full = f"{title}\n\n{text}"
    words = match_text(full)
    topics = topic_matcher(taxonomy).tag(title, text, words)
    places = tag_places(full, gazetteer, words=words)
    tags = {
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
    return TagResult(tags, topics.scores)


def tag_document(taxonomy: Taxonomy, doc_id: str, title: str, text: str,
                 gazetteer: Gazetteer | None = None) -> dict:
    """The tags of one document, in the format of `veille tag --jsonl` (README, « Tag output »)."""
    return tag_text(taxonomy, doc_id, title, text, gazetteer).tags


# ------------------------------------------------------------------- archive

def tag_rows(item_id: int, result: TagResult) -> list[dict]:
    """Rows of the `tags` table (origin auto) for one document's tags: the rule score, or for places
    the number of mentions, and the evidence."""
    tags, now, rows = result.tags, utcnow(), []
    flags = {**tags, "region": [flag for flag, key in (("na", "region_na"), ("outside", "outside")) if tags[key]]}
    for facet in TAG_FACETS:
        values = flags[facet] if isinstance(flags[facet], list) else [flags[facet]]
        for value in values:
            proof = [e for e in tags["evidence"] if e["facet"] == facet and e["value"] == value]
            score = result.scores.get((facet, value)) or float(len(proof)) or None
            rows.append({"item_id": item_id, "facet": facet, "value": value, "origin": "auto",
                         "action": "add", "score": score,
                         "evidence": json.dumps(proof, ensure_ascii=False), "updated_at": now})
    return rows


def model_rows(item_id: int, additions: dict[tuple[str, str], float],
               vetoes: dict[tuple[str, str], float]) -> list[dict]:
    """Rows of origin `model`: tags the model proposes (action add) and rule themes it doubts
    (action remove), each with its probability."""
    now = utcnow()
    return [{"item_id": item_id, "facet": facet, "value": value, "origin": "model", "action": action,
             "score": round(probability, 3), "evidence": suggestion_evidence(probability), "updated_at": now}
            for action, tags in (("add", additions), ("remove", vetoes))
            for (facet, value), probability in sorted(tags.items())]


@dataclass
class TagReport:
    items: int = 0
    gained: Counter = field(default_factory=Counter)  # "facet:value" -> items that gained it
    lost: Counter = field(default_factory=Counter)


def _machine_tags(db: sqlite_utils.Database, item_id: int) -> set[str]:
    rows = db.execute("SELECT facet, value, action FROM tags WHERE item_id = ? AND origin IN ('auto', 'model')",
                      [item_id]).fetchall()
    return {f"{f}:{v}" for f, v, a in rows if a == "add"} - {f"{f}:{v}" for f, v, a in rows if a == "remove"}


def tag_items(db: sqlite_utils.Database, taxonomy: Taxonomy, everything: bool = False, progress=None,
              model: TagModel | None = None, gazetteer: Gazetteer | None = None) -> TagReport:
    """Tag the items not yet tagged (all items with `everything`), replacing only the machine's tags
    (origins auto and model): curator decisions are never touched."""
    where = "" if everything else "WHERE tagged_at IS NULL"
    items = list(db.execute(f"SELECT id, title, text FROM items {where} ORDER BY id").fetchall())
    report = TagReport()
    for item_id, title, text in items:
        before = _machine_tags(db, item_id)
        result = tag_text(taxonomy, str(item_id), title or "", text or "", gazetteer)
        rows = tag_rows(item_id, result)
        if model is not None:
            rule_tags = {(r["facet"], r["value"]) for r in rows}
            rows += model_rows(item_id, *model.judge(title or "", text or "", rule_tags))
        after = {f"{r['facet']}:{r['value']}" for r in rows if r["action"] == "add"} - {
            f"{r['facet']}:{r['value']}" for r in rows if r["action"] == "remove"}
        with db.atomic():
            db.execute("DELETE FROM tags WHERE item_id = ? AND origin IN ('auto', 'model')", [item_id])
            if rows:
                db["tags"].insert_all(rows)
            db.execute("UPDATE items SET tagged_at = ? WHERE id = ?", [utcnow(), item_id])
        report.items += 1
        report.gained.update(after - before)
        report.lost.update(before - after)
        if progress:
            progress()
    return report


def explain(db: sqlite_utils.Database, item_id: int) -> list[dict]:
    """Every tag row of an item, curator decisions first: facet, value, origin, action, score, evidence,
    whether it is in effect, and for a curator's, who (`curator`, None when unknown) and when (`at`)."""
    effective = {(f, v) for f, v in db.execute("SELECT facet, value FROM effective_tags WHERE item_id = ?",
                                               [item_id])}
    rows = db.execute(
        "SELECT facet, value, origin, action, score, evidence, curator, updated_at FROM tags WHERE item_id = ? "
        "ORDER BY origin = 'auto', origin = 'model', facet, value", [item_id]).fetchall()
    return [{"facet": f, "value": v, "origin": o, "action": a, "score": sc,
             "evidence": json.loads(e) if e else [], "effective": (f, v) in effective and a == "add",
             "curator": who if o == "curator" else None, "at": at if o == "curator" else None}
            for f, v, o, a, sc, e, who, at in rows]
