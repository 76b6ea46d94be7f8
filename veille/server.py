"""`veille serve`: Datasette on the archive (and only the archive: never the subscribers database)."""

from __future__ import annotations

from pathlib import Path

from datasette.app import Datasette
from datasette.plugins import pm

from veille import datasette_plugin
from veille.datasette_plugin import SiteSettings

from pipeline.archive import open_db
from veille.config import Settings, Taxonomy


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


def make_datasette(db_path: Path | str, settings: Settings, subscribers_db: Path | str,
                   bulletins_dir: Path | str, taxonomy: Taxonomy) -> Datasette:
    """Datasette on the archive only, with Veille's plugin (curation, unsubscribe route, bulletins)."""
    db_path = Path(db_path)
    open_db(db_path).close()  # create or migrate before serving
    if pm.get_plugin("veille") is None:  # an installed entry point may already have registered it
        pm.register(datasette_plugin, name="veille")
    datasette = Datasette(
        [str(db_path)],
        metadata=archive_metadata(settings, db_path.stem),
        settings={"default_page_size": 50, "sql_time_limit_ms": 3000},
        secret=settings.secret or None,
        template_dir=str(Path(__file__).parent / "templates"),
    )
    datasette._veille = SiteSettings(Path(subscribers_db), Path(bulletins_dir), settings.secret,
                                     settings.bulletin.title, db_path, taxonomy, settings.curator_password)
    return datasette


def serve(datasette: Datasette, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(datasette.app(), host=host, port=port, log_level="warning")
