"""The one week selection: which items of an ISO week are in the bulletin, in which section, and
why the others are not.

`week_plan` is the only place that decides; the bulletin, its agenda, `veille bulletin plan`, the
curation pages and the server's plugin all read its answer. Rules, in the order a reason is given:

1. `écarté`: the curator set the item aside;
2. `trop ancien`: published more than `max_age_days` before the end of the week (first seen this
   week, but old news);
3. `hors périmètre`: no theme, no dispositif, not from a specialist (topical) source, not
   highlighted (a place alone is not enough);
4. `déjà paru en YYYY-Www`: a rewrite of a story first collected in an earlier week, which was in
   that week's bulletin (a highlight overrides it);
5. `doublon de #N`: another item of the same story is in (the highlighted one, else the first
   archived); its sources are named under that item's « aussi publié par ».

An item in the bulletin goes to the section `a-la-une` when highlighted, else to its nature's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

import sqlite_utils

from config.dates import week_bounds, week_of
from config.schema import Taxonomy
from pipeline.archive import effective_tags

HIGHLIGHTS = "a-la-une"  # the section of highlighted items, before the natures
DEFAULT_NATURE = "initiative"

REJECTED = "écarté"
TOO_OLD = "trop ancien"
OUT_OF_SCOPE = "hors périmètre"


@dataclass
class WeekItem:
    """One item first seen in the week, with the decision about it."""

    id: int
    title: str
    url: str
    text: str
    summary: str
    published_at: str | None
    first_seen_at: str
    source_id: str
    source_name: str
    topical: bool
    rejected: bool
    highlight: bool
    note: str | None
    cluster_id: int | None
    tags: dict[str, list[str]]
    in_bulletin: bool = False
    reason: str | None = None      # why it is out (None when in)
    section: str | None = None     # where it is when in: HIGHLIGHTS or a nature slug
    also_published_by: list[str] = field(default_factory=list)  # other sources of the same story
    curator_tags: set[tuple[str, str]] = field(default_factory=set)  # (facet, value) she added (curation_queue)

    @property
    def nature(self) -> str:
        return (self.tags.get("nature") or [DEFAULT_NATURE])[0]

    @property
    def in_scope(self) -> bool:
        return in_scope(self.tags, self.topical, self.highlight)

    def as_plan_row(self) -> dict:
        """The line of `veille bulletin plan --json`."""
        return {"id": self.id, "title": self.title, "url": self.url, "nature": self.nature,
                "in_bulletin": self.in_bulletin, "reason": self.reason, "section": self.section}


def section_label(section: str, taxonomy: Taxonomy) -> str:
    """How the bulletin titles a section: « À la une », or the nature's label."""
    return "À la une" if section == HIGHLIGHTS else taxonomy.label("nature", section)


def in_scope(tags: dict, topical: bool, highlight: bool) -> bool:
    """In the bulletin's scope: a theme or a dispositif, a specialist (topical) source, or the
    curator's highlight. A place alone is not enough."""
    return bool(tags.get("themes") or tags.get("dispositifs") or topical or highlight)


def items_seen_between(db: sqlite_utils.Database, start: str, end: str) -> list[WeekItem]:
    """The items first seen in [start, end) (ISO datetimes), newest first, with their source, the
    curator's decisions and their effective tags; no decision yet."""
    rows = list(db.query(
        """
        SELECT items.id, items.title, items.url, items.text, items.summary, items.published_at,
               items.first_seen_at, items.cluster_id, items.source_id,
               COALESCE(sources.name, items.source_id) AS source_name,
               COALESCE(sources.topical, 0) AS topical, COALESCE(curation.rejected, 0) AS rejected,
               COALESCE(curation.highlight, 0) AS highlight, curation.note
        FROM items
        LEFT JOIN sources ON sources.id = items.source_id
        LEFT JOIN curation ON curation.item_id = items.id
        WHERE items.first_seen_at >= :start AND items.first_seen_at < :end
        ORDER BY items.first_seen_at DESC, items.id DESC
        """, {"start": start, "end": end}))
    tags = effective_tags(db, [r["id"] for r in rows])
    return [WeekItem(id=r["id"], title=r["title"] or "", url=r["url"], text=r["text"] or "",
                     summary=r["summary"] or "", published_at=r["published_at"], first_seen_at=r["first_seen_at"],
                     source_id=r["source_id"], source_name=r["source_name"], topical=bool(r["topical"]),
                     rejected=bool(r["rejected"]), highlight=bool(r["highlight"]), note=r["note"],
                     cluster_id=r["cluster_id"], tags=tags[r["id"]])
            for r in rows]


def week_plan(db: sqlite_utils.Database, week: str, tz: tzinfo, max_age_days: int) -> list[WeekItem]:
    """Every item first seen in `week`, newest published first, each with `in_bulletin`, and its
    `reason` when out or its `section` when in."""
    start, end = week_bounds(week, tz)
    items = items_seen_between(db, start.isoformat(), end.isoformat())
    items.sort(key=lambda i: i.id)  # ties: the first archived first
    items.sort(key=lambda i: i.published_at or i.first_seen_at, reverse=True)
    oldest = (end - timedelta(days=max_age_days)).isoformat()
    told = _stories_told_before(db, [i.cluster_id for i in items if i.cluster_id], start, tz)
    candidates = []
    for item in items:
        if item.rejected:
            item.reason = REJECTED
        elif item.published_at is not None and item.published_at < oldest:
            item.reason = TOO_OLD
        elif not item.in_scope:
            item.reason = OUT_OF_SCOPE
        elif item.cluster_id in told and not item.highlight:
            item.reason = f"déjà paru en {told[item.cluster_id]}"
        else:
            candidates.append(item)
    _one_per_story(db, candidates)
    for item in candidates:
        if item.reason is None:
            item.in_bulletin = True
            item.section = HIGHLIGHTS if item.highlight else item.nature
    return items


def _stories_told_before(db: sqlite_utils.Database, clusters: list[int], start: datetime,
                         tz: tzinfo) -> dict[int, str]:
    """{cluster: week it was first collected} for the stories first collected before `start`."""
    if not clusters:
        return {}
    clusters = sorted(set(clusters))
    marks = ", ".join("?" for _ in clusters)
    rows = db.execute(
        f"SELECT cluster_id, MIN(first_seen_at) FROM items WHERE cluster_id IN ({marks}) AND first_seen_at < ? "
        "GROUP BY cluster_id", [*clusters, start.isoformat()])
    return {cluster: week_of(datetime.fromisoformat(first).astimezone(tz).date()) for cluster, first in rows}


def _one_per_story(db: sqlite_utils.Database, candidates: list[WeekItem]) -> None:
    """Keep one item per near-duplicate story (a highlighted one, else the first archived); mark the
    others `doublon de #N` and name every other source of the story, exact copies included."""
    stories: dict[int, list[WeekItem]] = {}
    for item in candidates:
        stories.setdefault(item.cluster_id or item.id, []).append(item)
    for group in stories.values():
        chosen = min(group, key=lambda i: (not i.highlight, i.id))
        names = [i.source_name for i in group if i is not chosen]
        for item in group:
            if item is not chosen:
                item.reason = f"doublon de #{chosen.id}"
        ids = [i.id for i in group]
        marks = ", ".join("?" for _ in ids)
        names += [name for (name,) in db.execute(
            "SELECT COALESCE(sources.name, duplicates.source_id) FROM duplicates "
            f"LEFT JOIN sources ON sources.id = duplicates.source_id WHERE duplicates.item_id IN ({marks})", ids)]
        chosen.also_published_by = sorted({n for n in names if n != chosen.source_name})
