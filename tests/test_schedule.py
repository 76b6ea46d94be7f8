"""The scheduler (veille/schedule.py) with a real APScheduler, its SQLite job store and the real
`veille` commands as subprocesses, against the loopback fixture site: short triggers stand in for
the cron times of the settings. Also the logs (veille/logs.py) and `veille schedule` itself."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlite_utils
import yaml
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from config.loading import load_config
from pipeline.operations import CATCH_UP, INTERRUPTED, OK, REFUSED, RETRY, RUNNING, SCHEDULE, TIMEOUT, open_operations_db
from tests.conftest import ROOT, run_veille, write_sources
from veille.locks import BUSY_EXIT_CODE, holder, job_lock
from veille.logs import format_value, log_event, logfmt, reset_logging, setup_logging
from veille.schedule import (RETRY_ID, STOPPED_NOTE, bulletin_retry_job, build_scheduler, describe_jobs, job_options,
                             job_specs, next_bulletin_week, previous_week, retry_still_due, start_scheduler,
                             stop_scheduler, sync_jobs)

PARIS = ZoneInfo("Europe/Paris")


# ------------------------------------------------------------------ helpers


def configure(config_dir: Path, **schedule) -> None:
    """Add `schedule` settings (and slow, one-at-a-time crawling) to the test config."""
    path = config_dir / "settings.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings.setdefault("schedule", {}).update(schedule)
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")


def slow_site(config_dir: Path, mockserver: str) -> None:
    """One source whose 12 articles answer slowly, fetched one at a time: a crawl of ~10 s."""
    write_sources(config_dir, [{"id": "lent", "name": "Lent", "type": "html", "url": f"{mockserver}/slow/",
                                "links": "article h2 a"}])
    path = config_dir / "settings.yaml"
    settings = yaml.safe_load(path.read_text(encoding="utf-8"))
    settings["crawl"].update({"concurrent_requests_per_domain": 1, "download_delay": 0.3})
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")


def runs(config) -> list[dict]:
    if not config.operations_db_path.exists():
        return []
    db = open_operations_db(config.operations_db_path)
    rows = list(db.execute_returning_dicts("SELECT * FROM job_runs ORDER BY id"))
    db.close()
    return rows


def wait_for(predicate, seconds: float = 45, what: str = "condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def finished(config, job: str, count: int = 1):
    """The finished runs of `job`, once there are `count` of them."""
    done = [r for r in runs(config) if r["job"] == job and r["status"] != RUNNING]
    return done if len(done) >= count else None


def crawl_and_tag(config):
    """The first finished crawl and tag runs, once both are there."""
    crawls, tags = finished(config, "crawl"), finished(config, "tag")
    return (crawls[0], tags[0]) if crawls and tags else None


@contextmanager
def scheduler_running(config, triggers):
    """A real scheduler on the config's operations database, running the jobs of `triggers`."""
    setup_logging(config, stderr=False)
    scheduler = build_scheduler(config)
    start_scheduler(scheduler, config, job_specs(config, triggers=triggers))
    try:
        yield scheduler
    finally:
        if scheduler.running:
            stop_scheduler(scheduler, grace=5)
        reset_logging()


LOGFMT_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)(?: |$)')


def parse_logfmt(line: str) -> dict:
    """One key=value line back into a dict: the shape every line of the log must have."""
    pairs = LOGFMT_PAIR.findall(line)
    assert " ".join(f"{k}={v}" for k, v in pairs) == line, line
    unquote = {"\\\\": "\\", '\\"': '"', "\\n": "\n", "\\r": "\r"}
    return {k: re.sub(r'\\[\\"nr]', lambda m: unquote[m.group()], v[1:-1]) if v.startswith('"') else v
            for k, v in pairs}


def log_lines(config) -> list[dict]:
    """The log file's lines, parsed back."""
    path = config.logs_dir / "veille.log"
    return [parse_logfmt(line) for line in path.read_text(encoding="utf-8").splitlines()]


def group_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def soon(seconds: float = 1.0) -> DateTrigger:
    return DateTrigger(run_date=datetime.now(timezone.utc) + timedelta(seconds=seconds))


# ------------------------------------------------------- jobs and their times


def test_jobs_follow_the_settings():
    config = load_config(ROOT / "config")
    specs = {spec.id: spec for spec in job_specs(config)}
    assert set(specs) == {"crawl", "learn", "bulletin"}  # tagging follows each crawl: no job of its own
    monday = datetime(2026, 11, 30, 0, 0, tzinfo=PARIS)
    next_bulletin = specs["bulletin"].trigger.get_next_fire_time(None, monday)
    assert (next_bulletin.weekday(), next_bulletin.hour) == (0, 8)
    crawls = specs["crawl"].trigger
    first = crawls.get_next_fire_time(None, monday)
    assert [first.hour, crawls.get_next_fire_time(first, first).hour] == [6, 12]
    assert all(isinstance(s.args[0], str) and s.args[1:] == ("", "") for s in specs.values())  # picklable
    assert job_options(config) == {"coalesce": True, "max_instances": 1, "misfire_grace_time": 12 * 3600}


def test_bulletin_covers_the_week_before():
    paris = ZoneInfo("Europe/Paris")
    assert previous_week(paris, datetime(2026, 11, 30, 7, 0, tzinfo=timezone.utc)) == "2026-W48"
    # Sunday 23:30 UTC is already Monday in Paris: the week that ended is the one of that Sunday.
    assert previous_week(paris, datetime(2026, 12, 6, 23, 30, tzinfo=timezone.utc)) == "2026-W49"
    assert previous_week(ZoneInfo("UTC"), datetime(2026, 12, 6, 23, 30, tzinfo=timezone.utc)) == "2026-W48"


def test_the_next_bulletin_covers_the_week_before_its_send():
    """On Monday before the 08:00 send, the curator approves the week that just ended; from the send
    on, the current week."""
    config = load_config(ROOT / "config")
    cases = {"2026-11-30T07:30": "2026-W48", "2026-11-30T08:01": "2026-W49", "2026-12-02T10:00": "2026-W49",
             "2026-12-06T23:59": "2026-W49", "2027-01-04T07:00": "2026-W53"}
    for moment, week in cases.items():
        assert next_bulletin_week(config, datetime.fromisoformat(moment).replace(tzinfo=PARIS)) == week, moment


def test_the_retry_of_a_week_stops_when_a_new_week_begins():
    # Refused on Monday 30 November (week 48 then being the week before): retried all week long…
    for moment in ("2026-11-30T08:00", "2026-12-03T15:00", "2026-12-06T23:59"):
        assert retry_still_due("2026-W48", PARIS, datetime.fromisoformat(moment).replace(tzinfo=PARIS)), moment
    # …until week 50 begins: Monday's scheduled bulletin then covers week 49.
    assert not retry_still_due("2026-W48", PARIS, datetime(2026, 12, 7, 0, 0, tzinfo=PARIS))


def test_a_stored_job_keeps_its_next_run_unless_its_trigger_changed(config_dir):
    """What makes a missed run survive a restart: a job whose trigger is unchanged keeps its stored
    next run time (here in the past); a changed one is replaced; one no longer configured goes, but
    not a pending bulletin-retry."""
    config = load_config(config_dir)
    daily = {"crawl": CronTrigger.from_crontab("0 6 * * *", timezone=PARIS),
             "learn": CronTrigger.from_crontab("0 5 * * mon", timezone=PARIS)}
    scheduler = build_scheduler(config)
    scheduler.start(paused=True)
    try:
        assert sync_jobs(scheduler, config, job_specs(config, triggers=daily)) == {"crawl": "added", "learn": "added"}
        past = datetime(2026, 11, 30, 6, 0, tzinfo=PARIS)
        scheduler.modify_job("crawl", next_run_time=past)  # as if the machine was off at 06:00
        scheduler.add_job(bulletin_retry_job, soon(3600), args=(str(config_dir), "", "", "2026-W48"), id=RETRY_ID)
    finally:
        scheduler.shutdown()

    scheduler = build_scheduler(config)  # a restart: the same job store
    scheduler.start(paused=True)
    try:
        changed = {"crawl": CronTrigger.from_crontab("0 6 * * *", timezone=PARIS),
                   "bulletin": CronTrigger.from_crontab("0 8 * * mon", timezone=PARIS)}
        actions = sync_jobs(scheduler, config, job_specs(config, triggers=changed))
        assert actions == {"crawl": "kept", "bulletin": "added", "learn": "removed"}
        jobs = {job.id: job for job in scheduler.get_jobs()}
        assert jobs["crawl"].next_run_time == past  # still due: made once the scheduler resumes…
        assert set(jobs) == {"crawl", "bulletin", RETRY_ID}
        # …if the grace time (12 h) has not passed: what `veille schedule` says at start.
        lines = {line.split()[0]: line for line in describe_jobs(scheduler, PARIS, past + timedelta(hours=2))}
        assert lines["crawl"] == ("  crawl (collecte puis étiquetage) : prochaine exécution le lundi 30 novembre "
                                  "2026 à 6 h 00 — en retard, rattrapée maintenant")
        lines = {line.split()[0]: line for line in describe_jobs(scheduler, PARIS, past + timedelta(hours=13))}
        assert lines["crawl"].endswith("— manquée depuis plus de schedule.misfire_grace_hours : abandonnée, "
                                       "la suivante à son heure")
        assert lines[RETRY_ID].startswith(f"  {RETRY_ID} (nouvel essai d'envoi du bulletin 2026-W48) : prochaine ")
        hourly = {"crawl": CronTrigger.from_crontab("0 * * * *", timezone=PARIS)}
        assert sync_jobs(scheduler, config, job_specs(config, triggers=hourly))["crawl"] == "replaced"
        assert scheduler.get_job("crawl").next_run_time > datetime.now(timezone.utc)  # counted from now
    finally:
        scheduler.shutdown()


# ------------------------------------------------------------ runs, for real


def test_crawl_then_tag_run_in_order_and_log_one_line_per_run_and_source(config_dir, mockserver):
    write_sources(config_dir, [{"id": "plie-test", "name": "PLIE", "type": "rss",
                                "url": f"{mockserver}/plie-test/feed.xml"}])
    config = load_config(config_dir)
    with scheduler_running(config, {"crawl": soon()}):
        crawl, tag = wait_for(lambda: crawl_and_tag(config), what="crawl and tag")
    assert crawl["status"] == OK and tag["status"] == OK and crawl["exit_code"] == 0
    assert crawl["trigger"] == tag["trigger"] == SCHEDULE
    assert crawl["finished_at"] <= tag["started_at"]  # tagging waits for the crawl
    assert "plie-test" in crawl["output"] and "3 article(s) étiqueté(s)." in tag["output"]
    archive = sqlite_utils.Database(config.db_path)
    assert archive["items"].count == 3
    assert archive.execute("SELECT COUNT(*) FROM items WHERE tagged_at IS NULL").fetchone()[0] == 0

    lines = log_lines(config)
    assert all(line["ts"].endswith("+00:00") and line["level"] in ("info", "warning", "error") for line in lines)
    job_runs = [line for line in lines if line["event"] == "job_run"]
    assert [(line["job"], line["status"], line["exit_code"]) for line in job_runs] == [("crawl", "ok", "0"),
                                                                                        ("tag", "ok", "0")]
    assert float(job_runs[0]["duration_s"]) > 0 and job_runs[0]["trigger"] == "schedule"
    (source,) = [line for line in lines if line["event"] == "source"]  # written by the crawl command itself
    assert source == {**source, "source": "plie-test", "status": "ok", "http_status": "200", "new": "3",
                      "seen": "3", "failed": "0"}
    assert "error" not in source
    assert [line["items"] for line in lines if line["event"] == "tag"] == ["3"]


def test_a_run_missed_while_stopped_is_caught_up_exactly_once(config_dir):
    config = load_config(config_dir)
    started = datetime.now(timezone.utc)
    every = {"learn": IntervalTrigger(seconds=4, start_date=started + timedelta(seconds=4))}
    with scheduler_running(config, every):
        pass  # stopped at once: its next run, in 4 s, is in the job store
    assert runs(config) == []
    time.sleep(max(0.0, (started + timedelta(seconds=9.5) - datetime.now(timezone.utc)).total_seconds()))
    # Down while two runs fell due (at +4 s and +8 s); the next is at +12 s.
    restarted = datetime.now(timezone.utc)
    with scheduler_running(config, {"learn": IntervalTrigger(seconds=4, start_date=started + timedelta(seconds=4))}):
        wait_for(lambda: finished(config, "learn"), what="the catch-up run")
    rows = runs(config)
    catch_up = [r for r in rows if r["trigger"] == CATCH_UP]
    assert len(catch_up) == 1, rows  # once, not once per missed time
    (row,) = catch_up
    assert row["scheduled_at"] == (started + timedelta(seconds=8)).isoformat(timespec="seconds")
    assert row["started_at"] >= restarted.isoformat(timespec="seconds")
    # Any other run is a regular one, due after the restart (the +12 s one, if the test got there).
    assert all(r["trigger"] == SCHEDULE and r["scheduled_at"] > restarted.isoformat() for r in rows if r is not row)
    # `veille learn` on an empty archive has nothing to learn: refused, not failed; the run says why.
    assert row["status"] == REFUSED and row["exit_code"] == 3 and "il en faut au moins 20" in row["output"]


def test_a_second_crawl_by_hand_is_refused_while_the_scheduled_one_runs(config_dir, mockserver):
    slow_site(config_dir, mockserver)
    config = load_config(config_dir)
    with scheduler_running(config, {"crawl": soon(0.5)}) as scheduler:
        wait_for(lambda: holder(config.db_path, "crawl"), what="the scheduled crawl to hold its lock")
        started = time.monotonic()
        by_hand = run_veille("crawl", "--config", str(config_dir), check=False, timeout=60)
        assert time.monotonic() - started < 30  # refused at once, not after the other crawl
        assert by_hand.returncode == BUSY_EXIT_CODE, by_hand.stderr
        assert by_hand.stderr.startswith("Erreur : Une collecte est déjà en cours (veille crawl, processus ")
        (running,) = [r for r in runs(config) if r["job"] == "crawl"]
        assert running["status"] == RUNNING and f"processus {running['pid']} " in by_hand.stderr
        # Stopping the scheduler ends the crawl it runs, and says so.
        stop_scheduler(scheduler, grace=5)
    (crawl,) = runs(config)  # no tagging after a crawl the stop interrupted
    assert crawl["status"] == INTERRUPTED and crawl["output"].endswith(STOPPED_NOTE)
    assert group_gone(crawl["pid"])
    archive = sqlite_utils.Database(config.db_path)
    assert archive.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_job_past_its_timeout_is_killed_and_reported(config_dir, mockserver):
    slow_site(config_dir, mockserver)
    configure(config_dir, timeouts={"crawl": 0.05})  # 3 seconds, for a crawl of ~10
    config = load_config(config_dir)
    with scheduler_running(config, {"crawl": soon(0.5)}):
        crawl, tag = wait_for(lambda: crawl_and_tag(config), what="crawl and tag")
    assert crawl["status"] == TIMEOUT and "tué après 0.05 min (schedule.timeouts.crawl" in crawl["output"]
    assert group_gone(crawl["pid"])  # the command and anything it started
    started, ended = (datetime.fromisoformat(crawl[k]) for k in ("started_at", "finished_at"))
    assert (ended - started).total_seconds() < 25  # killed, not left to finish its 12 slow pages
    with job_lock(config.db_path, "crawl", PARIS):
        pass  # a killed crawl holds no lock (its note may stay behind: harmless, see test_locks)
    # What the killed crawl stored is tagged all the same.
    assert tag["status"] == OK and tag["started_at"] >= crawl["finished_at"]
    (line,) = [line for line in log_lines(config) if line["event"] == "job_run" and line["job"] == "crawl"]
    assert line["level"] == "error" and line["status"] == "délai dépassé"


def test_the_bulletin_of_a_week_not_approved_waits_and_is_tried_again(config_dir):
    configure(config_dir, approval_retry_minutes=0.05)  # again after 3 seconds
    config = load_config(config_dir)
    week = previous_week(PARIS)
    with scheduler_running(config, {"bulletin": soon(0.5)}) as scheduler:
        first = wait_for(lambda: finished(config, "bulletin"), what="the scheduled send")[0]
        retry = wait_for(lambda: scheduler.get_job(RETRY_ID), 10, "the retry job")
        assert retry.args == (str(config_dir.resolve()), "", "", week)
        assert retry.next_run_time > datetime.now(timezone.utc)
        second = wait_for(lambda: finished(config, "bulletin", 2), what="the retry")[1]
        wait_for(lambda: scheduler.get_job(RETRY_ID), 10, "the next retry")  # still not approved: again
    assert (first["status"], first["exit_code"], first["trigger"]) == (REFUSED, 3, SCHEDULE)
    assert (second["status"], second["trigger"]) == (REFUSED, RETRY)
    assert f"le bulletin de la semaine {week} ne contient aucun article et n'a pas été validé" in first["output"]
    waiting = [line for line in log_lines(config) if line["event"] == "approval_waiting"]
    assert len(waiting) >= 2 and waiting[0]["week"] == week and "retry_at" in waiting[0]
    assert waiting[0]["reminded"] in ("true", "false")  # remind_unapproved answered (its e-mail: tests of alerts)
    # The retry job is persistent: a restarted scheduler still has it.
    scheduler = build_scheduler(config)
    scheduler.start(paused=True)
    try:
        assert scheduler.get_job(RETRY_ID).args[-1] == week
    finally:
        scheduler.shutdown()


def test_a_retry_for_a_week_gone_by_sends_nothing(config_dir):
    config = load_config(config_dir)
    setup_logging(config, stderr=False)
    try:
        bulletin_retry_job(str(config_dir), "", "", "2020-W01")
    finally:
        reset_logging()
    assert runs(config) == []  # not even tried
    (line,) = [line for line in log_lines(config) if line["event"] == "approval_retry_dropped"]
    assert line["week"] == "2020-W01" and line["level"] == "warning"


# ------------------------------------------------------------ veille schedule


def test_veille_schedule_starts_says_when_refuses_a_second_one_and_stops_on_sigterm(config_dir):
    config = load_config(config_dir)
    ops = open_operations_db(config.operations_db_path)
    ops["job_runs"].insert({"job": "crawl", "trigger": "schedule", "started_at": "2026-11-30T05:00:00+00:00",
                            "status": RUNNING})  # left by a scheduler that died with the machine
    ops.close()
    command = [sys.executable, "-m", "veille", "schedule", "--config", str(config_dir)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or not lines[-1].startswith("Arrêt :"):
            line = process.stdout.readline()
            assert line, process.stderr.read()
            lines.append(line.rstrip("\n"))
        assert lines[0].startswith("Planificateur démarré (tâches et exécutions dans ")
        jobs = {line.split()[0]: line for line in lines[1:-1]}
        assert set(jobs) == {"crawl", "learn", "bulletin"}
        assert all(" : prochaine exécution le " in line for line in jobs.values())
        assert " à 8 h 00" in jobs["bulletin"] and jobs["bulletin"].split(" le ")[1].startswith("lundi ")

        second = run_veille("schedule", "--config", str(config_dir), check=False, timeout=60)
        assert second.returncode == BUSY_EXIT_CODE
        assert second.stderr.startswith("Erreur : un planificateur tourne déjà sur ")

        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert "Planificateur arrêté." in out and "Traceback" not in err
    ops = sqlite_utils.Database(config.operations_db_path)
    assert sorted(r["id"] for r in ops["apscheduler_jobs"].rows) == ["bulletin", "crawl", "learn"]
    (stale,) = ops["job_runs"].rows
    assert stale["status"] == INTERRUPTED and "le planificateur s'est arrêté sans finir" in stale["output"]
    events = [line["event"] for line in log_lines(config)]
    assert events.count("scheduler_start") == 1 and "stale_runs_closed" in events and "scheduler_stop" in events
    assert [line for line in err.splitlines() if "event=scheduler_start" in line]  # stderr too (the journal)


# ----------------------------------------------------------------------- logs


def test_log_lines_are_key_value_quoted_when_needed():
    assert format_value("ok") == "ok" and format_value(3) == "3" and format_value(True) == "true"
    assert format_value(12.40) == "12.4" and format_value("") == '""'
    assert format_value("délai dépassé") == '"délai dépassé"'
    assert format_value('a "b"=c\nd') == '"a \\"b\\"=c\\nd"'
    assert logfmt({"event": "source", "error": None, "new": 0}) == "event=source new=0"


def test_setup_logging_twice_writes_each_line_once_and_survives_an_unwritable_log(config_dir, capfd):
    config = load_config(config_dir)
    try:
        setup_logging(config, stderr=False)
        setup_logging(config, stderr=False)
        log_event("source", source="cd33-presse", status="erreur", error="délai dépassé (1.5 s)")
    finally:
        reset_logging()
    (line,) = log_lines(config)
    assert line["source"] == "cd33-presse" and line["error"] == "délai dépassé (1.5 s)"

    blocked = config_dir.parent / "blocked"
    blocked.write_text("a file where the logs folder should be", encoding="utf-8")
    settings = yaml.safe_load((config_dir / "settings.yaml").read_text(encoding="utf-8"))
    settings["paths"]["logs"] = str(blocked)
    (config_dir / "settings.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    capfd.readouterr()
    try:
        assert setup_logging(load_config(config_dir), stderr=False) is None
        log_event("crawl", sources=1)
    finally:
        reset_logging()
    err = capfd.readouterr().err
    assert err.startswith(f"Attention : journal {blocked / 'veille.log'} impossible à écrire")
    assert "event=crawl sources=1" in err  # stderr still tells


def test_crawl_by_hand_logs_each_source(config_dir, mockserver):
    write_sources(config_dir, [{"id": "plie-test", "name": "PLIE", "type": "rss",
                                "url": f"{mockserver}/plie-test/feed.xml"},
                               {"id": "casse", "name": "Cassé", "type": "rss", "url": f"{mockserver}/faults/500.xml"}])
    result = run_veille("crawl", "--config", str(config_dir), check=False)
    assert result.returncode == 0, result.stderr
    config = load_config(config_dir)
    sources = {line["source"]: line for line in log_lines(config) if line["event"] == "source"}
    assert sources["plie-test"]["status"] == "ok" and sources["plie-test"]["level"] == "info"
    assert sources["casse"]["level"] == "warning" and sources["casse"]["status"] != "ok"
    assert sources["casse"]["http_status"] == "500" and sources["casse"]["error"]
    # Not a terminal: the same lines on stderr, for whoever runs it (cron, systemd, the scheduler).
    assert sum("event=source" in line for line in result.stderr.splitlines()) == 2
    summary = json.dumps([line for line in log_lines(config) if line["event"] == "crawl"])
    assert '"sources": "2"' in summary and '"failed_sources": "1"' in summary
