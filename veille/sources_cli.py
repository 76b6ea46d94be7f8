"""`veille sources`: the sources' health, and (issue 15) finding, adding, checking and mending sources."""

from __future__ import annotations

import json
from pathlib import Path

import click

from veille.cli_support import config_option, db_option, open_sqlite, with_config
from veille.repairs import discovery


@click.group(invoke_without_command=True)
@config_option
@db_option
@click.option("--sources", "sources_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Sources file [default: CONFIG/sources.yaml].")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per source.")
@click.option("--propose", is_flag=True,
              help="Run discovery now for every source to mend (fetches their sites) and keep its proposal; "
                   "without it, the proposals found after the last crawls are shown.")
@click.pass_context
def sources(ctx, config_dir, db_path, sources_file, as_json, propose):
    """Every source with its health: last success, last error, items per week, silent or failing;
    a source that used to work and broke (selector that no longer matches, feed answering 404) is
    flagged « à réparer » with the repair discovery proposes (looked for after each crawl, at most
    once a day per source; `--propose` looks again now).

    Subcommands: discover, check, add, repair (each with its own --config).

    Example: veille sources --json
    """
    if ctx.invoked_subcommand is not None:
        return  # the subcommand loads the configuration it is given
    from dataclasses import asdict

    from config.loading import load_config, load_sources
    from crawlers.discovery import repair_reason
    from pipeline.archive import open_db
    from pipeline.health import source_health
    from pipeline.operations import open_operations_db, repair_proposals
    from veille.repairs import describe_candidate, refresh_repair_proposals

    config = load_config(config_dir)
    all_sources = load_sources(sources_file or config.sources_file)
    archive = open_sqlite(open_db, db_path or config.db_path)
    ops = open_sqlite(open_operations_db, config.operations_db_path)
    if propose:
        proposals = refresh_repair_proposals(config, archive, ops, all_sources, limit=None, force=True)
    else:
        proposals = repair_proposals(ops)
    for h in source_health(archive, all_sources):
        reason = repair_reason(h)
        stored = proposals.get(h.id) if reason else None
        if as_json:
            extra = {"proposal": stored["candidate"], "proposed_at": stored["proposed_at"]} if stored else {}
            click.echo(json.dumps({**asdict(h), "repair": reason, **extra}, ensure_ascii=False))
            continue
        click.echo(f"{h.id}  [{h.state}]  {h.type}  {h.items_per_week}/sem.  "
                   f"dernier succès : {h.last_success_at or '—'}  dernier article : {h.last_item_at or '—'}")
        if h.last_error:
            click.echo(f"    dernière erreur ({h.last_error_at}) : {h.last_error}")
        if reason:
            click.echo(f"    à réparer : {reason} — veille sources repair {h.id}")
            if stored:
                click.echo(f"    proposition de réparation ({stored['proposed_at'][:10]}) : "
                           f"{describe_candidate(stored['candidate'], stored['error'])}")
            else:
                click.echo("    proposition de réparation : pas encore cherchée (après la prochaine collecte, "
                           "ou veille sources --propose)")


@sources.command()
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per candidate, best first.")
@with_config
def discover(config, url, as_json):
    """Find a site's feeds, sitemaps and listing pages, judge each (items, newest date, share on topic,
    sample titles) and print them best first, each with the source entry ready to paste.

    Fetches politely (robots.txt, user agent, size and time limits of settings.yaml); writes nothing.

    Example: veille sources discover https://www.example.fr/actualites/ --json
    """
    result = discovery(config, url)
    if as_json:
        for c in result.candidates:
            click.echo(json.dumps(c.as_json(result.source_id, result.site_name), ensure_ascii=False))
        return
    click.echo(f"{result.site_name} — {result.url} : {len(result.candidates)} proposition(s), la meilleure d'abord")
    for rank, c in enumerate(result.candidates, start=1):
        share = "—" if c.on_topic is None else f"{round(c.on_topic * 100)} %"
        click.echo(f"\n{rank}. [{c.type}] {c.url}  ({c.found_by})")
        details = [f"{c.items} articles", f"le plus récent : {c.newest or 'date inconnue'}", f"dans le sujet : {share}"]
        if c.full_text:
            details.append("texte intégral dans le flux")
        click.echo("   " + " · ".join(details))
        for key, label in (("links", "liens"), ("next", "page suivante"), ("url_filter", "filtre d'adresses")):
            if getattr(c, key):
                click.echo(f"   {label} : {getattr(c, key)}")
        for title in c.sample:
            click.echo(f"   « {title} »")
        from crawlers.discovery import entry_yaml
        click.echo("   " + entry_yaml(c.entry(result.source_id, result.site_name)).rstrip().replace("\n", "\n   "))
    if result.failed:
        click.echo("\nEssayé sans succès :")
        for c in result.failed:
            click.echo(f"  - [{c.type}] {c.url} : {c.error or 'aucun article'}")


def _sources_path(config, sources_file: Path | None) -> Path:
    return sources_file or config.sources_file


def _sources_option(f):
    return click.option("--sources", "sources_file", type=click.Path(dir_okay=False, path_type=Path),
                        help="Sources file [default: CONFIG/sources.yaml].")(f)


@sources.command()
@click.option("--only", multiple=True, metavar="ID", help="Only this source (repeatable).")
@_sources_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per source.")
@with_config
def check(config, only, sources_file, as_json):
    """Dry run of each source, enabled or not: fetch, parse, report the items found, the newest date,
    sample titles and errors. Stores nothing (no archive, no run history).

    Example: veille sources check --only dreets-na
    """
    from dataclasses import asdict

    from config.errors import VeilleError
    from config.loading import load_sources
    from crawlers.discovery import Fetcher, check_source

    all_sources = load_sources(_sources_path(config, sources_file))
    unknown = sorted(set(only) - {s.id for s in all_sources})
    if unknown:
        raise VeilleError(f"source inconnue : {', '.join(unknown)}")
    chosen = [s for s in all_sources if not only or s.id in only]
    failed = 0
    for source in chosen:
        fetcher = Fetcher.from_settings(config.settings.crawl, source.url)
        try:
            result = check_source(source, fetcher, config.settings.tz)
        finally:
            fetcher.close()
        failed += not result.ok
        if as_json:
            click.echo(json.dumps({k: v for k, v in asdict(result).items()}, ensure_ascii=False))
            continue
        state = "ok" if result.ok else "ÉCHEC"
        off = "" if source.enabled else "  (désactivée)"
        click.echo(f"{source.id}  [{state}]  {source.type}  {source.url}{off}")
        if result.error:
            click.echo(f"    erreur : {result.error}")
        click.echo(f"    {result.items} articles · le plus récent : {result.newest or 'date inconnue'}"
                   + (f" · {result.pages} page(s) de liste" if source.type == "html" else ""))
        for title in result.sample:
            click.echo(f"    « {title} »")
    if not as_json:
        click.echo(f"\n{len(chosen) - failed} source(s) sur {len(chosen)} donnent des articles ; rien n'a été enregistré.")


@sources.command()
@click.argument("url")
@click.option("--id", "source_id", help="The source's id [default: from the site's host].")
@click.option("--name", help="The source's name [default: the site's title].")
@click.option("--type", "source_type", type=click.Choice(["rss", "sitemap", "html"]),
              help="Take the best candidate of this type [default: the best].")
@_sources_option
@with_config
def add(config, url, source_id, name, source_type, sources_file):
    """Discover the site at URL and write its best candidate into sources.yaml, keeping the file's
    comments and layout; validated like any config change; refuses a duplicate id or URL.

    Example: veille sources add https://www.example.fr/ --id example-actus --type rss
    """
    from crawlers.discovery import DiscoveryError, entry_yaml
    from crawlers.source_entries import add_source

    result = discovery(config, url)
    candidates = [c for c in result.candidates if not source_type or c.type == source_type]
    if not candidates:
        raise DiscoveryError(f"{result.url} : aucune source de type {source_type} utilisable "
                             f"(trouvé : {', '.join(sorted({c.type for c in result.candidates}))}). Rien n'a été écrit.")
    entry = candidates[0].entry(source_id or result.source_id, name or result.site_name)
    path = _sources_path(config, sources_file)
    add_source(path, entry)
    click.echo(f"Source ajoutée à {path} :\n{entry_yaml(entry)}"
               f"Essayez-la : veille sources check --only {entry['id']}")


@sources.command()
@click.argument("source_id", metavar="ID")
@click.option("--yes", is_flag=True, help="Apply without asking.")
@_sources_option
@with_config
def repair(config, source_id, yes, sources_file):
    """Run discovery again for a source that stopped working (selector that no longer matches, feed
    answering 404) and, after confirmation, replace its address and selectors in sources.yaml
    (« proposition de réparation »); its id, name, enabled, topical and max_age_days are kept.

    Example: veille sources repair cd16-charente
    """
    from config.errors import VeilleError
    from config.loading import load_sources
    from crawlers.discovery import entry_yaml, proposal, repair_changes, repair_start
    from crawlers.source_entries import replace_source

    path = _sources_path(config, sources_file)
    source = next((s for s in load_sources(path) if s.id == source_id), None)
    if source is None:
        raise VeilleError(f"source inconnue : « {source_id} »")
    result = discovery(config, repair_start(source))
    candidate = proposal(source, result)
    if candidate is None:
        click.echo(f"{source_id} : la découverte ne propose rien d'autre que l'entrée actuelle ; rien n'a été changé.")
        return
    changes, drop = repair_changes(source, candidate)
    click.echo(f"Proposition de réparation pour {source_id} : [{candidate.type}] {candidate.url}, "
               f"{candidate.items} articles, le plus récent {candidate.newest or 'date inconnue'}")
    for title in candidate.sample:
        click.echo(f"  « {title} »")
    click.echo("Avant :\n" + entry_yaml({k: v for k, v in source.model_dump().items()
                                        if k in changes or k in drop}))
    click.echo("Après :\n" + entry_yaml(changes))
    if not yes and not click.confirm("Appliquer ?", default=False):
        click.echo("Rien n'a été changé.")
        return
    replace_source(path, source_id, changes, drop)
    from pipeline.operations import forget_repair_proposals, open_operations_db

    ops = open_sqlite(open_operations_db, config.operations_db_path)
    forget_repair_proposals(ops, source_id=source_id)
    ops.close()
    click.echo(f"{source_id} réparée dans {path}.")
