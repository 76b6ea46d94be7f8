"""The curator's review of a week: the week plan (`pipeline.selection.week_plan`) as she reads it.

Each item comes with its tags by label (places by name, never by code), where each tag came from
(the rules with their words, the learned model with its probability, a curator by name), the
rule tags the model doubts, the words to highlight in the excerpt, who made the item's last
decision, and a `version` that changes with any change to the item's tags or decisions (a form
carries it, so that a decision made on a stale page is refused rather than applied blindly).

`review_week` builds the list; `facet_counts` and `matches` are the one list of filters of the
review page.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import tzinfo

import sqlite_utils

from config.schema import FACET_LABELS, Taxonomy
from pipeline.archive import effective_tags
from pipeline.curation import CURATION_COLUMNS, TAG_COLUMNS, tag_label, version_of
from pipeline.places import Gazetteer
from pipeline.selection import WeekItem, section_label, week_plan

EXCERPT_CHARS = 600   # of the text shown under the title, highlighted
SNIPPET_CONTEXT = 60  # characters each side of a word that produced a tag
MAX_SNIPPETS = 3      # per tag in « pourquoi »
TAG_FACETS_SHOWN = ("nature", "themes", "dispositifs", "departements", "epci", "communes")

ORIGIN_LABELS = {"auto": "règles", "model": "modèle appris", "curator": "curation"}


@dataclass
class Snippet:
    before: str
    match: str
    after: str


@dataclass
class ReviewTag:
    facet: str
    value: str
    label: str
    origin: str                      # auto | model | curator: who put it there (curator wins)
    probability: float | None = None  # the model's, when it proposed or doubts it
    curator: str | None = None       # the curator's account, when hers
    snippets: list[Snippet] = field(default_factory=list)
    doubted: bool = False            # a rule tag the model doubts: not in effect
    removed: bool = False            # a machine tag a curator removed: not in effect

    @property
    def spec(self) -> str:
        return f"{self.facet}:{self.value}"

    @property
    def effective(self) -> bool:
        return not (self.doubted or self.removed)

    @property
    def origin_text(self) -> str:
        """« règles », « modèle appris (0,82) », « curation (marie) »."""
        text = ORIGIN_LABELS[self.origin]
        if self.origin == "curator" and self.curator:
            return f"{text} ({self.curator})"
        if self.origin == "model" and self.probability is not None:
            return f"{text} ({self.probability:.2f})".replace(".", ",")
        return text


@dataclass
class Mark:
    """A highlighted span of the title or of the excerpt, and the tags its words produced."""

    start: int
    end: int
    specs: list[str]


@dataclass
class ReviewItem:
    item: WeekItem
    tags: list[ReviewTag]
    section_title: str | None
    version: str
    decided_by: str | None
    decided_at: str | None
    title_marks: list[Mark]
    excerpt: str
    excerpt_marks: list[Mark]

    @property
    def id(self) -> int:
        return self.item.id

    @property
    def doubts(self) -> bool:
        """The model disagrees with a tag in effect (it doubts a rule tag)."""
        return any(t.doubted for t in self.tags)

    @property
    def untagged(self) -> bool:
        """No theme, no dispositif and no place in effect."""
        return not any(t.effective and t.facet != "nature" for t in self.tags)

    def effective_tags(self, facet: str) -> list[ReviewTag]:
        return [t for t in self.tags if t.facet == facet and t.effective]

    def segments(self, text: str, marks: list[Mark]) -> list[tuple[str, list[str]]]:
        """`text` cut into (piece, specs) runs: specs empty outside a highlighted word."""
        pieces, position = [], 0
        for mark in marks:
            if mark.start > position:
                pieces.append((text[position:mark.start], []))
            pieces.append((text[mark.start:mark.end], mark.specs))
            position = mark.end
        if position < len(text):
            pieces.append((text[position:], []))
        return pieces

    def title_segments(self) -> list[tuple[str, list[str]]]:
        return self.segments(self.item.title, self.title_marks)

    def excerpt_segments(self) -> list[tuple[str, list[str]]]:
        return self.segments(self.excerpt, self.excerpt_marks)


def review_week(db: sqlite_utils.Database, week: str, tz: tzinfo, max_age_days: int, taxonomy: Taxonomy,
                gazetteer: Gazetteer, only: set[int] | None = None) -> list[ReviewItem]:
    """Every item of the week plan (or those of `only`), newest first, ready to review."""
    plan = [item for item in week_plan(db, week, tz, max_age_days) if only is None or item.id in only]
    ids = [item.id for item in plan]
    rows: dict[int, list[tuple]] = {i: [] for i in ids}
    decisions: dict[int, tuple] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        for row in db.execute(
                f"SELECT item_id, {TAG_COLUMNS}, score, evidence FROM tags WHERE item_id IN ({marks})", chunk):
            rows[row[0]].append(row[1:])
        for row in db.execute(f"SELECT item_id, {CURATION_COLUMNS} FROM curation WHERE item_id IN ({marks})", chunk):
            decisions[row[0]] = row[1:]
    return [_review_item(item, rows[item.id], decisions.get(item.id), taxonomy, gazetteer) for item in plan]


def _review_item(item: WeekItem, rows: list[tuple], decision: tuple | None, taxonomy: Taxonomy,
                 gazetteer: Gazetteer) -> ReviewItem:
    by_tag: dict[tuple[str, str], dict[tuple[str, str], tuple]] = {}
    last_curator = (None, "")
    for facet, value, origin, action, curator, updated_at, score, evidence in rows:
        by_tag.setdefault((facet, value), {})[(origin, action)] = (score, evidence, curator)
        if origin == "curator" and (updated_at or "") > last_curator[1]:
            last_curator = (curator, updated_at or "")
    if decision and (decision[-1] or "") >= last_curator[1]:
        last_curator = (decision[-2], decision[-1] or "")

    effective = {(facet, value) for facet, values in item.tags.items() for value in values}
    full = f"{item.title}\n\n{item.text}"
    tags = []
    for (facet, value), kinds in by_tag.items():
        if facet not in TAG_FACETS_SHOWN:
            continue
        tag = ReviewTag(facet, value, tag_label(facet, value, taxonomy, gazetteer), "auto")
        if (facet, value) in effective:
            if ("curator", "add") in kinds:
                tag.origin, tag.curator = "curator", kinds[("curator", "add")][2]
            elif ("model", "add") in kinds and ("auto", "add") not in kinds:
                tag.origin = "model"
        elif ("auto", "add") in kinds or ("model", "add") in kinds:
            if ("curator", "remove") in kinds:
                tag.removed, tag.origin, tag.curator = True, "curator", kinds[("curator", "remove")][2]
            elif ("model", "remove") in kinds:
                tag.doubted = True
            else:
                continue  # a machine nature the curator's replaced
        else:
            continue  # a curator's removal of a tag the machine no longer gives
        model = kinds.get(("model", "remove" if tag.doubted else "add"))
        if model and model[0] is not None:
            tag.probability = float(model[0])
        rules = kinds.get(("auto", "add"))
        if rules and rules[1]:
            tag.snippets = _snippets(full, json.loads(rules[1]))
        tags.append(tag)
    order = {facet: i for i, facet in enumerate(TAG_FACETS_SHOWN)}
    tags.sort(key=lambda t: (order[t.facet], not t.effective, t.label))

    title_marks, excerpt_marks = _marks(item, by_tag, effective)
    excerpt = item.text[:EXCERPT_CHARS]
    if len(item.text) > EXCERPT_CHARS:
        excerpt = excerpt.rsplit(" ", 1)[0] + " …"
        excerpt_marks = [m for m in excerpt_marks if m.end <= len(excerpt) - 2]
    return ReviewItem(
        item=item, tags=tags, section_title=section_label(item.section, taxonomy) if item.in_bulletin else None,
        version=version_of([r[:6] for r in rows], decision), decided_by=last_curator[0], decided_at=last_curator[1] or None,
        title_marks=title_marks, excerpt=excerpt, excerpt_marks=excerpt_marks)


def _snippets(full: str, evidence: list[dict]) -> list[Snippet]:
    snippets, seen = [], set()
    for proof in evidence:
        if "match" not in proof or "start" not in proof or proof["match"].casefold() in seen:
            continue
        seen.add(proof["match"].casefold())
        start, end = proof["start"], proof["start"] + len(proof["match"])
        before = full[max(0, start - SNIPPET_CONTEXT):start].replace("\n", " ")
        after = full[end:end + SNIPPET_CONTEXT].replace("\n", " ")
        snippets.append(Snippet(("…" if start > SNIPPET_CONTEXT else "") + before.lstrip(), full[start:end],
                                after.rstrip() + ("…" if end + SNIPPET_CONTEXT < len(full) else "")))
        if len(snippets) == MAX_SNIPPETS:
            break
    return snippets


def _marks(item: WeekItem, by_tag: dict, effective: set) -> tuple[list[Mark], list[Mark]]:
    """The spans of the title and of the text whose words produced a tag in effect (rules' evidence)."""
    full = f"{item.title}\n\n{item.text}"
    spans: dict[tuple[int, int], list[str]] = {}
    for (facet, value), kinds in by_tag.items():
        rules = kinds.get(("auto", "add"))
        if facet not in TAG_FACETS_SHOWN or (facet, value) not in effective or not rules or not rules[1]:
            continue
        for proof in json.loads(rules[1]):
            if "match" in proof and "start" in proof:
                start, end = proof["start"], proof["start"] + len(proof["match"])
                while end < len(full) and full[end].isalpha():  # a stem ("accompagn") marks its whole word
                    end += 1
                spans.setdefault((start, end), []).append(f"{facet}:{value}")
    title_end, text_start = len(item.title), len(item.title) + 2
    title, text, last_end = [], [], {"title": -1, "text": -1}
    for (start, end), specs in sorted(spans.items()):
        if end <= title_end:
            target, offset, key = title, 0, "title"
        elif start >= text_start:
            target, offset, key = text, text_start, "text"
        else:
            continue
        if start < last_end[key]:  # overlapping words: the first span keeps the highlight, adds the tags
            target[-1].specs = sorted(set(target[-1].specs) | set(specs))
            continue
        target.append(Mark(start - offset, end - offset, sorted(specs)))
        last_end[key] = end
    return title, text


# ------------------------------------------------------------------- filters

FILTERS = ("scope", "nature", "themes", "dispositifs", "departements", "source", "doubts", "untagged")
FILTER_LABELS = {"scope": "Bulletin", "nature": FACET_LABELS["nature"], "themes": FACET_LABELS["themes"],
                 "dispositifs": FACET_LABELS["dispositifs"], "departements": "Département", "source": "Source"}


def matches(review: ReviewItem, filters: dict[str, str]) -> bool:
    """Whether an item passes every filter given (empty values are no filter)."""
    item = review.item
    for name, wanted in filters.items():
        if not wanted:
            continue
        if name == "scope" and (wanted == "in") != item.in_bulletin:
            return False
        if name == "nature" and item.nature != wanted:
            return False
        if name in ("themes", "dispositifs", "departements") and wanted not in item.tags.get(name, []):
            return False
        if name == "source" and item.source_id != wanted:
            return False
        if name == "doubts" and not review.doubts:
            return False
        if name == "untagged" and not review.untagged:
            return False
    return True


def facet_counts(reviews: list[ReviewItem], taxonomy: Taxonomy, gazetteer: Gazetteer) -> dict[str, list[tuple]]:
    """{filter: [(value, label, items)]} over the week, for the filter bar."""
    counts: dict[str, Counter] = {name: Counter() for name in FILTERS}
    sources: dict[str, str] = {}
    for review in reviews:
        item = review.item
        counts["scope"]["in" if item.in_bulletin else "out"] += 1
        counts["nature"][item.nature] += 1
        for facet in ("themes", "dispositifs", "departements"):
            counts[facet].update(set(item.tags.get(facet, [])))
        counts["source"][item.source_id] += 1
        sources[item.source_id] = item.source_name
        counts["doubts"]["1"] += review.doubts
        counts["untagged"]["1"] += review.untagged
    labels = {"scope": lambda v: "dans le bulletin" if v == "in" else "hors bulletin",
              "source": lambda v: sources.get(v, v), "doubts": lambda v: "doutes du modèle",
              "untagged": lambda v: "sans étiquette"}
    result = {}
    for name in FILTERS:
        label = labels.get(name) or (lambda v, name=name: tag_label(name, v, taxonomy, gazetteer))
        result[name] = sorted(((value, label(value), n) for value, n in counts[name].items()),
                              key=lambda entry: (entry[1].casefold()))
    return result


# ------------------------------------------------------------------- one item


def review_item(db: sqlite_utils.Database, item_id: int, taxonomy: Taxonomy,
                gazetteer: Gazetteer) -> ReviewItem | None:
    """One item by its id, outside any week plan (lookups by id only): its tags by label with
    their origin and words, as `review_week` gives them. Its decision (`in_bulletin`, `reason`,
    `section`) is left unset: the caller reads it from the `articles` table or a week plan."""
    row = db.execute(
        """
        SELECT items.id, items.title, items.url, items.text, items.summary, items.published_at,
               items.first_seen_at, items.cluster_id, items.source_id,
               COALESCE(sources.name, items.source_id), COALESCE(sources.topical, 0),
               COALESCE(curation.rejected, 0), COALESCE(curation.highlight, 0), curation.note
        FROM items
        LEFT JOIN sources ON sources.id = items.source_id
        LEFT JOIN curation ON curation.item_id = items.id
        WHERE items.id = ?
        """, [item_id]).fetchone()
    if row is None:
        return None
    (id_, title, url, text, summary, published_at, first_seen_at, cluster_id, source_id, source_name, topical,
     rejected, highlight, note) = row
    item = WeekItem(id=id_, title=title or "", url=url, text=text or "", summary=summary or "",
                    published_at=published_at, first_seen_at=first_seen_at, source_id=source_id,
                    source_name=source_name, topical=bool(topical), rejected=bool(rejected),
                    highlight=bool(highlight), note=note, cluster_id=cluster_id,
                    tags=effective_tags(db, [id_])[id_])
    rows = [r[1:] for r in db.execute(f"SELECT item_id, {TAG_COLUMNS}, score, evidence FROM tags WHERE item_id = ?",
                                      [id_])]
    decision = db.execute(f"SELECT {CURATION_COLUMNS} FROM curation WHERE item_id = ?", [id_]).fetchone()
    return _review_item(item, rows, tuple(decision) if decision else None, taxonomy, gazetteer)
