"""`veille status`: what the unattended Veille did, what it will do next, and what needs attention.

One read of the three databases (the archive, the subscribers, the operations database of the
scheduler) gives a `Status`; `find_problems` turns it into the list of `Problem`s — the one place
that decides what is wrong, used by `veille status` (its exit code) and by the e-mail alerts
(veille/alerts.py). A problem has a stable `key` (`source-failing:<id>`, `source-silent:<id>`,
`send-failures:<week>`, `job-failed:<job>`, `job-late:<job>`), so that an alert is sent once per
problem and « rétabli » once when its key is gone.

Reading never writes: each database is opened without creating it and with writes refused
(SQLite `mode=rw` and `PRAGMA query_only`; `mode=ro` for a user who may not write there), nothing
is created or migrated, and a missing subscribers or operations database is simply "nothing yet"
(no bulletin sent, the scheduler never ran). Only a missing archive is an error for `veille
status`: every figure is about it, and a wrong `--db` must not look like a healthy install.

When is a job late? Its period is the longest gap between consecutive fire times of its cron in
settings.yaml (`tag` follows each crawl: the crawl's), and it is late when its last run started
more than twice that long ago. Only once the scheduler has run anything on this install (any row
in `job_runs`): a job that never ran is measured from the scheduler's first run. An archive that
the scheduler never handled (the demo's, a crawl by hand) has no late jobs.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING

import click

from config.errors import VeilleError
from pipeline.health import DISABLED, SILENT
from veille.cli_support import check_separate, db_option, subscribers_db_option, with_config

if TYPE_CHECKING:  # `veille --help` imports this module: sqlite-utils and the config's models only when run
    import sqlite_utils

    from config.loading import Config

# The jobs of `veille schedule` (pipeline.operations.JOBS), by their French names.
JOB_LABELS = {"crawl": "collecte", "tag": "étiquetage", "learn": "apprentissage", "bulletin": "envoi du bulletin"}
# Where the next run of a job comes from.
NEXT_FROM_STORE, NEXT_COMPUTED, NEXT_AFTER_CRAWL = "planificateur", "calculée", "après la collecte"
PERIOD_SAMPLES = 60  # fire times looked at to find a cron's longest gap (a year of a weekly job)
LATE_FACTOR = 2      # a job is late after twice its period without a run
SHOWN_FAILURES = 5   # addresses named in a send-failures problem
OUTCOME_HISTORY = 500  # runs of a job looked at to date its current streak of failures


@dataclass
class Problem:
    """Something that needs the mission officer's attention. `key` is stable while the problem lasts."""

    key: str
    kind: str            # source-failing, source-silent, send-failures, job-failed, job-late
    subject: str         # one French line: what is wrong
    detail: str          # French: the facts
    action: str          # French: what to do
    since: str | None    # ISO UTC: since when it is wrong, when known
    notified_at: str | None = None  # when the alert e-mail went out (from the operations database)


@dataclass
class JobState:
    job: str
    label: str
    last_run: dict | None          # the latest job_runs row: started_at, finished_at, status, exit_code, trigger
    next_run: str | None           # ISO UTC
    next_run_from: str | None      # NEXT_FROM_STORE, NEXT_COMPUTED, NEXT_AFTER_CRAWL
    period_hours: float | None
    last_outcome: dict | None = None  # the latest run that ended ok, failed or timed out
    failing_since: str | None = None  # start of the first run of the current streak of failures
    late_since: str | None = None     # the run (or first run of the scheduler) it is late since


@dataclass
class SourceState:
    id: str
    name: str
    state: str                 # pipeline.health's: ok, en échec, silencieuse, jamais collectée, désactivée
    failed_in_row: int         # crawls failed in a row, up to now
    failing_since: str | None  # the first of them
    last_error: str | None
    last_success_at: str | None
    last_item_at: str | None
    items_per_week: float
    repair: str | None = None  # why it needs mending (crawlers.discovery.repair_reason): `veille sources repair`
    proposal: dict | None = None  # what discovery proposed for it after a crawl (veille/repairs.py), if looked for


@dataclass
class Status:
    generated_at: str
    archive: str
    scheduler_set_up: bool
    jobs: dict[str, JobState]
    last_crawl: dict | None
    sources: list[SourceState]
    failing_runs: int
    last_bulletin: dict | None
    next_bulletin: dict | None
    disk: dict[str, int | None]
    alerts_to: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict:
        """The object of `veille status --json` (keys documented in the command's help)."""
        failing = [s for s in self.sources if s.failed_in_row]
        silent = [s for s in self.sources if s.state == SILENT]
        return {
            "ok": self.ok,
            "generated_at": self.generated_at,
            "archive": self.archive,
            "scheduler": {"set_up": self.scheduler_set_up},
            "jobs": {name: {"label": j.label, "last_run": j.last_run, "next_run": j.next_run,
                            "next_run_from": j.next_run_from, "period_hours": j.period_hours}
                     for name, j in self.jobs.items()},
            "last_crawl": self.last_crawl,
            "sources": {
                "enabled": sum(1 for s in self.sources if s.state != DISABLED),
                "failing_runs": self.failing_runs,
                "failing": [{"id": s.id, "name": s.name, "failed_in_row": s.failed_in_row, "since": s.failing_since,
                             "last_error": s.last_error, "repair": s.repair,
                             "proposal": s.proposal} for s in failing],
                "silent": [{"id": s.id, "name": s.name, "last_item_at": s.last_item_at,
                            "items_per_week": s.items_per_week} for s in silent],
            },
            "last_bulletin": self.last_bulletin,
            "next_bulletin": self.next_bulletin,
            "disk": self.disk,
            "alerts_to": self.alerts_to,
            "problems": [asdict(p) for p in self.problems],
        }


# ------------------------------------------------------------------ reading


def open_read_only(path: Path | str) -> sqlite_utils.Database | None:
    """The SQLite file at `path` opened read-only, or None when there is no such file. Nothing is
    created, migrated or written, even beside it."""
    import sqlite_utils

    path = Path(path)
    if not path.is_file():
        return None
    # `mode=rw` never creates the file; `query_only` refuses any write. Not `mode=ro`: a read-only
    # connection to a WAL database leaves its -wal and -shm files behind, which this one, the last
    # to close, removes as usual.
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=10)
    except sqlite3.OperationalError:  # a monitoring account without write access to the file
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    db = sqlite_utils.Database(connection)
    try:
        db.execute("PRAGMA query_only = ON")
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as e:
        connection.close()
        raise VeilleError(f"{path} n'est pas une base SQLite utilisable ({e})") from None
    return db


def _has(db: sqlite_utils.Database | None, table: str) -> bool:
    return db is not None and db[table].exists()


def _moment(iso: str | None) -> datetime | None:
    """A stored timestamp as an aware datetime (naive ones are UTC)."""
    if not iso:
        return None
    moment = datetime.fromisoformat(iso)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def cron_period(cron: str, tz: tzinfo, now: datetime) -> timedelta:
    """The longest gap between consecutive fire times of `cron` from `now` on (the night between two
    crawls, not the hours between the day's ones)."""
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(cron, timezone=tz)
    times = []
    moment = trigger.get_next_fire_time(None, now)
    while moment is not None and len(times) < PERIOD_SAMPLES:
        times.append(moment)
        moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
    gaps = [b - a for a, b in zip(times, times[1:])]
    return max(gaps) if gaps else timedelta(days=365)


def _job_crons(config: Config) -> dict[str, str]:
    schedule = config.settings.schedule
    return {"crawl": schedule.crawl, "tag": schedule.crawl, "learn": schedule.learn, "bulletin": schedule.bulletin}


def _jobs(config: Config, ops: sqlite_utils.Database | None, now: datetime) -> tuple[dict[str, JobState], bool]:
    """Each job's last run, next run and period; and whether the scheduler ever ran here."""
    from apscheduler.triggers.cron import CronTrigger

    from veille.schedule import JOB_LABELS as SCHEDULE_LABELS  # its other jobs (bulletin-retry)

    tz = config.settings.tz
    runs: dict[str, list[dict]] = {}
    first_run = None
    if _has(ops, "job_runs"):
        first_run = ops.execute("SELECT MIN(started_at) FROM job_runs").fetchone()[0]
        for row in ops.execute_returning_dicts(
                "SELECT id, job, trigger, started_at, finished_at, status, exit_code FROM job_runs "
                "WHERE id IN (SELECT MAX(id) FROM job_runs GROUP BY job)"):
            runs[row["job"]] = [row]
    stored: dict[str, float | None] = {}
    if _has(ops, "apscheduler_jobs"):
        stored = {row[0]: row[1] for row in ops.execute("SELECT id, next_run_time FROM apscheduler_jobs")}
    set_up = first_run is not None
    crons = _job_crons(config)
    jobs = {}
    for name in [*JOB_LABELS, *sorted((set(runs) | set(stored)) - set(JOB_LABELS))]:
        last = runs.get(name, [None])[0]
        if name in stored:
            epoch = stored[name]
            next_run = _iso(datetime.fromtimestamp(epoch, timezone.utc)) if epoch is not None else None
            next_from = NEXT_FROM_STORE
        elif name == "tag":
            next_run, next_from = None, NEXT_AFTER_CRAWL
        elif name in crons:
            fire = CronTrigger.from_crontab(crons[name], timezone=tz).get_next_fire_time(None, now)
            next_run, next_from = (_iso(fire) if fire else None), NEXT_COMPUTED
        else:
            next_run, next_from = None, None
        period = cron_period(crons[name], tz, now) if name in crons else None
        job = JobState(name, JOB_LABELS.get(name) or SCHEDULE_LABELS.get(name, name), last, next_run, next_from,
                       round(period.total_seconds() / 3600, 2) if period else None)
        if ops is not None and last is not None:
            _outcome(ops, job)
        if set_up and period is not None:
            reference = last["started_at"] if last else first_run
            if now - _moment(reference) > LATE_FACTOR * period:
                job.late_since = reference
        jobs[name] = job
    if "tag" in jobs and jobs["tag"].next_run is None and jobs["crawl"].next_run:
        jobs["tag"].next_run = jobs["crawl"].next_run  # tagging follows the next crawl
    return jobs, set_up


def _outcome(ops: sqlite_utils.Database, job: JobState) -> None:
    """The job's latest run that ended (ok, failed or timed out: a refusal, a run the scheduler's own
    stop cut short or a run in progress says nothing of its health), and since when it fails if it does."""
    from pipeline.operations import FAILED, OK, TIMEOUT

    rows = ops.execute_returning_dicts(
        "SELECT started_at, finished_at, status, exit_code, output FROM job_runs WHERE job = ? "
        "AND status IN (?, ?, ?) ORDER BY id DESC LIMIT ?", [job.job, OK, FAILED, TIMEOUT, OUTCOME_HISTORY])
    ended = rows
    if not ended:
        return
    job.last_outcome = {key: ended[0][key] for key in ("started_at", "finished_at", "status", "exit_code")}
    if ended[0]["status"] != OK:
        for row in ended:
            if row["status"] == OK:
                break
            job.failing_since = row["started_at"]


def _sources(archive: sqlite_utils.Database, sources, now: datetime,
             ops: sqlite_utils.Database | None) -> list[SourceState]:
    from crawlers.discovery import repair_reason
    from pipeline.health import source_health
    from pipeline.operations import repair_proposals

    proposals = repair_proposals(ops) if ops is not None else {}
    states = []
    for health in source_health(archive, sources, now):
        failed, since = 0, None
        if health.state != DISABLED:
            failed, since = archive.execute(
                "SELECT COUNT(*), MIN(started_at) FROM source_runs WHERE source_id = ? AND status != 'ok' "
                "AND started_at > COALESCE((SELECT MAX(started_at) FROM source_runs WHERE source_id = ? "
                "AND status = 'ok'), '')", [health.id, health.id]).fetchone()
        states.append(SourceState(health.id, health.name, health.state, failed, since, health.last_error,
                                  health.last_success_at, health.last_item_at, health.items_per_week,
                                  (reason := repair_reason(health)),
                                  proposals.get(health.id) if reason else None))
    return states


def _last_crawl(archive: sqlite_utils.Database) -> dict | None:
    rows = archive.execute_returning_dicts(
        "SELECT id, started_at, finished_at, sources, items_new, requests FROM crawls "
        "ORDER BY COALESCE(finished_at, started_at) DESC LIMIT 1") if _has(archive, "crawls") else []
    if not rows:
        return None
    crawl = rows[0]
    crawl["sources_failed"] = archive.execute(
        "SELECT COUNT(*) FROM source_runs WHERE crawl_id = ? AND status != 'ok'", [crawl["id"]]).fetchone()[0]
    return crawl


def _approval(archive: sqlite_utils.Database, week: str) -> dict:
    """Who approved the week last and when (None, None when never)."""
    if not _has(archive, "approvals"):
        return {"approved_by": None, "approved_at": None}
    rows = archive.execute_returning_dicts(
        "SELECT approved_by, approved_at FROM approvals WHERE week = ? ORDER BY id DESC LIMIT 1", [week])
    return rows[0] if rows else {"approved_by": None, "approved_at": None}


def _last_bulletin(archive: sqlite_utils.Database, subscribers: sqlite_utils.Database | None) -> dict | None:
    """The latest week sent (or tried): counts by outcome, the permanent failures not yet dealt with
    (their subscriber is still subscribed), and the approval it went out under."""
    if not _has(subscribers, "sends"):
        return None
    week = subscribers.execute("SELECT MAX(week) FROM sends").fetchone()[0]
    if week is None:
        return None
    counts = dict(subscribers.execute("SELECT status, COUNT(*) FROM sends WHERE week = ? GROUP BY status", [week]))
    open_failures = []
    if _has(subscribers, "subscribers"):
        open_failures = subscribers.execute_returning_dicts(
            "SELECT sends.email, sends.error, sends.updated_at FROM sends JOIN subscribers ON subscribers.id = "
            "sends.subscriber_id WHERE sends.week = ? AND sends.status = 'failed' AND subscribers.unsubscribed_at "
            "IS NULL ORDER BY sends.updated_at, sends.email", [week])
    last_at = subscribers.execute("SELECT MAX(updated_at) FROM sends WHERE week = ?", [week]).fetchone()[0]
    return {"week": week, **_approval(archive, week), "sent": counts.get("sent", 0),
            "failed": counts.get("failed", 0), "deferred": counts.get("deferred", 0), "last_send_at": last_at,
            "failures_to_handle": open_failures}


def _next_bulletin(config: Config, archive: sqlite_utils.Database, subscribers: sqlite_utils.Database | None,
                   now: datetime) -> dict | None:
    from pipeline.approval import approval_status
    from veille.schedule import next_bulletin_week

    if not _has(archive, "items"):
        return None
    settings = config.settings
    week = next_bulletin_week(config, now.astimezone(settings.tz))
    approval = approval_status(archive, week, settings.tz, settings.bulletin.max_age_days)
    sent = 0
    if _has(subscribers, "sends"):
        sent = subscribers.execute("SELECT COUNT(*) FROM sends WHERE week = ? AND status = 'sent'",
                                   [week]).fetchone()[0]
    return {"week": week, "items_in": approval.items_in, "require_approval": settings.bulletin.require_approval,
            "approved": approval.approved, "approved_by": approval.approved_by, "approved_at": approval.approved_at,
            "changed": approval.changed, "ready": approval.ready, "sent": sent}


def _size(path: Path) -> int | None:
    """Bytes of a SQLite file with its -wal and -shm; None when there is no such database."""
    if not path.is_file():
        return None
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.is_file())


def _disk(archive: Path, subscribers: Path, operations: Path) -> dict[str, int | None]:
    sizes = {"archive": _size(archive), "subscribers": _size(subscribers), "operations": _size(operations)}
    sizes["total"] = sum(v for v in sizes.values() if v)
    try:
        sizes["free"] = shutil.disk_usage(archive.parent).free
    except OSError:
        sizes["free"] = None
    return sizes


def _notified(ops: sqlite_utils.Database | None) -> dict[str, str | None]:
    """When each open alert was e-mailed (None: not yet), by problem key."""
    if not _has(ops, "alerts"):
        return {}
    return dict(ops.execute("SELECT key, notified_at FROM alerts WHERE resolved_at IS NULL"))


def gather_status(config: Config, db_path: Path | str | None = None, subscribers_db_path: Path | str | None = None,
                  operations_db_path: Path | str | None = None, sources_file: Path | str | None = None,
                  now: datetime | None = None, require_archive: bool = True) -> Status:
    """Read the three databases (read-only) and the sources file; the status with its problems.

    A missing archive is a VeilleError when `require_archive` (the command), else an archive with
    nothing in it (the alerts: the scheduler's first run may come before the first crawl)."""
    from config.loading import load_sources

    now = now or datetime.now(timezone.utc)
    archive_path = Path(db_path or config.db_path)
    subscribers_path = Path(subscribers_db_path or config.subscribers_db_path)
    operations_path = Path(operations_db_path or config.operations_db_path)
    archive = open_read_only(archive_path)
    if archive is None and require_archive:
        raise VeilleError(f"archive introuvable : {archive_path} (aucune collecte n'a encore eu lieu, ou --db / "
                          "paths.db désigne un autre fichier)")
    subscribers = open_read_only(subscribers_path)
    ops = open_read_only(operations_path)
    try:
        if archive is not None and not _has(archive, "source_runs"):
            raise VeilleError(f"{archive_path} n'est pas une archive de Veille (pas de table source_runs)")
        sources = load_sources(sources_file or config.sources_file)
        jobs, set_up = _jobs(config, ops, now)
        status = Status(
            generated_at=_iso(now), archive=str(archive_path), scheduler_set_up=set_up, jobs=jobs,
            last_crawl=_last_crawl(archive) if archive is not None else None,
            sources=_sources(archive, sources, now, ops) if archive is not None else [],
            failing_runs=config.settings.alerts.failing_runs,
            last_bulletin=_last_bulletin(archive, subscribers) if archive is not None else None,
            next_bulletin=_next_bulletin(config, archive, subscribers, now) if archive is not None else None,
            disk=_disk(archive_path, subscribers_path, operations_path),
            alerts_to=config.settings.alerts.to,
        )
        status.problems = find_problems(status, config.settings.tz)
        notified = _notified(ops)
        for problem in status.problems:
            problem.notified_at = notified.get(problem.key)
        return status
    except sqlite3.DatabaseError as e:
        raise VeilleError(f"lecture impossible des bases de Veille : {e}") from None
    finally:
        for db in (archive, subscribers, ops):
            if db is not None:
                db.close()


def current_problems(config: Config, db_path=None, subscribers_db_path=None, operations_db_path=None,
                     sources_file=None, now: datetime | None = None) -> list[Problem]:
    """What needs attention now (the alerts' question); no archive yet is not a problem by itself."""
    return gather_status(config, db_path, subscribers_db_path, operations_db_path, sources_file, now,
                         require_archive=False).problems


# ----------------------------------------------------------------- problems


def _proposal_sentence(source: SourceState) -> str:
    """The repair discovery proposed for a broken source, and the command that applies it."""
    from veille.repairs import describe_candidate

    if source.proposal is None:
        return ("Proposition de réparation : pas encore cherchée (après la prochaine collecte, ou veille sources "
                f"--propose) ; puis veille sources repair {source.id}.")
    found = source.proposal["candidate"]
    return (f"Proposition de réparation : {describe_candidate(found, source.proposal['error'])}"
            + (f" — appliquez-la avec veille sources repair {source.id}." if found else
               " — vérifiez le site à la main (veille sources discover ADRESSE)."))


def find_problems(status: Status, tz: tzinfo) -> list[Problem]:
    """The one place that decides what needs attention, in a stable order: sources, the last send,
    the jobs."""
    from pipeline.operations import OK as RUN_OK

    problems = []
    for source in status.sources:
        if source.state != DISABLED and source.failed_in_row >= status.failing_runs:
            problems.append(Problem(
                key=f"source-failing:{source.id}", kind="source-failing",
                subject=f"La source « {source.name} » ({source.id}) échoue depuis {source.failed_in_row} collectes",
                detail=(f"Dernière erreur : {source.last_error or 'inconnue'}. Dernier succès : "
                        f"{_long(source.last_success_at, tz) if source.last_success_at else 'jamais'}."),
                action=(f"{source.repair.capitalize()}. {_proposal_sentence(source)}" if source.repair else
                        f"Vérifiez l'adresse de la source dans sources.yaml (veille sources, veille crawl --only "
                        f"{source.id}) ; désactivez-la (enabled: false) si le site a disparu."),
                since=source.failing_since))
        elif source.state == SILENT:
            problems.append(Problem(
                key=f"source-silent:{source.id}", kind="source-silent",
                subject=f"La source « {source.name} » ({source.id}) ne publie plus rien",
                detail=(f"Aucun nouvel article depuis "
                        f"{_long(source.last_item_at, tz) if source.last_item_at else 'le début'}, bien plus "
                        f"longtemps que son rythme habituel ({source.items_per_week} article(s) par semaine) ; "
                        "la collecte réussit pourtant."),
                action=(f"Ouvrez le site : s'il publie encore, l'adresse ou le sélecteur de la source a changé "
                        f"(veille crawl --only {source.id}) ; sinon désactivez-la (enabled: false)."),
                since=source.last_item_at or source.last_success_at))
    bulletin = status.last_bulletin
    if bulletin and bulletin["failures_to_handle"]:
        failures = bulletin["failures_to_handle"]
        named = "; ".join(f"{f['email']} ({f['error']})" for f in failures[:SHOWN_FAILURES])
        more = f" ; et {len(failures) - SHOWN_FAILURES} autre(s)" if len(failures) > SHOWN_FAILURES else ""
        problems.append(Problem(
            key=f"send-failures:{bulletin['week']}", kind="send-failures",
            subject=f"Bulletin {bulletin['week']} : {len(failures)} adresse(s) refusée(s) définitivement",
            detail=f"Le serveur de messagerie a refusé : {named}{more}. Ces abonné·es n'ont pas reçu le bulletin.",
            action=("Corrigez ou retirez ces adresses (veille subscribers remove ADRESSE, puis veille subscribers "
                    "add avec la bonne adresse)."),
            since=failures[0]["updated_at"]))
    for job in status.jobs.values():
        if job.last_outcome and job.last_outcome["status"] != RUN_OK:
            outcome = job.last_outcome
            problems.append(Problem(
                key=f"job-failed:{job.job}", kind="job-failed",
                subject=f"La tâche « {job.label} » ({job.job}) a échoué : {outcome['status']}",
                detail=(f"Dernière exécution terminée : {_long(outcome['started_at'], tz)}, {outcome['status']}"
                        f"{_code(outcome['exit_code'])}."),
                action=("Lisez la fin de sa sortie (table job_runs de la base des opérations) et le journal "
                        "(paths.logs), corrigez, puis relancez la commande à la main."),
                since=job.failing_since))
        if job.late_since:
            ran = (f"Dernière exécution le {_long(job.last_run['started_at'], tz)}" if job.last_run
                   else f"Jamais exécutée depuis le premier passage du planificateur ({_long(job.late_since, tz)})")
            problems.append(Problem(
                key=f"job-late:{job.job}", kind="job-late",
                subject=f"La tâche « {job.label} » ({job.job}) ne s'exécute plus",
                detail=f"{ran} ; elle devrait s'exécuter au moins {_every(job.period_hours)}.",
                action=("Vérifiez que le planificateur tourne (systemctl status veille-schedule, ou "
                        "veille schedule) et lisez son journal."),
                since=job.late_since))
    return problems


# ------------------------------------------------------------------ display


def _local(iso: str | None, tz: tzinfo) -> datetime | None:
    moment = _moment(iso)
    return moment.astimezone(tz) if moment else None


def _long(iso: str | None, tz: tzinfo) -> str:
    """« 2 décembre 2026 à 10 h 12 » in the settings' time zone."""
    from config.dates import french_date

    moment = _local(iso, tz)
    if moment is None:
        return "—"
    return f"{french_date(moment)} à {moment.hour} h {moment.minute:02d}"


def _short(iso: str | None, tz: tzinfo) -> str:
    """« 02/12/2026 10:12 » in the settings' time zone: for columns."""
    moment = _local(iso, tz)
    return moment.strftime("%d/%m/%Y %H:%M") if moment else "—"


def _code(exit_code: int | None) -> str:
    return f" (code {exit_code})" if exit_code not in (None, 0) else ""


def _hours(hours: float | None) -> str:
    if hours is None:
        return "—"
    if hours >= 48 and hours % 24 == 0:
        return f"{int(hours // 24)} jours"
    return f"{hours:g} h".replace(".", ",")


def _every(hours: float | None) -> str:
    """« toutes les 12 h », « tous les 7 jours »."""
    shown = _hours(hours)
    return f"tous les {shown}" if shown.endswith("jours") else f"toutes les {shown}"


def _bytes(size: int | None) -> str:
    if size is None:
        return "absente"
    for unit, factor in (("Go", 1024 ** 3), ("Mo", 1024 ** 2), ("ko", 1024)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}".replace(".", ",")
    return f"{size} o"


def format_status(status: Status, tz: tzinfo) -> str:
    """The human report of `veille status`, in French."""
    lines = [f"Veille — état au {_long(status.generated_at, tz)}", ""]
    width = max(len(f"{j.label} ({j.job})") for j in status.jobs.values())
    lines.append(f"{'Tâches':<{width}}  {'dernière exécution':<33}  prochaine")
    for job in status.jobs.values():
        last = job.last_run
        ran = f"{_short(last['started_at'], tz)}  {last['status']}{_code(last['exit_code'])}" if last else "jamais"
        if job.next_run_from == NEXT_AFTER_CRAWL:
            upcoming = f"après la collecte ({_short(job.next_run, tz)})" if job.next_run else "après la collecte"
        else:
            upcoming = _short(job.next_run, tz) + (" (calculée)" if job.next_run_from == NEXT_COMPUTED else "")
        lines.append(f"{job.label + ' (' + job.job + ')':<{width}}  {ran:<33}  {upcoming}")
    if not status.scheduler_set_up:
        lines.append("Planificateur : aucune exécution enregistrée (veille schedule n'a pas tourné ici) ; "
                     "prochaines heures calculées d'après settings.yaml.")
    lines.append("")
    crawl = status.last_crawl
    if crawl:
        lines.append(f"Dernière collecte : {_long(crawl['finished_at'] or crawl['started_at'], tz)}, "
                     f"{crawl['sources']} source(s), {crawl['items_new']} nouvel(s) article(s), "
                     f"{crawl['sources_failed']} source(s) en erreur.")
    else:
        lines.append("Dernière collecte : aucune.")
    enabled = [s for s in status.sources if s.state != DISABLED]
    failing = [s for s in status.sources if s.failed_in_row]
    silent = [s for s in status.sources if s.state == SILENT]
    lines.append(f"Sources : {len(enabled)} active(s), {len(failing)} en échec, {len(silent)} silencieuse(s) "
                 f"(alerte à {status.failing_runs} échecs de suite).")
    for source in failing:
        lines.append(f"  en échec     {source.id} : {source.failed_in_row} collecte(s) de suite depuis le "
                     f"{_long(source.failing_since, tz)} — {source.last_error or 'erreur inconnue'}")
        if source.repair:
            lines.append(f"               à réparer : {source.repair}")
            lines.append(f"               {_proposal_sentence(source)}")
    for source in silent:
        last = _long(source.last_item_at, tz) if source.last_item_at else "jamais"
        lines.append(f"  silencieuse  {source.id} : dernier article {last} ({source.items_per_week}/sem. d'habitude)")
    bulletin = status.last_bulletin
    if bulletin:
        approved = (f"validé par {bulletin['approved_by']} le {_long(bulletin['approved_at'], tz)}"
                    if bulletin["approved_by"] else "sans validation")
        lines.append(f"Dernier bulletin : semaine {bulletin['week']}, {approved}, envoyé à {bulletin['sent']} "
                     f"abonné·e(s) ; {bulletin['failed']} échec(s) définitif(s), "
                     f"{bulletin['deferred']} en attente.")
    else:
        lines.append("Dernier bulletin : aucun envoi.")
    upcoming = status.next_bulletin
    if upcoming:
        if upcoming["sent"]:
            state = f"envoyé à {upcoming['sent']} abonné·e(s)"
        elif not upcoming["require_approval"]:
            state = "validation non requise"
        elif upcoming["changed"]:
            state = f"modifié depuis sa validation par {upcoming['approved_by']} : à valider de nouveau"
        elif upcoming["approved"]:
            state = f"validé par {upcoming['approved_by']} le {_long(upcoming['approved_at'], tz)}"
        else:
            state = f"pas encore validé (veille bulletin approve --week {upcoming['week']})"
        lines.append(f"Prochain bulletin : semaine {upcoming['week']}, {upcoming['items_in']} article(s), {state}.")
    disk = status.disk
    lines.append(f"Disque : archive {_bytes(disk['archive'])}, abonné·es {_bytes(disk['subscribers'])}, "
                 f"opérations {_bytes(disk['operations'])} ; libre {_bytes(disk['free'])}.")
    lines.append("Alertes par e-mail : " + (f"à {status.alerts_to}." if status.alerts_to
                                            else "aucune adresse (alerts.to) : rien n'est envoyé."))
    lines.append("")
    if status.ok:
        lines.append("Tout va bien.")
    else:
        lines.append(f"À traiter ({len(status.problems)}) :")
        for problem in status.problems:
            told = f" Signalé par e-mail le {_long(problem.notified_at, tz)}." if problem.notified_at else ""
            since = f" (depuis le {_long(problem.since, tz)})" if problem.since else ""
            lines.append(f"  - {problem.subject}{since}.")
            lines.append(f"    {problem.detail}{told}")
            lines.append(f"    Que faire : {problem.action}")
    return "\n".join(lines)


# ------------------------------------------------------------------ command


@click.command()
@with_config
@db_option
@subscribers_db_option
@click.option("--operations-db", "operations_db_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Operations database (the scheduler's runs and the alerts) [default: paths.operations_db].")
@click.option("--sources", "sources_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Sources file [default: CONFIG/sources.yaml].")
@click.option("--json", "as_json", is_flag=True, help="One JSON object (keys in the text above) instead of the report.")
@click.option("--notify", is_flag=True,
              help="Also e-mail the mission officer (alerts.to) each new problem and each fixed one, as the "
                   "scheduler does: for installs that run `veille status --notify` from cron.")
def status(config, db_path, subscribers_db_path, operations_db_path, sources_file, as_json, notify):
    """Jobs, sources and the last bulletin at a glance; exit code 1 when something needs attention.

    Shows each job's last run (operations database) and next run (the scheduler's job store, else
    computed from settings.yaml and marked « calculée »), the last crawl, the sources failing or
    silent, the last bulletin (week, approved by, sent, failures), the next bulletin's approval,
    the disk used by the three databases, and the problems:

    \b
    - a source failed `alerts.failing_runs` crawls in a row (3 by default), or went silent;
    - the last send had permanent failures to subscribers still subscribed;
    - a job's last run failed or timed out (a later success clears it);
    - a job has not run for twice its period (once the scheduler has run here).

    Exit code 0 when all is well, 1 when something needs attention (or on an error), so that any
    monitoring can run it. Reads only: no database is created or changed (except the alerts
    table with --notify).

    \b
    --json keys: ok, generated_at, archive, scheduler {set_up},
    jobs {crawl|tag|learn|bulletin: {label, last_run {started_at, finished_at, status, exit_code,
      trigger} | null, next_run, next_run_from, period_hours}},
    last_crawl {id, started_at, finished_at, sources, sources_failed, items_new, requests} | null,
    sources {enabled, failing_runs, failing [{id, name, failed_in_row, since, last_error}],
      silent [{id, name, last_item_at, items_per_week}]} (failing entries also have `repair`: why the
      source needs mending, or null, and `proposal`: {reason, candidate, error, proposed_at}, what
      discovery proposed after a crawl — candidate as `veille sources discover --json` — or null),
    last_bulletin {week, approved_by, approved_at, sent, failed, deferred, last_send_at,
      failures_to_handle [{email, error, updated_at}]} | null,
    next_bulletin {week, items_in, require_approval, approved, approved_by, approved_at, changed,
      ready, sent} | null,
    disk {archive, subscribers, operations, total, free} (bytes, null when absent), alerts_to,
    problems [{key, kind, subject, detail, action, since, notified_at}],
    and with --notify: notify {address, sent, resolved, failed [{key, error}], opened, closed}
    (problem keys). Times are ISO 8601 UTC.

    Example: veille status --json | jq .problems
    """
    check_separate(config, db_path, subscribers_db_path)
    report = None
    if notify:
        from veille.alerts import check_alerts

        report = check_alerts(config, db_path, subscribers_db_path, operations_db_path=operations_db_path,
                              sources_file=sources_file)
    current = gather_status(config, db_path, subscribers_db_path, operations_db_path, sources_file)
    if as_json:
        data = current.as_json()
        if report is not None:
            data["notify"] = report.as_json()
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        click.echo(format_status(current, config.settings.tz))
        if report is not None:
            click.echo(report.summary())
    if not current.ok or (report is not None and report.failed):
        sys.exit(1)
