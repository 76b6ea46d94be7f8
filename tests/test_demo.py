"""`veille demo` end to end: fixture site -> crawl -> tag -> bulletin -> SMTP -> .eml files."""

from __future__ import annotations

import email
import json
import re
from email import policy

import sqlite_utils

from tests.conftest import ROOT, run_veille


def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "out"
    result = run_veille("demo", "--out", str(out), "--config", str(ROOT / "config"), timeout=300)
    db = sqlite_utils.Database(out / "veille.db")
    assert db["items"].count >= 20
    assert {r["status"] for r in db["source_runs"].rows} == {"ok"}
    assert db.execute("SELECT COUNT(*) FROM items WHERE tagged_at IS NULL").fetchone()[0] == 0
    html = next((out / "bulletins").glob("bulletin-*.html"))
    text = html.with_suffix(".txt")
    assert text.exists() and "Initiatives locales" in html.read_text(encoding="utf-8")
    messages = sorted((out / "mail").glob("*.eml"))
    assert len(messages) == 3
    parsed = [email.message_from_bytes(m.read_bytes(), policy=policy.default) for m in messages]
    message = parsed[0]
    assert "Veille emploi et territoires" in message["Subject"]
    assert message.get_body(("html",)) is not None and message.get_body(("plain",)) is not None
    assert all(m["List-Unsubscribe"].strip().startswith("<http") and m["List-Unsubscribe-Post"] for m in parsed)
    texts = {m["To"]: m.get_body(("plain",)).get_content() for m in parsed}
    creuse = next(t for to, t in texts.items() if "creuse" in to)
    everything = next(t for to, t in texts.items() if "chargee" in to)
    assert "Votre sélection : Creuse" in creuse and len(creuse) < len(everything)  # personalised copies
    for path in (html, text, out / "mail", out / "veille.db"):
        assert str(path) in result.stdout
    assert "veille serve --db" in result.stdout
    # The directory of actors the news names, as `veille actors` lists it.
    actors = db["acteurs"].count
    assert actors >= 10 and f"veille actors --db {out / 'veille.db'} ({actors} acteur(s)" in result.stdout
    listed = run_veille("actors", "--json", "--db", str(out / "veille.db"), "--config", str(ROOT / "config"))
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(rows) == actors and "France Travail" in {row["name"] for row in rows}

    # The demo plays the curator: the week's status before and after its approval by « demo ».
    week = html.stem.removeprefix("bulletin-")
    (approval,) = db["approvals"].rows
    assert (approval["week"], approval["approved_by"]) == (week, "demo")
    headline = f"Semaine {week} : {approval['items_in']} article(s) dans le bulletin."
    assert f"  {headline} Pas encore validé.\n  {headline} Validé par demo le " in result.stdout
    status = run_veille("bulletin", "status", "--week", week, "--db", str(out / "veille.db"),
                        "--config", str(ROOT / "config"))
    assert status.stdout.startswith(f"{headline} Validé par demo le ") and "Prêt à envoyer." in status.stdout

    # `veille bulletin plan` agrees item for item with the bulletin the demo built.
    plan = [json.loads(line) for line in run_veille(
        "bulletin", "plan", "--week", week, "--json", "--db", str(out / "veille.db"),
        "--config", str(ROOT / "config")).stdout.splitlines()]
    assert len(plan) == db["items"].count
    linked = set(re.findall(r'<h3[^>]*><a href="([^"]+)"', html.read_text(encoding="utf-8")))
    assert linked and linked == {row["url"] for row in plan if row["in_bulletin"]}
    assert all(row["reason"] for row in plan if not row["in_bulletin"])


def test_demo_rerun_starts_clean(tmp_path):
    out = tmp_path / "out"
    run_veille("demo", "--out", str(out), "--config", str(ROOT / "config"), timeout=300)
    (out / "keep.txt").write_text("not the demo's", encoding="utf-8")
    run_veille("demo", "--out", str(out), "--config", str(ROOT / "config"), timeout=300)
    assert len(list((out / "mail").glob("*.eml"))) == 3  # not 6: the previous run's outputs were replaced
    assert (out / "keep.txt").exists()
