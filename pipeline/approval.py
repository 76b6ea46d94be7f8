"""The curator's approval of a week's bulletin: « Valider le bulletin de la semaine ».

The same functions serve `veille bulletin approve|status|send` and the curation pages.

- An approval records who approved which week and when (table `approvals`, one row per approval:
  the history is kept, the latest counts), with what she saw: the items then in the bulletin and the
  curator decisions then recorded on the week's items.
- A curator decision made after it (a row of `curation`, or of `tags` with origin `curator`, on one of
  the week's items — every item of `week_plan`, in the bulletin or out of it) marks the week
  « modifié depuis la validation »: `check_approved` refuses to send it until it is approved again.
- Items that entered the bulletin after it (a later crawl, or a later tagging of what was
  collected) do not block: they are reported (`new_items_since`), so that a Sunday crawl never stops
  Monday's scheduled send.

Timestamps are UTC ISO 8601 to the second (`config.dates.utcnow`). A decision in the very second of
an approval is told apart by what the approval saw: it is after it only if the approval did not
record it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

import sqlite_utils

from config.dates import french_date, utcnow
from config.errors import VeilleError
from pipeline.selection import week_plan

MAX_NAME = 100  # characters of the name of who approves


@dataclass
class Decision:
    """A curator decision on one of the week's items, made after the approval."""

    item_id: int
    title: str
    curator: str | None
    at: str  # ISO UTC
    what: str = ""  # « + tzcld, − departements:86 », « écarté », « à la une », « note »… (may be empty)


@dataclass
class ApprovalStatus:
    week: str
    items_in: int                  # items in the bulletin now (week_plan)
    approved_by: str | None        # latest approval, None when never approved
    approved_at: str | None        # ISO UTC
    decisions_since: list[Decision] = field(default_factory=list)  # decisions after the approval (blocking)
    new_items_since: list[int] = field(default_factory=list)       # in the bulletin now, not when approved (informative)
    approvals: int = 0             # how many times the week was approved (history)

    @property
    def approved(self) -> bool:
        return self.approved_by is not None

    @property
    def changed(self) -> bool:
        return self.approved and bool(self.decisions_since)

    @property
    def ready(self) -> bool:
        return self.approved and not self.changed

    def summary(self, tz: tzinfo) -> str:
        """One French sentence: approved (by whom, when), not yet, or changed since."""
        if not self.approved:
            return "Pas encore validé."
        by = f"par {self.approved_by} le {french_moment(self.approved_at, tz)}"
        if self.changed:
            return (f"Modifié depuis la validation {by} : {len(self.decisions_since)} décision(s) "
                    "à relire avant l'envoi.")
        return f"Validé {by}."

    def headline(self, tz: tzinfo) -> str:
        """« Semaine 2026-W48 : 12 article(s) dans le bulletin. Validé par marie le … »"""
        return f"Semaine {self.week} : {self.items_in} article(s) dans le bulletin. {self.summary(tz)}"

    def new_items_note(self) -> str | None:
        """The sentence about the items that entered the bulletin since the approval, if any."""
        if not self.approved or not self.new_items_since:
            return None
        ids = ", ".join(f"#{i}" for i in self.new_items_since)
        return (f"{len(self.new_items_since)} article(s) entré(s) dans le bulletin depuis la validation, "
                f"non relus : {ids}.")

    def as_json(self) -> dict:
        """The object of `veille bulletin status --json`."""
        return {"week": self.week, "items_in": self.items_in, "approved": self.approved,
                "approved_by": self.approved_by, "approved_at": self.approved_at, "changed": self.changed,
                "ready": self.ready, "approvals": self.approvals,
                "decisions_since": [{"item_id": d.item_id, "title": d.title, "curator": d.curator, "at": d.at,
                                     "what": d.what} for d in self.decisions_since],
                "new_items_since": list(self.new_items_since)}


def french_moment(iso: str, tz: tzinfo) -> str:
    """« 2 décembre 2026 à 10 h 12 », in the time zone `tz`, of a stored UTC timestamp."""
    moment = datetime.fromisoformat(iso).astimezone(tz)
    return f"{french_date(moment)} à {moment.hour} h {moment.minute:02d}"


def approval_status(db: sqlite_utils.Database, week: str, tz: tzinfo, max_age_days: int) -> ApprovalStatus:
    """Where the week stands: its items in the bulletin now, its latest approval, the curator
    decisions made since, the items that entered the bulletin since."""
    plan = week_plan(db, week, tz, max_age_days)
    inside = [i.id for i in plan if i.in_bulletin]
    rows = _approvals(db, week)
    if not rows:
        return ApprovalStatus(week=week, items_in=len(inside), approved_by=None, approved_at=None)
    latest = rows[-1]
    seen = {tuple(row) for row in json.loads(latest["decisions"] or "[]")}
    approved_at = latest["approved_at"]
    titles = {i.id: i.title for i in plan}
    after = [row for row in _decisions(db, list(titles))
             if row[-1] >= approved_at and _comparable(row) not in seen]
    approved_items = set(json.loads(latest["item_ids"] or "[]"))
    return ApprovalStatus(week=week, items_in=len(inside), approved_by=latest["approved_by"],
                          approved_at=approved_at, decisions_since=_grouped(after, titles),
                          new_items_since=sorted(i for i in inside if i not in approved_items),
                          approvals=len(rows))


def approve_week(db: sqlite_utils.Database, week: str, tz: tzinfo, max_age_days: int, by: str) -> ApprovalStatus:
    """Record that `by` approved the bulletin of `week` as it is now; return the new status.

    Refused (VeilleError, nothing saved) when the bulletin has no item or `by` is empty."""
    by = " ".join((by or "").split())
    if not by:
        raise VeilleError("nom de la personne qui valide manquant")
    if len(by) > MAX_NAME:
        raise VeilleError(f"nom de la personne qui valide trop long ({MAX_NAME} caractères au plus)")
    # The moment is taken before reading what she approves: a decision recorded meanwhile, and so
    # not seen, is dated at or after it, and counts as made since.
    now = utcnow()
    with db.atomic():
        plan = week_plan(db, week, tz, max_age_days)
        inside = [i.id for i in plan if i.in_bulletin]
        if not inside:
            raise VeilleError(f"le bulletin de la semaine {week} ne contient aucun article : rien à valider")
        decisions = [_comparable(row) for row in _decisions(db, [i.id for i in plan])]
        db["approvals"].insert({"week": week, "approved_by": by, "approved_at": now, "items_in": len(inside),
                                "item_ids": json.dumps(inside), "decisions": json.dumps(decisions)})
    return approval_status(db, week, tz, max_age_days)


class NotApproved(VeilleError):
    """The week is not ready to send (not approved, or changed since): nothing was sent."""

    exit_code = 3  # the scheduler waits and checks again, rather than reporting a failure


def check_approved(db: sqlite_utils.Database, week: str, tz: tzinfo, max_age_days: int) -> ApprovalStatus:
    """The status when the week is ready to send; else NotApproved with the French refusal."""
    status = approval_status(db, week, tz, max_age_days)
    if status.ready:
        return status
    again = f"validez-le de nouveau (veille bulletin approve --week {week})"
    if status.changed:
        listed = "; ".join(describe_decision(d, tz) for d in status.decisions_since[:5])
        more = f"; et {len(status.decisions_since) - 5} autre(s)" if len(status.decisions_since) > 5 else ""
        raise NotApproved(
            f"le bulletin de la semaine {week} a été modifié depuis sa validation par {status.approved_by} le "
            f"{french_moment(status.approved_at, tz)} ({listed}{more}) : rien n'a été envoyé ; relisez-le puis "
            f"{again}, ou passez outre avec --force")
    if not status.items_in:
        raise NotApproved(f"le bulletin de la semaine {week} ne contient aucun article et n'a pas été validé : "
                          "rien n'a été envoyé")
    raise NotApproved(
        f"le bulletin de la semaine {week} n'a pas été validé : rien n'a été envoyé ; relisez-le puis validez-le "
        f"(veille bulletin approve --week {week}, ou « Valider le bulletin de la semaine » sur les pages de "
        "curation), ou passez outre avec --force")


def describe_decision(decision: Decision, tz: tzinfo) -> str:
    """« #12 « Titre » (+ tzcld) par paul le 2 décembre 2026 à 11 h 03 »"""
    what = f" ({decision.what})" if decision.what else ""
    by = f" par {decision.curator}" if decision.curator else ""
    return f"#{decision.item_id} « {decision.title} »{what}{by} le {french_moment(decision.at, tz)}"


def approval_history(db: sqlite_utils.Database, week: str) -> list[dict]:
    """Every approval of the week, oldest first: {"approved_by", "approved_at", "items_in"}."""
    return [{"approved_by": r["approved_by"], "approved_at": r["approved_at"], "items_in": r["items_in"]}
            for r in _approvals(db, week)]


# -------------------------------------------------------------------- helpers


def _approvals(db: sqlite_utils.Database, week: str) -> list[dict]:
    return list(db.query("SELECT * FROM approvals WHERE week = ? ORDER BY id", [week]))


def _decisions(db: sqlite_utils.Database, item_ids: list[int]) -> list[tuple]:
    """The curator decisions recorded on these items, as rows ending with their `updated_at`:
    ("curation", item, rejected, highlight, note, curator, at) and ("tag", item, facet, value, action,
    curator, at)."""
    rows: list[tuple] = []
    for start in range(0, len(item_ids), 500):
        chunk = item_ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        rows += db.execute(
            "SELECT 'curation', item_id, COALESCE(rejected, 0), COALESCE(highlight, 0), note, curator, updated_at "
            f"FROM curation WHERE item_id IN ({marks}) AND updated_at IS NOT NULL", chunk).fetchall()
        rows += db.execute(
            "SELECT 'tag', item_id, facet, value, action, curator, updated_at "
            f"FROM tags WHERE origin = 'curator' AND item_id IN ({marks}) AND updated_at IS NOT NULL",
            chunk).fetchall()
    return rows


def _comparable(row: tuple) -> tuple:
    """A decision row as it compares with one stored in JSON (lists there, tuples here)."""
    return tuple(row)


def _grouped(rows: list[tuple], titles: dict[int, str]) -> list[Decision]:
    """One Decision per item, curator and moment (a `veille curate` writes a curation row and its
    tags at once), oldest first."""
    groups: dict[tuple, list[str]] = {}
    for row in sorted(rows, key=lambda r: (r[-1], r[1], r[0] != "tag")):
        kind, item_id, *_, curator, at = row
        parts = groups.setdefault((item_id, curator, at), [])
        if kind == "tag":
            _, _, facet, value, action, _, _ = row
            shown = value if facet in ("nature", "themes", "dispositifs") else f"{facet}:{value}"
            parts.append(f"{'−' if action == 'remove' else '+'} {shown}")
        else:
            _, _, rejected, highlight, note, _, _ = row
            parts += [word for word, on in (("écarté", rejected), ("à la une", highlight), ("note", note)) if on]
    return [Decision(item_id=item_id, title=titles.get(item_id, ""), curator=curator, at=at, what=", ".join(parts))
            for (item_id, curator, at), parts in groups.items()]
