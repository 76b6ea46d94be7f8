"""Tagging: nature, themes and dispositifs from the taxonomy's keywords (first cut), places from
the gazetteer (pipeline/places.py).

`tag_document` is a pure function (text in, tags out); `tag_items` applies it to the archive,
replacing only the machine's tags (origin `auto`): curator decisions are never touched.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import sqlite_utils

from pipeline.archive import utcnow
from pipeline.places import tag_places
from pipeline.text import fold, strip_accents
from veille.config import NATURES, Taxonomy

THEME_MIN_SCORE = 2  # one passing mention in the body does not make a theme
TITLE_WEIGHT = 3


def _is_acronym(keyword: str) -> bool:
    letters = [c for c in keyword if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def _keyword_regex(keywords: list[str], acronyms: bool) -> re.Pattern | None:
    """Whole-word alternation; acronyms match case-sensitively (so "plie" the verb is not PLIE)."""
    chosen = [k for k in keywords if _is_acronym(k) == acronyms]
    if not chosen:
        return None
    words = sorted({(k if acronyms else fold(k)) for k in chosen}, key=len, reverse=True)
    alternation = "|".join(re.escape(w) for w in words)
    # A hyphen glues words into one name: "Vienne" is not found inside "Haute-Vienne".
    return re.compile(rf"(?<![\w-])(?:{alternation})(?![\w]|-\w)")


@dataclass
class Matcher:
    facet: str
    value: str
    folded: re.Pattern | None
    exact: re.Pattern | None
    patterns: list[re.Pattern] = field(default_factory=list)
    exclude: list[re.Pattern] = field(default_factory=list)

    def find(self, original: str, folded: str):
        if any(p.search(original) for p in self.exclude):
            return
        if self.folded:
            yield from self.folded.finditer(folded)
        if self.exact:
            yield from self.exact.finditer(strip_accents(original))
        for pattern in self.patterns:
            yield from pattern.finditer(original)


@lru_cache(maxsize=8)
def _matchers(taxonomy_json: str) -> list[Matcher]:
    taxonomy = Taxonomy.model_validate_json(taxonomy_json)
    matchers = []
    for facet in ("nature", "themes", "dispositifs"):
        for slug, entry in getattr(taxonomy, facet).items():
            matchers.append(Matcher(
                facet, slug,
                _keyword_regex(entry.keywords, acronyms=False),
                _keyword_regex(entry.keywords, acronyms=True),
                [re.compile(p) for p in entry.patterns],
                [re.compile(p) for p in entry.exclude],
            ))
    return matchers


def tag_document(taxonomy: Taxonomy, doc_id: str, title: str, text: str) -> dict:
    """The tags of one document, in the format of `veille tag --jsonl` (see DESIGN.md).

    Evidence offsets point into `title + "\\n\\n" + text`."""
    full = f"{title}\n\n{text}"
    folded = fold(full)
    title_end = len(title)
    scores: dict[tuple[str, str], int] = Counter()
    evidence: list[dict] = []
    for matcher in _matchers(taxonomy.model_dump_json()):
        for match in matcher.find(full, folded):
            scores[(matcher.facet, matcher.value)] += TITLE_WEIGHT if match.start() < title_end else 1
            evidence.append({"facet": matcher.facet, "value": matcher.value,
                             "match": full[match.start():match.end()], "start": match.start()})
    natures = {v: s for (f, v), s in scores.items() if f == "nature"}
    nature = max(NATURES, key=lambda n: (natures.get(n, 0), n == "initiative")) if natures else "initiative"
    places = tag_places(full)
    evidence = [e for e in evidence if e["facet"] != "nature" or e["value"] == nature] + places.evidence
    evidence.sort(key=lambda e: e["start"])
    return {
        "id": doc_id,
        "nature": nature,
        "themes": sorted(v for (f, v), s in scores.items() if f == "themes" and s >= THEME_MIN_SCORE),
        "dispositifs": sorted(v for (f, v), s in scores.items() if f == "dispositifs"),
        "departements": places.departements,
        "communes": places.communes,
        "epci": places.epci,
        "region_na": places.region_na,
        "outside": places.outside,
        "evidence": evidence,
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
