"""Crawl benchmark: a generated loopback site, 50 sources × 40 articles, politeness delays off.

Prints, for Veille's crawl: pages per second, CPU seconds per page in Veille's own code
(extraction, pipelines, storage) and in the rest (Scrapy, Twisted, parsing of responses), peak
memory; then the second, unchanged crawl's bytes and time as a ratio of the first. The baseline,
measured in the same run, is a bare Scrapy spider that downloads the same pages and does nothing
with them: the ratio says what Veille's work costs on top of fetching.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import sqlite_utils
import yaml

from veille.fixture_site import FixtureArticle, FixtureSiteHandler, FixtureSource, base_url, serve

ROOT = Path(__file__).resolve().parents[1]
SOURCES, ARTICLES = 50, 40
WORDS = ("emploi insertion territoire accompagnement jeunes entreprises recrutement formation parcours "
         "mission locale PLIE chantier structure partenaires élus département commune agglomération "
         "demandeurs dispositif comité forum métiers tension compétences mobilité logement santé "
         "association bénévoles financement appel projets bilan année salariés contrat durée").split()


def generate_site(seed: int = 7) -> list[FixtureSource]:
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    sources = []
    for s in range(SOURCES):
        articles = []
        for a in range(ARTICLES):
            paragraphs = ["".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 22))).capitalize() + ". "
                                  for _ in range(4)) for _ in range(5)]
            articles.append(FixtureArticle(
                slug=f"article-{a}", title=f"Source {s}, article {a} : " + " ".join(rng.sample(WORDS, 6)),
                summary=paragraphs[0][:200], body="\n\n".join(paragraphs),
                published=now - timedelta(hours=a * 3 + s)))
        sources.append(FixtureSource(id=f"s{s:02d}", name=f"Source {s}", description="", articles=articles))
    return sources


class CachedHandler(FixtureSiteHandler):
    """Pages rendered once: the server must not be the bottleneck of a crawl benchmark."""

    def route(self, path):
        cache = self.server.page_cache
        if path not in cache:
            cache[path] = super().route(path)
        return cache[path]


def source_configs(url: str) -> list[dict]:
    configs = []
    for s in range(SOURCES):
        source_id = f"s{s:02d}"
        kind = ("rss", "rss", "html", "sitemap")[s % 4]
        config = {"id": source_id, "name": f"Source {s}", "type": kind}
        if kind == "rss":
            config.update(url=f"{url}/{source_id}/feed.xml", fetch_full=True)
        elif kind == "html":
            config.update(url=f"{url}/{source_id}/", links="article h2 a")
        else:
            config.update(url=f"{url}/{source_id}/sitemap.xml")
        configs.append(config)
    return configs


def write_config(folder: Path, url: str) -> Path:
    config = folder / "config"
    config.mkdir()
    (config / "taxonomy.yaml").write_text((ROOT / "config" / "taxonomy.yaml").read_text(encoding="utf-8"),
                                          encoding="utf-8")
    settings = {"paths": {"db": "data/veille.db"},
                "crawl": {"download_delay": 0, "autothrottle": False, "concurrent_requests_per_domain": 16,
                          "retry_times": 0, "timeout": 30}}
    (config / "settings.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    (config / "sources.yaml").write_text(yaml.safe_dump({"sources": source_configs(url)}), encoding="utf-8")
    return config


def timed_child(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MiB) of a child process: its VmHWM, read while it runs
    (ru_maxrss of children would count the pages of this forking parent)."""
    started = time.perf_counter()
    process = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak_kib = 0
    while process.poll() is None:
        try:
            with open(f"/proc/{process.pid}/status") as status:
                peak_kib = max([peak_kib] + [int(line.split()[1]) for line in status if line.startswith("VmHWM")])
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
        time.sleep(0.05)
    wall = time.perf_counter() - started
    _, err = process.communicate()
    if process.returncode:
        raise RuntimeError(f"{args} failed:\n{err}")
    return wall, peak_kib / 1024


BARE_SPIDER = """
import json, sys, scrapy
from scrapy.crawler import CrawlerProcess
urls = json.load(open(sys.argv[1]))
class Bare(scrapy.Spider):
    name = "bare"
    async def start(self):
        for url in urls:
            yield scrapy.Request(url, dont_filter=True, callback=self.parse)
    def parse(self, response):
        pass
process = CrawlerProcess({"CONCURRENT_REQUESTS": 16, "CONCURRENT_REQUESTS_PER_DOMAIN": 16, "DOWNLOAD_DELAY": 0,
                          "ROBOTSTXT_OBEY": True, "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False})
process.crawl(Bare)
process.start()
"""


def run() -> None:
    sources = generate_site()
    server = serve(sources, handler=CachedHandler)
    server.page_cache = {}
    url = base_url(server)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            config = write_config(tmp, url)
            pages = [f"{url}/{c['id']}/" if c["type"] == "html" else c["url"] for c in source_configs(url)]
            pages += [f"{url}/{s.id}/{a.slug}.html" for s in sources for a in s.articles]
            (tmp / "urls.json").write_text(json.dumps(pages))
            (tmp / "bare.py").write_text(BARE_SPIDER)

            bare_wall, bare_rss = timed_child([sys.executable, str(tmp / "bare.py"), str(tmp / "urls.json")])
            first_wall, first_rss = timed_child([sys.executable, "-m", "veille", "crawl", "--config", str(config)])
            second_wall, _ = timed_child([sys.executable, "-m", "veille", "crawl", "--config", str(config)])

            db = sqlite_utils.Database(tmp / "data" / "veille.db")
            first, second = list(db["crawls"].rows_where(order_by="id"))
            items = db["items"].count
    finally:
        server.shutdown()

    n = len(pages)
    responses = first["responses"]
    own = first["cpu_seconds_veille"]
    rest = first["cpu_seconds"] - own
    print(f"site: {SOURCES} sources × {ARTICLES} articles ({n} pages), 1/2 rss full text, 1/4 html, 1/4 sitemap")
    print(f"baseline (bare Scrapy, same pages): {n / bare_wall:8.1f} pages/s   {bare_wall:6.2f} s   "
          f"peak {bare_rss:6.1f} MiB")
    print(f"veille crawl, first run:            {responses / first_wall:8.1f} pages/s   {first_wall:6.2f} s   "
          f"peak {first_rss:6.1f} MiB   ({items} items stored)")
    print(f"  speed vs baseline: {(responses / first_wall) / (n / bare_wall):.2f}×")
    print(f"  CPU per page: Veille's code {1000 * own / responses:.2f} ms "
          f"(extraction, pipelines, storage), Scrapy and the rest {1000 * rest / responses:.2f} ms "
          f"({100 * own / first['cpu_seconds']:.0f} % in Veille's code)")
    print(f"second, unchanged crawl: {second['bytes']:,} bytes vs {first['bytes']:,} "
          f"= {100 * second['bytes'] / first['bytes']:.2f} % of the bytes (goal < 5 %); "
          f"{second_wall:.2f} s vs {first_wall:.2f} s = {100 * second_wall / first_wall:.0f} % of the time; "
          f"{second['requests']} requests vs {first['requests']}")


if __name__ == "__main__":
    run()
