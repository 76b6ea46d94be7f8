"""The curator's week in a real browser: a crawled archive (the demo's fixture site on loopback),
a real `veille serve`, headless Chromium driven only by the keyboard, a real SMTP server, and the
command line for the plan, the status and the send.

Screenshots stay in build/screenshots/ (curation-workspace.png, curation-preview.png) for a look.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from config.dates import current_week
from config.loading import load_config
from newsletter.smtp_sink import start_smtp_sink
from pipeline.archive import effective_tags, open_db
from tests.conftest import ROOT, free_port, run_veille, wait_for_port
from veille import curators
from veille.demo import demo_source
from veille.fixture_site import base_url, load_fixture_sources, serve

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = ROOT / "build" / "screenshots"
PASSWORD = "mot-de-passe-de-marie"
SECRET = "secret-de-test-curation-4b1d"
CODES = re.compile(r"\b\d{5}\b|\b\d{9}\b")  # INSEE commune codes, SIREN of EPCI


@pytest.fixture
def crawled(tmp_path, config_dir):
    """The demo's fixture sources crawled and tagged into a fresh archive; two subscribers; an SMTP
    server; a curator account."""
    site = serve(load_fixture_sources(ROOT / "demo" / "site"))
    smtp = start_smtp_sink(tmp_path / "mail")
    try:
        sources = [demo_source(s, base_url(site)).model_dump(exclude_defaults=True) | {"type": "rss"}
                   for s in load_fixture_sources(ROOT / "demo" / "site")]
        (config_dir / "sources.yaml").write_text(yaml.safe_dump({"sources": sources}, allow_unicode=True),
                                                 encoding="utf-8")
        settings = yaml.safe_load((config_dir / "settings.yaml").read_text(encoding="utf-8"))
        settings["smtp"] = {"host": smtp.hostname, "port": smtp.port, "tls": "none", "rate_per_second": 50}
        settings["secret"] = SECRET
        (config_dir / "settings.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
        run_veille("crawl", "--config", str(config_dir))
        run_veille("tag", "--config", str(config_dir))
        for email, departements in (("anne@example.org", "23"), ("tous@example.org", "")):
            run_veille("subscribers", "add", email, "--config", str(config_dir),
                       *(["--departements", departements] if departements else []))
        data = config_dir.parent / "data"
        curators.add_curator(curators.open_curators_db(data / "subscribers.db"), "marie", PASSWORD)
        yield config_dir, data, tmp_path / "mail"
    finally:
        smtp.stop()
        site.shutdown()


def veille(config_dir, *args, check=False):
    return run_veille(*args, "--config", str(config_dir), check=check)


def plan(config_dir, week) -> dict[int, dict]:
    lines = veille(config_dir, "bulletin", "plan", "--week", week, "--json", check=True).stdout.splitlines()
    return {row["id"]: row for row in map(json.loads, lines)}


def test_a_week_reviewed_with_the_keyboard_then_approved_and_sent(crawled):
    from playwright.sync_api import expect, sync_playwright

    config_dir, data, mail = crawled
    config = load_config(config_dir)
    week = current_week(config.settings.tz)
    before = plan(config_dir, week)
    inside = [i for i, row in before.items() if row["in_bulletin"]]
    assert len(inside) >= 4, before

    # Nothing goes out before the curator has looked at the week.
    refused = veille(config_dir, "bulletin", "send", "--week", week)
    assert refused.returncode == 3 and "pas été validé" in refused.stderr + refused.stdout, refused
    assert not list(mail.glob("*.eml"))

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "veille", "serve", "--config", str(config_dir), "--port", str(port)],
        cwd=ROOT, env={**os.environ, "VEILLE_SECRET": SECRET}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.goto(f"{base}/-/curation/login")
            page.fill("input[name=name]", "marie")
            page.fill("input[name=password]", PASSWORD)
            page.keyboard.press("Enter")
            page.wait_for_url(f"{base}/-/curation")
            page.goto(f"{base}/-/curation?week={week}")
            expect(page.locator("#approval")).to_contain_text("Pas encore validé")

            # No place code where a person reads a place.
            text = page.inner_text("body")
            assert not CODES.search(text), CODES.search(text)

            items = page.locator("#items > .item")
            ids = [int(items.nth(n).get_attribute("data-id")) for n in range(items.count())]
            first, second, third = ids[0], ids[1], ids[2]

            page.keyboard.press("?")
            expect(page.locator("#help")).to_be_visible()
            page.keyboard.press("Escape")
            expect(page.locator("#help")).to_be_hidden()

            # j: the first item; h: « À la une ».
            page.keyboard.press("j")
            expect(page.locator(f"#item-{first}")).to_have_class(re.compile(r"\bcurrent\b"))
            page.keyboard.press("h")
            expect(page.locator(f"#item-{first} .decision")).to_have_text("Dans le bulletin · À la une")

            # j, x: the second set aside.
            page.keyboard.press("j")
            page.keyboard.press("x")
            expect(page.locator(f"#item-{second} .decision")).to_have_text("Hors bulletin · écarté")

            # j, t: a place typed by its name, picked from the suggestions.
            page.keyboard.press("j")
            page.keyboard.press("t")
            page.keyboard.type("Guér")
            suggestion = page.locator(f"#item-{third} .suggestions li[data-spec='communes:23096']")
            expect(suggestion).to_have_text("Guéret (23096) · Creuse")
            page.keyboard.press("ArrowDown")
            page.keyboard.press("Enter")
            expect(page.locator(f"#item-{third} .tag[data-spec='communes:23096'] .why-button")).to_have_text("Guéret")
            expect(page.locator(f"#item-{third} .tag[data-spec='departements:23']")).to_be_visible()

            # A theme removed, with Tab and Enter on its ×.
            theme = page.locator(f"#item-{third} .tag.themes").first
            spec = theme.get_attribute("data-spec")
            assert spec, "the third item should have a theme"
            page.keyboard.press("Escape")
            for _ in range(40):
                focused = page.evaluate("document.activeElement.closest('.tag') ? "
                                        "document.activeElement.closest('.tag').dataset.spec + ' ' + "
                                        "document.activeElement.className : ''")
                if focused == f"{spec} remove":
                    break
                page.keyboard.press("Tab")
            else:
                pytest.fail("Tab never reached the theme's ×")
            page.keyboard.press("Enter")
            expect(page.locator(f"#item-{third} .tag[data-spec='{spec}']")).to_have_class(re.compile(r"\bremoved\b"))

            # k goes back to the second item, n writes its note.
            page.keyboard.press("k")
            expect(page.locator(f"#item-{second}")).to_have_class(re.compile(r"\bcurrent\b"))
            page.keyboard.press("n")
            page.keyboard.type("À relayer aux PLIE")
            page.keyboard.press("Enter")
            expect(page.locator(f"#item-{second} .note")).to_have_text("Note : À relayer aux PLIE")

            # The words behind a tag light up.
            page.hover(f"#item-{third} .tag[data-spec='communes:23096'] .why-button")
            text = page.inner_text("body")
            assert not CODES.search(text.replace("Guéret (23096)", "")), CODES.search(text)

            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(SCREENSHOTS / "curation-workspace.png"), full_page=False)

            # Approve, then look at the preview of a Creuse subscriber's copy.
            page.click("text=Valider le bulletin de la semaine")
            expect(page.locator("#approval")).to_contain_text("Validé par marie")
            page.goto(f"{base}/-/curation/preview?week={week}&departement=23")
            expect(page.locator("#copy-size")).to_contain_text("Ko de HTML")
            frame = page.frame_locator("iframe.copy")
            expect(frame.locator("body")).to_contain_text("Creuse")
            page.screenshot(path=str(SCREENSHOTS / "curation-preview.png"), full_page=False)
            browser.close()
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=10)
    assert "Traceback" not in errors and " 500 " not in errors, errors

    # Every decision is in the plan, the next bulletin and the archive, with who made it.
    after = plan(config_dir, week)
    assert after[first]["section"] == "a-la-une"
    assert after[second]["in_bulletin"] is False and after[second]["reason"] == "écarté"
    assert open_db(data / "veille.db")["curation"].get(second)["note"] == "À relayer aux PLIE"
    db = open_db(data / "veille.db")
    tags = effective_tags(db, [third])[third]
    assert "23096" in tags["communes"] and "23" in tags["departements"]
    assert spec.split(":")[1] not in tags.get("themes", [])
    assert {r["curator"] for r in db["tags"].rows_where("origin = 'curator'")} == {"marie"}
    build = veille(config_dir, "bulletin", "build", "--week", week, check=True)
    html = open(build.stdout.splitlines()[1], encoding="utf-8").read()
    titles = {row["id"]: row["title"] for row in after.values()}
    assert html.index("À la une") < html.index(_escaped(titles[first]))
    assert _escaped(titles[second]) not in html

    status = veille(config_dir, "bulletin", "status", "--week", week)
    assert status.returncode == 0 and "marie" in status.stdout, status
    sent = veille(config_dir, "bulletin", "send", "--week", week)
    assert sent.returncode == 0, sent
    assert len(list(mail.glob("*.eml"))) == 2

    # A decision after approval asks for a new one; the send then refuses (nothing more to send
    # here anyway, so the next week's check is made on the status).
    veille(config_dir, "curate", str(first), "--no-highlight", "--by", "paul", check=True)
    changed = veille(config_dir, "bulletin", "status", "--week", week)
    assert changed.returncode == 1 and "paul" in changed.stdout, changed
    again = veille(config_dir, "bulletin", "send", "--week", week)
    assert again.returncode == 3 and len(list(mail.glob("*.eml"))) == 2, again


def _escaped(text: str) -> str:
    from html import escape

    return escape(text, quote=False)
