"""Directory benchmark (issue 16): `rebuild_directory` at scale, and the reads of the bulletin and
the command line.

A generated archive of ITEMS items naming ACTORS actors (1 to 6 each, drawn with Zipf-like weights so
that a few are named often, as France Travail or the Région are), each placed in one département,
with two dispositifs per item (origin auto), a merge and a hide among the curator's decisions.
Printed: the rebuild's time (what every `veille tag` and every decision runs), `actors_of_items`
for a week's 300 items (the bulletin's block), and `directory_rows` (`veille actors`).
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

from config.loading import load_config
from pipeline.archive import open_db
from pipeline.directory import actors_of_items, decide, directory_rows, rebuild_directory
from pipeline.places import load_gazetteer

ITEMS = 50_000
ACTORS = 3_000
KINDS = ("plie", "mission-locale", "epci", "association", "communes", "france-travail", "geiq")


def _archive(path: Path, gazetteer) -> None:
    rng = random.Random(16)
    db = open_db(path)
    departements = sorted(gazetteer.region_departements)
    actors = [(f"acteur-{i}", f"Acteur {i}", rng.choice(KINDS), rng.choice(departements)) for i in range(ACTORS)]
    weights = [1 / (i + 1) for i in range(ACTORS)]
    items, mentions, tags = [], [], []
    for item_id in range(1, ITEMS + 1):
        items.append({"id": item_id, "url": f"https://example.org/{item_id}", "source_id": "s",
                      "first_seen_at": "2026-11-01T00:00:00+00:00",
                      "published_at": f"2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}T08:00:00+00:00"})
        for n, (key, name, kind, dep) in enumerate(set(rng.choices(actors, weights, k=rng.randint(1, 6)))):
            mentions.append({"item_id": item_id, "start": n * 40, "key": key, "name": name, "kind": kind,
                             "match": name, "departements": json.dumps([dep]), "communes": "[]"})
        tags += [{"item_id": item_id, "facet": "dispositifs", "value": value, "origin": "auto", "action": "add"}
                 for value in rng.sample(["plie", "fse", "iae", "mission-locale", "geiq"], 2)]
    db["items"].insert_all(items, batch_size=5000)
    db["actor_mentions"].insert_all(mentions, batch_size=5000)
    db["tags"].insert_all(tags, batch_size=5000)
    decide(db, "merge", "acteur-5", target="acteur-1", curator="bench")
    decide(db, "hide", "acteur-2", curator="bench")
    db.conn.commit()
    db.close()


def run() -> None:
    config = load_config(Path(__file__).resolve().parents[1] / "config")
    gazetteer = load_gazetteer(config.gazetteer_path)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "veille.db"
        _archive(path, gazetteer)
        db = open_db(path)
        mentions = db["actor_mentions"].count
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            actors = rebuild_directory(db, gazetteer, config.taxonomy)
            timings.append(time.perf_counter() - start)
        print(f"rebuild_directory: {ITEMS:,} items, {mentions:,} mentions, {actors:,} actors: "
              f"{min(timings):.2f} s (best of 3)")
        start = time.perf_counter()
        week = actors_of_items(db, range(ITEMS - 299, ITEMS + 1))
        print(f"actors_of_items, 300 items: {(time.perf_counter() - start) * 1000:.1f} ms "
              f"({sum(map(len, week.values()))} actors)")
        start = time.perf_counter()
        rows = directory_rows(db)
        print(f"directory_rows (veille actors): {(time.perf_counter() - start) * 1000:.0f} ms for {len(rows):,} rows")
        db.close()


if __name__ == "__main__":
    run()
