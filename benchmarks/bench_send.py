"""Bulletin benchmark: build and send personalised bulletins to 1,000 subscribers through a local
SMTP server (aiosmtpd on loopback, in its own process, discarding messages), and the build time alone.

The baseline, measured in the same run, is one non-personalised bulletin sent to everyone: the
same SMTP path with a single render, which says what personalisation costs.
"""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import yaml
from pydantic import SecretStr

from zoneinfo import ZoneInfo

from config.dates import week_bounds
from config.schema import DEFAULT_TIMEZONE
from newsletter.bulletin import bulletin_data, capped, personalise, render_bulletin
from newsletter.letters import letter_composer
from newsletter.send import Letter, send_bulletin
from newsletter.smtp_sink import free_port
from newsletter.subscribers import add_subscriber, open_subscribers_db
from pipeline.archive import insert_item, open_db, sync_sources
from pipeline.places import load_gazetteer
from pipeline.tagging import tag_items
from config.loading import load_config
from config.schema import THEMES, Source

ROOT = Path(__file__).resolve().parents[1]
SUBSCRIBERS = 1000
WEEK = "2026-W48"


def smtp_server() -> tuple[subprocess.Popen, int]:
    """aiosmtpd's own command line, with its Sink handler, in another process (no shared GIL)."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                                "-c", "aiosmtpd.handlers.Sink"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("the SMTP server did not start")


def archive(folder: Path):
    """This week's items: the demo's articles."""
    db = open_db(folder / "veille.db")
    sync_sources(db, [Source(id="demo", name="Démo", type="rss", url="https://demo.example.org/rss")])
    start, _ = week_bounds(WEEK, ZoneInfo(DEFAULT_TIMEZONE))
    n = 0
    for path in sorted((ROOT / "demo" / "site").glob("*.yaml")):
        for article in yaml.safe_load(path.read_text(encoding="utf-8"))["articles"]:
            n += 1
            insert_item(db, {"url": f"https://demo.example.org/{n}", "raw_url": "x", "source_id": "demo",
                             "title": article["title"], "text": f"{article['summary']}\n\n{article['body']}",
                             "first_seen_at": (start + timedelta(hours=n)).isoformat(),
                             "published_at": (start + timedelta(hours=n)).isoformat()})
    return db


def run() -> None:
    config = load_config(ROOT / "config")
    rng = random.Random(3)
    departements = sorted(load_gazetteer().region_departements)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        db = archive(tmp)
        tag_items(db, config.taxonomy)
        subscribers = open_subscribers_db(tmp / "subscribers.db")
        with subscribers.atomic():
            for i in range(SUBSCRIBERS):
                add_subscriber(subscribers, f"abonne{i}@example.org", f"Abonné {i}",
                               rng.sample(departements, rng.choice([0, 0, 1, 2])), rng.sample(THEMES, rng.choice([0, 0, 1])))
        server, port = smtp_server()
        settings = config.settings.model_copy(update={
            "secret": SecretStr("bench"),
            "smtp": config.settings.smtp.model_copy(update={
                "host": "127.0.0.1", "port": port, "tls": "none", "rate_per_second": 1e6})})
        try:
            started = time.perf_counter()
            bulletin = bulletin_data(db, WEEK, settings, config.taxonomy)
            cap = settings.bulletin.section_cap
            data_seconds = time.perf_counter() - started
            people = subscribers["subscribers"].rows_where(order_by="id")
            started = time.perf_counter()
            for person in people:
                render_bulletin(capped(personalise(bulletin, json.loads(person["departements"]),
                                                   json.loads(person["themes"])), cap))
            build_seconds = time.perf_counter() - started

            html, text = render_bulletin(capped(bulletin, cap))
            started = time.perf_counter()
            send_bulletin(subscribers, "2026-W00", lambda s: Letter("Bulletin", html, text), settings.smtp)
            baseline_seconds = time.perf_counter() - started

            started = time.perf_counter()
            report = send_bulletin(subscribers, WEEK, letter_composer(bulletin, settings), settings.smtp)
            send_seconds = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait()
    print(f"{SUBSCRIBERS} subscribers, {bulletin.count} items in the week's bulletin")
    print(f"selection of the week's items: {data_seconds * 1000:.0f} ms")
    print(f"build alone, {SUBSCRIBERS} personalised copies (HTML with CSS inlined + text): {build_seconds:.2f} s "
          f"= {SUBSCRIBERS / build_seconds:.0f} copies/s")
    print(f"baseline, one copy sent to all over SMTP: {SUBSCRIBERS / baseline_seconds:.0f} messages/s "
          f"({baseline_seconds:.2f} s)")
    print(f"personalised build and send: {len(report.sent)} sent, {len(report.failed) + len(report.deferred)} not, "
          f"{len(report.sent) / send_seconds:.0f} messages/s ({send_seconds:.2f} s) "
          f"= {baseline_seconds / send_seconds:.2f}× the baseline's rate")


if __name__ == "__main__":
    run()
