"""`veille schedule`: crawl (then tag), learn and send the bulletin at the times of settings.yaml,
unattended, for months.

- **Persistent**: APScheduler 3.11 with its SQLAlchemy job store in the operations database
  (`paths.operations_db`), so the next run time of each job survives a stop. At start a stored job
  whose trigger is unchanged is kept as stored (its arguments refreshed): a run that fell due while
  the scheduler was down is then made once at restart, within `schedule.misfire_grace_hours`
  (`coalesce`: several missed runs make one). A job whose cron changed is replaced (its next run
  counted from now); a job no longer configured is removed, except a pending `bulletin-retry`.
- **Subprocesses**: every run is `python -m veille …` in a session of its own (Twisted's reactor
  starts once per process, and a crashed command must not take the scheduler down), killed with its
  whole process group past `schedule.timeouts.<job>` minutes (SIGTERM, then SIGKILL after
  KILL_GRACE_SECONDS). Each run is a `job_runs` row of the operations database (status, exit code,
  the tail of its output, `trigger`: `schedule`, `catch-up` when it was due before this scheduler
  started or more than CATCH_UP_LATENESS ago, `retry`) and one `event=job_run` log line. Exit 75
  (another crawl, tagging or send holds the lock) and 3 (week not approved) are « refusé »; any
  other non-zero exit is « échec ». After each run `veille.alerts.check_alerts` compares the
  problems with the alerts already sent; its failure is logged, never fatal.
- **Crawl then tag** in one job: tagging follows each crawl that ran, even with failed sources, a
  crawl that failed or one killed at its timeout (the items it stored are worth tagging); it does
  not follow a crawl refused because another crawl holds the lock (this job collected nothing).
- **Bulletin**: `veille bulletin send --week <the week before>`. A week not approved (exit 3, with
  `bulletin.require_approval`) reminds the curator (`remind_unapproved`, once per week is its job)
  and adds a one-off `bulletin-retry` job `schedule.approval_retry_minutes` later, again and again
  while that week is still the week before; once a new week has begun, the next scheduled bulletin
  covers it and the retry stops without sending. A send refused because another send holds the lock
  is retried the same way (a re-run sends only what is missing).
- **Stop** (SIGTERM from systemd, or Ctrl-C): no new run starts; a running command gets SIGTERM (a
  crawl stops cleanly, a send is idempotent per subscriber), SIGKILL after KILL_GRACE_SECONDS, and
  its row says « interrompu par l'arrêt du planificateur ». Waiting for a crawl up to its timeout
  would hold a restart or a reboot for two hours. The next start closes any row a dead scheduler
  left « en cours ».
- **One scheduler per operations database**: a file lock beside it; a second `veille schedule`
  is refused (exit 75).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any, Callable

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.base import run_job
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_STOPPED
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from config.dates import current_week, shift_week
from config.errors import VeilleError
from config.loading import Config, load_config
from pipeline.operations import (CATCH_UP, FAILED, INTERRUPTED, OK, REFUSED, RETRY, SCHEDULE, TIMEOUT,
                                 close_stale_runs, finish_run, open_operations_db, set_run_pid, start_run)
from pipeline.approval import NotApproved
from veille.locks import BUSY_EXIT_CODE
from veille.logs import log_event as _log_event
from veille.logs import setup_logging

log = logging.getLogger("veille.schedule")

JOB_IDS = ("crawl", "learn", "bulletin")
RETRY_ID = "bulletin-retry"
JOB_LABELS = {"crawl": "collecte puis étiquetage", "learn": "apprentissage",
              "bulletin": "envoi du bulletin de la semaine précédente", RETRY_ID: "nouvel essai d'envoi du bulletin"}
KILL_GRACE_SECONDS = 10       # between SIGTERM and SIGKILL, at a timeout or a stop
CATCH_UP_LATENESS = timedelta(minutes=5)  # a run this late was missed (machine asleep), even if the scheduler ran
NOT_APPROVED_EXIT_CODE = NotApproved.exit_code  # 3: the week waits for the curator's approval
STOPPED_NOTE = "interrompu par l'arrêt du planificateur"


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """One `key=value` line on the scheduler's logger ("veille.schedule")."""
    _log_event(event, level, log_to=log, **fields)


# ---------------------------------------------------------------------- weeks


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


def retry_still_due(week: str, tz: tzinfo, now: datetime | None = None) -> bool:
    """Whether the retry of `week`'s refused bulletin should still try: while `week` is the week before
    now. Once a new week has begun, the next scheduled bulletin covers the week that just ended and
    takes over; `week` is then left unsent (the curator can still send it by hand)."""
    return previous_week(tz, now) == week


# ------------------------------------------------------- running the commands


class Processes:
    """The commands running now, each the leader of its own process group, so that a timeout or
    a stop ends the command and everything it started."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[int, subprocess.Popen] = {}
        self._interrupted: set[int] = set()
        self.stopping = threading.Event()

    def spawn(self, command: list[str]) -> subprocess.Popen | None:
        """Start `command`, or None when the scheduler is stopping."""
        with self._lock:
            if self.stopping.is_set():
                return None
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace",
                                       start_new_session=True)
            self._running[process.pid] = process
            return process

    def interrupted(self, process: subprocess.Popen) -> bool:
        """Whether the stop ended `process` (a crawl may then exit 0, having stopped cleanly)."""
        with self._lock:
            return process.pid in self._interrupted

    def forget(self, process: subprocess.Popen) -> None:
        with self._lock:
            self._running.pop(process.pid, None)

    def stop_all(self, grace: float = KILL_GRACE_SECONDS) -> int:
        """Start no more commands; end those running (SIGTERM, SIGKILL after `grace`). Returns how many."""
        with self._lock:
            self.stopping.set()
            running = list(self._running.values())
            self._interrupted.update(p.pid for p in running)
        for process in running:
            signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(p.poll() is None for p in running) and time.monotonic() < deadline:
            time.sleep(0.1)  # the job threads read the output meanwhile: no pipe fills up
        for process in running:
            signal_group(process, signal.SIGKILL)  # also any child left in the group by a leader gone
        return len(running)


def signal_group(process: subprocess.Popen, sig: int) -> None:
    """Send `sig` to the process group `process` leads (its session: start_new_session)."""
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone already


@dataclass
class RunContext:
    """What the executor knows of a run and the job function does not: when it was due, whether it
    is a catch-up, the scheduler (to add a retry) and the running commands (to stop them)."""

    trigger: str = SCHEDULE
    scheduled_at: datetime | None = None
    executor: "JobExecutor | None" = None
    processes: Processes = field(default_factory=Processes)


_current = threading.local()


def current_context() -> RunContext:
    """The context of the run in this thread; a plain one when a job function is called directly."""
    return getattr(_current, "context", None) or RunContext()


def _run_in_context(context: RunContext, job, jobstore_alias, run_times, logger_name):
    _current.context = context
    try:
        return run_job(job, jobstore_alias, run_times, logger_name)
    finally:
        _current.context = None


class JobExecutor(ThreadPoolExecutor):
    """APScheduler's thread pool, telling each run whether it is a catch-up (APScheduler knows the
    time a run was due; the job function does not) and keeping the running commands to stop them."""

    def __init__(self, config: Config | None = None, max_workers: int = 4) -> None:
        super().__init__(max_workers)
        self.config = config  # the settings the scheduler started with: a fallback if settings.yaml breaks
        self.processes = Processes()
        self.started_at = datetime.now(timezone.utc)

    def start(self, scheduler, alias) -> None:
        super().start(scheduler, alias)
        self.started_at = datetime.now(timezone.utc)
        self.processes = Processes()

    @property
    def scheduler(self):
        return getattr(self, "_scheduler", None)  # set by start()

    def _do_submit_job(self, job, run_times) -> None:
        due = run_times[-1]
        late = datetime.now(timezone.utc) - due
        trigger = CATCH_UP if due < self.started_at or late > CATCH_UP_LATENESS else SCHEDULE
        context = RunContext(trigger, due, self, self.processes)

        def callback(future):
            exc = future.exception()
            if exc:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, future.result())

        future = self._pool.submit(_run_in_context, context, job, job._jobstore_alias, run_times, self._logger.name)
        future.add_done_callback(callback)


@dataclass
class RunResult:
    job: str
    status: str
    exit_code: int | None
    output: str
    pid: int | None
    duration_s: float


def _status(exit_code: int) -> str:
    if exit_code == 0:
        return OK
    if exit_code in (BUSY_EXIT_CODE, NOT_APPROVED_EXIT_CODE):
        return REFUSED
    return FAILED


def _last_error(output: str) -> str | None:
    """The command's « Erreur : … » line, else its last line: what the log line and the reminder quote."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("Erreur : "):
            return line.removeprefix("Erreur : ")
    return lines[-1] if lines else None


@dataclass
class JobRunner:
    """One run of a job function: its configuration, its databases, its context."""

    config: Config
    config_dir: str
    db: str
    subscribers_db: str
    context: RunContext

    @classmethod
    def create(cls, config_dir: str, db: str | None, subscribers_db: str | None,
               trigger: str | None = None) -> "JobRunner":
        config_dir, db, subscribers_db = str(config_dir), str(db or ""), str(subscribers_db or "")
        context = current_context()
        if trigger:
            context = RunContext(trigger, context.scheduled_at, context.executor, context.processes)
        try:
            config = load_config(config_dir)  # fresh: timeouts, alerts, approval follow settings.yaml
        except VeilleError as e:
            fallback = context.executor.config if context.executor else None
            if fallback is None:
                raise
            log_event("config_error", logging.ERROR, error=str(e))
            config = fallback  # the command itself will fail with the same message, recorded below
        return cls(config, config_dir, db, subscribers_db, context)

    @property
    def db_path(self) -> Path | None:
        return Path(self.db) if self.db else None

    @property
    def subscribers_db_path(self) -> Path | None:
        return Path(self.subscribers_db) if self.subscribers_db else None

    @property
    def stopping(self) -> bool:
        return self.context.processes.stopping.is_set()

    def arguments(self, *args: str, subscribers: bool = False) -> list[str]:
        common = ["--config", self.config_dir] + (["--db", self.db] if self.db else [])
        extra = ["--subscribers-db", self.subscribers_db] if subscribers and self.subscribers_db else []
        return [*args, *common, *extra]

    def run(self, job: str, args: list[str], timeout_minutes: float) -> RunResult | None:
        """Run `veille ARGS` as the job `job`, recorded and logged; None when the scheduler is stopping."""
        if self.stopping:
            return None
        ops = open_operations_db(self.config.operations_db_path)
        try:
            scheduled = self.context.scheduled_at
            run_id = start_run(ops, job, self.context.trigger, host=socket.gethostname(),
                               scheduled_at=scheduled.astimezone(timezone.utc).isoformat(timespec="seconds")
                               if scheduled else None)
            result = self._execute(job, args, timeout_minutes * 60, lambda pid: set_run_pid(ops, run_id, pid))
            finish_run(ops, run_id, result.status, result.exit_code, result.output)
        finally:
            ops.close()
        level = {OK: logging.INFO, REFUSED: logging.WARNING}.get(result.status, logging.ERROR)
        log_event("job_run", level, job=job, trigger=self.context.trigger, status=result.status,
                  exit_code=result.exit_code, duration_s=round(result.duration_s, 1), pid=result.pid, run=run_id,
                  error=None if result.status == OK else _last_error(result.output))
        self.check_alerts()
        return result

    def _execute(self, job: str, args: list[str], timeout_s: float, on_start: Callable[[int], None]) -> RunResult:
        started = time.monotonic()
        process = self.context.processes.spawn([sys.executable, "-m", "veille", *args])
        if process is None:
            return RunResult(job, INTERRUPTED, None, STOPPED_NOTE, None, 0.0)
        try:
            on_start(process.pid)
            try:
                output, _ = process.communicate(timeout=timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                timed_out = True
                signal_group(process, signal.SIGTERM)  # a crawl stops cleanly and records its sources
                try:
                    output, _ = process.communicate(timeout=KILL_GRACE_SECONDS)
                except subprocess.TimeoutExpired:
                    signal_group(process, signal.SIGKILL)
                    output, _ = process.communicate()
                signal_group(process, signal.SIGKILL)  # whatever the command started and left behind
        finally:
            self.context.processes.forget(process)
        output = output or ""
        if timed_out:
            status = TIMEOUT
            output += (f"\ntué après {timeout_s / 60:g} min (schedule.timeouts.{job} de settings.yaml)")
        elif self.context.processes.interrupted(process):
            status = INTERRUPTED
            output += f"\n{STOPPED_NOTE}"
        else:
            status = _status(process.returncode)
        return RunResult(job, status, process.returncode, output, process.pid, time.monotonic() - started)

    def check_alerts(self) -> None:
        """Tell the mission officer what went wrong or came right; never fatal to the scheduler."""
        if self.stopping:
            return
        try:
            from veille.alerts import check_alerts

            check_alerts(self.config, self.db_path, self.subscribers_db_path)
        except Exception as e:  # noqa: BLE001 - a broken alert must not stop the crawls
            log_event("alerts_error", logging.ERROR, error=f"{type(e).__name__}: {e}")

    def schedule_retry(self, week: str) -> datetime | None:
        """Add (or replace) the one-off job that tries `week` again; None when no scheduler runs."""
        executor = self.context.executor
        if executor is None or executor.scheduler is None:
            return None
        schedule = self.config.settings.schedule
        when = datetime.now(self.config.settings.tz) + timedelta(minutes=schedule.approval_retry_minutes)
        executor.scheduler.add_job(
            bulletin_retry_job, DateTrigger(run_date=when, timezone=self.config.settings.tz),
            args=(self.config_dir, self.db, self.subscribers_db, week), id=RETRY_ID, name=RETRY_ID,
            replace_existing=True, **job_options(self.config))
        return when


# ------------------------------------------------------------- job functions
# Module-level with string arguments: the job store pickles a reference to the function and its arguments.


def crawl_job(config_dir: str, db: str = "", subscribers_db: str = "") -> None:
    """`veille crawl`, then `veille tag` unless the crawl was refused (another crawl holds the lock)."""
    runner = JobRunner.create(config_dir, db, subscribers_db)
    timeouts = runner.config.settings.schedule.timeouts
    crawl = runner.run("crawl", runner.arguments("crawl"), timeouts.crawl)
    if crawl is None or crawl.status == REFUSED or runner.stopping:
        return
    runner.run("tag", runner.arguments("tag"), timeouts.tag)


def learn_job(config_dir: str, db: str = "", subscribers_db: str = "") -> None:
    """`veille learn`: retrain on the curator's decisions."""
    runner = JobRunner.create(config_dir, db, subscribers_db)
    runner.run("learn", runner.arguments("learn"), runner.config.settings.schedule.timeouts.learn)


def bulletin_job(config_dir: str, db: str = "", subscribers_db: str = "", _timezone: str | None = None) -> None:
    """`veille bulletin send` of the week before (the week that just ended, on Monday). `_timezone`:
    accepted for callers of the earlier signature; the settings' time zone counts."""
    runner = JobRunner.create(config_dir, db, subscribers_db)
    _send_week(runner, previous_week(runner.config.settings.tz))


def bulletin_retry_job(config_dir: str, db: str, subscribers_db: str, week: str) -> None:
    """The send of `week` again, after a refusal, while that week is still the week before."""
    runner = JobRunner.create(config_dir, db, subscribers_db, trigger=RETRY)
    if not retry_still_due(week, runner.config.settings.tz):
        log_event("approval_retry_dropped", logging.WARNING, week=week,
                  reason="nouvelle semaine : le prochain bulletin programmé prend le relais")
        return
    _send_week(runner, week)


def _send_week(runner: JobRunner, week: str) -> None:
    settings = runner.config.settings
    result = runner.run("bulletin", runner.arguments("bulletin", "send", "--week", week, subscribers=True),
                        settings.schedule.timeouts.bulletin)
    if result is None or runner.stopping:
        return
    waiting = result.exit_code == NOT_APPROVED_EXIT_CODE and settings.bulletin.require_approval
    if waiting:
        reason = _last_error(result.output) or f"la semaine {week} n'est pas validée"
        try:
            from veille.alerts import remind_unapproved

            reminded = remind_unapproved(runner.config, week, reason, db_path=runner.db_path)
        except Exception as e:  # noqa: BLE001 - the retry below matters more than the reminder
            log_event("alerts_error", logging.ERROR, error=f"{type(e).__name__}: {e}")
            reminded = False
        retry_at = runner.schedule_retry(week)
        log_event("approval_waiting", logging.WARNING, week=week, reminded=bool(reminded),
                  retry_at=retry_at.isoformat(timespec="seconds") if retry_at else None, reason=reason)
    elif result.exit_code == BUSY_EXIT_CODE:
        retry_at = runner.schedule_retry(week)
        log_event("send_busy", logging.WARNING, week=week,
                  retry_at=retry_at.isoformat(timespec="seconds") if retry_at else None)


JOB_FUNCTIONS: dict[str, Callable[..., None]] = {"crawl": crawl_job, "learn": learn_job, "bulletin": bulletin_job}


# ------------------------------------------------------------- the scheduler


@dataclass(frozen=True)
class JobSpec:
    id: str
    func: Callable[..., None]
    trigger: BaseTrigger
    args: tuple[str, ...]


def job_options(config: Config) -> dict[str, Any]:
    """One run at a time per job; runs missed while down merge into one, made within the grace time."""
    return {"coalesce": True, "max_instances": 1,
            "misfire_grace_time": int(config.settings.schedule.misfire_grace_hours * 3600)}


def job_specs(config: Config, db_path: Path | None = None, subscribers_db_path: Path | None = None,
              triggers: dict[str, BaseTrigger] | None = None) -> list[JobSpec]:
    """The jobs the settings ask for, at their cron times. `triggers` (tests) replaces them: only the
    jobs it names are scheduled, at its triggers."""
    tz = config.settings.tz
    schedule = config.settings.schedule
    if triggers is None:
        triggers = {job: CronTrigger.from_crontab(getattr(schedule, job), timezone=tz) for job in JOB_IDS}
    args = (str(config.dir.resolve()), str(Path(db_path).resolve()) if db_path else "",
            str(Path(subscribers_db_path).resolve()) if subscribers_db_path else "")
    return [JobSpec(job, JOB_FUNCTIONS[job], triggers[job], args) for job in JOB_IDS if job in triggers]


def same_trigger(a: BaseTrigger, b: BaseTrigger) -> bool:
    """Same kind, same fields, same time zone: the stored job's next run time still holds."""
    return (type(a) is type(b) and str(a) == str(b)
            and str(getattr(a, "timezone", None)) == str(getattr(b, "timezone", None)))


class Scheduler(BackgroundScheduler):
    """APScheduler's background scheduler, minus one round too many: in 3.11 its loop looks for due
    jobs once more after shutdown(), submits them to the executor already shut down (an error) and
    moves their next run time on, so a run due at a stop would be lost instead of caught up."""

    job_executor: JobExecutor

    def _process_jobs(self):
        if self.state == STATE_STOPPED:
            return None
        return super()._process_jobs()


def build_scheduler(config: Config) -> Scheduler:
    """A scheduler on the operations database's job store, not started (see start_scheduler)."""
    path = config.operations_db_path
    open_operations_db(path).close()  # created, in WAL mode, before SQLAlchemy opens it
    store = SQLAlchemyJobStore(url=f"sqlite:///{path.resolve()}", engine_options={"connect_args": {"timeout": 30}})
    executor = JobExecutor(config)
    scheduler = Scheduler(timezone=config.settings.tz, jobstores={"default": store},
                          executors={"default": executor}, job_defaults=job_options(config))
    scheduler.job_executor = executor
    scheduler.add_listener(_log_job_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)
    return scheduler


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def _log_job_event(event) -> None:
    """APScheduler's own news of a job, as log lines: a run dropped, skipped, or a job function that
    crashed before or after its command (its command's failures are job_runs rows)."""
    if event.code == EVENT_JOB_MISSED:
        log_event("job_missed", logging.WARNING, job=event.job_id, scheduled_at=_utc(event.scheduled_run_time),
                  reason="en retard de plus de schedule.misfire_grace_hours : abandonnée")
    elif event.code == EVENT_JOB_MAX_INSTANCES:
        log_event("job_skipped", logging.WARNING, job=event.job_id,
                  scheduled_at=_utc(event.scheduled_run_times[-1]),
                  reason="la précédente exécution n'est pas finie")
    elif isinstance(event, JobExecutionEvent) and event.exception is not None:
        log_event("job_error", logging.ERROR, job=event.job_id, scheduled_at=_utc(event.scheduled_run_time),
                  error=f"{type(event.exception).__name__}: {event.exception}", traceback=event.traceback)


def sync_jobs(scheduler, config: Config, specs: list[JobSpec]) -> dict[str, str]:
    """Bring the stored jobs in line with `specs` without losing a missed run; returns what was done
    with each job: kept (same trigger: its stored next run time stands, even if past), replaced
    (trigger changed: next run counted from now), added, removed."""
    stored = {job.id: job for job in scheduler.get_jobs()}
    actions = {}
    for spec in specs:
        old = stored.get(spec.id)
        options = dict(args=spec.args, id=spec.id, name=spec.id, replace_existing=True, **job_options(config))
        if old is not None and old.next_run_time is not None and same_trigger(old.trigger, spec.trigger):
            scheduler.add_job(spec.func, old.trigger, next_run_time=old.next_run_time, **options)
            actions[spec.id] = "kept"
        else:
            scheduler.add_job(spec.func, spec.trigger, **options)
            actions[spec.id] = "replaced" if old is not None else "added"
    for job_id in set(stored) - {spec.id for spec in specs} - {RETRY_ID}:
        scheduler.remove_job(job_id)
        actions[job_id] = "removed"
    for job_id, action in sorted(actions.items()):
        log_event("job_sync", job=job_id, action=action)
    return actions


def start_scheduler(scheduler, config: Config, specs: list[JobSpec],
                    announce: Callable[[Any], None] | None = None) -> dict[str, str]:
    """Start `scheduler` paused, sync its stored jobs with `specs`, `announce(scheduler)` (the jobs
    as they stand, a missed run still due), then let due runs go."""
    scheduler.start(paused=True)
    actions = sync_jobs(scheduler, config, specs)
    if announce:
        announce(scheduler)
    scheduler.resume()
    return actions


def stop_scheduler(scheduler, grace: float = KILL_GRACE_SECONDS) -> None:
    """No new run; running commands ended (SIGTERM, then SIGKILL after `grace`) and their rows written."""
    scheduler.pause()
    stopped = scheduler.job_executor.processes.stop_all(grace)
    scheduler.shutdown(wait=True)  # the job threads record their runs before it returns
    log_event("scheduler_stop", interrupted=stopped)


def describe_jobs(scheduler, tz: tzinfo, now: datetime | None = None) -> list[str]:
    """One French line per job with its next run time (« en retard » when it is due at once)."""
    from config.dates import french_date

    now = now or datetime.now(timezone.utc)
    lines = []
    for job in sorted(scheduler.get_jobs(), key=lambda j: j.next_run_time or now):
        label = JOB_LABELS.get(job.id, job.id)
        if job.id == RETRY_ID and job.args:
            label += f" {job.args[-1]}"
        if job.next_run_time is None:
            lines.append(f"  {job.id} ({label}) : en pause")
            continue
        moment = job.next_run_time.astimezone(tz)
        late = ""
        if job.next_run_time <= now:
            too_late = job.misfire_grace_time is not None and (now - job.next_run_time).total_seconds() > \
                job.misfire_grace_time
            late = (" — manquée depuis plus de schedule.misfire_grace_hours : abandonnée, la suivante à son heure"
                    if too_late else " — en retard, rattrapée maintenant")
        lines.append(f"  {job.id} ({label}) : prochaine exécution le {french_date(moment, weekday=True)} "
                     f"à {moment.hour} h {moment.minute:02d}{late}")
    return lines


def run_scheduler(config: Config, db_path: Path | None = None, subscribers_db_path: Path | None = None) -> None:
    """`veille schedule`: run until SIGTERM or SIGINT, then stop cleanly (see the module's docstring)."""
    import click
    from filelock import FileLock, Timeout

    from veille.locks import JobBusy  # exit code 75, like a crawl refused for a crawl already running

    setup_logging(config, stderr=True)
    ops_path = config.operations_db_path
    ops_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(f"{ops_path.resolve()}.schedule.lock", timeout=0, thread_local=False, is_singleton=False)
    try:
        lock.acquire()
    except Timeout:
        raise JobBusy(f"un planificateur tourne déjà sur {ops_path} : un seul à la fois (arrêtez l'autre "
                      "d'abord, par exemple son service systemd)") from None
    try:
        ops = open_operations_db(ops_path)
        closed = close_stale_runs(ops, "interrompu : le planificateur s'est arrêté sans finir cette exécution")
        ops.close()
        if closed:
            log_event("stale_runs_closed", logging.WARNING, runs=closed)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())

        def announce(scheduler) -> None:
            log_event("scheduler_start", pid=os.getpid(), operations_db=str(ops_path))
            click.echo(f"Planificateur démarré (tâches et exécutions dans {ops_path}) :")
            for line in describe_jobs(scheduler, config.settings.tz):
                click.echo(line)
            click.echo("Arrêt : Ctrl-C ou SIGTERM (une commande en cours est arrêtée, et notée comme interrompue).")

        scheduler = build_scheduler(config)
        start_scheduler(scheduler, config, job_specs(config, db_path, subscribers_db_path), announce)
        while not stop.wait(1):
            pass
        click.echo("Arrêt du planificateur…")
        stop_scheduler(scheduler)
        click.echo("Planificateur arrêté.")
    finally:
        lock.release()
