"""Archive benchmark (issue 12, « Scale »): the archive's pages on 1,000,000 articles, served by the
real Datasette with Veille's plugin, in process.

The archive is generated from the demo's: `veille.demo.run_demo` crawls, tags and curates its fixture
site (24 real items); each of the million items copies one of them (title, text cut to ~700
characters, summary, source or one of 14 others, nature) under its own id and URL, first seen at a
moment of the last ten years, with shuffled themes, dispositifs and places (communes drawn by
population, with their EPCI and département), so that facets have a realistic spread. `items`,
`items_fts` (rebuilt once, triggers dropped meanwhile) and `articles` are filled with executemany.
The file is kept in build/bench/ under a version string and reused by later runs (about 3 GB; the
first run generates it in about 6 minutes).

Printed, per page kind, the median and 95th percentile of REQUESTS requests (after one warm-up):
(a) the `articles` table page, HTML and .json, searching « insertion » with the array facets
departements and dispositifs and a sort; (b) the canned queries appels_ouverts and par_departement;
(c) an article's page (`/-/article/<id>` when the plugin serves it, else Datasette's row page).
The first search page after a start builds the in-memory facet index, and the first after a crawl
rewrote a week's articles brings it up to date: both timed apart. Whether
the facet counts were shown or timed out (`facets_timed_out` of the JSON). Baseline in the same run:
the same pages on Datasette as it was set up before (stock facets, the archive's metadata of before),
and a plain SQL count of the search. Then the time of `refresh_all` (what `veille tag --all` does
after tagging) on a 100,000-item slice generated the same way with its tags, extrapolated to the million.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from config.dates import week_of
from config.loading import load_config
from pipeline.archive import open_db
from pipeline.articles import prune_changelog
from pipeline.places import load_gazetteer

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "build" / "bench"
VERSION = "1"  # bump when the generated archive changes
ITEMS = 1_000_000
SLICE = 100_000
REQUESTS = 20
BASELINE_REQUESTS = 3  # the pages of before take seconds each
YEARS = 10
TEXT_CHARS = 700

ARTICLE_COLUMNS = ("id", "title", "url", "source", "source_id", "published", "week", "nature", "themes",
                   "dispositifs", "departements", "epci", "communes", "summary", "in_bulletin", "rejected",
                   "highlight", "note", "reason", "deadline", "event_day", "updated_at")
OTHER_SOURCES = ["Sud Ouest — Emploi", "La Nouvelle République — Économie", "France Bleu Périgord",
                 "Charente Libre", "Le Populaire du Centre", "La Montagne — Creuse", "L'Écho — Limousin",
                 "Mission locale de l'Agenais", "PLIE du Libournais", "Cap Emploi 64",
                 "Département de la Gironde", "Département des Landes", "Pays Basque Emploi",
                 "Agence régionale de l'innovation sociale"]


# ------------------------------------------------------------------ generation


def demo_archive(folder: Path) -> Path:
    """The demo's archive (crawled, tagged, curated): 24 real items. `veille demo` runs in a subprocess:
    Twisted's reactor starts once per process, and other benchmarks crawl."""
    subprocess.run([sys.executable, "-m", "veille", "demo", "--out", str(folder / "demo"),
                    "--site", str(ROOT / "demo" / "site"), "--config", str(ROOT / "config")],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return folder / "demo" / "veille.db"


def _templates(demo_db: Path) -> list[dict]:
    conn = sqlite3.connect(demo_db)
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute(
        "SELECT i.id, i.title, i.text, i.summary, i.source_id, s.name AS source, i.lang, i.author "
        "FROM items i JOIN sources s ON s.id = i.source_id ORDER BY i.id")]
    for row in rows:
        tags = conn.execute("SELECT facet, value FROM effective_tags WHERE item_id = ?", (row["id"],)).fetchall()
        row["tags"] = {}
        for facet, value in tags:
            row["tags"].setdefault(facet, []).append(value)
        text = row["text"] or ""
        if len(text) > TEXT_CHARS:
            text = text[:text.rfind(" ", 0, TEXT_CHARS)]
        row["text"] = text
    conn.close()
    return rows


class _Draw:
    """Random codes with a realistic spread: communes by population, themes and dispositifs often the
    template's, sometimes others."""

    def __init__(self, taxonomy, gazetteer, seed: int):
        self.rng = random.Random(seed)
        self.gazetteer = gazetteer
        deps = set(gazetteer.region_departements)
        self.communes = [(code, c) for code, c in gazetteer.communes.items() if c.get("dep") in deps]
        weights = [max(c.get("pop") or 0, 50) ** 0.8 for _, c in self.communes]
        total, acc = sum(weights), 0.0
        self.cumulative = []
        for w in weights:
            acc += w
            self.cumulative.append(acc / total)
        self.deps = sorted(deps)
        self.themes = list(taxonomy.themes)
        self.dispositifs = list(taxonomy.dispositifs)

    def commune(self):
        import bisect
        return self.communes[min(bisect.bisect(self.cumulative, self.rng.random()), len(self.communes) - 1)]

    def tags(self, template: dict) -> dict[str, list[str]]:
        rng, own = self.rng, template["tags"]
        themes = own.get("themes", []) if rng.random() < 0.6 else rng.sample(self.themes, rng.choice((0, 1, 1, 2, 3)))
        dispositifs = (own.get("dispositifs", []) if rng.random() < 0.5
                       else rng.sample(self.dispositifs, rng.choice((0, 0, 1, 1, 2, 3))))
        communes, epci, deps = [], [], []
        for _ in range(rng.choice((0, 1, 1, 1, 2, 2, 3))):
            code, commune = self.commune()
            if code not in communes:
                communes.append(code)
                if commune.get("epci") and commune["epci"] not in epci:
                    epci.append(commune["epci"])
                if commune["dep"] not in deps:
                    deps.append(commune["dep"])
        if not deps or rng.random() < 0.15:
            extra = rng.choice(self.deps)
            if extra not in deps:
                deps.append(extra)
        return {"nature": own.get("nature", ["initiative"])[:1], "themes": themes, "dispositifs": dispositifs,
                "departements": deps, "epci": epci, "communes": communes, "region": ["na"]}


def _trigger_sql(conn) -> list[str]:
    return [sql for (sql,) in conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'items'")]


def generate(path: Path, items: int, demo_db: Path, config, with_tags: bool, seed: int = 12) -> None:
    """An archive of `items` items copied from the demo's, every table the pages read filled."""
    from pipeline.articles import Labels, NAME_FACETS

    gazetteer = load_gazetteer(ROOT / config.settings.paths.gazetteer)
    labels = Labels(config.taxonomy, gazetteer, config.settings.tz, config.settings.bulletin.max_age_days)
    templates = _templates(demo_db)
    draw = _Draw(config.taxonomy, gazetteer, seed)
    rng = draw.rng
    tmp = path.with_suffix(".tmp")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    open_db(tmp).close()
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -400000")
    demo = sqlite3.connect(demo_db)
    sources = {sid: name for sid, name in demo.execute("SELECT id, name FROM sources")}
    demo.close()
    for n, name in enumerate(OTHER_SOURCES):
        sources[f"autre-{n}"] = name
    conn.executemany("INSERT INTO sources (id, name, type, url, enabled, topical, updated_at) "
                     "VALUES (?, ?, 'rss', ?, 1, 1, '2026-01-01T00:00:00+00:00')",
                     [(sid, name, f"https://{sid}.example.org/rss") for sid, name in sources.items()])
    others = [sid for sid in sources if sid.startswith("autre-")]
    triggers = _trigger_sql(conn)
    for name in [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                              "AND tbl_name = 'items'")]:
        conn.execute(f"DROP TRIGGER {name}")
    end = datetime.now(timezone.utc).replace(microsecond=0)
    span = int(timedelta(days=365 * YEARS).total_seconds())
    moments = sorted(rng.randrange(span) for _ in range(items))
    now = end.isoformat()
    labels_cache: dict = {}

    def name(facet, code):
        key = (facet, code)
        if key not in labels_cache:
            labels_cache[key] = labels.name(facet, code)
        return labels_cache[key]

    item_rows, article_rows, tag_rows = [], [], []

    def flush():
        conn.executemany("INSERT INTO items (id, url, raw_url, link_url, title, text, summary, published_at, "
                         "source_id, first_seen_at, author, lang, content_hash, tagged_at) "
                         "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", item_rows)
        conn.executemany(f"INSERT INTO articles ({', '.join(ARTICLE_COLUMNS)}) "
                         f"VALUES ({', '.join('?' * len(ARTICLE_COLUMNS))})", article_rows)
        conn.executemany("INSERT INTO tags (item_id, facet, value, origin, action, score, updated_at) "
                         "VALUES (?, ?, ?, 'auto', 'add', 1.0, ?)", tag_rows)
        item_rows.clear(), article_rows.clear(), tag_rows.clear()

    for n, moment in enumerate(moments, start=1):
        template = templates[rng.randrange(len(templates))]
        seen = end - timedelta(seconds=span - moment)
        published = seen - timedelta(hours=rng.randrange(0, 72))
        source_id = template["source_id"] if rng.random() < 0.4 else rng.choice(others)
        url = f"https://{source_id}.example.org/{seen.year}/{n}-article.html"
        tags = draw.tags(template)
        nature = tags["nature"][0]
        day = published.date()
        deadline = (day + timedelta(days=rng.randrange(7, 90))).isoformat() if nature == "appel" else None
        event = (day + timedelta(days=rng.randrange(1, 60))).isoformat() if nature == "evenement" else None
        rejected = int(rng.random() < 0.05)
        in_bulletin = int(not rejected and rng.random() < 0.35)
        item_rows.append((n, url, url, url, template["title"], template["text"], template["summary"],
                          published.isoformat(), source_id, seen.isoformat(), template["author"], template["lang"],
                          f"{n:032x}", seen.isoformat()))
        article_rows.append((
            n, template["title"], url, sources[source_id], source_id, day.isoformat(), week_of(seen.date()),
            name("nature", nature),
            *(json.dumps([name(facet, v) for v in tags[facet]], ensure_ascii=False) for facet in NAME_FACETS),
            template["summary"], in_bulletin, rejected, int(in_bulletin and rng.random() < 0.08), None,
            None if in_bulletin else ("écarté" if rejected else "pas retenu"), deadline, event, now))
        if with_tags:
            tag_rows.extend((n, facet, value, now) for facet, values in tags.items() for value in values)
        if len(item_rows) >= 20_000:
            flush()
    flush()
    conn.execute("INSERT INTO items_fts (items_fts) VALUES ('rebuild')")
    prune_changelog(conn)
    for sql in triggers:
        conn.execute(sql)
    conn.commit()
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("ANALYZE")
    conn.close()
    tmp.rename(path)


def archive(folder: Path, config, items: int, with_tags: bool, demo_db: list) -> tuple[Path, float | None]:
    """The cached archive of `items` items (generated first if missing); and its generation time."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"archive-{items}{'-tags' if with_tags else ''}-v{VERSION}" / "veille.db"
    if path.exists():
        return path, None
    if not demo_db:
        demo_db.append(demo_archive(folder))
    start = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    generate(path, items, demo_db[0], config, with_tags)
    return path, time.perf_counter() - start


# ------------------------------------------------------------------ measures


def _percentiles(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


SEARCH = "_search=insertion&_facet_array=departements&_facet_array=dispositifs&_sort_desc=published"


async def _pages(datasette, article_id: int) -> tuple[dict, dict]:
    """{kind: (p50, p95)} and what the JSON of the search said about its facets."""
    article = f"/-/article/{article_id}"
    probe = await datasette.client.get(article)
    if probe.status_code != 200:
        article = f"/veille/articles/{article_id}"
    kinds = {"articles, search + 2 array facets + sort (HTML)": f"/veille/articles?{SEARCH}",
             "articles, same (.json)": f"/veille/articles.json?{SEARCH}",
             "articles, no search (HTML)": "/veille/articles",
             "canned query appels_ouverts": "/veille/appels_ouverts",
             "canned query par_departement": "/veille/par_departement",
             f"article page {article.rsplit('/', 1)[0]}/<id>": article}
    figures = {}
    for kind, path in kinds.items():
        await datasette.client.get(path)  # warm-up
        times, failed = [], 0
        for _ in range(REQUESTS):
            start = time.perf_counter()
            response = await datasette.client.get(path)
            times.append(time.perf_counter() - start)
            failed += response.status_code != 200  # a query past sql_time_limit_ms is a 400 page
        figures[kind] = (*_percentiles(times), failed)
    # Datasette 0.65's JSON has no `facets_timed_out` (only its HTML page does): a facet asked for
    # and missing from `facet_results` timed out.
    data = (await datasette.client.get(f"/veille/articles.json?{SEARCH}")).json()
    html = (await datasette.client.get(f"/veille/articles?{SEARCH}")).text
    shown = {name: facet["results"][0]["count"] if facet["results"] else 0
             for name, facet in data["facet_results"].items()}
    asked = ["nature", "themes", "dispositifs", "departements", "source", "week"]
    return figures, {"shown": shown, "timed_out": [name for name in asked if name not in shown],
                     "html_timed_out": "timed out" in html, "count": data["filtered_table_rows_count"]}


def _after_a_crawl(datasette, path: Path) -> tuple[int, float]:
    """Rewrite the last week's articles, as a crawl's refresh does; time the next search page."""
    conn = sqlite3.connect(path)
    with conn:
        written = conn.execute("UPDATE articles SET updated_at = ? WHERE week = (SELECT MAX(week) FROM articles)",
                               (datetime.now(timezone.utc).isoformat(),)).rowcount
        prune_changelog(conn)
    conn.close()
    start = time.perf_counter()
    asyncio.run(datasette.client.get(f"/veille/articles?{SEARCH}"))
    return written, time.perf_counter() - start


def _before(config, path: Path):
    """Datasette as it was before this benchmark's changes: Datasette's search and facets on `articles`,
    its default facet and suggestion settings, par_departement reading json_each of every article."""
    from datasette.app import Datasette

    from veille.server import archive_metadata

    metadata = archive_metadata(config.settings, path.stem, config.taxonomy)
    articles = metadata["databases"][path.stem]["tables"]["articles"]
    for key in ("veille_search_fts", "veille_facet_index"):
        articles.pop(key, None)
    articles.update({"fts_table": "items_fts", "fts_pk": "id"})
    metadata["databases"][path.stem]["queries"]["par_departement"]["sql"] = (
        "SELECT articles.week AS semaine, departement.value AS departement, COUNT(*) AS articles "
        "FROM articles, json_each(articles.departements) AS departement "
        "WHERE articles.week >= COALESCE(NULLIF(:depuis, ''), '0000') "
        "GROUP BY semaine, departement ORDER BY semaine DESC, articles DESC")
    return Datasette([str(path)], metadata=metadata, settings={"default_page_size": 50, "sql_time_limit_ms": 3000})


def _refresh_slice(config, path: Path) -> tuple[int, float]:
    from pipeline.articles import Labels, refresh_all

    gazetteer = load_gazetteer(ROOT / config.settings.paths.gazetteer)
    labels = Labels(config.taxonomy, gazetteer, config.settings.tz, config.settings.bulletin.max_age_days)
    db = open_db(path)
    start = time.perf_counter()
    rows = refresh_all(db, labels)
    elapsed = time.perf_counter() - start
    db.close()
    return rows, elapsed


def _print(figures: dict, facets: dict, label: str) -> None:
    print(f"  {label}")
    for kind, (p50, p95, failed) in figures.items():
        flag = "" if not failed else f"  ({failed} answered 400: past sql_time_limit_ms)"
        print(f"    {kind:52s} p50 {p50 * 1000:6.0f} ms   p95 {p95 * 1000:6.0f} ms{flag}")
    shown = ", ".join(f"{name} (top {count:,})" for name, count in facets["shown"].items()) or "none"
    print(f"    search matches {facets['count']:,} articles; facet counts shown: {shown}; "
          f"timed out: {', '.join(facets['timed_out']) or 'none'}")


def run() -> None:
    from veille.server import make_datasette

    global REQUESTS
    config = load_config(ROOT / "config")
    os.environ.setdefault("VEILLE_SECRET", "banc-d-essai")
    with tempfile.TemporaryDirectory() as folder:
        folder, demo = Path(folder), []
        path, generated = archive(folder, config, ITEMS, False, demo)
        print(f"archive of {ITEMS:,} items: {path} ({path.stat().st_size / 1e9:.1f} GB; "
              + (f"generated in {generated:.0f} s)" if generated else "reused)"))
        start = time.perf_counter()
        datasette = make_datasette(config, path, folder / "subscribers.db", folder / "bulletins")
        print(f"  open and migrate: {time.perf_counter() - start:.1f} s")
        conn = sqlite3.connect(path)
        start = time.perf_counter()
        conn.execute("SELECT count(*) FROM items_fts WHERE items_fts MATCH 'insertion'").fetchone()
        plain = time.perf_counter() - start
        article_id = conn.execute("SELECT max(id) / 2 FROM articles").fetchone()[0]
        conn.close()
        start = time.perf_counter()
        asyncio.run(datasette.client.get("/veille/articles?_search=insertion"))
        print(f"  first search page (builds the in-memory facet index): {time.perf_counter() - start:.1f} s")
        after, after_facets = asyncio.run(_pages(datasette, article_id))
        written, followed = _after_a_crawl(datasette, path)
        print(f"  first search page after a crawl rewrote the {written:,} articles of the last week: "
              f"{followed:.2f} s (the facet index follows the change log)")
        requests, REQUESTS = REQUESTS, BASELINE_REQUESTS
        try:
            before, before_facets = asyncio.run(_pages(_before(config, path), article_id))
        finally:
            REQUESTS = requests
        print(f"  baseline: plain SQL count of the search « insertion » in items_fts: {plain * 1000:.0f} ms")
        _print(before, before_facets, f"before (Datasette's search and facets, default settings; "
                                      f"{BASELINE_REQUESTS} requests each):")
        _print(after, after_facets, f"after ({REQUESTS} requests each; target p95 < 1000 ms):")
        slice_path, generated = archive(folder, config, SLICE, True, demo)
        rows, elapsed = _refresh_slice(config, slice_path)
        print(f"refresh_all (the articles table rebuilt, as after `veille tag --all`) on a {SLICE:,}-item slice "
              f"with its tags: {rows:,} rows in {elapsed:.0f} s ({elapsed / rows * 1000:.2f} ms a row) "
              f"→ about {elapsed / rows * ITEMS / 60:.0f} min for {ITEMS:,} (extrapolated, not measured)")
