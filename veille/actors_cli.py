"""`veille actors`: the directory of the actors named in the news, the curator's decisions on it, its
export in the data·inclusion format, and extraction from a JSONL file (no database).

Registered lazily in veille/cli.py (`lazy_commands`). Library functions: pipeline/actors.py
(extraction), pipeline/directory.py (tables, decisions), pipeline/directory_export.py (export).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from config.errors import VeilleError
from veille.cli_support import (VeilleGroup, config_gazetteer, config_option, db_option, jsonl_documents,
                                open_archive, curator_name, with_config)

NAME_WIDTH, KIND_WIDTH = 48, 24


@click.group(cls=VeilleGroup, invoke_without_command=True)
@config_option
@db_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line: id, name, kind, kind_label, "
              "departements, territory, dispositifs, items, first_seen, last_seen, partners.")
@click.option("--kind", metavar="K", help="Only this kind (slug, e.g. plie, mission-locale, epci, or its label).")
@click.option("--departement", metavar="D", help="Only actors of this département (INSEE code, e.g. 33, or name).")
@click.option("--jsonl", "jsonl_in", type=click.File("rb"),
              help='Extract the actors of documents from a JSONL file ({"id","title","text"} a line); no database.')
@click.option("--out", "jsonl_out", type=click.File("w", encoding="utf-8"), default="-",
              help="Output of --jsonl [default: stdout].")
@click.pass_context
def actors(ctx, config_dir, db_path, as_json, kind, departement, jsonl_in, jsonl_out):
    """The directory of the actors named in the news: who does what where.

    One row per actor (most cited first): name, kind, territory, number of articles, last mention,
    and its identifier (KEY) for the commands below. `veille tag` extracts the actors of each item
    it tags and rebuilds the directory; the curator's decisions (merge, split, rename, hide, kind)
    are kept through any re-tagging.

    With --jsonl, extract the actors of documents from a file instead and write one JSON line per
    document: {"id", "actors": [{"name", "kind", "match", "start", "departements"}]}.

    Examples: veille actors --kind plie --departement 33;
    veille actors --jsonl docs.jsonl --out actors.jsonl
    """
    if ctx.invoked_subcommand is not None:
        return
    from config.loading import load_config

    config = load_config(config_dir)
    if jsonl_in:
        import orjson  # a few times faster than json.dumps (as `veille tag --jsonl`)

        from pipeline.actors import actor_documents

        for result in actor_documents(jsonl_documents(jsonl_in), config_gazetteer(config)):
            jsonl_out.write(orjson.dumps(result, option=orjson.OPT_APPEND_NEWLINE).decode())  # UTF-8 as is
        return
    from pipeline.directory import directory_rows

    rows = directory_rows(open_archive(config, db_path), _kind(kind), _departement(config, departement))
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, ensure_ascii=False))
        return
    click.echo(format_directory(rows, filtered=bool(kind or departement)))


def _kind(value: str | None) -> str | None:
    if not value:
        return None
    from pipeline.actors import KINDS
    from pipeline.directory import kind_slug

    slug = kind_slug(value)
    if slug is None:
        raise VeilleError(f"type inconnu « {value} » (types : {', '.join(KINDS)})")
    return slug


def _departement(config, value: str | None) -> str | None:
    """A département of the région given by code or name, as the directory names it."""
    if not value:
        return None
    from pipeline.folding import fold

    gazetteer = config_gazetteer(config)
    region = gazetteer.region_departements
    code = value.strip().upper() if value.strip().upper() in region else next(
        (c for c, name in region.items() if fold(name) == fold(value.strip())), None)
    if code is None:
        raise VeilleError(f"département inconnu « {value} » : un code INSEE de la région ("
                          f"{', '.join(sorted(region))}) ou son nom")
    return gazetteer.display_name("departements", code)


def format_directory(rows: list[dict], filtered: bool = False) -> str:
    """The directory as a readable table."""
    if not rows:
        return ("Aucun acteur pour ces critères." if filtered else
                "L'annuaire est vide : « veille tag » le construit (« veille tag --all » pour une archive "
                "étiquetée avant lui).")
    kind_width = min(max(len(r["kind_label"]) for r in rows), KIND_WIDTH)
    lines = [f"{'nom':<{NAME_WIDTH}}  {'type':<{kind_width}}  {'territoire':<24} {'articles':>8}  "
             f"{'dernière':<10}  identifiant"]
    for r in rows:
        name, where = _cut(r["name"], NAME_WIDTH), r["territory"] or "—"
        lines.append(f"{name:<{NAME_WIDTH}}  {_cut(r['kind_label'], kind_width):<{kind_width}}  {_cut(where, 24):<24} "
                     f"{r['items']:>8}  {r['last_seen'] or '':<10}  {r['id']}")
    lines.append(f"{len(rows)} acteur(s).")
    return "\n".join(lines)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


# ------------------------------------------------------------------ decisions


def _by_option(f):
    return click.option("--by", metavar="NAME",
                        help="Who makes the decision, recorded with it [default: the system user's name].")(f)


def _decide(config, db_path, action: str, key: str, by: str | None, target: str | None = None,
            value: str | None = None) -> None:
    """Record a decision, rebuild the directory, say what was done."""
    from pipeline.directory import decide, rebuild_directory

    db = open_archive(config, db_path)
    with db.atomic():
        message = decide(db, action, key, target=target, value=value, curator=curator_name(by))
    count = rebuild_directory(db, config_gazetteer(config), config.taxonomy)
    click.echo(f"{message} ({count} acteur(s) dans l'annuaire)")


@actors.command("merge")
@with_config
@db_option
@click.argument("key")
@click.argument("into_key")
@_by_option
def actors_merge(config, db_path, key, into_key, by):
    """Merge the actor KEY into INTO_KEY: its mentions count for INTO_KEY from now on (`split` undoes it).

    Example: veille actors merge plie-du-libournais plie-des-graves --by marie
    """
    _decide(config, db_path, "merge", key, by, target=into_key)


@actors.command("split")
@with_config
@db_option
@click.argument("key")
@_by_option
def actors_split(config, db_path, key, by):
    """Undo the merge of KEY: it is an actor of its own again."""
    _decide(config, db_path, "split", key, by)


@actors.command("rename")
@with_config
@db_option
@click.argument("key")
@click.argument("name")
@_by_option
def actors_rename(config, db_path, key, name, by):
    """Give the actor KEY a new name (its identifier stays).

    Example: veille actors rename mission-locale-du-libournais "Mission locale du Libournais"
    """
    _decide(config, db_path, "rename", key, by, value=name)


@actors.command("hide")
@with_config
@db_option
@click.argument("key")
@_by_option
def actors_hide(config, db_path, key, by):
    """Hide the actor KEY: out of the directory, its pages and the bulletin (`unhide` shows it again)."""
    _decide(config, db_path, "hide", key, by)


@actors.command("unhide")
@with_config
@db_option
@click.argument("key")
@_by_option
def actors_unhide(config, db_path, key, by):
    """Show a hidden actor again."""
    _decide(config, db_path, "unhide", key, by)


@actors.command("kind")
@with_config
@db_option
@click.argument("key")
@click.argument("kind")
@_by_option
def actors_kind(config, db_path, key, kind, by):
    """Change the kind of the actor KEY (a slug such as association, epci, or its label)."""
    _decide(config, db_path, "kind", key, by, value=kind)


@actors.command("decisions")
@with_config
@db_option
def actors_decisions(config, db_path):
    """Every curator decision on actors, oldest first: when, who, what (hidden actors are found here)."""
    from pipeline.approval import french_moment
    from pipeline.directory import decision_log

    log = decision_log(open_archive(config, db_path))
    for row in log:
        who = row["curator"] or "(nom inconnu)"
        click.echo(f"{french_moment(row['at'], config.settings.tz)}  {who}  {row['what']}")
    if not log:
        click.echo("Aucune décision sur les acteurs.")


# ------------------------------------------------------------------ export


@actors.command("export")
@with_config
@db_option
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the JSON array to this file [default: stdout].")
@click.option("--source", default="veille-nouvelle-aquitaine", show_default=True,
              help="data·inclusion `source`: the producer's identifier, prefix of every `id`.")
def actors_export(config, db_path, out_file, source):
    """Export the directory in the data·inclusion `Structure` format (a JSON array).

    Each structure is validated with the data-inclusion-schema package's model. Only actors with
    enough information are exported: a kind of the field (not « entreprise » nor « autre ») and a
    territory; the others are counted, with why, on the error output.
    """
    from pipeline.directory_export import export_structures

    settings = config.settings
    export = export_structures(open_archive(config, db_path), source=source, public_url=settings.public_url or None,
                               communes=config_gazetteer(config).communes)
    text = json.dumps(export.structures, ensure_ascii=False, indent=2) + "\n"
    if out_file:
        out_file.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    summary = f"{len(export.structures)} structure(s) exportée(s)" + (f" vers {out_file}" if out_file else "")
    left = sum(export.left_out.values())
    if left:
        summary += f" ; {left} acteur(s) laissé(s) de côté : " + ", ".join(
            f"{count} {reason}" for reason, count in export.left_out.most_common())
    click.echo(summary + ".", err=not out_file)
