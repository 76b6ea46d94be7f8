"""The scheduler's jobs and their triggers (the jobs themselves run the CLI, tested elsewhere)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from tests.conftest import ROOT
from config.loading import load_config
from veille.schedule import build_scheduler, previous_week


def test_jobs_follow_the_settings():
    scheduler = build_scheduler(load_config(ROOT / "config"))
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"crawl", "tag", "learn", "bulletin"}
    monday = datetime(2026, 11, 30, 0, 0, tzinfo=ZoneInfo("Europe/Paris"))
    next_bulletin = jobs["bulletin"].trigger.get_next_fire_time(None, monday)
    assert (next_bulletin.weekday(), next_bulletin.hour) == (0, 8)
    assert all(j.coalesce and j.max_instances == 1 and j.misfire_grace_time == 3600 for j in jobs.values())


def test_bulletin_covers_the_week_before():
    paris = ZoneInfo("Europe/Paris")
    assert previous_week(paris, datetime(2026, 11, 30, 7, 0, tzinfo=timezone.utc)) == "2026-W48"
    # Sunday 23:30 UTC is already Monday in Paris: the week that ended is the one of that Sunday.
    assert previous_week(paris, datetime(2026, 12, 6, 23, 30, tzinfo=timezone.utc)) == "2026-W49"
    assert previous_week(ZoneInfo("UTC"), datetime(2026, 12, 6, 23, 30, tzinfo=timezone.utc)) == "2026-W48"


def test_the_next_bulletin_covers_the_week_before_its_send():
    """On Monday before the 08:00 send, the curator approves the week that just ended; from the send
    on, the current week."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from config.loading import load_config
    from tests.conftest import ROOT
    from veille.schedule import next_bulletin_week

    config = load_config(ROOT / "config")
    paris = ZoneInfo("Europe/Paris")
    cases = {"2026-11-30T07:30": "2026-W48", "2026-11-30T08:01": "2026-W49", "2026-12-02T10:00": "2026-W49",
             "2026-12-06T23:59": "2026-W49", "2027-01-04T07:00": "2026-W53"}
    for moment, week in cases.items():
        assert next_bulletin_week(config, datetime.fromisoformat(moment).replace(tzinfo=paris)) == week, moment
