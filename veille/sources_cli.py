"""`veille sources`: the sources' health, and (issue 15) finding, adding, checking and mending sources."""

from __future__ import annotations

import json
from pathlib import Path

import click

from veille.cli_support import db_option, open_sqlite, with_config


@click.group(invoke_without_command=True)
@with_config
@db_option
@click.option("--sources", "sources_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Sources file [default: CONFIG/sources.yaml].")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per source.")
@click.pass_context
def sources(ctx, config, db_path, sources_file, as_json):
    """Every source with its health: last success, last error, items per week, silent or failing.

    Example: veille sources --json
    """
    if ctx.invoked_subcommand is not None:
        return
    from dataclasses import asdict

    from config.loading import load_sources
    from pipeline.archive import open_db
    from pipeline.health import source_health

    archive = open_sqlite(open_db, db_path or config.db_path)
    health = source_health(archive, load_sources(sources_file or config.sources_file))
    if as_json:
        for h in health:
            click.echo(json.dumps(asdict(h), ensure_ascii=False))
        return
    for h in health:
        click.echo(f"{h.id}  [{h.state}]  {h.type}  {h.items_per_week}/sem.  "
                   f"dernier succès : {h.last_success_at or '—'}  dernier article : {h.last_item_at or '—'}")
        if h.last_error:
            click.echo(f"    dernière erreur ({h.last_error_at}) : {h.last_error}")
