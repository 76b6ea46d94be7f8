"""`veille curators`: the curators' accounts (in the subscribers database, never served).

Registered in veille/cli.py with `cli.add_command(curators)`. The options `--config` and
`--subscribers-db` are declared again here rather than imported from veille.cli, which imports this
module (no import cycle).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from config.errors import VeilleError


class _Group(click.Group):
    """Reports VeilleError as a clear message and exit code 1, no traceback (also when run alone)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except VeilleError as e:
            click.echo(f"Erreur : {e}", err=True)
            sys.exit(1)


def _with_database(f):
    """`--config` and `--subscribers-db`; passes `db`, the subscribers database with the curators' tables."""

    @click.option("--config", "config_dir", envvar="VEILLE_CONFIG", default="config", show_default=True,
                  type=click.Path(file_okay=False, path_type=Path), help="Configuration folder (env VEILLE_CONFIG).")
    @click.option("--subscribers-db", "subscribers_db_path", type=click.Path(dir_okay=False, path_type=Path),
                  help="Subscribers database [default: paths.subscribers_db of settings.yaml].")
    @functools.wraps(f)
    def wrapper(config_dir, subscribers_db_path, **kwargs):
        from config.loading import load_config
        from veille.curators import open_curators_db

        path = subscribers_db_path or load_config(config_dir).subscribers_db_path
        db = open_curators_db(path)
        try:
            return f(db=db, **kwargs)
        finally:
            db.close()

    return wrapper


def _password_option(f):
    return click.option("--password-stdin", is_flag=True,
                        help="Read the password from the first line of standard input instead of prompting.")(f)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Mot de passe", hide_input=True, confirmation_prompt="Confirmez le mot de passe",
                        err=True)


@click.group(cls=_Group)
def curators():
    """Curators' accounts for the curation pages of `veille serve` (each with its own password,
    stored hashed with argon2 in the subscribers database)."""


@curators.command("add")
@_with_database
@click.argument("name")
@_password_option
def curators_add(db, name, password_stdin):
    """Create the account NAME; its password is asked twice (10 characters at least).

    NAME: lower-case letters a-z, digits, ".", "_" and "-"."""
    from veille.curators import add_curator, normalize_name

    name = normalize_name(name)  # refuse a bad name before asking for a password
    added = add_curator(db, name, _read_password(password_stdin))
    click.echo(f"Compte de curation créé : {added}")


@curators.command("passwd")
@_with_database
@click.argument("name")
@_password_option
def curators_passwd(db, name, password_stdin):
    """Change the password of NAME; its open sessions are closed."""
    from veille.curators import existing_name, set_password

    name = existing_name(db, name)
    set_password(db, name, _read_password(password_stdin))
    click.echo(f"Mot de passe changé pour {name} ; ses sessions ouvertes sont fermées.")


@curators.command("list")
@_with_database
def curators_list(db):
    """List the accounts: creation, last password change, open sessions, login lock."""
    from veille.curators import list_curators

    accounts = list_curators(db)
    if not accounts:
        click.echo("Aucun compte de curation (créez-en un : veille curators add NOM).")
    for c in accounts:
        lock = f"\tconnexion bloquée jusqu'à {c.locked_until}" if c.locked_until else ""
        click.echo(f"{c.name}\tcréé le {c.created_at}\tmot de passe changé le {c.password_changed_at or '-'}"
                   f"\tsessions ouvertes : {c.sessions}{lock}")


@curators.command("remove")
@_with_database
@click.argument("name")
def curators_remove(db, name):
    """Delete the account NAME and close its sessions (its past decisions keep its name)."""
    from veille.curators import remove_curator

    click.echo(f"Compte de curation supprimé : {remove_curator(db, name)}")
