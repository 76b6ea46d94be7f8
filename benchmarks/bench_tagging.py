"""Tagging benchmark: places (and the whole tagger) on 1–2 kB French news texts.

Prints documents per second and MB/s with start-up excluded, the start-up time and memory of the
loaded gazetteer (in a fresh process), against a naive baseline measured in the same run: one
compiled regular expression alternating every commune name of the région (case-sensitive).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = 3000


def corpus() -> list[str]:
    """The demo's articles (1–2 kB each), cycled to DOCS documents."""
    texts = []
    for path in sorted((ROOT / "demo" / "site").glob("*.yaml")):
        for article in yaml.safe_load(path.read_text(encoding="utf-8"))["articles"]:
            texts.append(f"{article['title']}\n\n{article['summary']}\n\n{article['body']}")
    return [texts[i % len(texts)] for i in range(DOCS)]


def throughput(function, docs: list[str]) -> tuple[float, float]:
    started = time.perf_counter()
    for doc in docs:
        function(doc)
    elapsed = time.perf_counter() - started
    return len(docs) / elapsed, sum(len(d.encode()) for d in docs) / elapsed / 1e6


STARTUP = """
import json, sys, time, tracemalloc

def rss_mib():  # current resident memory (ru_maxrss would count the forking parent's pages)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

before = rss_mib()
if sys.argv[1] == "memory":
    tracemalloc.start()  # slows everything down: the time is measured in another run
started = time.perf_counter()
from pipeline.places import load_gazetteer, tag_places
gazetteer = load_gazetteer()
tag_places("Bordeaux", gazetteer)
elapsed = time.perf_counter() - started
current = tracemalloc.get_traced_memory()[0] if sys.argv[1] == "memory" else 0
print(json.dumps({"seconds": elapsed, "python_mib": current / 2**20, "rss_mib": rss_mib() - before}))
"""


def startup(mode: str) -> dict:
    """Start-up figures of a fresh process (mode "time" or "memory")."""
    return json.loads(subprocess.run([sys.executable, "-c", STARTUP, mode], cwd=ROOT, capture_output=True,
                                     text=True, check=True).stdout)


def run() -> None:
    from pipeline.places import load_gazetteer, tag_places
    from pipeline.tagging import tag_document
    from config.loading import load_taxonomy

    docs = corpus()
    timing, memory = startup("time"), startup("memory")

    gazetteer = json.loads((ROOT / "config" / "gazetteer.json").read_text(encoding="utf-8"))
    names = sorted({c["name"] for c in gazetteer["communes"].values()}, key=len, reverse=True)
    started = time.perf_counter()
    naive = re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b")
    naive_compile = time.perf_counter() - started
    baseline, baseline_mb = throughput(lambda text: [m.group() for m in naive.finditer(text)], docs[:300])

    loaded = load_gazetteer()
    places, places_mb = throughput(lambda text: tag_places(text, loaded), docs)
    taxonomy = load_taxonomy(ROOT / "config" / "taxonomy.yaml")
    tag_document(taxonomy, "warm-up", "", "")
    whole, whole_mb = throughput(lambda text: tag_document(taxonomy, "d", "", text), docs)

    size = sum(len(d.encode()) for d in docs) / len(docs)
    print(f"{DOCS} documents of {size / 1000:.1f} kB on average (the demo's articles, cycled)")
    print(f"gazetteer start-up (fresh process, import + load + first call): {timing['seconds']:.2f} s, "
          f"{memory['python_mib']:.1f} MiB of Python objects, +{timing['rss_mib']:.0f} MiB of resident memory")
    print(f"baseline, one regex alternation of {len(names)} commune names: {baseline:8.0f} docs/s "
          f"{baseline_mb:6.2f} MB/s (compiled in {naive_compile:.2f} s)")
    print(f"places (Aho-Corasick + disambiguation):                   {places:8.0f} docs/s "
          f"{places_mb:6.2f} MB/s = {places / baseline:.0f}× the baseline (goal ≥ 30×, ≥ 3,000 docs/s)")
    print(f"whole tagger (places + nature, themes, dispositifs):      {whole:8.0f} docs/s "
          f"{whole_mb:6.2f} MB/s = {whole / places:.2f}× the places alone")


if __name__ == "__main__":
    run()
