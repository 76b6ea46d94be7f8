"""Source health from the crawl history: last success, last error, rhythm, silence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite_utils

RHYTHM_WEEKS = 8
SILENCE_MIN_DAYS = 14
SILENCE_RHYTHM_FACTOR = 3

# states, in French for the curator
OK, FAILING, SILENT, NEVER, DISABLED = "ok", "en échec", "silencieuse", "jamais collectée", "désactivée"


@dataclass
class SourceHealth:
    id: str
    name: str
    type: str
    enabled: bool
    state: str
    last_run_at: str | None
    last_success_at: str | None
    last_error_at: str | None
    last_error: str | None
    last_item_at: str | None
    items_per_week: float


def source_health(db: sqlite_utils.Database, sources, now: datetime | None = None) -> list[SourceHealth]:
    now = now or datetime.now(timezone.utc)
    since = (now - timedelta(weeks=RHYTHM_WEEKS)).isoformat()
    result = []
    for source in sources:
        last_run = _one(db, "SELECT started_at, status FROM source_runs WHERE source_id = ? "
                            "ORDER BY started_at DESC, id DESC LIMIT 1", [source.id])
        last_ok = _one(db, "SELECT MAX(started_at) FROM source_runs WHERE source_id = ? AND status = 'ok'",
                       [source.id])
        last_error = _one(db, "SELECT started_at, status, error FROM source_runs WHERE source_id = ? "
                              "AND status != 'ok' ORDER BY started_at DESC, id DESC LIMIT 1", [source.id])
        last_item = _one(db, "SELECT MAX(first_seen_at) FROM items WHERE source_id = ?", [source.id])
        recent = _one(db, "SELECT COUNT(*) FROM items WHERE source_id = ? AND first_seen_at >= ?",
                      [source.id, since])
        per_week = (recent[0] if recent else 0) / RHYTHM_WEEKS
        if not source.enabled:
            state = DISABLED
        elif not last_run:
            state = NEVER
        elif last_run[1] != "ok":
            state = FAILING
        elif _silent(last_item[0] if last_item else None, per_week, now):
            state = SILENT
        else:
            state = OK
        result.append(SourceHealth(
            id=source.id, name=source.name, type=source.type, enabled=source.enabled, state=state,
            last_run_at=last_run[0] if last_run else None,
            last_success_at=last_ok[0] if last_ok else None,
            last_error_at=last_error[0] if last_error else None,
            last_error=f"{last_error[1]} : {last_error[2]}" if last_error else None,
            last_item_at=last_item[0] if last_item else None,
            items_per_week=round(per_week, 1),
        ))
    return result


def _silent(last_item_at: str | None, per_week: float, now: datetime) -> bool:
    """No new item for longer than the source's usual rhythm allows (or ever, after a success)."""
    if last_item_at is None:
        return True
    usual_gap_days = 7 / per_week if per_week else SILENCE_MIN_DAYS
    allowed = max(SILENCE_MIN_DAYS, SILENCE_RHYTHM_FACTOR * usual_gap_days)
    return now - datetime.fromisoformat(last_item_at) > timedelta(days=allowed)


def _one(db: sqlite_utils.Database, sql: str, params: list):
    row = db.execute(sql, params).fetchone()
    return row if row and row[0] is not None else None
