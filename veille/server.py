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
from config.schema import Settings, Taxonomy
from pipeline.archive import open_db


ARTICLE_COLUMNS = {
    "title": "Titre de l'article",
    "url": "Adresse de l'article sur le site de sa source",
    "source": "Le site qui l'a publié",
    "published": "Jour de publication (à défaut, de collecte)",
    "week": "Semaine ISO de collecte (AAAA-Wss) : celle du bulletin",
    "nature": "Nature de l'information : politique publique, initiative locale, appel à projets, événement, étude",
    "themes": "Thèmes (enjeux du développement territorial de l'emploi)",
    "dispositifs": "Dispositifs nommés : PLIE, TZCLD, IAE, missions locales…",
    "departements": "Départements de Nouvelle-Aquitaine concernés",
    "epci": "Intercommunalités concernées",
    "communes": "Communes de Nouvelle-Aquitaine nommées",
    "summary": "Début de l'article",
    "in_bulletin": "1 : retenu dans le bulletin de sa semaine",
    "rejected": "1 : écarté par la chargée de mission",
    "highlight": "1 : mis « À la une »",
    "note": "Note de la chargée de mission",
    "reason": "Pourquoi il n'est pas dans le bulletin",
    "deadline": "Date limite de candidature (appels à projets)",
    "event_day": "Date de l'événement",
    "source_id": "Identifiant de la source",
    "updated_at": "Dernière mise à jour de cette ligne",
}


ACTOR_COLUMNS = {
    "id": "Identifiant de l'acteur (son adresse : /-/acteur/identifiant)",
    "name": "Nom de l'acteur",
    "kind": "Type d'acteur (réseaux de data·inclusion, collectivités, État, entreprises, associations)",
    "kind_slug": "Code du type d'acteur",
    "departements": "Départements où les articles le situent",
    "territory": "Son territoire : commune, département(s) ou région",
    "dispositifs": "Dispositifs des articles qui le citent",
    "items": "Nombre d'articles qui le citent",
    "first_seen": "Premier article qui le cite (jour de publication, à défaut de collecte)",
    "last_seen": "Dernier article qui le cite",
    "partners": "Les acteurs le plus souvent cités dans les mêmes articles",
    "updated_at": "Dernière reconstruction de l'annuaire",
}


# Suggested facets are off: each one is a query over the whole selection (tens of them per table page,
# seconds at a million articles). Facet counts may wait for their selection's ids up to 1 s.
SETTINGS = {"default_page_size": 50, "sql_time_limit_ms": 3000, "facet_time_limit_ms": 1000,
            "suggest_facets": False}


def canned_queries(taxonomy: Taxonomy) -> dict:
    """The field's questions, by stable names (README, « The archive »)."""
    call = taxonomy.label("nature", "appel").replace("'", "''")
    return {
        "cette_semaine": {
            "title": "Le bulletin de la semaine",
            "description": "Les articles retenus pour le bulletin d'une semaine (par défaut, la dernière collectée).",
            "sql": "SELECT id, title, url, source, published, nature, themes, dispositifs, departements, highlight "
                   "FROM articles WHERE in_bulletin = 1 AND week = COALESCE(NULLIF(:semaine, ''), "
                   "(SELECT MAX(week) FROM articles)) ORDER BY highlight DESC, published DESC",
            "params": ["semaine"],
        },
        "appels_ouverts": {
            "title": "Appels à projets encore ouverts",
            "description": "Les appels à projets dont la date limite est aujourd'hui ou plus tard, la plus proche d'abord.",
            "sql": "SELECT id, title, url, source, deadline, departements, themes, dispositifs FROM articles "
                   f"WHERE nature = '{call}' AND deadline >= date('now', 'localtime') AND rejected = 0 "
                   "ORDER BY deadline, published DESC",
        },
        "agenda": {
            "title": "Agenda : événements à venir",
            "description": "Forums, rencontres et réunions annoncés, à partir d'aujourd'hui.",
            "sql": "SELECT id, event_day, title, url, source, departements, communes FROM articles "
                   "WHERE event_day >= date('now', 'localtime') AND rejected = 0 ORDER BY event_day, title",
        },
        "par_departement": {
            "title": "Articles par département et par semaine",
            "description": "Combien d'articles concernent chaque département, semaine par semaine.",
            # Counts kept by triggers (article_week_counts, m009): json_each over every article took 3 s
            # at a million.
            "sql": "SELECT week AS semaine, value AS departement, articles FROM article_week_counts "
                   "WHERE facet = 'departements' AND week >= COALESCE(NULLIF(:depuis, ''), '0000') "
                   "ORDER BY semaine DESC, articles DESC",
            "params": ["depuis"],
        },
        "sources_en_panne": {
            "title": "Sources en panne",
            "description": "Les sources dont la dernière collecte a échoué, avec l'erreur et le dernier succès.",
            "sql": "SELECT sources.name AS source, last.started_at AS derniere_collecte, last.status AS statut, "
                   "last.http_status AS code_http, last.error AS erreur, "
                   "(SELECT MAX(started_at) FROM source_runs ok WHERE ok.source_id = sources.id "
                   "AND ok.status = 'ok') AS dernier_succes, sources.url AS adresse "
                   "FROM sources JOIN source_runs last ON last.id = (SELECT id FROM source_runs r "
                   "WHERE r.source_id = sources.id ORDER BY started_at DESC, id DESC LIMIT 1) "
                   "WHERE sources.enabled = 1 AND last.status != 'ok' ORDER BY last.started_at DESC",
        },
        "non_classes": {
            "title": "Articles sans thème ni dispositif",
            "description": "À classer : les articles auxquels ni thème ni dispositif n'a été reconnu.",
            "sql": "SELECT id, title, url, source, published, nature, departements FROM articles "
                   "WHERE themes = '[]' AND dispositifs = '[]' ORDER BY published DESC LIMIT 500",
        },
    }


def archive_metadata(settings: Settings, database: str, taxonomy: Taxonomy) -> dict:
    tables = {
        "articles": {
            "title": "Articles",
            "description": "Un article par ligne, avec ses thèmes, dispositifs et lieux par leur nom. Cherchez "
                           "(accents ignorés), filtrez avec les facettes, suivez une sélection en Atom.",
            "label_column": "title",
            "sort_desc": "published",
            # A million rows (veille/datasette_plugin/facets.py): search by items_fts through the plugin
            # (a plan that reads `published` in order), facet counts from an index held in memory and
            # kept current from the change log.
            "veille_search_fts": "items_fts",
            "veille_facet_index": "article_changelog",
            "facets": ["nature", {"array": "themes"}, {"array": "dispositifs"}, {"array": "departements"},
                       "source", "week"],
            "columns": ARTICLE_COLUMNS,
        },
        "acteurs": {
            "title": "Acteurs",
            "description": "L'annuaire des acteurs cités par les articles : qui fait quoi, où, et avec qui. "
                           "Chaque nom mène à la page de l'acteur et aux articles qui le citent.",
            "label_column": "name",
            "sort_desc": "items",
            "facets": ["kind", {"array": "departements"}, {"array": "dispositifs"}],
            "columns": ACTOR_COLUMNS,
        },
        "sources": {"title": "Sources", "description": "Les sites suivis par la veille.",
                    "label_column": "name"},
        "source_runs": {"title": "Collectes par source", "sort_desc": "started_at",
                        "facets": ["status", "source_id"]},
        "page_errors": {"title": "Pages en erreur", "sort_desc": "at", "facets": ["status", "source_id"]},
        "items": {"title": "Articles (données brutes)", "label_column": "title", "sort_desc": "first_seen_at",
                  "fts_table": "items_fts", "fts_pk": "id", "facets": ["source_id"]},
    }
    # Machinery, not news: hidden from the table list (still queryable by SQL).
    for name in ("_sqlite_migrations", "minhashes", "http_validators", "tags", "curation", "duplicates",
                 "crawls", "approvals", "items_fts", "items_fts_config", "items_fts_data", "items_fts_docsize",
                 "items_fts_idx", "article_changelog", "article_week_counts", "actor_mentions", "actor_decisions"):
        tables[name] = {**tables.get(name, {}), "hidden": True}
    tables["items"]["hidden"] = True
    return {
        "title": settings.bulletin.title,
        "description": "Archive de la veille emploi et territoires : les articles collectés, leurs thèmes, "
                       "dispositifs et lieux, les bulletins, la santé des sources.",
        "databases": {database: {"title": "Archive de la veille", "tables": tables,
                                 "queries": canned_queries(taxonomy)}},
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
    metadata = archive_metadata(config.settings, db_path.stem, config.taxonomy)
    metadata["plugins"] = {"veille": plugin_config(config, db_path.stem, subscribers_db, bulletins_dir)}
    return Datasette([str(db_path)], metadata=metadata,
                     settings=SETTINGS,
                     secret=config.settings.secret.get_secret_value() or None)


def serve(datasette: Datasette, host: str, port: int) -> None:
    import uvicorn

    uvicorn.run(datasette.app(), host=host, port=port, log_level="warning")
