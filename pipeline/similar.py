"""« Pratiques inspirantes »: for a local initiative, similar initiatives elsewhere in the région.

Similar: an initiative of the archive (the `articles` table, names not codes) sharing a dispositif
with it (first) or else a theme, placed on another territory (no département in common, both in the
région), not set aside by the curator (read in `curation`, so a decision counts before `articles`
is refreshed), published in the window before the bulletin's end — the most recent first within
each rank. Rewrites of a story (« doublon de », « déjà paru ») are left out: the story's first item
stands for it.

One query answers a whole bulletin: the candidates of every initiative come newest first through
the `published` index (`+a.nature`: not the `nature` one, which would need a sort of them all),
already narrowed by SQLite to those sharing a dispositif or a theme with one of the initiatives,
and the reading stops as soon as every initiative has its dispositif matches (theme matches only
count while dispositif matches are short, and when it has no dispositif). At a million articles:
a few milliseconds, a quarter of a second when a dispositif is too rare to stop early.
"""

from __future__ import annotations

import json
from collections import defaultdict
from contextlib import closing
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlite_utils

WINDOW_DAYS = 365  # how far back the archive is searched
PER_ITEM = 3       # similar initiatives shown under one


@dataclass(frozen=True)
class Initiative:
    """A bulletin's initiative, by names like the `articles` table's (labels, « Creuse (23) »)."""

    id: int
    dispositifs: Sequence[str]
    themes: Sequence[str]
    departements: Sequence[str]


@dataclass(frozen=True)
class Similar:
    id: int
    title: str
    place: str       # « Felletin, Creuse (23) »
    shared: str      # the dispositif (or else theme) it has in common


_QUERY = """
SELECT a.id, a.title, a.dispositifs, a.themes, a.departements, a.communes
FROM articles a
WHERE +a.nature = :nature AND a.published >= :since AND a.published < :until
  AND NOT EXISTS (SELECT 1 FROM curation c WHERE c.item_id = a.id AND c.rejected)
  AND (a.reason IS NULL OR (a.reason NOT LIKE 'doublon%' AND a.reason NOT LIKE 'déjà paru%'))
  AND (EXISTS (SELECT 1 FROM json_each(a.dispositifs) d WHERE d.value IN (SELECT value FROM json_each(:dispositifs)))
       OR EXISTS (SELECT 1 FROM json_each(a.themes) t WHERE t.value IN (SELECT value FROM json_each(:themes))))
ORDER BY a.published DESC, a.id DESC
"""


@dataclass
class _Wanted:
    initiative: Initiative
    departements: set[str]
    by_dispositif: list[Similar] = field(default_factory=list)
    by_theme: list[Similar] = field(default_factory=list)

    @property
    def done(self) -> bool:
        # Nothing later (older) can change the answer: enough dispositif matches, or theme matches
        # when a dispositif match is not possible.
        return (len(self.by_dispositif) >= PER_ITEM
                or (not self.initiative.dispositifs and len(self.by_theme) >= PER_ITEM))

    def answer(self) -> list[Similar]:
        return (self.by_dispositif + self.by_theme)[:PER_ITEM]


def similar_initiatives(db: sqlite_utils.Database, initiatives: Iterable[Initiative], nature: str, until: date,
                        region: Collection[str], window_days: int = WINDOW_DAYS) -> dict[int, list[Similar]]:
    """{initiative id: up to PER_ITEM similar initiatives} among the `articles` of nature label
    `nature` published in the `window_days` days before `until` (excluded); `region`: the names of
    the région's départements as `articles` writes them. An initiative placed in no département of
    the région gets none (« elsewhere » means nothing without a place), nor one without dispositif
    or theme."""
    region = set(region)
    wanted = [_Wanted(i, set(i.departements)) for i in initiatives
              if region.intersection(i.departements) and (i.dispositifs or i.themes)]
    # Which initiatives a label of a candidate concerns: a candidate is only checked against those.
    by_dispositif: dict[str, list[_Wanted]] = defaultdict(list)
    by_theme: dict[str, list[_Wanted]] = defaultdict(list)
    for entry in wanted:
        for label in dict.fromkeys(entry.initiative.dispositifs):
            by_dispositif[label].append(entry)
        for label in dict.fromkeys(entry.initiative.themes):
            by_theme[label].append(entry)
    if not wanted:
        return {}
    params = {"nature": nature, "since": (until - timedelta(days=window_days)).isoformat(),
              "until": until.isoformat(), "dispositifs": json.dumps(sorted(by_dispositif)),
              "themes": json.dumps(sorted(by_theme))}
    left = sum(not entry.done for entry in wanted)
    with closing(db.execute(_QUERY, params)) as rows:  # left unread once every initiative is answered
        for id_, title, dispositifs, themes, departements, communes in rows:
            departements = json.loads(departements or "[]")
            if not region.intersection(departements):
                continue
            place = ", ".join(json.loads(communes or "[]")[:1] + [d for d in departements if d in region])
            matched = set()  # by a dispositif: not again by a theme
            for shared in json.loads(dispositifs or "[]"):
                for entry in by_dispositif.get(shared, ()):
                    if entry.initiative.id in matched or entry.done or _same_place(entry, id_, departements):
                        continue
                    matched.add(entry.initiative.id)
                    entry.by_dispositif.append(Similar(id_, title, place, shared))
                    left -= entry.done
            for shared in json.loads(themes or "[]"):
                for entry in by_theme.get(shared, ()):
                    if (entry.initiative.id in matched or len(entry.by_theme) >= PER_ITEM or entry.done
                            or _same_place(entry, id_, departements)):
                        continue
                    matched.add(entry.initiative.id)
                    entry.by_theme.append(Similar(id_, title, place, shared))
                    left -= entry.done
            if not left:
                break
    return {w.initiative.id: w.answer() for w in wanted if w.answer()}


def _same_place(entry: _Wanted, id_: int, departements: list[str]) -> bool:
    """The initiative itself, or one with a département in common: not « elsewhere »."""
    return id_ == entry.initiative.id or not entry.departements.isdisjoint(departements)
