"""The `veille` command: thin click commands over library functions usable from Python.

Messages for the user are in French; `--help` texts are in English like the README.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from config.errors import VeilleError
from veille.locks import job_lock
from veille.cli_support import (VeilleGroup, check_separate, collector_paused, config_gazetteer, config_option,
                                db_option, jsonl_documents, open_archive, open_sqlite, subscribers_db_option,
                                curator_name, with_config)

ITEM_ID = click.IntRange(1, 2**63 - 1)  # SQLite's integers: a larger id is a typing mistake, not a crash


def _labels(config):
    """What the `articles` table needs to name an item's tags and decide its week."""
    from pipeline.articles import Labels

    settings = config.settings
    return Labels(config.taxonomy, config_gazetteer(config), settings.tz, settings.bulletin.max_age_days)


def _progress():
    """A rich progress bar on stderr when it is a terminal; silent when output is redirected."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    transient=True, console=Console(stderr=True), disable=not sys.stderr.isatty())


@click.group(cls=VeilleGroup, lazy_commands={
    "curators": "veille.curators_cli:curators", "sources": "veille.sources_cli:sources",
    "status": "veille.status:status", "backup": "veille.backup:backup", "restore": "veille.backup:restore",
    "actors": "veille.actors_cli:actors"})
@click.version_option(package_name="veille")
def cli():
    """Veille: a curated news watch on employment and territorial development in Nouvelle-Aquitaine.

    Collect (crawl), tag, curate, build and send the weekly bulletin, browse the archive.
    Every command reads the configuration folder given by --config (default: ./config).
    """


# ---------------------------------------------------------------------- crawl


@cli.command()
@with_config
@db_option
@click.option("--sources", "sources_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Sources file [default: CONFIG/sources.yaml].")
@click.option("--only", multiple=True, metavar="ID", help="Collect only this source (repeatable).")
def crawl(config, db_path, sources_file, only):
    """Collect every enabled source and store the new items.

    Prints one line per source: status, new items, items seen, error.
    Exits 0 even when sources fail (each failure is recorded in source_runs);
    exits 1 only when the configuration is invalid, 75 when another crawl of this archive runs
    (the message says which process, whose, since when).

    Example: veille crawl --only region-na --only dreets-na
    """
    from crawlers.run import run_crawl
    from config.loading import load_sources

    sources = load_sources(sources_file or config.sources_file)
    if only:
        unknown = sorted(set(only) - {s.id for s in sources})
        if unknown:
            raise VeilleError(f"source(s) inconnue(s) : {', '.join(unknown)}")
        sources = [s.model_copy(update={"enabled": True}) if s.id in only else s.model_copy(update={"enabled": False})
                   for s in sources]
    enabled = [s for s in sources if s.enabled]
    if not enabled:
        click.echo("Aucune source active : rien à collecter.")
        return
    open_archive(config, db_path).close()  # a clear error now, not a traceback from inside the crawl
    from veille.logs import log_crawl, setup_logging

    setup_logging(config)  # veille.log, and stderr when it is not a terminal (under the scheduler)
    with job_lock(db_path or config.db_path, "crawl", config.settings.tz):
        with _progress() as progress:
            task = progress.add_task("Collecte", total=len(enabled))
            rows, figures = run_crawl(sources, db_path or config.db_path, config.settings.crawl,
                                      on_source_done=lambda run: progress.advance(task),
                                      timezone=config.settings.timezone)
        click.echo(format_runs(rows))
        log_crawl(rows, figures)
        from pipeline.articles import refresh_missing

        db = open_archive(config, db_path)
        refresh_missing(db, _labels(config))
        _propose_repairs(config, db, sources)
        db.close()


def _propose_repairs(config, db, sources) -> None:
    """Discovery on the sites of the sources that broke (a few a crawl, once a day each): the
    « proposition de réparation » that `veille status` and `veille sources` then show."""
    from pipeline.operations import open_operations_db
    from veille.repairs import broken_sources, describe_candidate, refresh_repair_proposals

    if not Path(config.operations_db_path).exists() and not broken_sources(db, sources):
        return  # nothing to mend, nothing to forget: no operations database created by hand crawls

    def told(source, reason, candidate, error):
        click.echo(f"{source.id} à réparer ({reason}) — proposition de réparation : "
                   f"{describe_candidate(candidate, error)}" + (f" ; veille sources repair {source.id}" if candidate else ""))

    ops = open_sqlite(open_operations_db, config.operations_db_path)
    try:
        refresh_repair_proposals(config, db, ops, sources, on_proposal=told)
    finally:
        ops.close()


def format_runs(rows: list[dict]) -> str:
    """One line per source: status (HTTP status when it failed, « inchangé » on 304), new, seen,
    failed pages, error."""
    width = max((len(r["source_id"]) for r in rows), default=6)
    lines = [f"{'source':<{width}}  {'statut':<22} {'nouveaux':>8} {'vus':>5} {'échecs':>6}  erreur"]
    for r in rows:
        status = r["status"]
        if r["http_status"] == 304:
            status += " (inchangé)"
        elif r["http_status"] and r["status"] != "ok":
            status += f" ({r['http_status']})"
        lines.append(f"{r['source_id']:<{width}}  {status:<22} {r['items_new'] or 0:>8} {r['items_seen'] or 0:>5}"
                     f" {r['items_failed'] or 0:>6}  {r['error'] or ''}".rstrip())
    new = sum(r["items_new"] or 0 for r in rows)
    failed = sum(1 for r in rows if r["status"] != "ok")
    lines.append(f"{len(rows)} source(s), {new} nouvel(s) article(s), {failed} source(s) en erreur.")
    return "\n".join(lines)


# ------------------------------------------------------------------------ tag


@cli.command()
@with_config
@db_option
@click.option("--all", "everything", is_flag=True, help="Re-tag every item (curator decisions are kept).")
@click.option("--jsonl", "jsonl_in", type=click.File("rb"),
              help='Tag documents from a JSONL file ({"id","title","text","url"?} a line); no database.')
@click.option("--out", "jsonl_out", type=click.File("w", encoding="utf-8"), default="-",
              help="Output of --jsonl [default: stdout].")
@click.option("--explain", "explain_id", type=ITEM_ID, metavar="ITEM_ID",
              help="Show why an item has each tag (evidence, score, origin), the actors it names, and what the model suggests.")
def tag(config, db_path, everything, jsonl_in, jsonl_out, explain_id):
    """Tag items not yet tagged: nature, themes, dispositifs, places.

    Rules come from config/taxonomy.yaml and the gazetteer; a linear model (the starter model shipped
    in models/, until `veille learn` has trained the archive's own) decides the nature when the rules'
    cues are weak and adds or doubts themes (origin "model").
    With --jsonl, tag documents from a file instead and write one JSON line per document.

    Only one tagging (or `veille learn`) at a time: while another runs, exit code 75 with who runs it.

    Example: veille tag --jsonl docs.jsonl --out tags.jsonl
    """
    if explain_id is not None:
        _explain(config, db_path, explain_id)
        return

    with collector_paused():
        from pipeline.tagging import prepare, tag_documents

        gazetteer = config_gazetteer(config)
    if jsonl_in:
        import gc

        import orjson  # a few times faster than json.dumps: a stream's output costs a fraction of its tagging

        from pipeline.learning import archive_or_starter_model

        with collector_paused():
            model = archive_or_starter_model(db_path or config.db_path)
            prepare(config.taxonomy, gazetteer, model)
        # What is loaded lives until exit: frozen out of the collector, whose full passes (during a long
        # stream, and the last one at exit) then skip it. Safe here: the output is flushed and closed by
        # click, not by a finaliser.
        gc.freeze()
        for result in tag_documents(config.taxonomy, jsonl_documents(jsonl_in), gazetteer, model):
            jsonl_out.write(orjson.dumps(result, option=orjson.OPT_APPEND_NEWLINE).decode())  # UTF-8 as is
        return
    from veille.logs import log_event, setup_logging

    setup_logging(config)
    with job_lock(db_path or config.db_path, "tag", config.settings.tz):
        tagged = _tag_archive(config, db_path, everything, gazetteer)
    log_event("tag", items=tagged, all=everything)


def _tag_archive(config, db_path, everything: bool, gazetteer) -> int:
    from pipeline.articles import refresh_all, refresh_items, refresh_missing
    from pipeline.learning import load_model, model_path
    from pipeline.tagging import tag_items

    db = open_archive(config, db_path)
    count = db.execute("SELECT COUNT(*) FROM items" + ("" if everything else " WHERE tagged_at IS NULL")).fetchone()[0]
    untagged = [] if everything else [r[0] for r in db.execute("SELECT id FROM items WHERE tagged_at IS NULL")]
    model = load_model(model_path(db_path or config.db_path))
    with _progress() as progress:
        task = progress.add_task("Étiquetage", total=count)
        report = tag_items(db, config.taxonomy, everything, progress=lambda: progress.advance(task), model=model,
                           gazetteer=gazetteer)
    labels = _labels(config)
    with _progress() as progress:
        task = progress.add_task("Table des articles", total=None)
        if everything:
            refresh_all(db, labels, progress=lambda done, weeks: progress.update(task, completed=done, total=weeks))
        else:
            refresh_items(db, untagged, labels)
            refresh_missing(db, labels)
    click.echo(f"{report.items} article(s) étiqueté(s).")
    if everything:
        for tag_name in sorted(set(report.gained) | set(report.lost)):
            click.echo(f"  {tag_name} : +{report.gained[tag_name]} −{report.lost[tag_name]}")
    return report.items


DECIDED = {"rules": "les règles", "model": "le modèle", "curator": "la chargée de mission"}


def _explain(config, db_path, item_id: int) -> None:
    from pipeline.learning import archive_or_starter_model
    from pipeline.tagging import explain

    db = open_archive(config, db_path)
    item = db.execute("SELECT title, text FROM items WHERE id = ?", [item_id]).fetchone()
    if item is None:
        raise VeilleError(f"aucun article n°{item_id} dans l'archive")
    click.echo(f"Article {item_id} : {item[0]}")
    from pipeline.approval import french_moment

    origins = {"auto": "règles", "model": "modèle appris", "curator": "la chargée de mission"}
    for row in explain(db, item_id):
        state = "" if row["effective"] else " (sans effet)"
        verb = "retiré" if row["action"] == "remove" else "ajouté"
        score = f", score {row['score']:g}" if row["score"] is not None else ""
        who = origins[row["origin"]]
        if row["origin"] == "curator":
            who += f" {row['curator']}" if row["curator"] else " (nom inconnu)"
            who += f" le {french_moment(row['at'], config.settings.tz)}" if row["at"] else ""
        click.echo(f"  {row['facet']} = {row['value']} : {verb} par {who}{score}{state}")
        if row.get("decided_by"):
            click.echo(f"      nature décidée par {DECIDED[row['decided_by']]}")
        for proof in row["evidence"][:5]:
            if "match" in proof:
                click.echo(f"      « {proof['match']} » (position {proof['start']})")
            elif "probability" in proof:
                words = f" ; mots : {', '.join(proof['words'])}" if proof.get("words") else ""
                click.echo(f"      probabilité {proof['probability']:.2f} ({proof.get('model', 'modèle')}){words}")
    from pipeline.directory import actors_of_items, load_decisions

    decisions, written = load_decisions(db), {}  # actor (merges resolved) -> its mentions as written
    for key, match in db.execute("SELECT key, match FROM actor_mentions WHERE item_id = ? ORDER BY start", [item_id]):
        written.setdefault(decisions.resolve(key), {})[f"« {match} »"] = None
    actors = actors_of_items(db, [item_id])[item_id]
    click.echo("  Acteurs cités :" + ("" if actors else " aucun"))
    for actor in actors:
        click.echo(f"    {actor['name']} ({actor['kind_label']}) : écrit {', '.join(written.get(actor['id'], []))}")
    for key in sorted(decisions.hidden & set(written)):
        click.echo(f"    masqué par la curation : {key} ({', '.join(written[key])})")
    model = archive_or_starter_model(db_path or config.db_path)
    if model is not None:
        (probabilities,) = model.probabilities([(item[0] or "", item[1] or "")], taxonomy=config.taxonomy)
        likely = sorted(((p, tag) for tag, p in probabilities.items() if p >= 0.3), reverse=True)
        click.echo("  Le modèle appris estime : " + (", ".join(f"{f}:{v} {p:.2f}" for p, (f, v) in likely) or "rien"))


class NothingToLearn(VeilleError):
    """Too few curated items yet: not a failure of the scheduled job (recorded « refusé »)."""

    exit_code = 3


@cli.command()
@with_config
@db_option
def learn(config, db_path):
    """Train the nature and theme model on the curator's decisions and the starter corpus.

    The training set is every item the curator has touched, with its effective tags (weighing 3×),
    and the shipped starter model's corpus features. The model is saved beside the archive
    (veille.model.npz); `veille tag` then uses it instead of the starter model.
    With fewer than 20 curated items nothing is trained: exit code 3 (not an error of the schedule).
    """
    from pipeline.learning import curated_examples, describe, model_path, save_model, train

    from veille.logs import log_event, setup_logging

    db = open_archive(config, db_path)
    setup_logging(config)
    with job_lock(db_path or config.db_path, "tag", config.settings.tz):
        examples = curated_examples(db)
        model = train(examples, config.taxonomy)
        if model is None:
            raise NothingToLearn(f"{len(examples)} article(s) validé(s) seulement : il en faut au moins 20 pour "
                                 "apprendre ; rien n'a changé")
        path = model_path(db_path or config.db_path)
        save_model(model, path)
    log_event("learn", examples=len(examples), model=str(path))
    click.echo(describe(model))
    click.echo(f"Modèle enregistré : {path}. Lancez « veille tag --all » pour appliquer ses suggestions.")


@cli.command()
@with_config
@db_option
@click.argument("item_id", type=ITEM_ID)
@click.option("--add", multiple=True, metavar="TAG", help="Add a tag: a taxonomy slug or facet:value.")
@click.option("--remove", multiple=True, metavar="TAG", help="Remove a tag (an automatic one stays removed).")
@click.option("--reject/--unreject", default=None, help="Mark the item off-topic (out of the bulletin).")
@click.option("--highlight/--no-highlight", default=None, help="Put the item 'À la une'.")
@click.option("--note", help="A note shown with the item in the bulletin ('' clears it).")
@click.option("--by", metavar="NAME", help="Who makes the decision, recorded with it [default: the system user's name].")
def curate(config, db_path, item_id, add, remove, reject, highlight, note, by):
    """Record a curator decision on an item; the machine never overwrites it.

    Recorded with who made it (--by). A decision on an item of a week whose bulletin was approved
    marks that week changed since its approval: `bulletin send` then waits for a new approval.

    Example: veille curate 42 --add tzcld --remove departements:86 --highlight --by marie
    """
    from pipeline.archive import effective_tags
    from pipeline.curation import curate as record

    db = open_archive(config, db_path)
    row = record(db, config.taxonomy, item_id, list(add), list(remove), reject, highlight, note,
                 by=curator_name(by), gazetteer=config_gazetteer(config))
    from pipeline.articles import refresh_items

    refresh_items(db, [item_id], _labels(config))
    tags = effective_tags(db, [item_id])[item_id]
    click.echo(f"Article {item_id} : " + " ; ".join(f"{f} = {', '.join(v)}" for f, v in sorted(tags.items())))
    flags = [name for name, key in (("écarté", "rejected"), ("à la une", "highlight")) if row.get(key)]
    if flags or row.get("note"):
        click.echo("  " + ", ".join(flags) + (f" — note : {row['note']}" if row.get("note") else ""))


@cli.command()
@with_config
@db_option
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--since", help="First day (YYYY-MM-DD) of first_seen_at.")
@click.option("--until", help="Last day (YYYY-MM-DD) of first_seen_at.")
@click.option("--out", type=click.File("w", encoding="utf-8"), default="-", help="Output file [default: stdout].")
def export(config, db_path, fmt, since, until, out):
    """Every item with its effective tags (curator decisions applied).

    Example: veille export --format csv --since 2026-11-01 --out novembre.csv
    """
    from config.dates import parse_day
    from pipeline.export import export_records, to_csv_rows, to_jsonl

    for value, name in ((since, "--since"), (until, "--until")):
        if value is not None:
            parse_day(value, name)
    if since and until and since > until:
        raise VeilleError(f"--since {since} est après --until {until} : rien à exporter")
    records = export_records(open_archive(config, db_path), since, until)
    if fmt == "jsonl":
        for record in records:
            out.write(to_jsonl(record) + "\n")
    else:
        for chunk in to_csv_rows(records):
            out.write(chunk)


# ------------------------------------------------------------------- bulletin


@cli.group()
def bulletin():
    """Build and send the weekly bulletin."""


def _week_option(f):
    return click.option("--week", help="ISO week YYYY-Www [default: the current week, in the settings' timezone].")(f)


def _week(config, week: str | None, default=None) -> str:
    """The week asked for, checked, or by default the current one (or `default(config)`)."""
    from config.dates import current_week, parse_week

    if week:
        parse_week(week)
        return week
    return default(config) if default else current_week(config.settings.tz)


def _next_bulletin_week_option(f):
    return click.option("--week", help="ISO week YYYY-Www [default: the week the next scheduled bulletin covers: "
                        "the current week, or on Monday before the send the week that just ended].")(f)


def _next_bulletin_week(config) -> str:
    from veille.schedule import next_bulletin_week

    return next_bulletin_week(config)


@bulletin.command("plan")
@with_config
@db_option
@_week_option
@click.option("--json", "as_json", is_flag=True,
              help='One JSON object a line: {"id","title","url","nature","in_bulletin","reason","section"}.')
def bulletin_plan(config, db_path, week, as_json):
    """Every item of the week, in the bulletin (and in which section) or out of it (and why).

    The same selection as `bulletin build` and the curation pages. Reasons: écarté, trop ancien,
    hors périmètre, déjà paru en YYYY-Www, doublon de #N.

    Example: veille bulletin plan --week 2026-W48 --json
    """
    from pipeline.selection import section_label, week_plan

    week = _week(config, week)
    plan = week_plan(open_archive(config, db_path), week, config.settings.tz, config.settings.bulletin.max_age_days)
    if as_json:
        for item in plan:
            click.echo(json.dumps(item.as_plan_row(), ensure_ascii=False))
        return
    click.echo(format_plan(week, plan, lambda section: section_label(section, config.taxonomy)))


def format_plan(week: str, plan, label) -> str:
    """One line per item: in (its section's title) or out (why), id, title."""
    inside = sum(1 for item in plan if item.in_bulletin)
    lines = [f"Semaine {week} : {len(plan)} article(s) collecté(s), {inside} dans le bulletin."]
    width = max((len(label(i.section)) + 19 if i.in_bulletin else len(i.reason) + 16 for i in plan), default=0)
    for item in plan:
        decision = f"dans le bulletin ({label(item.section)})" if item.in_bulletin else f"hors bulletin : {item.reason}"
        lines.append(f"  #{item.id:<6} {decision:<{width}}  {item.title}")
    return "\n".join(lines)


@bulletin.command("build")
@with_config
@db_option
@_week_option
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder [default: paths.bulletins of settings.yaml].")
def bulletin_build(config, db_path, week, out_dir):
    """Render the bulletin of an ISO week (HTML + plain text) and print the paths.

    Example: veille bulletin build --week 2026-W48
    """
    from newsletter.bulletin import build_bulletin

    week = _week(config, week)
    html_path, text_path, data = build_bulletin(open_archive(config, db_path), week, out_dir or config.bulletins_dir,
                                                config.settings, config.taxonomy, config_gazetteer(config))
    click.echo(f"Bulletin {week} : {data.count} article(s).")
    click.echo(str(html_path))
    click.echo(str(text_path))


@bulletin.command("preview")
@with_config
@db_option
@_week_option
def bulletin_preview(config, db_path, week):
    """Build the bulletin of an ISO week and open it in the web browser ($BROWSER).

    Example: veille bulletin preview --week 2026-W48
    """
    import webbrowser

    from newsletter.bulletin import build_bulletin

    week = _week(config, week)
    html_path, _, data = build_bulletin(open_archive(config, db_path), week, config.bulletins_dir, config.settings,
                                        config.taxonomy, config_gazetteer(config))
    uri = html_path.resolve().as_uri()
    click.echo(f"Bulletin {week} : {data.count} article(s) — {uri}")
    if not webbrowser.open(uri):
        click.echo("Aucun navigateur trouvé : ouvrez le fichier ci-dessus.", err=True)


@bulletin.command("approve")
@with_config
@db_option
@_next_bulletin_week_option
@click.option("--by", metavar="NAME", help="Who approves, recorded with the approval [default: the system user's name].")
def bulletin_approve(config, db_path, week, by):
    """Approve the bulletin of an ISO week as it is now (« Valider le bulletin de la semaine »).

    Records who approved which week and when (every approval is kept; the latest counts). A
    curator decision on one of the week's items made afterwards marks the week changed: it must be
    approved again before `bulletin send`. A week with no item in the bulletin cannot be approved.

    Example: veille bulletin approve --week 2026-W48 --by marie
    """
    from pipeline.approval import approve_week

    week = _week(config, week, _next_bulletin_week)
    settings = config.settings
    status = approve_week(open_archive(config, db_path), week, settings.tz, settings.bulletin.max_age_days, curator_name(by))
    click.echo(f"Bulletin de la semaine {week} validé par {status.approved_by} : {status.items_in} article(s).")
    if not settings.bulletin.require_approval:
        click.echo("(bulletin.require_approval est désactivé : l'envoi n'attend pas cette validation.)")


@bulletin.command("status")
@with_config
@db_option
@_next_bulletin_week_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object: week, items_in, approved, approved_by, "
              "approved_at, changed, ready, approvals, decisions_since, new_items_since.")
@click.pass_context
def bulletin_status(ctx, config, db_path, week, as_json):
    """Whether the bulletin of an ISO week is approved, by whom and when, and what changed since.

    Lists the curator decisions made after the approval (they block the sending) and the items that
    entered the bulletin since (they do not). Exit code 0 when ready to send, 1 when not approved
    or changed since its approval.

    Example: veille bulletin status --week 2026-W48
    """
    from pipeline.approval import approval_status

    week = _week(config, week, _next_bulletin_week)
    settings = config.settings
    status = approval_status(open_archive(config, db_path), week, settings.tz, settings.bulletin.max_age_days)
    if as_json:
        click.echo(json.dumps(status.as_json(), ensure_ascii=False))
    else:
        click.echo(format_status(status, settings.tz, settings.bulletin.require_approval))
    ctx.exit(0 if status.ready else 1)


def format_status(status, tz, require_approval: bool) -> str:
    """What `bulletin status` prints: the headline, the decisions since, the new items, the verdict."""
    from pipeline.approval import describe_decision

    lines = [status.headline(tz)]
    if status.approvals > 1:
        lines.append(f"  (validé {status.approvals} fois ; la dernière validation compte)")
    if status.changed:
        lines.append("Décisions prises depuis la validation :")
        lines += [f"  {describe_decision(d, tz)}" for d in status.decisions_since]
    note = status.new_items_note()
    if note:
        lines.append(note)
    if status.ready:
        lines.append("Prêt à envoyer.")
    elif status.changed:
        lines.append(f"À valider de nouveau avant l'envoi : veille bulletin approve --week {status.week}")
    elif status.items_in:
        lines.append(f"À valider avant l'envoi : veille bulletin approve --week {status.week}")
    else:
        lines.append("Rien à valider : aucun article dans le bulletin.")
    if not require_approval:
        lines.append("(bulletin.require_approval est désactivé : l'envoi n'attend pas de validation.)")
    return "\n".join(lines)


@bulletin.command("send")
@with_config
@db_option
@subscribers_db_option
@_week_option
@click.option("--dry-run", is_flag=True, help="List who would receive it; send nothing (allowed without approval).")
@click.option("--force", is_flag=True, help="Send even though the curator has not approved the week (or changed it since).")
def bulletin_send(config, db_path, subscribers_db_path, week, dry_run, force):
    """Send the bulletin of an ISO week to the subscribers over SMTP.

    Idempotent per (week, subscriber): a re-run sends only what is missing. With
    bulletin.require_approval (the default), a week the curator has not approved (`bulletin
    approve`), or has changed since, is refused: nothing is sent, exit code 3; --force overrides.
    Only one send at a time: while another runs, exit code 75 with who runs it.

    Example: veille bulletin send --week 2026-W48 --dry-run
    """
    check_separate(config, db_path, subscribers_db_path)
    week = _week(config, week)
    if dry_run:
        _send(config, db_path, subscribers_db_path, week, dry_run, force)
    else:
        with job_lock(db_path or config.db_path, "send", config.settings.tz):
            _send(config, db_path, subscribers_db_path, week, dry_run, force)


def _send(config, db_path, subscribers_db_path, week: str, dry_run: bool, force: bool) -> None:
    from newsletter.bulletin import build_bulletin
    from newsletter.letters import MAX_HTML_BYTES, letter_composer
    from newsletter.send import send_bulletin
    from newsletter.subscribers import open_subscribers_db

    archive = open_archive(config, db_path)
    if config.settings.bulletin.require_approval:
        _approval_gate(config, archive, week, dry_run, force)
    gazetteer = config_gazetteer(config)
    _, _, data = build_bulletin(archive, week, config.bulletins_dir, config.settings,
                                config.taxonomy, gazetteer)
    subscribers = open_sqlite(open_subscribers_db, subscribers_db_path or config.subscribers_db_path)
    compose = None if dry_run else letter_composer(data, config.settings, gazetteer)
    report = send_bulletin(subscribers, week, compose, config.settings.smtp, dry_run=dry_run)
    click.echo(format_send_report(report))
    shortened = getattr(compose, "shortened", {})
    if shortened:
        click.echo(f"{len(shortened)} exemplaire(s) raccourci(s) pour rester sous "
                   f"{MAX_HTML_BYTES // 1000} Ko (le reste à lire en ligne) :")
        for email, moved in sorted(shortened.items()):
            click.echo(f"  {email} : {moved} article(s) de moins")


def _approval_gate(config, archive, week: str, dry_run: bool, force: bool) -> None:
    """Before any sending: refuse a week not ready (VeilleError), unless a dry run or --force, which
    say so; report the items that entered the bulletin since the approval."""
    from pipeline.approval import approval_status, check_approved

    settings = config.settings
    if dry_run or force:
        status = approval_status(archive, week, settings.tz, settings.bulletin.max_age_days)
    else:
        status = check_approved(archive, week, settings.tz, settings.bulletin.max_age_days)
    click.echo(f"Validation : {status.summary(settings.tz)}")
    if not status.ready:
        if dry_run:
            click.echo(f"Attention : la semaine {week} n'est pas prête à envoyer ; « veille bulletin send » la "
                       "refuserait sans --force (veille bulletin status pour le détail).")
        else:
            why = "a été modifié depuis sa validation" if status.changed else "n'est pas validé"
            click.echo(f"Envoi forcé (--force) : le bulletin de la semaine {week} part alors qu'il {why}.",
                       err=True)
    note = status.new_items_note()
    if note:
        click.echo(note)


def format_send_report(report) -> str:
    verb = "serait envoyé à" if report.dry_run else "envoyé à"
    lines = [f"Bulletin {report.week} {verb} {len(report.sent)} abonné·e(s) ; "
             f"déjà reçu : {len(report.already_sent)} ; échec définitif : {len(report.failed)} ; "
             f"reporté : {len(report.deferred)}."]
    lines += [f"  {email}" for email in report.sent] if report.dry_run else []
    lines += [f"  échec {email} : {error}" for email, error in report.failed]
    lines += [f"  reporté {email} : {error}" for email, error in report.deferred]
    return "\n".join(lines)


# ---------------------------------------------------------------- subscribers


@cli.group()
def subscribers():
    """Manage subscribers and their preferences (separate database, never served)."""


def _subscribers_db(config, path):
    from newsletter.subscribers import open_subscribers_db

    return open_sqlite(open_subscribers_db, path or config.subscribers_db_path)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


@subscribers.command("add")
@with_config
@subscribers_db_option
@click.argument("email")
@click.option("--name", help="Display name.")
@click.option("--departements", help="Départements followed, INSEE codes: 23,87 (default: all).")
@click.option("--themes", help="Themes followed, slugs: publics,entreprises (default: all).")
def subscribers_add(config, subscribers_db_path, email, name, departements, themes):
    """Add a subscriber. Example: veille subscribers add marie@example.org --departements 23,87"""
    from newsletter.subscribers import add_subscriber

    s = add_subscriber(_subscribers_db(config, subscribers_db_path), email, name, _split(departements),
                       _split(themes))
    click.echo(f"Abonné·e ajouté·e : {s.email}")


@subscribers.command("remove")
@with_config
@subscribers_db_option
@click.argument("email")
def subscribers_remove(config, subscribers_db_path, email):
    """Unsubscribe an address (its send history is kept)."""
    from newsletter.subscribers import remove_subscriber

    s = remove_subscriber(_subscribers_db(config, subscribers_db_path), email)
    click.echo(f"Désabonné·e : {s.email}")


@subscribers.command("list")
@with_config
@subscribers_db_option
def subscribers_list(config, subscribers_db_path):
    """List active subscribers with their preferences."""
    from newsletter.subscribers import active_subscribers

    for s in active_subscribers(_subscribers_db(config, subscribers_db_path)):
        click.echo(f"{s.email}\t{s.name or ''}\tdépartements={','.join(s.departements) or 'tous'}"
                   f"\tthèmes={','.join(s.themes) or 'tous'}")


@subscribers.command("import")
@with_config
@subscribers_db_option
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Import the valid lines and list the others.")
def subscribers_import(config, subscribers_db_path, csv_file, skip_invalid):
    """Import subscribers from a UTF-8 CSV file: email[,name,departements,themes].

    The whole file is checked first: nothing is written unless every line is valid (or, with
    --skip-invalid, the valid lines are written and the others listed). Exit code 1 if a line was refused.
    """
    from newsletter.subscribers import import_subscribers

    report = import_subscribers(_subscribers_db(config, subscribers_db_path), csv_file, skip_invalid=skip_invalid)
    for problem in report.problems:
        click.echo(f"  {problem}", err=True)
    if not report.written:
        click.echo(f"Rien n'a été importé : {len(report.problems)} ligne(s) refusée(s) ; corrigez-les, "
                   "ou --skip-invalid pour importer les autres.", err=True)
        sys.exit(1)
    click.echo(f"{len(report.added)} abonné·e(s) ajouté·e(s), {len(report.updated)} mis·e(s) à jour, "
               f"{len(report.unchanged)} inchangé·e(s).")
    if report.unsubscribed:
        click.echo(f"{len(report.unsubscribed)} adresse(s) désabonnée(s) laissée(s) telle(s) quelle(s) "
                   f"(« veille subscribers add » pour réabonner) : {', '.join(report.unsubscribed)}")
    if report.problems:
        sys.exit(1)


# ----------------------------------------------------------- serve, schedule, demo


@cli.command()
@with_config
@db_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
@subscribers_db_option
@click.option("--bulletins", "bulletins_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Folder of built bulletins [default: paths.bulletins of settings.yaml].")
def serve(config, db_path, host, port, subscribers_db_path, bulletins_dir):
    """Browse and query the archive with Datasette, with the curation pages (/-/curation, login with
    a curator's account: `veille curators add NAME`), the unsubscribe route and the bulletins
    (/-/bulletins). The subscribers database is never served."""
    from veille.server import make_datasette, serve as run_server

    check_separate(config, db_path, subscribers_db_path)
    path = db_path or config.db_path
    from pipeline.articles import refresh_missing

    db = open_archive(config, path)  # a clear error now rather than on the first request
    refresh_missing(db, _labels(config))  # an archive from before the articles table, or never tagged
    db.close()
    datasette = make_datasette(config, path, subscribers_db_path or config.subscribers_db_path,
                               bulletins_dir or config.bulletins_dir)
    click.echo(f"Archive {path} sur http://{host}:{port}/ — bulletins : /-/bulletins (Ctrl-C pour arrêter)")
    run_server(datasette, host, port)


@cli.command()
@with_config
@db_option
@subscribers_db_option
def schedule(config, db_path, subscribers_db_path):
    """Run the scheduler: crawl (then tag), learn from the curator and send the bulletin at the
    times of settings.yaml (schedule.*), until SIGTERM or Ctrl-C.

    Each run is a subprocess of this same command, killed past schedule.timeouts, recorded in the
    operations database (paths.operations_db) and logged, one key=value line, to paths.logs/veille.log
    and stderr. A run missed while the scheduler was down is made once at restart (within
    schedule.misfire_grace_hours). A week not approved at send time: the curator is reminded and the
    send tried again every schedule.approval_retry_minutes. Only one scheduler at a time (exit 75).

    Example: veille schedule --config /srv/veille/config
    """
    from veille.schedule import run_scheduler

    check_separate(config, db_path, subscribers_db_path)
    run_scheduler(config, db_path, subscribers_db_path)


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo/out"),
              show_default=True, help="Where every output of the demo goes (emptied first).")
@click.option("--site", "site_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("demo/site"),
              show_default=True, help="Fixture sources of the demo site.")
@config_option
def demo(out_dir, site_dir, config_dir):
    """The offline demo: serve a fixture news site on 127.0.0.1, crawl it, tag, build the
    bulletin of this week and deliver it to demo subscribers through a local SMTP server."""
    from veille.demo import run_demo

    run_demo(out_dir, site_dir, config_dir, echo=click.echo)
