"""`veille serve`: Datasette on the archive (and only the archive: never the subscribers database)."""

from __future__ import annotations

from pathlib import Path

from datasette.app import Datasette

from pipeline.archive import open_db
from veille.config import Settings


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
                    "_sqlite_migrations": {"hidden": True},
                }
            }
        },
    }


def make_datasette(db_path: Path | str, settings: Settings) -> Datasette:
    db_path = Path(db_path)
    open_db(db_path).close()  # create or migrate before serving
    return Datasette(
        [str(db_path)],
        metadata=archive_metadata(settings, db_path.stem),
        settings={"default_page_size": 50, "sql_time_limit_ms": 3000},
        secret=settings.secret or None,
    )


def serve(db_path: Path | str, settings: Settings, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(make_datasette(db_path, settings).app(), host=host, port=port, log_level="warning")
