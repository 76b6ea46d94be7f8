"""Time zone, ISO weeks and French dates: one definition each (config/dates.py)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from config.dates import (FOLDED_MONTHS, MONTH_NUMBERS, current_week, french_date, parse_week, shift_week,
                          week_bounds, week_start)
from config.errors import VeilleError
from config.loading import load_settings

PARIS = ZoneInfo("Europe/Paris")


def test_weeks_are_counted_in_the_settings_time_zone():
    sunday_night = datetime(2026, 11, 29, 23, 30, tzinfo=timezone.utc)  # Monday 00:30 in Paris
    assert current_week(PARIS, sunday_night) == "2026-W49"
    assert current_week(ZoneInfo("UTC"), sunday_night) == "2026-W48"
    assert current_week(ZoneInfo("America/Cayenne"), sunday_night) == "2026-W48"
    start, end = week_bounds("2026-W48", PARIS)
    assert (start.isoformat(), end.isoformat()) == ("2026-11-22T23:00:00+00:00", "2026-11-29T23:00:00+00:00")


def test_a_week_across_the_change_of_hour_lasts_what_the_clock_says():
    start, end = week_bounds("2026-W43", PARIS)  # summer time ends on Sunday 25 October 2026
    assert (start.hour, end.hour, (end - start).total_seconds() / 3600) == (22, 23, 169)
    assert week_start(datetime(2026, 10, 28, 12, tzinfo=timezone.utc), PARIS) == week_bounds("2026-W44", PARIS)[0]


def test_week_arithmetic_and_errors():
    assert shift_week("2026-W01", -1) == "2025-W52" and shift_week("2026-W53", 1) == "2027-W01"
    assert parse_week("2026-W48") == date(2026, 11, 23)
    for bad in ("2026-48", "2025-W53", "W48"):
        with pytest.raises(VeilleError):
            parse_week(bad)


def test_french_dates_come_from_babel():
    assert french_date(date(2026, 12, 1)) == "1er décembre 2026"
    assert french_date(date(2026, 8, 15), weekday=True) == "samedi 15 août 2026"
    assert FOLDED_MONTHS[1] == "fevrier" and MONTH_NUMBERS["févr"] == MONTH_NUMBERS["fevrier"] == 2
    assert MONTH_NUMBERS["sept"] == MONTH_NUMBERS["sep"] == 9


def test_time_zone_is_a_setting(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_text("timezone: America/Cayenne\n", encoding="utf-8")
    assert load_settings(path).tz == ZoneInfo("America/Cayenne")
    assert load_settings(tmp_path / "absent.yaml").timezone == "Europe/Paris"
