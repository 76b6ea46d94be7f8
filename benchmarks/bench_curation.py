"""Curation benchmark: the review workspace of a week of 300 items, served by the real Datasette with
Veille's plugin (in process, logged in), against Datasette's own table page of the same 300 items in
the same run (the baseline: what the archive's plain browsing costs).

Prints the median time of the workspace page (target: under 1 s), of one decision made without
reload (the changed items re-rendered), of a tag suggestion, and the page's size.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.bench_bulletin import _MONTHS, _SENTENCES, _SOURCES, _TITLES, _TOWNS
from config.loading import load_config
from config.schema import Source
from pipeline.archive import insert_item, open_db, sync_sources
from pipeline.places import load_gazetteer
from pipeline.tagging import tag_items
from veille import curators
from veille.server import make_datasette

ROOT = Path(__file__).resolve().parents[1]
WEEK = "2026-W48"
ITEMS = 300
RUNS = 5
PASSWORD = "banc-d-essai-curation"


def fill_week(db, taxonomy, items: int = ITEMS, seed: int = 7) -> None:
    """`items` plausible articles first seen in WEEK, from 14 sources, tagged by the real tagger."""
    rng = random.Random(seed)
    sources = [Source(id=f"s{n}", name=name, type="rss", url=f"https://source{n}.example.org/rss")
               for n, name in enumerate(_SOURCES)]
    sync_sources(db, sources)
    departements = sorted(_TOWNS)
    for n in range(items):
        dep = rng.choice(departements)
        town = rng.choice(_TOWNS[dep])
        nature = rng.choice(sorted(_TITLES))
        title = rng.choice(_TITLES[nature]).format(town=town, dep=town, year=2027, n=rng.randint(2, 40),
                                                   day=rng.randint(2, 28), month=rng.choice(_MONTHS))
        text = " ".join([f"À {town}, les acteurs de l'emploi se mobilisent."] + rng.sample(_SENTENCES, 5))
        day = 23 + n % 7
        insert_item(db, {"url": f"https://source.example.org/{n}", "raw_url": f"https://source.example.org/{n}",
                         "source_id": sources[n % len(sources)].id, "title": title, "text": text,
                         "published_at": f"2026-11-{day}T08:00:00+00:00",
                         "first_seen_at": f"2026-11-{day}T09:{n % 60:02d}:00+00:00"})
    tag_items(db, taxonomy, gazetteer=load_gazetteer())


async def _login(datasette) -> dict:
    page = await datasette.client.get("/-/curation/login")
    csrf = page.cookies["ds_csrftoken"]
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text)[1]
    response = await datasette.client.post("/-/curation/login", cookies={"ds_csrftoken": csrf},
                                           data={"csrftoken": token, "name": "banc", "password": PASSWORD})
    return {"ds_csrftoken": csrf, "veille_session": response.cookies["veille_session"]}


async def _timed(call, runs: int = RUNS) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = await call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


async def _measure(datasette) -> dict:
    cookies = await _login(datasette)
    await datasette.client.get(f"/-/curation?week={WEEK}", cookies=cookies)  # warm: templates, gazetteer
    await datasette.client.get(f"/veille/items?_size={ITEMS}")
    workspace, page = await _timed(lambda: datasette.client.get(f"/-/curation?week={WEEK}", cookies=cookies))
    assert page.status_code == 200 and page.text.count('class="item ') == ITEMS, page.status_code
    baseline, table = await _timed(lambda: datasette.client.get(
        f"/veille/items?first_seen_at__gte=2026-11-23&_size={ITEMS}"))
    assert table.status_code == 200
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text)[1]
    item = re.search(r'id="item-(\d+)"', page.text)[1]
    flips = iter(["1", "0"] * RUNS)

    async def decide():
        response = await datasette.client.post(
            f"/-/curation/items/{item}", cookies=cookies, headers={"accept": "application/json"},
            data={"csrftoken": token, "week": WEEK, "highlight": next(flips)})
        assert response.status_code == 200, response.text
        return response

    decision, _ = await _timed(decide)
    suggestion, _ = await _timed(lambda: datasette.client.get("/-/curation/suggest?q=Gu%C3%A9r", cookies=cookies))
    return {"workspace": workspace, "baseline": baseline, "decision": decision, "suggest": suggestion,
            "bytes": len(page.content), "filtered": (await _timed(lambda: datasette.client.get(
                f"/-/curation?week={WEEK}&departements=87&scope=in", cookies=cookies)))[0]}


def run() -> None:
    config = load_config(ROOT / "config")
    os.environ.setdefault("VEILLE_SECRET", "banc-d-essai")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        db = open_db(folder / "veille.db")
        fill_week(db, config.taxonomy)
        db.close()
        curators.add_curator(curators.open_curators_db(folder / "subscribers.db"), "banc", PASSWORD)
        datasette = make_datasette(config, folder / "veille.db", folder / "subscribers.db", folder / "bulletins")
        figures = asyncio.run(_measure(datasette))
    ratio = figures["workspace"] / figures["baseline"]
    print(f"curation workspace, {ITEMS} items : {figures['workspace'] * 1000:7.0f} ms (median of {RUNS}; "
          f"target < 1000 ms) — {figures['bytes'] / 1e6:.2f} MB of HTML")
    print(f"  baseline, Datasette's table page of the same {ITEMS} items : {figures['baseline'] * 1000:7.0f} ms "
          f"→ workspace = {ratio:.1f}× the baseline")
    print(f"  filtered (one département, in the bulletin) : {figures['filtered'] * 1000:7.0f} ms")
    print(f"  one decision without reload (plan before/after, changed items re-rendered) : "
          f"{figures['decision'] * 1000:7.0f} ms")
    print(f"  tag suggestion « Guér » : {figures['suggest'] * 1000:7.1f} ms")
