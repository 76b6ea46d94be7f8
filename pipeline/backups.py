"""Backups of Veille's data, taken while crawls run, and their restoration.

A backup is one folder `DEST/veille-2026-12-03T060000Z/` holding a copy of each database (the
archive, the subscribers, the operations) and of the learned model, plus `manifest.json`: for each
file its role, size, sha256, the result of `PRAGMA integrity_check` on the copy and the migrations
applied; and what was skipped (a database that does not exist yet), and why.

Why it is done this way:
- SQLite's online backup API (`sqlite3.Connection.backup`), in one step: it reads one snapshot of
  the source under a read transaction. The archive is in WAL mode, so a crawl keeps writing
  meanwhile and the copy holds exactly the commits made before it started. (A copy in several steps
  would restart at every write of the crawl; a plain file copy of a live WAL database can be torn.)
- Each copy is switched to the rollback journal, so it is one self-contained file (no -wal/-shm to
  forget), checked with `PRAGMA integrity_check`, then hashed.
- The folder is written under a hidden temporary name and renamed once complete, manifest last: a
  crash or a full disk leaves no half backup that counts, nor one that pushes a good one out of the
  last N. Leftover temporary folders of dead processes are removed by the next backup.
- Restoring checks everything first (manifest, sizes, sums, integrity), keeps each replaced file
  beside it (`veille.db.avant-restauration-…`), and writes the archive back with the same backup
  API, so a process that still has the file open (a forgotten `veille serve`) sees the old or the
  new content, never a mix. Migrations run on the next open, so an older backup is brought up to
  date by the code that restores it.

Locks are the caller's business (veille/backup.py holds those of veille/locks.py): this module is a
stage and does not know about processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from config.errors import VeilleError
from pipeline.learning import model_path

MANIFEST = "manifest.json"
FORMAT = 1
PREFIX = "veille-"
STAMP_FORMAT = "%Y-%m-%dT%H%M%SZ"
_COMPLETE = re.compile(r"^veille-(\d{4}-\d{2}-\d{2}T\d{6}Z)(?:-(\d+))?$")
_PARTIAL = re.compile(r"^\.tmp-veille-.*-(\d+)$")
KEPT_SUFFIX = ".avant-restauration-"
MIGRATIONS_TABLE = "_sqlite_migrations"  # sqlite-utils' Migrations


@dataclass(frozen=True)
class Role:
    """One kind of file a backup holds, under a fixed name (the originals may be named otherwise)."""

    key: str
    filename: str
    label: str                      # how messages name it, in French
    of: str                         # « de l'archive »
    database: bool = True
    table: str | None = None        # its main table, counted in the manifest
    unit: str = ""                  # what a row of that table is, in French


ROLES = {role.key: role for role in (
    Role("archive", "veille.db", "archive", "de l'archive", table="items", unit="article(s)"),
    Role("subscribers", "subscribers.db", "base des abonné·es", "de la base des abonné·es", table="subscribers",
         unit="abonné·e(s)"),
    Role("operations", "operations.db", "base des opérations", "de la base des opérations", table="job_runs",
         unit="exécution(s) de tâches"),
    Role("model", model_path("veille.db").name, "modèle appris", "du modèle appris", database=False),
)}


class BackupError(VeilleError):
    """A backup that cannot be made, or a backup folder that cannot be trusted."""


@dataclass
class CopiedFile:
    role: str
    name: str
    source: str
    size: int
    sha256: str
    integrity: str | None = None            # "ok", or what PRAGMA integrity_check said (databases only)
    migrations: dict[str, list[str]] = field(default_factory=dict)
    rows: int | None = None                 # rows of the role's main table

    def as_json(self) -> dict:
        return {"role": self.role, "name": self.name, "source": self.source, "size": self.size,
                "sha256": self.sha256, "integrity_check": self.integrity, "migrations": self.migrations,
                "rows": self.rows}


@dataclass
class Skipped:
    role: str
    source: str
    reason: str


@dataclass
class BackupResult:
    folder: Path
    created_at: str
    files: list[CopiedFile]
    skipped: list[Skipped]
    kept: list[Path]                        # complete backups in DEST after pruning, oldest first
    removed: list[Path]                     # pruned, oldest first

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass
class Manifest:
    folder: Path
    created_at: str
    files: list[CopiedFile]
    skipped: list[Skipped]
    host: str | None = None


@dataclass
class RestoredFile:
    role: str
    target: Path
    kept: Path | None                       # the replaced file, kept beside it
    rows: int | None = None


@dataclass
class RestoreResult:
    manifest: Manifest
    restored: list[RestoredFile]
    untouched: list[tuple[str, Path]]       # (role, target) the backup holds no copy of


# ------------------------------------------------------------------ helpers


def stamp(now: datetime | None = None) -> str:
    """UTC time as it appears in folder and file names: 2026-12-03T060000Z (sorts by time)."""
    return (now or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime(STAMP_FORMAT)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    """Push a file (or a folder's entries) to the disk before the rename that makes it count."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _connect(path: Path, read_only: bool = False) -> sqlite3.Connection:
    if read_only:
        from urllib.parse import quote

        return sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA busy_timeout = 10000")
    return connection


def _integrity(connection: sqlite3.Connection) -> str:
    """'ok', or the first problems PRAGMA integrity_check reports."""
    try:
        lines = [row[0] for row in connection.execute("PRAGMA integrity_check(20)")]
    except sqlite3.DatabaseError as e:
        return str(e)
    return "ok" if lines == ["ok"] else "; ".join(lines[:5])


def _migrations(connection: sqlite3.Connection) -> dict[str, list[str]]:
    """Migrations applied, by migration set (sqlite-utils' table), in the order they were applied."""
    applied: dict[str, list[str]] = {}
    try:
        rows = connection.execute(f"SELECT migration_set, name FROM {MIGRATIONS_TABLE} ORDER BY rowid").fetchall()
    except sqlite3.OperationalError:  # no such table: a database created before migrations
        return applied
    for migration_set, name in rows:
        applied.setdefault(migration_set, []).append(name)
    return applied


def _rows(connection: sqlite3.Connection, table: str | None) -> int | None:
    if not table:
        return None
    try:
        return connection.execute(f"SELECT COUNT(*) FROM [{table}]").fetchone()[0]
    except sqlite3.OperationalError:
        return None


def _copy_database(source: Path, target: Path) -> sqlite3.Connection:
    """A consistent copy of `source` at `target`, as one file in rollback-journal mode; returns an
    open connection on the copy. Raises sqlite3.DatabaseError when `source` is not a database."""
    src = _connect(source)
    try:
        src.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # "file is not a database" here
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # one step: one snapshot, writers go on (WAL)
            dst.execute("PRAGMA journal_mode = DELETE")
        except BaseException:
            dst.close()
            raise
    finally:
        src.close()
    return dst


def _copy_file_stable(source: Path, target: Path, attempts: int = 3) -> bool:
    """Copy a plain file that a job may be rewriting (the model, by `veille learn`); True when the
    copy matches a moment where the file did not change during the copy."""
    for attempt in range(attempts):
        before = source.stat()
        shutil.copyfile(source, target)
        after = source.stat()
        if ((before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns)
                and target.stat().st_size == after.st_size):
            return True
        time.sleep(0.5 * (attempt + 1))
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ------------------------------------------------------------------ backups


def list_backups(dest_dir: Path | str) -> list[Path]:
    """The complete backups in `dest_dir` (named veille-STAMP, with their manifest), oldest first.
    Anything else there (temporary folders, other files) is not a backup and is never touched."""
    dest_dir = Path(dest_dir)
    if not dest_dir.is_dir():
        return []
    found = []
    for entry in dest_dir.iterdir():
        match = _COMPLETE.match(entry.name)
        if match and entry.is_dir() and (entry / MANIFEST).is_file():
            found.append(((match[1], int(match[2] or 1)), entry))
    return [path for _, path in sorted(found)]


def prune_backups(dest_dir: Path | str, keep: int) -> list[Path]:
    """Delete the oldest complete backups beyond the last `keep`; return those deleted."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    backups = list_backups(dest_dir)
    removed = backups[:-keep]
    for folder in removed:
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:  # another `veille backup` pruning at the same time got there first
            pass
    return removed


def _remove_stale_partials(dest_dir: Path) -> None:
    """Temporary folders left by a backup that crashed (its process is gone) hold nothing useful."""
    for entry in dest_dir.iterdir():
        match = _PARTIAL.match(entry.name)
        if match and entry.is_dir() and not _pid_alive(int(match[1])):
            shutil.rmtree(entry, ignore_errors=True)


def _final_name(dest_dir: Path, when: str) -> Path:
    folder = dest_dir / f"{PREFIX}{when}"
    number = 2
    while folder.exists():  # two backups in the same second
        folder = dest_dir / f"{PREFIX}{when}-{number}"
        number += 1
    return folder


def make_backup(dest_dir: Path | str, sources: dict[str, Path], keep: int, now: datetime | None = None,
                on_file: Callable[[CopiedFile | Skipped], None] | None = None,
                version: str | None = None) -> BackupResult:
    """Copy each of `sources` (role -> path, roles of ROLES) into a new complete backup folder of
    `dest_dir`, then delete the oldest complete backups beyond `keep`.

    A source that does not exist is skipped and reported; a source that cannot be read as a
    database, or whose copy fails `PRAGMA integrity_check`, fails the whole backup (nothing is kept
    of it and no older backup is deleted)."""
    if keep < 1:
        raise BackupError("--keep : au moins 1 sauvegarde doit être gardée")
    unknown = set(sources) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    dest_dir = Path(dest_dir)
    if dest_dir.exists() and not dest_dir.is_dir():
        raise BackupError(f"{dest_dir} : ce n'est pas un dossier")
    dest_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(dest_dir)
    created = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    when = stamp(created)
    partial = dest_dir / f".tmp-{PREFIX}{when}-{os.getpid()}"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir()
    files: list[CopiedFile] = []
    skipped: list[Skipped] = []
    try:
        for key, role in ROLES.items():
            if key not in sources:
                continue
            source = Path(sources[key])
            if not source.is_file():
                item: CopiedFile | Skipped = Skipped(key, str(source), "fichier absent")
                skipped.append(item)
            else:
                item = _backup_one(role, source, partial / role.filename)
                if isinstance(item, Skipped):
                    skipped.append(item)
                else:
                    files.append(item)
            if on_file:
                on_file(item)
        if not files:
            raise BackupError("rien à sauvegarder : aucune des bases n'existe ("
                              + ", ".join(s.source for s in skipped) + "). Vérifiez --config (ou VEILLE_CONFIG) "
                              "et le dossier de travail.")
        manifest = {
            "format": FORMAT, "created_at": created.isoformat(timespec="seconds"), "host": socket.gethostname(),
            "veille_version": version, "files": [f.as_json() for f in files],
            "skipped": [{"role": s.role, "source": s.source, "reason": s.reason} for s in skipped],
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        _fsync(partial / MANIFEST)
        _fsync(partial)
        folder = _final_name(dest_dir, when)
        os.rename(partial, folder)
        _fsync(dest_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    removed = prune_backups(dest_dir, keep)
    return BackupResult(folder=folder, created_at=manifest["created_at"], files=files, skipped=skipped,
                        kept=list_backups(dest_dir), removed=removed)


def _backup_one(role: Role, source: Path, target: Path) -> CopiedFile | Skipped:
    if not role.database:
        if not _copy_file_stable(source, target):
            target.unlink(missing_ok=True)
            return Skipped(role.key, str(source), "fichier modifié pendant la copie (apprentissage en cours ?)")
        _fsync(target)
        return CopiedFile(role.key, role.filename, str(source), target.stat().st_size, _sha256(target))
    try:
        copy = _copy_database(source, target)
    except sqlite3.DatabaseError as e:
        raise BackupError(f"{role.label} ({source}) : pas une base SQLite lisible ({e}) ; aucune sauvegarde "
                          "n'a été gardée, les précédentes restent") from None
    try:
        integrity = _integrity(copy)
        migrations = _migrations(copy)
        rows = _rows(copy, role.table)
    finally:
        copy.close()
    if integrity != "ok":
        raise BackupError(f"la copie {role.of} ({source}) ne passe pas le contrôle d'intégrité : "
                          f"{integrity}. La base d'origine est peut-être abîmée ; aucune sauvegarde n'a été gardée, "
                          "les précédentes restent (veille restore pour revenir à l'une d'elles)")
    _fsync(target)
    return CopiedFile(role.key, role.filename, str(source), target.stat().st_size, _sha256(target), integrity,
                      migrations, rows)


# ------------------------------------------------------------------ checking a backup


def read_manifest(folder: Path | str) -> Manifest:
    """The manifest of a backup folder, refused with a clear message when absent or unreadable."""
    folder = Path(folder)
    if not folder.exists():
        raise BackupError(f"{folder} : dossier introuvable")
    if not folder.is_dir():
        raise BackupError(f"{folder} : ce n'est pas un dossier de sauvegarde (attendu : un dossier "
                          f"{PREFIX}AAAA-MM-JJTHHMMSSZ fait par veille backup)")
    path = folder / MANIFEST
    if not path.is_file():
        raise BackupError(f"{folder} : sauvegarde incomplète ou étrangère, {MANIFEST} absent (une sauvegarde "
                          "interrompue n'en a pas) ; rien n'a été modifié")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("files"), list):
            raise ValueError("format inconnu")
        files = []
        for entry in data["files"]:
            role = ROLES[entry["role"]]
            if entry["name"] != role.filename:
                raise ValueError(f"nom de fichier inattendu {entry['name']!r}")
            files.append(CopiedFile(entry["role"], entry["name"], str(entry["source"]), int(entry["size"]),
                                    str(entry["sha256"]), entry.get("integrity_check"),
                                    dict(entry.get("migrations") or {}), entry.get("rows")))
        if len({f.role for f in files}) != len(files):
            raise ValueError("fichier en double")
        skipped = [Skipped(str(s["role"]), str(s["source"]), str(s["reason"])) for s in data.get("skipped") or []]
        created = str(data["created_at"])
        datetime.fromisoformat(created)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        raise BackupError(f"{path} : manifeste illisible ({e}) ; rien n'a été modifié") from None
    return Manifest(folder=folder, created_at=created, files=files, skipped=skipped, host=data.get("host"))


def verify_backup(folder: Path | str) -> Manifest:
    """Check every copy of a backup against its manifest (present, same size, same sha256) and,
    for databases, `PRAGMA integrity_check`; raise BackupError listing every problem."""
    manifest = read_manifest(folder)
    if not manifest.files:
        raise BackupError(f"{manifest.folder} : la sauvegarde ne contient aucun fichier ; rien n'a été modifié")
    problems = []
    for entry in manifest.files:
        path = manifest.folder / entry.name
        if not path.is_file():
            problems.append(f"{entry.name} : fichier absent")
            continue
        size = path.stat().st_size
        if size != entry.size:
            problems.append(f"{entry.name} : {size} octets au lieu de {entry.size} (fichier tronqué ou modifié)")
            continue
        if _sha256(path) != entry.sha256:
            problems.append(f"{entry.name} : somme de contrôle différente du manifeste (fichier modifié ou abîmé)")
            continue
        if ROLES[entry.role].database:
            try:
                connection = _connect(path, read_only=True)
                try:
                    integrity = _integrity(connection)
                finally:
                    connection.close()
            except sqlite3.DatabaseError as e:
                integrity = str(e)
            if integrity != "ok":
                problems.append(f"{entry.name} : contrôle d'intégrité en échec ({integrity})")
    if problems:
        raise BackupError(f"sauvegarde refusée ({manifest.folder}), rien n'a été modifié :\n  " + "\n  ".join(problems))
    return manifest


# ------------------------------------------------------------------ restoring


def kept_path(target: Path, when: str) -> Path:
    """Where a file replaced by a restoration is kept: beside it, dated."""
    path = target.with_name(f"{target.name}{KEPT_SUFFIX}{when}")
    number = 2
    while path.exists():
        path = target.with_name(f"{target.name}{KEPT_SUFFIX}{when}-{number}")
        number += 1
    return path


def restore_backup(folder: Path | str, targets: dict[str, Path], now: datetime | None = None,
                   on_file: Callable[[RestoredFile], None] | None = None,
                   verified: Manifest | None = None) -> RestoreResult:
    """Put the copies of a backup back in place of `targets` (role -> current path).

    The backup is verified first and nothing is changed if it fails. Each replaced file is kept
    beside its target (`NAME.avant-restauration-STAMP`); a role the backup holds no copy of is left
    as it is. The caller holds the job locks: no crawl, tagging or send runs meanwhile.
    `verified`: the manifest verify_backup just returned for this folder (saves hashing twice)."""
    manifest = verified if verified is not None and verified.folder == Path(folder) else verify_backup(folder)
    when = stamp(now)
    restored = []
    for entry in manifest.files:
        role = ROLES[entry.role]
        if entry.role not in targets:
            continue
        target = Path(targets[entry.role])
        target.parent.mkdir(parents=True, exist_ok=True)
        source = manifest.folder / entry.name
        if role.database:
            kept, rows = _restore_database(source, target, when, role)
        else:
            kept = None
            if target.exists():
                kept = kept_path(target, when)
                shutil.copy2(target, kept)
            temporary = target.with_name(f".{target.name}.restauration-{os.getpid()}")
            shutil.copyfile(source, temporary)
            os.replace(temporary, target)
            rows = None
        done = RestoredFile(entry.role, target, kept, rows)
        restored.append(done)
        if on_file:
            on_file(done)
    present = {f.role for f in manifest.files}
    untouched = [(key, Path(path)) for key, path in targets.items() if key not in present]
    return RestoreResult(manifest=manifest, restored=restored, untouched=untouched)


def _restore_database(source: Path, target: Path, when: str, role: Role) -> tuple[Path | None, int | None]:
    kept = None
    wal, shm = Path(f"{target}-wal"), Path(f"{target}-shm")
    if target.exists():
        kept = kept_path(target, when)
        try:
            # A consistent copy of the current state, WAL included, as one file.
            _copy_database(target, kept).close()
        except sqlite3.DatabaseError:
            # Not a readable database (the reason for restoring, maybe): set it aside as it is.
            Path(kept).unlink(missing_ok=True)
            os.rename(target, kept)
            if wal.exists():
                os.rename(wal, Path(f"{kept}-wal"))
            shm.unlink(missing_ok=True)
    else:
        # A journal without its database belongs to nothing we restore; keep it aside, unread.
        for stray in (wal, shm):
            if stray.exists():
                os.rename(stray, stray.with_name(f"{stray.name}{KEPT_SUFFIX}{when}"))
    src = _connect(source, read_only=True)
    try:
        dst = _connect(target)
        try:
            # Into the live file: another connection sees the old content or the new, never a mix.
            src.backup(dst)
            dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            integrity = _integrity(dst)
            rows = _rows(dst, role.table)
        finally:
            dst.close()
    finally:
        src.close()
    if integrity != "ok":
        raise BackupError(f"{target} : contrôle d'intégrité en échec après restauration ({integrity}) ; "
                          f"l'ancien fichier est gardé : {kept}")
    return kept, rows
