"""Time, ISO weeks and French dates: the one place for each.

Weeks are ISO weeks written YYYY-Www, counted in the time zone of the settings (`Settings.tz`,
Europe/Paris by default); timestamps in the databases are UTC ISO 8601. French month and day names
come from Babel's locale data (CLDR), never from the machine's locales.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING

from config.errors import VeilleError

LOCALE = "fr_FR"
WEEK_FORMAT = re.compile(r"^(\d{4})-W(\d{2})$")


def utcnow() -> str:
    """Now, UTC, ISO 8601 to the second: the format of every timestamp Veille stores."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ----------------------------------------------------------------------- weeks


FIRST_YEAR, LAST_YEAR = 1990, 2100  # weeks and days outside are typing mistakes
DAY_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_week(week: str) -> date:
    """Monday of an ISO week written YYYY-Www."""
    match = WEEK_FORMAT.match(week or "")
    if not match:
        raise VeilleError(f"semaine invalide « {week} » : format attendu AAAA-Sss, par exemple 2026-W48")
    if not FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
        raise VeilleError(f"semaine « {week} » hors des années {FIRST_YEAR} à {LAST_YEAR}")
    try:
        return date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError:
        raise VeilleError(f"la semaine « {week} » n'existe pas") from None


def parse_day(value: str, what: str = "date") -> date:
    """A day written strictly YYYY-MM-DD (Python also reads 20261201 and 2026-W48-1: refused here)."""
    if not DAY_FORMAT.match(value or ""):
        raise VeilleError(f"{what} : date invalide « {value} » (format AAAA-MM-JJ, par exemple 2026-12-01)")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise VeilleError(f"{what} : la date « {value} » n'existe pas") from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise VeilleError(f"{what} : « {value} » hors des années {FIRST_YEAR} à {LAST_YEAR}")
    return day


def week_of(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def current_week(tz: tzinfo, now: datetime | None = None) -> str:
    """The ISO week of `now` (default: this moment) in the time zone `tz`."""
    return week_of((now or datetime.now(timezone.utc)).astimezone(tz).date())


def shift_week(week: str, weeks: int) -> str:
    """The week `weeks` weeks after (or before, when negative) `week`."""
    return week_of(parse_week(week) + timedelta(weeks=weeks))


def week_bounds(week: str, tz: tzinfo) -> tuple[datetime, datetime]:
    """Start and end (exclusive) of an ISO week in the time zone `tz`, as UTC datetimes."""
    monday = parse_week(week)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=tz)
    end_day = monday + timedelta(days=7)
    end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=tz)  # 7 × 24 h but for DST
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def week_start(moment: datetime, tz: tzinfo) -> datetime:
    """Midnight of the Monday of `moment`'s week in `tz`, as a UTC datetime."""
    return week_bounds(week_of(moment.astimezone(tz).date()), tz)[0]


# ---------------------------------------------------------------- French dates


def french_date(value: date | datetime, weekday: bool = False) -> str:
    """« 24 novembre 2026 », « 1er décembre 2026 »; with `weekday`, « mardi 1er décembre 2026 »."""
    from babel.dates import format_date

    text = format_date(value, "d MMMM y", locale=LOCALE)
    if value.day == 1:
        text = "1er" + text[1:]
    return f"{format_date(value, 'EEEE', locale=LOCALE)} {text}" if weekday else text


def _fold(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word.casefold()) if not unicodedata.combining(c))


def _month_words() -> dict[str, int]:
    from babel.dates import get_month_names

    words: dict[str, int] = {}
    for width in ("wide", "abbreviated"):
        for number, name in get_month_names(width, locale=LOCALE).items():
            name = name.rstrip(".").casefold()
            words[name] = words[_fold(name)] = number
    # Abbreviations the press uses beside CLDR's own (« sept. » is CLDR's, « sep. », « fév. » are not).
    words.update({"jan": 1, "fev": 2, "fév": 2, "sep": 9, "dec": 12, "déc": 12})
    return words


def _folded_months() -> tuple[str, ...]:
    from babel.dates import get_month_names

    return tuple(_fold(n) for n in get_month_names("wide", locale=LOCALE).values())


def _folded_weekdays() -> tuple[str, ...]:
    from babel.dates import get_day_names

    return tuple(_fold(get_day_names("wide", locale=LOCALE)[day]) for day in range(7))


if TYPE_CHECKING:
    # Month name (wide or abbreviated, accented or folded, lower case) -> month number.
    MONTH_NUMBERS: dict[str, int]
    # Full month names, folded (no accents): « janvier » … « decembre ».
    FOLDED_MONTHS: tuple[str, ...]
    # Weekday names, folded: « lundi » … « dimanche » (already without accents in French).
    FOLDED_WEEKDAYS: tuple[str, ...]

_LOCALE_DATA = {"MONTH_NUMBERS": _month_words, "FOLDED_MONTHS": _folded_months, "FOLDED_WEEKDAYS": _folded_weekdays}


def __getattr__(name: str):
    """The names read from Babel's locale data, made on first use (PEP 562): importing Babel and its
    data is a tenth of a second that `veille --help` and the tagger need not pay."""
    if name in _LOCALE_DATA:
        value = globals()[name] = _LOCALE_DATA[name]()
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
