"""What every `veille` command group shares: the error-reporting group, the common options, opening a
SQLite file with a clear error.

A module of its own so that veille/cli.py and the groups it registers (veille/curators_cli.py) both
import it, without importing each other.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import json
import functools
import importlib
import getpass
import sys
from pathlib import Path

import click

from config.errors import VeilleError

DEFAULT_CONFIG = "config"
UNKNOWN_USER = "inconnu"

# What the system says when a file or folder cannot be used, in French.
_OS_ERRORS = {errno.ENOENT: "fichier ou dossier introuvable", errno.EACCES: "permission refusée",
              errno.EPERM: "opération non permise", errno.ENOTDIR: "un élément du chemin n'est pas un dossier",
              errno.EISDIR: "c'est un dossier, pas un fichier", errno.ENOSPC: "plus de place sur le disque",
              errno.EROFS: "système de fichiers en lecture seule", errno.EEXIST: "existe déjà"}


class VeilleGroup(click.Group):
    """Reports VeilleError (and its ConfigError) as a clear message and exit code 1 (or the error's
    own `exit_code`), no traceback; so too a file or folder the system refuses (OSError).

    `lazy_commands` ({name: "module:attribute"}) are imported only when run or listed: the CLI
    starts without the modules of every other command (`veille tag --jsonl` in well under a second)."""

    def __init__(self, *args, lazy_commands: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands or {}

    def list_commands(self, ctx):
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx, name):
        if name in self.lazy_commands and name not in self.commands:
            module, attribute = self.lazy_commands[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except VeilleError as e:
            click.echo(f"Erreur : {e}", err=True)
            sys.exit(getattr(e, "exit_code", 1))
        except OSError as e:
            reason = _OS_ERRORS.get(e.errno, e.strerror or str(e))
            click.echo(f"Erreur : {e.filename} : {reason}" if e.filename else f"Erreur : {reason}", err=True)
            sys.exit(1)


def config_option(f):
    return click.option(
        "--config", "config_dir", envvar="VEILLE_CONFIG", default=DEFAULT_CONFIG, show_default=True,
        type=click.Path(file_okay=False, path_type=Path), help="Configuration folder (env VEILLE_CONFIG).",
    )(f)


def db_option(f):
    return click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path),
                        help="Archive database [default: paths.db of settings.yaml].")(f)


def subscribers_db_option(f):
    return click.option("--subscribers-db", "subscribers_db_path", type=click.Path(dir_okay=False, path_type=Path),
                        help="Subscribers database [default: paths.subscribers_db of settings.yaml].")(f)


def with_config(f):
    """Load the config folder and pass `config` instead of `config_dir`."""

    @config_option
    @functools.wraps(f)
    def wrapper(config_dir, **kwargs):
        with collector_paused():
            from config.loading import load_config

            config = load_config(config_dir)
        return f(config=config, **kwargs)

    return wrapper


@contextlib.contextmanager
def collector_paused():
    """The garbage collector paused while what lasts until exit is made (modules, the configuration,
    the gazetteer, models): its passes would walk a growing heap and free none of it. Left as it
    was found: paused inside another pause, it stays paused."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def open_sqlite(opener, path):
    """Open a SQLite file with `opener`, a file that is not a database being a clear error."""
    import sqlite3

    try:
        return opener(path)
    except sqlite3.DatabaseError as e:
        raise VeilleError(f"{path} n'est pas une base SQLite utilisable ({e})") from None


def check_separate(config, db_path, subscribers_db_path) -> None:
    """Refuse the archive and the subscribers in one file, whichever option or setting named them."""
    from config.loading import check_separate_databases

    check_separate_databases(db_path or config.db_path, subscribers_db_path or config.subscribers_db_path)


def system_user() -> str:
    """The name of the account running the command: who made a decision from the command line."""
    try:
        return getpass.getuser().strip() or UNKNOWN_USER
    except (OSError, KeyError, ImportError):  # no USER/LOGNAME and no passwd entry (containers)
        return UNKNOWN_USER


def curator_name(by: str | None) -> str:
    """The name given with --by, else the system user's: who made a decision or an approval."""
    name = " ".join((by or "").split())
    if by is not None and not name:
        raise VeilleError("--by : nom vide")
    return name or system_user()


def open_archive(config, db_path):
    from pipeline.archive import open_db

    return open_sqlite(open_db, db_path or config.db_path)


def config_gazetteer(config):
    from pipeline.places import load_gazetteer

    return load_gazetteer(config.gazetteer_path)


def jsonl_documents(lines):
    """(id, title, text) of each valid line of a JSONL file; the others reported on stderr."""
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            click.echo(f"ligne {number} ignorée : texte qui n'est pas en UTF-8 (octet {e.start + 1})", err=True)
            continue
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as e:
            click.echo(f"ligne {number} ignorée : JSON invalide à la colonne {e.colno} ({e.msg})", err=True)
            continue
        if not isinstance(doc, dict) or "id" not in doc:
            click.echo(f"ligne {number} ignorée : objet avec un champ « id » attendu", err=True)
            continue
        document = str(doc["id"]), str(doc.get("title") or ""), str(doc.get("text") or "")
        try:
            "".join(document).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate escaped in JSON ("\ud800"): no UTF-8 text has it
            click.echo(f"ligne {number} ignorée : caractère invalide (moitié de paire UTF-16 seule)", err=True)
            continue
        yield document
