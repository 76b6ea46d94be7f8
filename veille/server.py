"""`veille serve`: Datasette on the archive (and only the archive: never the subscribers database).

It only prepares what a plain `datasette` would be given: the archive's metadata and the plugin's
configuration (`plugins: {veille: {...}}`, read by veille/datasette_plugin.py), then starts it.
Secrets are not put in the metadata (Datasette shows it at /-/metadata): the plugin reads them from
the configuration folder and the environment, like every `veille` command. The curators' accounts
and sessions are in the subscribers database (`veille curators`, see veille/curators.py), which the
plugin opens itself and Datasette never serves.
"""

from __future__ import annotations

from pathlib import Path

from datasette.app import Datasette

from config.loading import Config
from config.schema import Settings
from pipeline.archive import open_db


def archive_metadata(settings: Settings, database: str) -> dict:
    return {
        "title": settings.bulletin.title,
        "description": "Archive de la veille : articles collectés, étiquettes, santé des sources.",
        "databases": {
            database: {
                "tables": {
                    "items": {
                        "label_column": "title",
                        "sort_desc": "first_seen_at",
                        "fts_table": "items_fts",
                        "fts_pk": "id",
                        "facets": ["source_id"],
                    },
                    "source_runs": {"sort_desc": "started_at", "facets": ["status", "source_id"]},
                    "tags": {"facets": ["facet", "origin"]},
                    "page_errors": {"sort_desc": "at", "facets": ["status", "source_id"]},
                    # Machinery, not news: hidden from the table list (still queryable).
                    "_sqlite_migrations": {"hidden": True},
                    "minhashes": {"hidden": True},
                    "http_validators": {"hidden": True},
                }
            }
        },
    }


def plugin_config(config: Config, database: str, subscribers_db: Path | str, bulletins_dir: Path | str) -> dict:
    """`plugins: {veille: ...}` for Datasette's metadata."""
    return {"config": str(config.dir.resolve()), "database": database,
            "subscribers_db": str(Path(subscribers_db).resolve()), "bulletins": str(Path(bulletins_dir).resolve())}


def make_datasette(config: Config, db_path: Path | str, subscribers_db: Path | str,
                   bulletins_dir: Path | str) -> Datasette:
    """Datasette on the archive only, with Veille's plugin (curation, unsubscribe route, bulletins)."""
    db_path = Path(db_path)
    open_db(db_path).close()  # create or migrate before serving
    metadata = archive_metadata(config.settings, db_path.stem)
    metadata["plugins"] = {"veille": plugin_config(config, db_path.stem, subscribers_db, bulletins_dir)}
    return Datasette([str(db_path)], metadata=metadata,
                     settings={"default_page_size": 50, "sql_time_limit_ms": 3000},
                     secret=config.settings.secret.get_secret_value() or None)


def serve(datasette: Datasette, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(datasette.app(), host=host, port=port, log_level="warning")
