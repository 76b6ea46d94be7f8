"""`veille schedule`: APScheduler runs crawl, tag, learn and the bulletin at the times of settings.yaml.

Each job runs the `veille` command in a subprocess: Twisted's reactor starts once per process,
and a crashed job must not take the scheduler down. The bulletin job is `veille bulletin send`: with
`bulletin.require_approval`, a week the curator has not approved (or changed since) is refused and
nothing is sent; the refusal is logged like any output of a job.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from config.dates import current_week, shift_week
from config.loading import Config

log = logging.getLogger("veille.schedule")


def previous_week(tz: tzinfo, now: datetime | None = None) -> str:
    """The ISO week that ended last: Monday's bulletin covers the week before."""
    return shift_week(current_week(tz, now), -1)


def next_bulletin_week(config: Config, now: datetime | None = None) -> str:
    """The week the next scheduled bulletin covers: the week before its send. On Monday before the
    send, the week that just ended; from then on, the current week."""
    tz = config.settings.tz
    now = now or datetime.now(tz)
    trigger = CronTrigger.from_crontab(config.settings.schedule.bulletin, timezone=tz)
    send = trigger.get_next_fire_time(None, now)
    return previous_week(tz, send) if send else current_week(tz, now)


def run_command(args: list[str]) -> int:
    """Run `veille ARGS` in a subprocess, logging its outcome; never raises."""
    command = [sys.executable, "-m", "veille", *args]
    log.info("lancement : veille %s", " ".join(args))
    result = subprocess.run(command, capture_output=True, text=True)
    for line in (result.stdout + result.stderr).splitlines():
        log.info("  %s", line)
    if result.returncode:
        log.error("veille %s a échoué (code %s)", args[0], result.returncode)
    return result.returncode


def _common(config_dir: Path, db_path: Path | None) -> list[str]:
    return ["--config", str(config_dir)] + (["--db", str(db_path)] if db_path else [])


def crawl_job(config_dir: Path, db_path: Path | None) -> None:
    run_command(["crawl", *_common(config_dir, db_path)])


def tag_job(config_dir: Path, db_path: Path | None) -> None:
    run_command(["tag", *_common(config_dir, db_path)])


def learn_job(config_dir: Path, db_path: Path | None) -> None:
    run_command(["learn", *_common(config_dir, db_path)])


def bulletin_job(config_dir: Path, db_path: Path | None, subscribers_db_path: Path | None, timezone: str) -> None:
    extra = ["--subscribers-db", str(subscribers_db_path)] if subscribers_db_path else []
    week = previous_week(ZoneInfo(timezone))
    run_command(["bulletin", "send", "--week", week, *_common(config_dir, db_path), *extra])


def build_scheduler(config: Config, db_path: Path | None = None,
                    subscribers_db_path: Path | None = None) -> BlockingScheduler:
    schedule, timezone = config.settings.schedule, config.settings.timezone
    scheduler = BlockingScheduler(timezone=timezone)
    args = (config.dir.resolve(), db_path)
    for job_id, func, cron, job_args in (
        ("crawl", crawl_job, schedule.crawl, args),
        ("tag", tag_job, schedule.tag, args),
        ("learn", learn_job, schedule.learn, args),
        ("bulletin", bulletin_job, schedule.bulletin, (*args, subscribers_db_path, timezone)),
    ):
        scheduler.add_job(func, CronTrigger.from_crontab(cron, timezone=timezone), args=job_args,
                          id=job_id, name=job_id, replace_existing=True,
                          # One run at a time per job; runs missed while down merge into one, within an hour.
                          coalesce=True, max_instances=1, misfire_grace_time=3600)
    return scheduler


def run_scheduler(config: Config, db_path: Path | None = None, subscribers_db_path: Path | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    scheduler = build_scheduler(config, db_path, subscribers_db_path)
    for job in scheduler.get_jobs():
        log.info("tâche %s : %s", job.id, job.trigger)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("arrêt du planificateur")
