"""Structured logs: one line per event, `key=value` (logfmt), to a rotating file and to stderr.

    ts=2026-12-03T06:00:01+00:00 level=info event=job_run job=crawl trigger=schedule status=ok exit_code=0 duration_s=12.4

One line per event, so that `grep event=job_run`, `journalctl` or any log shipper reads it without a
parser; values are quoted only when they hold a space, a quote, an `=` or nothing. The file is
`paths.logs`/veille.log, rotated at 5 MB, five old files kept (`veille.log.1` … `.5`): a small server
never fills its disk with logs. The scheduler and the commands it runs append to the same file;
whichever process crosses the size rotates it, and a short-lived command still holding the old file
writes its last lines into `veille.log.1`: nothing is lost.

Keys and events are English identifiers; values are what Veille stores (French statuses such as
`status="délai dépassé"`, French error messages).
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

LOGGER = "veille"
FILE_NAME = "veille.log"
MAX_BYTES = 5 * 1024 * 1024
BACKUP_COUNT = 5
# Libraries whose warnings belong in the same log (a run missed beyond its grace time, a job store error).
LIBRARY_LOGGERS = ("apscheduler",)


def format_value(value: Any) -> str:
    """One logfmt value: bare when it can be, else in double quotes with \\, " and newlines escaped."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{value:.3f}".rstrip("0").rstrip(".")
    else:
        text = str(value)
    if text and not any(c.isspace() or c in '"=\\' for c in text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def logfmt(fields: dict[str, Any]) -> str:
    """`key=value` pairs in the given order; None values are left out (no key at all)."""
    return " ".join(f"{key}={format_value(value)}" for key, value in fields.items() if value is not None)


class LogfmtFormatter(logging.Formatter):
    """A record made by `log_event` gives its fields; any other record (a library's) gives its
    logger and message, so that every line of the file has the same shape."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="seconds"),
            "level": record.levelname.lower(),
        }
        event = getattr(record, "veille_fields", None)
        if event:
            fields.update(event)
        else:
            fields.update({"event": "log", "logger": record.name, "msg": record.getMessage()})
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        return logfmt(fields)


def log_event(event: str, level: int = logging.INFO, log_to: logging.Logger | None = None, **fields: Any) -> None:
    """Log one event as one line: `log_event("source", source="cd33", status="ok", new=3)`, on the
    logger `log_to` (a child of "veille", e.g. "veille.schedule") or "veille". The record's message
    is the same `key=value` text, so that any other handler (pytest's, a root handler) reads it too."""
    event_fields = {"event": event, **fields}
    (log_to or logging.getLogger(LOGGER)).log(level, "%s", logfmt(event_fields),
                                              extra={"veille_fields": event_fields})


def log_crawl(rows: list[dict], figures: dict) -> None:
    """After a crawl: one `event=source` line per source (its source_runs row: status, HTTP status,
    new, seen and failed items, error), then one `event=crawl` line with the totals."""
    for r in rows:
        level = logging.INFO if r["status"] == "ok" else logging.WARNING
        log_event("source", level, source=r["source_id"], status=r["status"], http_status=r["http_status"],
                  new=r["items_new"] or 0, seen=r["items_seen"] or 0, failed=r["items_failed"] or 0,
                  error=r["error"] or None)
    log_event("crawl", crawl=figures.get("id"), sources=len(rows), new=sum(r["items_new"] or 0 for r in rows),
              failed_sources=sum(1 for r in rows if r["status"] != "ok"))


class CurrentStderrHandler(logging.StreamHandler):
    """Writes to the sys.stderr of the moment (click's test runner swaps it), not the one at set-up."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def setup_logging(config, stderr: bool | None = None, level: int = logging.INFO) -> Path | None:
    """Send the "veille" logger (and the warnings of LIBRARY_LOGGERS) to `config.logs_dir`/veille.log,
    rotated, and to stderr.

    `stderr`: True or False, or None for « when stderr is not a terminal »: a person at a terminal
    reads the command's own report, while under the scheduler, systemd or cron the lines go to the
    journal. Calling it again replaces the handlers it added before (never doubled lines); records
    still reach the root logger (Scrapy's handler there shows errors only). A log file
    that cannot be written does not stop the command: a warning in French, and stderr only.
    Returns the log file's path, or None when it could not be opened.
    """
    logger = logging.getLogger(LOGGER)
    libraries = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    for target in (logger, *libraries):
        for handler in [h for h in target.handlers if getattr(h, "_veille", False)]:
            target.removeHandler(handler)
            handler.close()
    formatter = LogfmtFormatter()
    handlers: list[logging.Handler] = []
    path: Path | None = Path(config.logs_dir) / FILE_NAME
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUP_COUNT, encoding="utf-8"))
    except OSError as e:
        from veille.cli_support import _OS_ERRORS

        reason = _OS_ERRORS.get(e.errno, e.strerror or str(e))
        print(f"Attention : journal {path} impossible à écrire ({reason}) : les événements ne vont "
              "que sur la sortie d'erreur.", file=sys.stderr)
        path, stderr = None, True
    if stderr is None:
        stderr = not sys.stderr.isatty()
    if stderr:
        handlers.append(CurrentStderrHandler())
    for handler in handlers:
        handler._veille = True  # type: ignore[attr-defined]
        handler.setFormatter(formatter)
        logger.addHandler(handler)
        for library in libraries:
            library.addHandler(handler)
    logger.setLevel(level)
    for library in libraries:
        library.setLevel(logging.WARNING)
    return path


def reset_logging() -> None:
    """Remove the handlers setup_logging added (tests that run several set-ups in one process)."""
    for name in (LOGGER, *LIBRARY_LOGGERS):
        target = logging.getLogger(name)
        for handler in [h for h in target.handlers if getattr(h, "_veille", False)]:
            target.removeHandler(handler)
            handler.close()
