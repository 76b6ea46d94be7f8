"""The bulletin's "Agenda et appels à projets": upcoming events and deadlines found in the week's items.

A pure function over texts: French dates ("le 4 décembre", "jeudi 3 décembre 2026", "jusqu'au 15
janvier") are read with their year when written, else the next such day after the start of the
week. A date just after "date limite", "jusqu'au", "avant le"… is a deadline; the other dates of an
event item are the event. Only dates from the bulletin's week on are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from config.dates import FOLDED_MONTHS, FOLDED_WEEKDAYS, MONTH_NUMBERS
from pipeline.text import fold

_DATE = re.compile(
    rf"\b(?:(?:{'|'.join(FOLDED_WEEKDAYS)})\s+)?(1er|\d{{1,2}})\s+"
    rf"({'|'.join(FOLDED_MONTHS)})(?:\s+(\d{{4}}))?\b")
_DEADLINE = re.compile(r"(?:date limite|jusqu'au|avant le|au plus tard le|cloture|clos le|limite de depot"
                       r"|candidatures? jusqu'au|depot des dossiers)[^.;]{0,25}$")
_NOT_EVENT = re.compile(r"(?:publie|publiee|depuis le|depuis|vigueur|entre en vigueur|a compter du|des le|jusqu'au"
                        r"|entrera en vigueur)\s*(?:le\s*)?$")


@dataclass(frozen=True)
class AgendaEntry:
    day: date
    kind: str          # "Date limite" or "Événement"
    item_id: int
    title: str
    url: str | None


def dates_in(text: str, week_start: date) -> list[tuple[int, date]]:
    """(offset, date) of the French dates of a text; a date without a year is the next one from
    the week's start (dates more than 60 days before it take the following year)."""
    folded = fold(text)
    found = []
    for match in _DATE.finditer(folded):
        day = 1 if match[1] == "1er" else int(match[1])
        month = MONTH_NUMBERS[match[2]]
        year = int(match[3]) if match[3] else week_start.year
        try:
            moment = date(year, month, day)
            if not match[3] and (week_start - moment).days > 60:
                moment = date(year + 1, month, day)
        except ValueError:
            continue
        found.append((match.start(), moment))
    return found


def agenda(items, week_start: date, limit: int = 12) -> list[AgendaEntry]:
    """`items`: objects with id, title, url, nature and text. Upcoming deadlines and events, by date."""
    entries: dict[tuple[int, str], AgendaEntry] = {}
    for item in items:
        full = f"{item.title}. {item.text}"
        folded = fold(full)
        for offset, moment in dates_in(full, week_start):
            if moment < week_start:
                continue
            before = folded[max(0, offset - 45):offset]
            if _DEADLINE.search(before):
                kind = "Date limite"
            elif item.nature == "evenement" and not _NOT_EVENT.search(before):
                kind = "Événement"
            else:
                continue
            key = (item.id, kind)
            if key not in entries or moment < entries[key].day:
                entries[key] = AgendaEntry(moment, kind, item.id, item.title, item.url)
    return sorted(entries.values(), key=lambda e: (e.day, e.kind, e.title))[:limit]
