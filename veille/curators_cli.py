"""`veille curators`: the curators' accounts (in the subscribers database, never served).

Registered in veille/cli.py with `cli.add_command(curators)`. Its options and error reporting are
veille/cli_support.py's, shared with every other command.
"""

from __future__ import annotations

import functools
import sys

import click

from veille.cli_support import VeilleGroup, check_separate, open_sqlite, subscribers_db_option, with_config


def _with_database(f):
    """`--config` and `--subscribers-db`; passes `db`, the subscribers database with the curators' tables
    (never the archive: refused when both name one file)."""

    @with_config
    @subscribers_db_option
    @functools.wraps(f)
    def wrapper(config, subscribers_db_path, **kwargs):
        from veille.curators import open_curators_db

        check_separate(config, None, subscribers_db_path)
        db = open_sqlite(open_curators_db, subscribers_db_path or config.subscribers_db_path)
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


@click.group(cls=VeilleGroup)
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
