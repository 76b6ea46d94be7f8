"""The `articles` table: the archive as the field reads it, one row per item, for Datasette.

Each row holds what a person asks about, by name: `title`, `url`, `source` (its name), `published`
(day), `week` (ISO week of collection), `nature` (label), and `themes`, `dispositifs`,
`departements` (« Creuse (23) »), `epci`, `communes` as JSON arrays of names (Datasette's array
facets), the effective tags (curator decisions applied), `in_bulletin` / `rejected` /
`highlight` / `note` from the one week selection, and for calls and events the `deadline` or
`event_day` read in the text. Machinery (hashes, raw URLs, the full text) stays in `items`.

The table is derived: `refresh_weeks` rebuilds the rows of whole ISO weeks (an item's decision
depends on its week: duplicates, highlights), `refresh_items` the weeks of some items. `veille
crawl`, `veille tag`, `veille curate` and the curation pages call them; `refresh_all` rebuilds
everything.

Every write is logged by id in `article_changelog` (triggers, m011), which the server's facet index
reads to follow the table; `prune_changelog` keeps its last CHANGELOG_KEEP entries (a reader that
fell further behind reads the whole table again).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

import sqlite_utils

from config.dates import parse_week, utcnow, week_of
from config.schema import Taxonomy
from pipeline.agenda import agenda
from pipeline.places import Gazetteer
from pipeline.selection import WeekItem, week_plan
from pipeline.text import summarize

NAME_FACETS = ("themes", "dispositifs", "departements", "epci", "communes")
CHANGELOG_KEEP = 50_000


@dataclass(frozen=True)
class Labels:
    """What turns an item's codes into names, and its week into a decision."""

    taxonomy: Taxonomy
    gazetteer: Gazetteer
    tz: tzinfo
    max_age_days: int

    def name(self, facet: str, value: str) -> str:
        if facet in ("nature", "themes", "dispositifs"):
            return self.taxonomy.label(facet, value)
        return self.gazetteer.display_name(facet, value)


def _row(item: WeekItem, week: str, labels: Labels, now: str) -> dict:
    published = item.published_at or item.first_seen_at
    day = datetime.fromisoformat(published).astimezone(labels.tz).date().isoformat() if published else None
    dates = {entry.kind: entry.day.isoformat() for entry in agenda([item], parse_week(week), limit=4)}
    return {
        "id": item.id, "title": item.title or "(sans titre)", "url": item.url, "source": item.source_name,
        "source_id": item.source_id, "published": day, "week": week,
        "nature": labels.name("nature", item.nature),
        **{facet: json.dumps([labels.name(facet, v) for v in item.tags.get(facet, [])], ensure_ascii=False)
           for facet in NAME_FACETS},
        "summary": summarize(item.text or item.summary),
        "in_bulletin": int(item.in_bulletin), "rejected": int(item.rejected), "highlight": int(item.highlight),
        "note": item.note, "reason": item.reason,
        "deadline": dates.get("Date limite") if item.nature == "appel" else None,
        "event_day": dates.get("Événement"), "updated_at": now,
    }


def refresh_weeks(db: sqlite_utils.Database, weeks: Iterable[str], labels: Labels) -> int:
    """Rebuild the rows of every item first collected in these weeks; return how many."""
    count, now = 0, utcnow()
    for week in sorted(set(weeks)):
        plan = week_plan(db, week, labels.tz, labels.max_age_days)
        with db.atomic():
            if plan:
                db["articles"].upsert_all([_row(item, week, labels, now) for item in plan], pk="id")
                prune_changelog(db)
        count += len(plan)
    return count


def prune_changelog(db) -> None:
    """Forget all but the last CHANGELOG_KEEP entries of `article_changelog` (`db`: a sqlite-utils
    Database or a sqlite3 connection)."""
    db.execute("DELETE FROM article_changelog WHERE seq <= (SELECT MAX(seq) FROM article_changelog) - ?",
               [CHANGELOG_KEEP])


def weeks_of(db: sqlite_utils.Database, item_ids: Iterable[int], tz: tzinfo) -> set[str]:
    ids = sorted(set(item_ids))
    weeks = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        for (first_seen,) in db.execute(f"SELECT first_seen_at FROM items WHERE id IN ({marks})", chunk):
            weeks.add(week_of(datetime.fromisoformat(first_seen).astimezone(tz).date()))
    return weeks


def refresh_items(db: sqlite_utils.Database, item_ids: Iterable[int], labels: Labels) -> int:
    """Rebuild the rows of the weeks these items were collected in."""
    return refresh_weeks(db, weeks_of(db, item_ids, labels.tz), labels)


def refresh_all(db: sqlite_utils.Database, labels: Labels, progress=None) -> int:
    """Rebuild every row, week by week (`progress(weeks_done, weeks)` after each)."""
    firsts = [row[0] for row in db.execute("SELECT DISTINCT substr(first_seen_at, 1, 10) FROM items")]
    # A UTC day's items may fall on the day before or after in the settings' time zone.
    weeks = sorted({week_of(datetime.fromisoformat(f"{day}T{time}+00:00").astimezone(labels.tz).date())
                    for day in firsts for time in ("00:00:00", "23:59:59")})
    count = 0
    for done, week in enumerate(weeks, start=1):
        count += refresh_weeks(db, [week], labels)
        if progress:
            progress(done, len(weeks))
    return count


def refresh_missing(db: sqlite_utils.Database, labels: Labels) -> int:
    """Rebuild the weeks of the items that have no row yet (new items of a crawl, an archive from
    before this table)."""
    ids = [row[0] for row in db.execute("SELECT id FROM items WHERE id NOT IN (SELECT id FROM articles)")]
    return refresh_items(db, ids, labels) if ids else 0
