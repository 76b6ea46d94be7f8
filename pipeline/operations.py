"""The operations database: what the unattended Veille did and told (`paths.operations_db`).

A file of its own, beside the archive, never served and never part of the news:
- `job_runs`: one row per run of a scheduled job (`crawl`, `tag`, `learn`, `bulletin`), written by
  the scheduler around the subprocess: `started_at`, `finished_at`, `status` (RUNNING, OK,
  FAILED, TIMEOUT, REFUSED — the command refused, e.g. a week not approved or a lock held —,
  INTERRUPTED — cut short by the scheduler's own stop),
  `exit_code`, `output` (the last lines of the command's output), `trigger` (`schedule`;
  `catch-up`: a run missed while the scheduler was down, made once at its restart; `retry`: the
  bulletin of a week not approved at send time, tried again), `scheduled_at` (the time the run was
  due), `pid` (the command's process, also its process group), `host`. A scheduler that dies without
  closing its rows leaves them RUNNING; the next one closes them as INTERRUPTED (`close_stale_runs`);
- `alerts`: one row per problem the mission officer was told about (`key` such as
  `source-failing:cd33`), when it was opened and notified, and when it was resolved (the
  « rétabli » message) — an open row stops a second alert for the same problem;
- `repair_proposals`: for each source that broke (crawlers.discovery.repair_reason), what discovery
  proposed to mend it, when, or why it found nothing: written after a crawl (veille/repairs.py) so that
  `veille status` and `veille sources` show it without fetching anything;
- `apscheduler_jobs`: APScheduler's persistent job store (its own schema, through SQLAlchemy).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils
from sqlite_utils import Migrations

from config.dates import utcnow
from pipeline.archive import open_migrated

migrations = Migrations("veille-operations")

RUNNING, OK, FAILED, TIMEOUT, REFUSED = "en cours", "ok", "échec", "délai dépassé", "refusé"
INTERRUPTED = "interrompu"  # cut short by the scheduler's own stop (or death): says nothing of the job
JOBS = ("crawl", "tag", "learn", "bulletin")
SCHEDULE, CATCH_UP, RETRY = "schedule", "catch-up", "retry"  # job_runs.trigger
OUTPUT_LINES = 40


@migrations()
def m001_tables(db: sqlite_utils.Database) -> None:
    db["job_runs"].create(
        {"id": int, "job": str, "trigger": str, "started_at": str, "finished_at": str, "status": str,
         "exit_code": int, "output": str, "pid": int, "host": str},
        pk="id", not_null={"job", "started_at", "status"},
    )
    db["job_runs"].create_index(["job", "started_at"])
    db.execute("CREATE TABLE alerts (id INTEGER PRIMARY KEY, key TEXT NOT NULL, kind TEXT NOT NULL, subject TEXT, "
               "detail TEXT, opened_at TEXT NOT NULL, notified_at TEXT, resolved_at TEXT, resolved_notified_at TEXT)")
    # At most one open alert per problem.
    db.execute("CREATE UNIQUE INDEX alerts_open ON alerts (key) WHERE resolved_at IS NULL")


@migrations()
def m002_job_runs_scheduled_at(db: sqlite_utils.Database) -> None:
    # When the run was due: with `started_at`, how late a catch-up came.
    db["job_runs"].add_column("scheduled_at", str)


@migrations()
def m003_repair_proposals(db: sqlite_utils.Database) -> None:
    db["repair_proposals"].create(
        {"source_id": str, "reason": str, "candidate": str, "error": str, "proposed_at": str},
        pk="source_id", not_null={"reason", "proposed_at"})


def open_operations_db(path: Path | str) -> sqlite_utils.Database:
    return open_migrated(path, migrations)


@dataclass
class JobRun:
    id: int
    job: str
    trigger: str
    started_at: str
    finished_at: str | None
    status: str
    exit_code: int | None
    output: str | None
    scheduled_at: str | None = None


def start_run(db: sqlite_utils.Database, job: str, trigger: str = SCHEDULE, pid: int | None = None,
              host: str | None = None, scheduled_at: str | None = None) -> int:
    table = db["job_runs"]
    table.insert({"job": job, "trigger": trigger, "started_at": utcnow(), "status": RUNNING, "pid": pid,
                  "host": host, "scheduled_at": scheduled_at})
    return table.last_pk


def set_run_pid(db: sqlite_utils.Database, run_id: int, pid: int) -> None:
    """The command's process, once started: `veille status` and the tests can tell it from others."""
    db["job_runs"].update(run_id, {"pid": pid})


def close_stale_runs(db: sqlite_utils.Database, note: str) -> int:
    """Close as INTERRUPTED the runs left RUNNING by a scheduler that died (machine off, killed): only the
    scheduler that holds the scheduler's lock may call it, so none of them is still running.
    Returns how many were closed."""
    stale = [row["id"] for row in db.execute_returning_dicts(
        "SELECT id FROM job_runs WHERE status = ?", [RUNNING])]
    for run_id in stale:
        output = db["job_runs"].get(run_id)["output"] or ""
        db["job_runs"].update(run_id, {"finished_at": utcnow(), "status": INTERRUPTED,
                                       "output": "\n".join(filter(None, [output, note]))})
    return len(stale)


def finish_run(db: sqlite_utils.Database, run_id: int, status: str, exit_code: int | None, output: str = "") -> None:
    tail = "\n".join(output.splitlines()[-OUTPUT_LINES:])
    db["job_runs"].update(run_id, {"finished_at": utcnow(), "status": status, "exit_code": exit_code,
                                   "output": tail})


def last_runs(db: sqlite_utils.Database) -> dict[str, JobRun]:
    """The latest run of each job that ran."""
    runs = {}
    for row in db.execute_returning_dicts(
            "SELECT * FROM job_runs WHERE id IN (SELECT MAX(id) FROM job_runs GROUP BY job)"):
        runs[row["job"]] = JobRun(row["id"], row["job"], row["trigger"], row["started_at"], row["finished_at"],
                                  row["status"], row["exit_code"], row["output"], row.get("scheduled_at"))
    return runs


def save_repair_proposal(db: sqlite_utils.Database, source_id: str, reason: str, candidate: dict | None,
                         error: str | None = None) -> None:
    """What discovery proposes for a broken source (`candidate`: as `veille sources discover --json`
    prints it), or None with the `error` that stopped it / None when it found nothing new."""
    db["repair_proposals"].upsert(
        {"source_id": source_id, "reason": reason, "error": error, "proposed_at": utcnow(),
         "candidate": json.dumps(candidate, ensure_ascii=False) if candidate is not None else None},
        pk="source_id")


def forget_repair_proposals(db: sqlite_utils.Database, keep: set[str] | None = None,
                            source_id: str | None = None) -> None:
    """Drop the proposal of `source_id` (mended), or those of every source not in `keep` (working again)."""
    if source_id is not None:
        db.execute("DELETE FROM repair_proposals WHERE source_id = ?", [source_id])
    if keep is not None:
        for (stale,) in db.execute("SELECT source_id FROM repair_proposals").fetchall():
            if stale not in keep:
                db.execute("DELETE FROM repair_proposals WHERE source_id = ?", [stale])


def repair_proposals(db: sqlite_utils.Database) -> dict[str, dict]:
    """source id -> {"reason", "candidate" (dict or None), "error", "proposed_at"}; {} in a database
    older than the table (read-only readers such as `veille status` do not migrate)."""
    if not db["repair_proposals"].exists():
        return {}
    return {row["source_id"]: {**row, "candidate": json.loads(row["candidate"]) if row["candidate"] else None}
            for row in db.execute_returning_dicts("SELECT * FROM repair_proposals")}
