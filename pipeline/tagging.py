"""Tagging, first cut: taxonomy keywords and the départements of Nouvelle-Aquitaine.

`tag_document` is a pure function (text in, tags out); `tag_items` applies it to the archive,
replacing only the machine's tags (origin `auto`): curator decisions are never touched.

This first cut matches the curator's keywords and the région's départements and main towns. The
gazetteer of every commune and EPCI (issue 4) and the scored, learning tagger (issue 5) replace
the place lists and the keyword scoring behind the same interface.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import sqlite_utils

from pipeline.archive import utcnow
from pipeline.territories import COMMUNES, DEPARTEMENTS, REGION_NAMES
from veille.config import NATURES, Taxonomy

# (name, département code, INSEE commune code or None); a commune implies its département.
PLACES: list[tuple[str, str, str | None]] = (
    [(name, code, None) for code, name in DEPARTEMENTS.items()]
    + [(name, code[:2], code) for code, name in COMMUNES.items()]
)

THEME_MIN_SCORE = 2  # one passing mention in the body does not make a theme
TITLE_WEIGHT = 3


def fold(text: str) -> str:
    """Lower-case, accents dropped, typographic apostrophes and dashes unified; same length as
    `text`, so that offsets found in the folded text point into the original."""
    return "".join(_fold_char(c) for c in text)


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    if char in "’ʼ‘`´":
        return "'"
    if char in "‐‑‒–—―":
        return "-"
    base = unicodedata.normalize("NFKD", char)[0].lower()
    return base if len(base) == 1 else char


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
            yield from self.exact.finditer(_accentless(original))
        for pattern in self.patterns:
            yield from pattern.finditer(original)


def _accentless(text: str) -> str:
    """Accents dropped, case kept (for acronyms), same length."""
    return "".join(c if c.isascii() else (unicodedata.normalize("NFKD", c)[0] or c) for c in text)


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
    # Places are proper nouns: matched on accent-folded text with their capital kept.
    for name, code, commune in PLACES:
        matchers.append(Matcher("place", f"{code}:{commune or ''}", None,
                                re.compile(rf"(?<![\w-]){re.escape(_accentless(name))}(?![\w]|-\w)")))
    return matchers


def tag_document(taxonomy: Taxonomy, doc_id: str, title: str, text: str) -> dict:
    """The tags of one document, in the format of `veille tag --jsonl` (see DESIGN.md).

    Evidence offsets point into `title + "\\n\\n" + text`."""
    full = f"{title}\n\n{text}"
    folded = fold(full)
    title_end = len(title)
    scores: dict[tuple[str, str], int] = Counter()
    evidence: list[dict] = []
    departements: set[str] = set()
    communes: set[str] = set()
    for matcher in _matchers(taxonomy.model_dump_json()):
        for match in matcher.find(full, folded):
            weight = TITLE_WEIGHT if match.start() < title_end else 1
            if matcher.facet == "place":
                code, commune = matcher.value.split(":")
                departements.add(code)
                if commune:
                    communes.add(commune)
                facet, value = ("communes", commune) if commune else ("departements", code)
            else:
                facet, value = matcher.facet, matcher.value
                scores[(facet, value)] += weight
            evidence.append({"facet": facet, "value": value,
                             "match": full[match.start():match.end()], "start": match.start()})
    for code in re.findall(r"\((\d{2})\)", full):
        if code in DEPARTEMENTS:
            departements.add(code)
    natures = {v: s for (f, v), s in scores.items() if f == "nature"}
    nature = max(NATURES, key=lambda n: (natures.get(n, 0), n == "initiative")) if natures else "initiative"
    region_named = any(name in full for name in REGION_NAMES)
    evidence.sort(key=lambda e: e["start"])
    return {
        "id": doc_id,
        "nature": nature,
        "themes": sorted(v for (f, v), s in scores.items() if f == "themes" and s >= THEME_MIN_SCORE),
        "dispositifs": sorted(v for (f, v), s in scores.items() if f == "dispositifs"),
        "departements": sorted(departements),
        "communes": sorted(communes),
        "epci": [],
        "region_na": bool(departements) or region_named,
        "outside": False,
        "evidence": [e for e in evidence if e["facet"] != "nature" or e["value"] == nature],
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
