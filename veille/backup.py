"""`veille backup` and `veille restore`: thin commands over pipeline/backups.py.

What they add to the library: the paths from the configuration (the archive, the subscribers,
the operations database and the learned model beside the archive), the job locks a restoration
holds (no crawl, tagging or send may write while the files are replaced), the confirmation, the
migrations run right after a restoration (an older backup is brought up to the code's schema), and
the French lines the administrator reads.
"""

from __future__ import annotations

import sqlite3
from contextlib import ExitStack
from pathlib import Path

import click

from config.errors import VeilleError
from veille.cli_support import check_separate, db_option, subscribers_db_option, with_config
from veille.locks import KINDS, JobBusy, job_lock

YES = {"o", "oui", "y", "yes"}


def data_paths(config, db_path: Path | None = None, subscribers_db_path: Path | None = None) -> dict[str, Path]:
    """Role -> current path of every file a backup holds (roles of pipeline.backups.ROLES)."""
    from pipeline.learning import model_path

    archive = Path(db_path or config.db_path)
    return {"archive": archive, "subscribers": Path(subscribers_db_path or config.subscribers_db_path),
            "operations": config.operations_db_path, "model": model_path(archive)}


def french_size(size: int) -> str:
    """« 12,3 Mo », « 80 Ko », « 512 octets »."""
    if size < 1000:
        return f"{size} octets"
    for unit, factor in (("Ko", 1e3), ("Mo", 1e6), ("Go", 1e9), ("To", 1e12)):
        value = size / factor
        if value < 1000 or unit == "To":
            shown = f"{value:.1f}" if value < 100 else f"{value:.0f}"
            return f"{shown.replace('.', ',')} {unit}"
    raise AssertionError("unreachable")


def _rows(role, rows: int | None) -> str:
    return f", {rows} {role.unit}" if rows is not None and role.unit else ""


def _version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("veille")
    except PackageNotFoundError:
        return None


@click.command()
@click.argument("dest_dir", required=False, type=click.Path(path_type=Path))
@click.option("--keep", type=int, help="How many backups DEST_DIR keeps; older ones are deleted "
                                       "[default: backup.keep of settings.yaml, 7].")
@with_config
@db_option
@subscribers_db_option
def backup(config, dest_dir, keep, db_path, subscribers_db_path):
    """Consistent copies of the archive, the subscribers and operations databases and the learned
    model, taken while crawls run (SQLite's online backup API), into a new folder
    DEST_DIR/veille-YYYY-MM-DDTHHMMSSZ/ with a manifest (sizes, sha256, integrity check,
    migrations). The folder counts only once complete; then only the last --keep backups are kept.
    A database that does not exist yet is reported and skipped.

    DEST_DIR defaults to paths.backups of settings.yaml (data/backups).

    Example: veille backup /srv/sauvegardes/veille --keep 14
    """
    from pipeline.backups import ROLES, CopiedFile, make_backup

    check_separate(config, db_path, subscribers_db_path)
    dest_dir = dest_dir or config.backups_dir
    keep = config.settings.backup.keep if keep is None else keep
    click.echo(f"Sauvegarde dans {dest_dir} :")

    def report(item) -> None:
        role = ROLES[item.role]
        if isinstance(item, CopiedFile):
            integrity = f", intégrité {item.integrity}" if item.integrity else ""
            click.echo(f"  {role.label} ({item.source}) : {french_size(item.size)}{_rows(role, item.rows)}"
                       f"{integrity}")
        else:
            click.echo(f"  {role.label} ({item.source}) : {item.reason}, ignoré")

    result = make_backup(dest_dir, data_paths(config, db_path, subscribers_db_path), keep, on_file=report,
                         version=_version())
    click.echo(f"Sauvegarde terminée : {result.folder} ({len(result.files)} fichier(s), {french_size(result.size)}).")
    removed = f" ; supprimée(s) : {', '.join(p.name for p in result.removed)}" if result.removed else ""
    click.echo(f"{len(result.kept)} sauvegarde(s) gardée(s) dans {dest_dir} (au plus {keep}){removed}.")


@click.command()
@click.argument("src", type=click.Path(path_type=Path))
@click.option("--yes", is_flag=True, help="Replace without asking for confirmation.")
@with_config
@db_option
@subscribers_db_option
def restore(config, src, yes, db_path, subscribers_db_path):
    """Put a backup made by `veille backup` back in place of the current databases.

    The backup is checked first (manifest, sizes, sha256, integrity of each copy) and refused with
    nothing changed if anything is wrong. A crawl, a tagging or a send in progress refuses the
    restoration (their locks are held meanwhile). Each replaced file is kept beside it
    (veille.db.avant-restauration-STAMP). A file the backup holds no copy of is left as it is.
    Migrations run right after, so an older backup is brought up to date. Stop `veille serve`
    and `veille schedule` first (systemctl stop veille-serve veille-schedule).

    Example: veille restore data/backups/veille-2026-12-03T031500Z
    """
    from pipeline.approval import french_moment
    from pipeline.backups import ROLES, restore_backup, verify_backup

    check_separate(config, db_path, subscribers_db_path)
    tz = config.settings.tz
    targets = data_paths(config, db_path, subscribers_db_path)
    manifest = verify_backup(src)
    click.echo(f"Sauvegarde du {french_moment(manifest.created_at, tz)} ({manifest.folder}) vérifiée : "
               f"{len(manifest.files)} fichier(s), sommes de contrôle et intégrité ok.")
    with ExitStack() as locks:
        for kind in KINDS:
            try:
                locks.enter_context(job_lock(targets["archive"], kind, tz, command="veille restore"))
            except JobBusy as e:
                raise JobBusy(f"restauration refusée, rien n'a été modifié. {e}") from None
        if not yes:
            _confirm(manifest, targets)
        migrated: list[str] = []

        def report(done) -> None:
            role = ROLES[done.role]
            kept = f" ; l'ancien fichier est gardé : {done.kept}" if done.kept else ""
            click.echo(f"  {role.label} : copie remise en place dans {done.target}{_rows(role, done.rows)}{kept}")

        result = restore_backup(src, targets, on_file=report, verified=manifest)
        for role, target in result.untouched:
            state = f"fichier actuel laissé tel quel : {target}" if target.exists() else f"aucun fichier actuel ({target})"
            click.echo(f"  {ROLES[role].label} : pas dans la sauvegarde ; {state}")
        restored = {done.role: done.target for done in result.restored}
        migrated = _migrate(restored)
    if migrated:
        click.echo(f"Migrations appliquées aux bases restaurées : {', '.join(migrated)}.")
    click.echo("Restauration terminée. Relancez les services s'ils étaient arrêtés "
               "(systemctl start veille-schedule veille-serve).")


def _confirm(manifest, targets: dict[str, Path]) -> None:
    from pipeline.backups import ROLES

    lines = ["Remplacer les données actuelles par cette sauvegarde ?"]
    lines += [f"  {ROLES[f.role].label} : {targets[f.role]}" for f in manifest.files]
    lines.append("Les fichiers remplacés seront gardés à côté (NOM.avant-restauration-DATE). Arrêtez d'abord "
                 "veille serve et veille schedule.")
    click.echo("\n".join(lines))
    try:
        answer = click.prompt("Continuer ? [o/N]", default="n", show_default=False, err=True)
    except click.Abort:
        raise VeilleError("restauration annulée : rien n'a été modifié") from None
    if answer.strip().lower() not in YES:
        raise VeilleError("restauration annulée : rien n'a été modifié")


def _migrate(restored: dict[str, Path]) -> list[str]:
    """Open each restored database with its own opener, which applies the pending migrations;
    return the migrations applied (« archive : m011_… »)."""
    from newsletter.subscribers import open_subscribers_db
    from pipeline.archive import open_db
    from pipeline.backups import ROLES
    from pipeline.operations import open_operations_db
    from veille.curators import open_curators_db

    openers = {"archive": [open_db], "subscribers": [open_subscribers_db, open_curators_db],
               "operations": [open_operations_db]}
    applied = []
    for role, path in restored.items():
        if role not in openers:
            continue
        before = _applied(path)
        for opener in openers[role]:
            opener(path).close()
        applied += [f"{ROLES[role].label} : {name}" for name in _applied(path) if name not in before]
    return applied


def _applied(path: Path) -> list[str]:
    connection = sqlite3.connect(path)
    try:
        return [f"{s}/{n}" for s, n in connection.execute("SELECT migration_set, name FROM _sqlite_migrations")]
    except sqlite3.OperationalError:
        return []
    finally:
        connection.close()
