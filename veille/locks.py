"""One crawl, one tagging, one send at a time: a file lock per kind of job, beside the archive.

The `veille` command takes the lock itself (so a run by hand and a scheduled run exclude each
other), with `filelock`: an OS lock on `veille.db.crawl.lock`, which the system releases when
the process ends, however it ends — a killed crawl leaves no lock that blocks the next. Beside it,
`veille.db.crawl.lock.json` says who holds it (command, process, user, machine, since when), for
the refusal message; it is rewritten by every holder, so a leftover one is harmless.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import tzinfo
from pathlib import Path

from config.dates import utcnow
from config.errors import VeilleError

# Kind of job -> what it is, in the refusal message.
KINDS = {"crawl": "une collecte", "tag": "un étiquetage ou un apprentissage", "send": "un envoi du bulletin"}
BUSY_EXIT_CODE = 75  # EX_TEMPFAIL: the scheduler reports « refusé », not « échec »


class JobBusy(VeilleError):
    """Another process holds the lock of this kind of job."""

    exit_code = BUSY_EXIT_CODE


def lock_path(db_path: Path | str, kind: str) -> Path:
    return Path(f"{Path(db_path).resolve()}.{kind}.lock")


def holder(db_path: Path | str, kind: str) -> dict | None:
    """What the holder of the lock wrote about itself (None if it wrote nothing readable)."""
    try:
        data = json.loads(Path(f"{lock_path(db_path, kind)}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _refusal(kind: str, who: dict | None, tz: tzinfo) -> str:
    from pipeline.approval import french_moment

    what = KINDS[kind]
    if not who:
        return f"{what.capitalize()} est déjà en cours : attendez qu'elle se termine, puis relancez."
    since = who.get("since")
    try:
        when = f" depuis le {french_moment(since, tz)}" if since else ""
    except ValueError:
        when = ""
    return (f"{what.capitalize()} est déjà en cours ({who.get('command', '?')}, processus {who.get('pid', '?')} "
            f"de {who.get('user', '?')} sur {who.get('host', '?')}{when}) : attendez qu'elle se termine, puis "
            "relancez. Un processus arrêté ne garde pas le verrou.")


@contextmanager
def job_lock(db_path: Path | str, kind: str, tz: tzinfo, command: str | None = None) -> Iterator[None]:
    """Hold the lock of `kind` for `db_path` meanwhile, or raise JobBusy at once."""
    from filelock import FileLock, Timeout  # a twentieth of a second the commands that take no lock need not pay

    if kind not in KINDS:
        raise ValueError(f"unknown kind of job {kind!r}")
    path = lock_path(db_path, kind)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=0, thread_local=False, is_singleton=False)
    try:
        lock.acquire()
    except Timeout:
        raise JobBusy(_refusal(kind, holder(db_path, kind), tz)) from None
    info = Path(f"{path}.json")
    try:
        info.write_text(json.dumps({
            "command": command or "veille " + " ".join(sys.argv[1:2]), "pid": os.getpid(),
            "user": _user(), "host": socket.gethostname(), "since": utcnow()}), encoding="utf-8")
        yield
    finally:
        info.unlink(missing_ok=True)
        lock.release()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
