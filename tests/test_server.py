"""`veille serve`: a real Datasette on the archive with Veille's plugin, queried in process."""

from __future__ import annotations

import re
from html import unescape

import pytest

from newsletter.subscribers import active_subscribers, add_subscriber, open_subscribers_db
from newsletter.unsubscribe import unsubscribe_token
from pipeline.archive import insert_item, open_db
from tests.conftest import ROOT, free_port, wait_for_port
from config.loading import load_config
from veille import curators
from veille.server import make_datasette

SECRET = "secret-de-test-7f3a9c"
PASSWORD = "mot-de-passe-de-marie"


@pytest.fixture
def site(tmp_path, monkeypatch):
    db = open_db(tmp_path / "veille.db")
    insert_item(db, {"url": "https://example.org/a", "raw_url": "https://example.org/a", "source_id": "s",
                     "title": "Chantier d'insertion à Guéret", "text": "Un atelier chantier d'insertion ouvre."})
    db.close()
    subscribers = open_subscribers_db(tmp_path / "subscribers.db")
    anne = add_subscriber(subscribers, "anne@example.org", "Anne")
    (tmp_path / "bulletins").mkdir()
    (tmp_path / "bulletins" / "bulletin-2026-W48.html").write_text("<h1>Bulletin 48</h1>", encoding="utf-8")
    (tmp_path / "bulletins" / "bulletin-2026-W48.txt").write_text("Bulletin 48", encoding="utf-8")
    monkeypatch.setenv("VEILLE_SECRET", SECRET)  # secrets reach the plugin as in production
    monkeypatch.delenv("VEILLE_CURATOR_PASSWORD", raising=False)
    datasette = make_datasette(load_config(ROOT / "config"), tmp_path / "veille.db", tmp_path / "subscribers.db",
                               tmp_path / "bulletins")
    return datasette, subscribers, anne


@pytest.mark.asyncio
async def test_archive_is_browsable_and_searchable_but_not_the_subscribers(site):
    datasette, _, _ = site
    response = await datasette.client.get("/veille/items.json?_search=gueret&_shape=array")
    assert [r["url"] for r in response.json()] == ["https://example.org/a"]
    assert [d["name"] for d in (await datasette.client.get("/-/databases.json")).json()] == ["veille"]
    assert (await datasette.client.get("/subscribers")).status_code == 404
    sql = await datasette.client.get("/veille.json?sql=select+*+from+sqlite_master&_shape=array")
    assert "subscribers" not in sql.text


@pytest.mark.asyncio
async def test_one_click_unsubscribe(site):
    datasette, subscribers, anne = site
    token = unsubscribe_token(SECRET, anne.id, anne.email)
    page = await datasette.client.get(f"/-/unsubscribe/{token}")
    assert page.status_code == 200 and "Confirmer le désabonnement" in page.text and "anne@example.org" in page.text
    assert len(active_subscribers(subscribers)) == 1  # a GET changes nothing (link scanners)
    done = await datasette.client.post(f"/-/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "Désabonnement confirmé" in done.text
    assert active_subscribers(subscribers) == []
    again = await datasette.client.get(f"/-/unsubscribe/{token}")
    assert "Déjà désabonné" in again.text


@pytest.mark.asyncio
async def test_forged_unsubscribe_links_are_refused(site):
    datasette, subscribers, anne = site
    for token in (f"{anne.id}.forged", "99.x", unsubscribe_token("another-secret", anne.id, anne.email)):
        response = await datasette.client.post(f"/-/unsubscribe/{token}")
        assert response.status_code == 400 and "invalide" in response.text
    assert len(active_subscribers(subscribers)) == 1


@pytest.mark.asyncio
async def test_bulletins_archive(site):
    datasette, _, _ = site
    index = await datasette.client.get("/-/bulletins")
    assert "2026-W48" in index.text and "/-/bulletins/bulletin-2026-W48.html" in index.text
    assert "Bulletin 48" in (await datasette.client.get("/-/bulletins/bulletin-2026-W48.html")).text
    assert (await datasette.client.get("/-/bulletins/bulletin-2026-W48.txt")).text == "Bulletin 48"
    assert (await datasette.client.get("/-/bulletins/..%2Fsubscribers.db")).status_code == 404


async def login(datasette, password, name="marie"):
    page = await datasette.client.get("/-/curation/login")
    csrf = page.cookies["ds_csrftoken"]
    token = re.search(r'name="csrftoken" value="([^"]+)"', page.text)[1]
    response = await datasette.client.post("/-/curation/login",
                                           data={"csrftoken": token, "name": name, "password": password},
                                           cookies={"ds_csrftoken": csrf})
    return response, {"ds_csrftoken": csrf, **({"veille_session": response.cookies["veille_session"]}
                                                if response.cookies.get("veille_session") else {})}


def page_text(html: str) -> str:
    """What a person reads: the page's text without its tags."""
    return " ".join(unescape(re.sub(r"<[^>]+>", "", html)).split())


def csrf_token(page) -> str:
    return re.search(r'name="csrftoken" value="([^"]+)"', page.text)[1]


@pytest.fixture
def curation_site(tmp_path, monkeypatch):
    from pipeline.tagging import tag_items

    config = load_config(ROOT / "config")
    db = open_db(tmp_path / "veille.db")
    item = insert_item(db, {"url": "https://example.org/plie", "raw_url": "x", "source_id": "s",
                            "title": "Le PLIE de Bordeaux accompagne les jeunes",
                            "text": "Le PLIE accompagne les jeunes demandeurs d'emploi de Bordeaux.",
                            "first_seen_at": "2026-11-24T10:00:00+00:00"})
    tag_items(db, config.taxonomy)
    accounts = curators.open_curators_db(tmp_path / "subscribers.db")
    curators.add_curator(accounts, "marie", PASSWORD)
    curators.add_curator(accounts, "paul", "mot-de-passe-de-paul")
    monkeypatch.setenv("VEILLE_SECRET", SECRET)
    monkeypatch.delenv("VEILLE_CURATOR_PASSWORD", raising=False)
    datasette = make_datasette(load_config(ROOT / "config"), tmp_path / "veille.db", tmp_path / "subscribers.db",
                               tmp_path / "bulletins")
    return datasette, db, item, accounts


@pytest.mark.asyncio
async def test_curation_needs_a_login(curation_site):
    datasette, _, _, accounts = curation_site
    assert (await datasette.client.get("/-/curation?week=2026-W48")).status_code == 302
    refused, cookies = await login(datasette, "devine-devine")
    assert refused.status_code == 403 and "Nom ou mot de passe incorrect" in refused.text
    assert "veille_session" not in cookies
    unknown, cookies = await login(datasette, PASSWORD, name="inconnue")
    assert unknown.status_code == 403 and "Nom ou mot de passe incorrect" in unknown.text
    accepted, cookies = await login(datasette, PASSWORD, name="Marie")  # names ignore capitals
    assert accepted.status_code == 302 and "veille_session" in cookies
    cookie = accepted.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    # The cookie carries the session's random id only; the database keeps its hash, not the id.
    assert "marie" not in cookies["veille_session"]
    stored = [row["id_hash"] for row in accounts["curator_sessions"].rows]
    assert len(stored) == 1 and cookies["veille_session"] not in stored
    page = await datasette.client.get("/-/curation?week=2026-W48", cookies=cookies)
    assert page.status_code == 200 and "Le PLIE de Bordeaux accompagne les jeunes" in page_text(page.text)
    assert "Dans le bulletin" in page.text and '<strong class="curator-name">marie</strong>' in page.text
    actor = await datasette.client.get("/-/actor.json", cookies=cookies)
    assert actor.json()["actor"]["id"] == "curator:marie"


@pytest.mark.asyncio
async def test_an_old_session_is_refused_after_logout_and_after_a_password_change(curation_site):
    datasette, _, _, accounts = curation_site
    _, cookies = await login(datasette, PASSWORD)
    page = await datasette.client.get("/-/curation?week=2026-W48", cookies=cookies)
    assert page.status_code == 200
    out = await datasette.client.post("/-/curation/logout", cookies=cookies, data={"csrftoken": csrf_token(page)})
    assert out.status_code == 302 and out.headers["location"] == "/-/curation/login"
    assert (await datasette.client.get("/-/curation?week=2026-W48", cookies=cookies)).status_code == 302
    assert accounts["curator_sessions"].count == 0

    _, cookies = await login(datasette, PASSWORD)
    _, other_device = await login(datasette, PASSWORD)
    _, paul = await login(datasette, "mot-de-passe-de-paul", name="paul")
    for session in (cookies, other_device, paul):
        assert (await datasette.client.get("/-/curation", cookies=session)).status_code == 200
    curators.set_password(accounts, "marie", "un-tout-nouveau-mot-de-passe")
    for session in (cookies, other_device):
        assert (await datasette.client.get("/-/curation", cookies=session)).status_code == 302
    assert (await datasette.client.get("/-/curation", cookies=paul)).status_code == 200  # hers only
    assert (await login(datasette, PASSWORD))[0].status_code == 403
    curators.remove_curator(accounts, "paul")
    assert (await datasette.client.get("/-/curation", cookies=paul)).status_code == 302


@pytest.mark.asyncio
async def test_an_expired_session_is_refused(curation_site, monkeypatch):
    from datetime import timedelta

    datasette, _, _, _ = curation_site
    _, cookies = await login(datasette, PASSWORD)
    assert (await datasette.client.get("/-/curation", cookies=cookies)).status_code == 200
    later = curators.now_utc() + curators.SESSION_DURATION + timedelta(seconds=1)
    monkeypatch.setattr(curators, "now_utc", lambda: later)
    assert (await datasette.client.get("/-/curation", cookies=cookies)).status_code == 302
    forged = {**cookies, "veille_session": "pas-une-session"}
    assert (await datasette.client.get("/-/curation", cookies=forged)).status_code == 302


@pytest.mark.asyncio
async def test_the_sixth_attempt_is_refused_even_with_the_right_password_until_the_lock_ends(
        curation_site, monkeypatch):
    from datetime import timedelta

    datasette, _, _, _ = curation_site
    start = curators.now_utc()
    monkeypatch.setattr(curators, "now_utc", lambda: start)
    for attempt in range(1, 6):
        refused, cookies = await login(datasette, f"mauvais-mot-de-passe-{attempt}")
        assert refused.status_code == (429 if attempt == 5 else 403) and "veille_session" not in cookies
    assert "bloquée pendant encore 15 minutes" in refused.text
    locked, cookies = await login(datasette, PASSWORD)
    assert locked.status_code == 429 and "veille_session" not in cookies
    assert "Trop d'essais infructueux" in unescape(locked.text) and "même avec le bon mot de passe" in locked.text
    # The same address is locked for the other accounts too.
    assert (await login(datasette, "mot-de-passe-de-paul", name="paul"))[0].status_code == 429
    monkeypatch.setattr(curators, "now_utc", lambda: start + timedelta(minutes=14))
    locked, _ = await login(datasette, PASSWORD)
    assert locked.status_code == 429 and "encore 1 minute," in locked.text
    monkeypatch.setattr(curators, "now_utc", lambda: start + curators.LOCK_DURATION)
    accepted, cookies = await login(datasette, PASSWORD)
    assert accepted.status_code == 302 and "veille_session" in cookies


@pytest.mark.asyncio
async def test_curation_actions_are_curator_decisions(curation_site):
    from pipeline.archive import effective_tags

    datasette, db, item, _ = curation_site
    _, cookies = await login(datasette, PASSWORD)
    page = await datasette.client.get("/-/curation?week=2026-W48", cookies=cookies)
    token = csrf_token(page)

    async def act(**fields):
        response = await datasette.client.post(f"/-/curation/items/{item}", cookies=cookies,
                                               data={"csrftoken": token, "week": "2026-W48", **fields})
        assert response.status_code == 302, response.text
        return response

    await act(add="dispositifs:fse")
    await act(remove="dispositifs:plie")
    await act(highlight="1")
    await act(note="Une initiative à suivre.")
    tags = effective_tags(db, [item])[item]
    assert "fse" in tags["dispositifs"] and "plie" not in tags["dispositifs"]
    row = db["curation"].get(item)
    assert (row["highlight"], row["note"], row["curator"]) == (1, "Une initiative à suivre.", "marie")
    by = {(r["facet"], r["value"], r["action"]): r["curator"] for r in db["tags"].rows_where("origin = 'curator'")}
    assert by == {("dispositifs", "fse", "add"): "marie", ("dispositifs", "plie", "remove"): "marie"}
    _, paul = await login(datasette, "mot-de-passe-de-paul", name="paul")
    response = await datasette.client.post(f"/-/curation/items/{item}", cookies=paul,
                                           data={"csrftoken": csrf_token(await datasette.client.get(
                                               "/-/curation", cookies=paul)), "week": "2026-W48", "reject": "1"})
    assert response.status_code == 302
    assert (db["curation"].get(item)["rejected"], db["curation"].get(item)["curator"]) == (1, "paul")
    forged = await datasette.client.post(f"/-/curation/items/{item}", cookies=cookies, data={"highlight": "0"})
    assert forged.status_code == 403  # no CSRF token
    anonymous = await datasette.client.post(f"/-/curation/items/{item}", data={"csrftoken": token, "highlight": "0"},
                                            cookies={"ds_csrftoken": cookies["ds_csrftoken"]})
    assert anonymous.status_code == 302 and anonymous.headers["location"] == "/-/curation/login"
    assert db["curation"].get(item)["highlight"] == 1


@pytest.mark.asyncio
async def test_bad_input_gets_a_french_400_or_404_never_a_500(curation_site, capsys):
    datasette, _, item, _ = curation_site
    _, cookies = await login(datasette, PASSWORD)
    token = csrf_token(await datasette.client.get("/-/curation", cookies=cookies))
    unknown = await datasette.client.get("/-/curation/whatever", cookies=cookies)
    assert unknown.status_code == 404 and "Page introuvable" in unknown.text and 'lang="fr"' in unknown.text
    for path in ("/-/curation/items/99999999999999999999999", "/-/curation/items/0", "/-/curation/items/123456"):
        response = await datasette.client.post(path, cookies=cookies, data={"csrftoken": token, "highlight": "1"})
        assert response.status_code == 404 and "Article introuvable" in response.text, path
    bad_tag = await datasette.client.post(f"/-/curation/items/{item}", cookies=cookies,
                                          data={"csrftoken": token, "add": "pas-une-etiquette"})
    assert bad_tag.status_code == 400 and "aucun lieu de la région ne s'appelle « pas-une-etiquette »" in page_text(
        bad_tag.text)
    bad_week = await datasette.client.get("/-/curation?week=2026-W99", cookies=cookies)
    assert bad_week.status_code == 200 and 'class="error"' in bad_week.text
    for path in ("/-/unsubscribe/99999999999999999999999.x", "/-/unsubscribe/" + "9" * 5000 + ".x",
                 "/-/unsubscribe/a%00b", "/-/unsubscribe/"):
        response = await datasette.client.get(path)
        assert response.status_code == 400 and "Lien de désabonnement invalide" in response.text, path
        assert (await datasette.client.post(path)).status_code == 400, path
    for path in ("/-/bulletins/..%2Fsubscribers.db", "/-/bulletins/a/b", "/veille/nowhere", "/nowhere"):
        response = await datasette.client.get(path)
        assert response.status_code == 404 and "n'existe pas" in unescape(response.text), path
    json_404 = await datasette.client.get("/veille/nowhere.json")
    assert json_404.status_code == 404 and json_404.json()["ok"] is False
    assert "500" not in capsys.readouterr().err


@pytest.mark.asyncio
async def test_curation_is_closed_without_an_account(site):
    datasette, _, _ = site
    page = await datasette.client.get("/-/curation/login")
    assert "La curation est fermée" in page.text and "veille curators add" in page.text
    assert 'name="password"' not in page.text
    posted = await datasette.client.post("/-/curation/login", data={"name": "marie", "password": PASSWORD})
    assert posted.status_code == 403 and not posted.cookies.get("veille_session")


def test_curator_works_in_a_real_browser(tmp_path):
    """`veille serve` in a subprocess, driven by headless Chromium: log in, put an item "À la une"."""
    import subprocess
    import sys

    from playwright.sync_api import sync_playwright

    from pipeline.tagging import tag_items
    from tests.test_bulletin import CHROMIUM

    config = load_config(ROOT / "config")
    db = open_db(tmp_path / "veille.db")
    item = insert_item(db, {"url": "https://example.org/plie", "raw_url": "x", "source_id": "s",
                            "title": "Le PLIE de Bordeaux accompagne les jeunes", "text": "Le PLIE accompagne.",
                            "first_seen_at": "2026-11-24T10:00:00+00:00"})
    tag_items(db, config.taxonomy)
    curators.add_curator(curators.open_curators_db(tmp_path / "subscribers.db"), "marie", PASSWORD)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "veille", "serve", "--db", str(tmp_path / "veille.db"), "--port", str(port),
         "--subscribers-db", str(tmp_path / "subscribers.db"), "--bulletins", str(tmp_path / "bulletins")],
        cwd=ROOT, env={**__import__("os").environ, "VEILLE_SECRET": SECRET},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/-/curation?week=2026-W48")
            page.fill("input[name=name]", "marie")
            page.fill("input[name=password]", PASSWORD)
            page.click("text=Se connecter")
            page.goto(f"http://127.0.0.1:{port}/-/curation?week=2026-W48")
            page.wait_for_selector(".curator-name >> text=marie")
            page.click(f"#item-{item} >> text=À la une")
            page.wait_for_selector(f"#item-{item} >> text=Retirer de la une")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)
    decision = open_db(tmp_path / "veille.db")["curation"].get(item)
    assert (decision["highlight"], decision["curator"]) == (1, "marie")


def test_plugin_stands_alone_under_a_plain_datasette(tmp_path):
    """`datasette veille.db -m metadata.json`, not `veille serve`: the plugin is found through its entry
    point and configured through Datasette's plugin configuration, secrets from the environment."""
    import json
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    db = open_db(tmp_path / "veille.db")
    db.close()
    subscribers = open_subscribers_db(tmp_path / "subscribers.db")
    anne = add_subscriber(subscribers, "anne@example.org", "Anne")
    curators.add_curator(curators.open_curators_db(tmp_path / "subscribers.db"), "marie", PASSWORD)
    token = unsubscribe_token(SECRET, anne.id, anne.email)
    metadata = {"plugins": {"veille": {
        "config": str(ROOT / "config"), "subscribers_db": str(tmp_path / "subscribers.db"),
        "bulletins": str(tmp_path / "bulletins"), "secret": {"$env": "PLAIN_DATASETTE_SECRET"}}}}
    (tmp_path / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    port = free_port()
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("VEILLE_")}
    server = subprocess.Popen(
        [sys.executable, "-m", "datasette", str(tmp_path / "veille.db"), "-m", str(tmp_path / "metadata.json"),
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=tmp_path, env={**env, "PLAIN_DATASETTE_SECRET": SECRET},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"

    def fetch(path, data=None):
        try:
            with urllib.request.urlopen(base + path, data=data, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    try:
        wait_for_port(port)
        status, page = fetch("/-/curation/login")
        assert status == 200 and 'name="name"' in page and 'name="password"' in page
        assert "La curation est fermée" not in page
        status, page = fetch(f"/-/unsubscribe/{token}")
        assert status == 200 and "Confirmer le désabonnement" in page
        assert fetch(f"/-/unsubscribe/{anne.id}.forged")[0] == 400
        status, page = fetch(f"/-/unsubscribe/{token}", data=b"List-Unsubscribe=One-Click")
        assert status == 200 and "Désabonnement confirmé" in page
        assert fetch("/-/bulletins")[0] == 200
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=10)
    assert active_subscribers(subscribers) == [], errors


@pytest.mark.asyncio
async def test_a_plugin_that_cannot_read_its_configuration_says_so_plainly(tmp_path, capsys):
    from datasette.app import Datasette

    open_db(tmp_path / "veille.db").close()
    datasette = Datasette([str(tmp_path / "veille.db")],
                          metadata={"plugins": {"veille": {"config": str(tmp_path / "nowhere")}}})
    response = await datasette.client.get("/-/bulletins")
    assert response.status_code == 503 and "pas configurée" in response.text
    assert "nowhere" not in response.text  # no detail of the server's files for a visitor
    assert "dossier de configuration introuvable" in capsys.readouterr().err
    assert (await datasette.client.get("/veille/items.json")).status_code == 200  # the archive still serves


class _NoRedirect(__import__("urllib.request").request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.mark.parametrize("command", ["veille serve", "datasette"])
def test_a_failing_server_never_prints_the_secret_nor_a_password(tmp_path, command):
    """A real server in a subprocess (`veille serve`, and a plain `datasette`, which installs rich's
    tracebacks with local variables), sent requests crafted to make each plugin route fail: bad
    input gets a French 400/404, a broken subscribers database a French 500, and the server's output
    one line per error, never the signing secret nor the password that was being checked."""
    import json
    import os
    import subprocess
    import sys
    import urllib.error
    import urllib.parse
    import urllib.request
    from http.cookiejar import CookieJar

    open_db(tmp_path / "veille.db").close()
    subscribers = open_subscribers_db(tmp_path / "subscribers.db")
    anne = add_subscriber(subscribers, "anne@example.org", "Anne")
    curators.add_curator(curators.open_curators_db(tmp_path / "subscribers.db"), "marie", PASSWORD)
    subscribers.close()
    (tmp_path / "bulletins").mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEILLE_")}
    if command == "datasette":
        metadata = {"plugins": {"veille": {"config": str(ROOT / "config"), "bulletins": str(tmp_path / "bulletins"),
                                           "subscribers_db": str(tmp_path / "subscribers.db"),
                                           "secret": {"$env": "VEILLE_SECRET"}}}}
        (tmp_path / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
        args = ["-m", "datasette", str(tmp_path / "veille.db"), "-m", str(tmp_path / "metadata.json"),
                "-h", "127.0.0.1", "-p", str(port)]
        env["DATASETTE_SECRET"] = SECRET
    else:
        args = ["-m", "veille", "serve", "--db", str(tmp_path / "veille.db"), "--port", str(port),
                "--subscribers-db", str(tmp_path / "subscribers.db"), "--bulletins", str(tmp_path / "bulletins")]
    with open(tmp_path / "out.txt", "w") as out, open(tmp_path / "err.txt", "w") as err:
        server = subprocess.Popen([sys.executable, *args], cwd=ROOT, env={**env, "VEILLE_SECRET": SECRET},
                                  stdout=out, stderr=err)
    base = f"http://127.0.0.1:{port}"
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)

    def fetch(path, data=None):
        body = urllib.parse.urlencode(data).encode() if isinstance(data, dict) else data
        try:
            with opener.open(base + path, data=body, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    try:
        wait_for_port(port)
        status, page = fetch("/-/curation/login")
        token = re.search(r'name="csrftoken" value="([^"]+)"', page)[1]
        form = {"csrftoken": token, "name": "marie"}
        for path, data, expected in [
            ("/-/curation/whatever", None, 404),
            ("/-/curation/login", {**form, "password": "x" * 5000}, 403),
            ("/-/curation/login", f"csrftoken={token}&name=marie&password=".encode() + b"\xff\xfe", 400),
            ("/-/curation/items/99999999999999999999999", form, 302),  # not logged in yet
            ("/-/unsubscribe/99999999999999999999999.x", None, 400),
            ("/-/unsubscribe/99999999999999999999999.x", b"List-Unsubscribe=One-Click", 400),
            ("/-/unsubscribe/%00", None, 400),
            ("/-/bulletins/..%2F..%2Fsubscribers.db", None, 404),
            ("/-/bulletins/bulletin-2026-W01.html/x", None, 404),
        ]:
            status, page = fetch(path, data)
            assert status == expected and (status == 302 or 'lang="fr"' in page), (path, status, page)
        assert fetch("/-/curation/login", {**form, "password": PASSWORD})[0] == 302
        for path in ("/-/curation/items/99999999999999999999999", "/-/curation/items/0"):
            status, page = fetch(path, {**form, "highlight": "1"})
            assert status == 404 and "Article introuvable" in page, path
        status, page = fetch("/-/curation/items/abc", form)
        assert status == 404 and "Page introuvable" in page
        # A subscribers database that can no longer be read: a 500, in French, and one line in the log.
        for suffix in ("", "-wal", "-shm"):
            (tmp_path / f"subscribers.db{suffix}").unlink(missing_ok=True)
        (tmp_path / "subscribers.db").write_bytes(b"plus une base SQLite " * 200)
        status, page = fetch("/-/curation/login", {**form, "password": PASSWORD})
        assert status == 500 and "Erreur du serveur" in page and "consignée" in unescape(page)
        status, page = fetch(f"/-/unsubscribe/{unsubscribe_token(SECRET, anne.id, anne.email)}")
        assert status == 500 and "Erreur du serveur" in page
    finally:
        server.terminate()
        server.wait(timeout=10)
    output = (tmp_path / "out.txt").read_text() + (tmp_path / "err.txt").read_text()
    assert "veille : 500 DatabaseError sur POST /-/curation/login" in output, output
    assert "veille : 500 DatabaseError sur GET /-/unsubscribe/" in output, output
    for secret in (SECRET, PASSWORD):
        assert secret not in output, output
    assert "Traceback" not in output and "locals" not in output, output


# ------------------------------------------------------------------ the review workspace

CODES = re.compile(r"\b\d{5}\b|\b\d{9}\b")  # INSEE commune codes, SIREN of EPCI


@pytest.mark.asyncio
async def test_the_workspace_reads_names_origins_and_decisions_never_codes(curation_site):
    datasette, db, item, _ = curation_site
    _, cookies = await login(datasette, PASSWORD)
    page = await datasette.client.get("/-/curation?week=2026-W48", cookies=cookies)
    text = page_text(page.text)
    assert "Bordeaux" in text and "Gironde (33)" in text and "Bordeaux Métropole" in text
    assert "PLIE" in text and "Dans le bulletin · " in text
    assert not CODES.search(text), CODES.search(text)
    assert 'title="règles"' in page.text  # each tag's origin
    assert '<mark data-tags="dispositifs:plie">PLIE</mark>' in page.text  # the words behind the tag
    assert "Pas encore validé" in text and "Valider le bulletin de la semaine" in text
    filtered = await datasette.client.get("/-/curation?week=2026-W48&scope=out", cookies=cookies)
    assert "Aucun article ne correspond à ces filtres" in page_text(filtered.text)
    empty = await datasette.client.get("/-/curation?week=2026-W40", cookies=cookies)
    assert "Aucun article collecté cette semaine" in page_text(empty.text)


async def _decide(datasette, cookies, item, page, **fields):
    version = re.search(rf'id="f{item}"[^>]*>.*?name="version" value="([^"]+)"', page.text, re.S)[1]
    return await datasette.client.post(
        f"/-/curation/items/{item}", cookies=cookies, headers={"accept": "application/json"},
        data={"csrftoken": csrf_token(page), "week": "2026-W48", "back": "week=2026-W48", "version": version,
              **fields})


@pytest.mark.asyncio
async def test_a_decision_without_reload_answers_the_changed_items_and_the_approval(curation_site):
    datasette, db, item, _ = curation_site
    _, cookies = await login(datasette, PASSWORD)
    page = await datasette.client.get("/-/curation?week=2026-W48", cookies=cookies)
    answer = await _decide(datasette, cookies, item, page, add="Guéret")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["ok"] and list(body["items"]) == [str(item)]
    assert "Guéret" in page_text(body["items"][str(item)]) and "Creuse (23)" in page_text(body["items"][str(item)])
    assert "23096" in effective_tags_of(db, item)["communes"]
    # The page it came from is now stale: the same form is refused, nothing saved.
    stale = await _decide(datasette, cookies, item, page, highlight="1")
    assert stale.status_code == 409 and "a changé depuis l'affichage" in stale.json()["error"]
    assert "Retirer de la une" not in stale.json()["items"][str(item)]
    assert (db["curation"].get(item)["highlight"] or 0) == 0
    # Several places bear the name: she picks, nothing is saved meanwhile.
    fresh = await datasette.client.get("/-/curation?week=2026-W48", cookies=cookies)
    several = await _decide(datasette, cookies, item, fresh, add="Mazerolles")
    assert several.status_code == 400 and len(several.json()["choices"]) == 5
    assert "Mazerolles (86153) · Vienne" in [c["label"] for c in several.json()["choices"]]
    assert "communes" not in effective_tags_of(db, item) or "86153" not in effective_tags_of(db, item)["communes"]
    # The nature select goes with every button of the item's form: only « Changer la nature » applies it.
    highlighted = await _decide(datasette, cookies, item, fresh, highlight="1", nature="etude")
    assert highlighted.status_code == 200 and "Dans le bulletin · À la une" in page_text(
        highlighted.json()["items"][str(item)])
    assert effective_tags_of(db, item)["nature"] != ["etude"]
    fresh = await datasette.client.get("/-/curation?week=2026-W48", cookies=cookies)
    nature = await _decide(datasette, cookies, item, fresh, nature="etude", do="nature")
    assert nature.status_code == 200 and effective_tags_of(db, item)["nature"] == ["etude"]


def effective_tags_of(db, item):
    from pipeline.archive import effective_tags

    return effective_tags(db, [item])[item]


@pytest.mark.asyncio
async def test_without_javascript_a_name_several_places_bear_offers_a_choice(curation_site):
    datasette, db, item, _ = curation_site
    _, cookies = await login(datasette, PASSWORD)
    page = await datasette.client.get("/-/curation?week=2026-W48", cookies=cookies)
    version = re.search(r'name="version" value="([^"]+)"', page.text)[1]
    form = {"csrftoken": csrf_token(page), "week": "2026-W48", "back": "week=2026-W48&scope=in", "version": version}
    choices = await datasette.client.post(f"/-/curation/items/{item}", cookies=cookies, data={**form, "add": "Mazerolles"})
    assert choices.status_code == 400 and "Plusieurs étiquettes ou lieux s'appellent « Mazerolles »" in page_text(
        choices.text)
    assert 'name="add" value="communes:86153"' in choices.text and "Rien n'a été enregistré" in page_text(choices.text)
    picked = await datasette.client.post(f"/-/curation/items/{item}", cookies=cookies,
                                         data={**form, "add": "communes:86153"})
    assert picked.status_code == 302 and picked.headers["location"].startswith("/-/curation?week=2026-W48&scope=in&ok=")
    assert "86153" in effective_tags_of(db, item)["communes"]
    by = db.execute("SELECT curator FROM tags WHERE item_id = ? AND value = '86153'", [item]).fetchone()[0]
    assert by == "marie"
    elsewhere = await datasette.client.post(f"/-/curation/items/{item}", cookies=cookies,
                                            data={**form, "version": "", "back": "https://evil.example/",
                                                  "highlight": "1"})
    assert elsewhere.status_code == 302 and elsewhere.headers["location"].startswith("/-/curation?week=2026-W48")


@pytest.mark.asyncio
async def test_suggestions_preview_and_static_files_need_a_login_where_they_show_the_week(curation_site):
    datasette, _, _, _ = curation_site
    assert (await datasette.client.get("/-/curation/suggest?q=Gu%C3%A9r")).status_code == 401
    for path in ("/-/curation/preview?week=2026-W48", "/-/curation/preview/copy?week=2026-W48"):
        response = await datasette.client.get(path)
        assert response.status_code == 302 and response.headers["location"] == "/-/curation/login", path
    assert (await datasette.client.get("/-/curation/static/curation.js")).status_code == 200
    assert (await datasette.client.get("/-/curation/static/other.js")).status_code == 404
    _, cookies = await login(datasette, PASSWORD)
    suggestions = (await datasette.client.get("/-/curation/suggest?q=Gu%C3%A9r", cookies=cookies)).json()
    assert suggestions[0] == {"spec": "communes:23096", "label": "Guéret (23096) · Creuse"}
    preview = await datasette.client.get("/-/curation/preview?week=2026-W48&departement=33&themes=publics",
                                         cookies=cookies)
    text = page_text(preview.text)
    assert preview.status_code == 200 and "Ko de HTML (limite 100 Ko" in text and "Attention" not in text
    assert 'src="/-/curation/preview/copy?week=2026-W48&amp;departement=33&amp;themes=publics"' in preview.text
    copy = await datasette.client.get("/-/curation/preview/copy?week=2026-W48&departement=33&themes=publics",
                                      cookies=cookies)
    assert copy.status_code == 200 and "Le PLIE de Bordeaux accompagne les jeunes" in page_text(copy.text)
    assert "sandbox" in copy.headers["content-security-policy"]
    elsewhere = await datasette.client.get("/-/curation/preview/copy?week=2026-W48&departement=87", cookies=cookies)
    assert "Le PLIE de Bordeaux" not in page_text(elsewhere.text)  # a Gironde item: not in a Haute-Vienne copy


@pytest.mark.asyncio
async def test_approving_the_week_from_the_page_and_a_later_decision(curation_site):
    from pipeline.approval import approval_status

    datasette, db, item, _ = curation_site
    config = load_config(ROOT / "config")
    _, cookies = await login(datasette, PASSWORD)
    page = await datasette.client.get("/-/curation?week=2026-W48", cookies=cookies)
    approved = await datasette.client.post("/-/curation/approve", cookies=cookies,
                                           data={"csrftoken": csrf_token(page), "week": "2026-W48"})
    assert approved.status_code == 302 and "valid%C3%A9%20par%20marie" in approved.headers["location"]
    status = approval_status(db, "2026-W48", config.settings.tz, 30)
    assert status.ready and status.approved_by == "marie"
    page = await datasette.client.get("/-/curation?week=2026-W48", cookies=cookies)
    assert "Validé par marie" in page_text(page.text) and "Valider le bulletin de la semaine" not in page.text
    answer = await _decide(datasette, cookies, item, page, highlight="1")
    assert "Valider le bulletin de la semaine" in answer.json()["status"]  # asks for a new approval
    assert approval_status(db, "2026-W48", config.settings.tz, 30).changed
    empty = await datasette.client.post("/-/curation/approve", cookies=cookies,
                                        data={"csrftoken": csrf_token(page), "week": "2026-W40"})
    assert empty.status_code == 400 and "Validation refusée" in page_text(empty.text)
    assert approval_status(db, "2026-W40", config.settings.tz, 30).approved_by is None
    anonymous = await datasette.client.post("/-/curation/approve", data={"csrftoken": csrf_token(page),
                                                                         "week": "2026-W48"},
                                            cookies={"ds_csrftoken": cookies["ds_csrftoken"]})
    assert anonymous.status_code == 302 and anonymous.headers["location"] == "/-/curation/login"


@pytest.mark.asyncio
async def test_the_preview_warns_when_a_copy_would_pass_the_size_gmail_clips_at(tmp_path, config_dir, monkeypatch):
    import yaml

    from pipeline.tagging import tag_items

    settings = yaml.safe_load((config_dir / "settings.yaml").read_text(encoding="utf-8"))
    settings["bulletin"] = {"section_cap": 200}
    (config_dir / "settings.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    config = load_config(config_dir)
    db = open_db(tmp_path / "veille.db")
    for n in range(150):
        insert_item(db, {"url": f"https://example.org/{n}", "raw_url": "x", "source_id": "s",
                         "title": f"Le PLIE de Bordeaux accompagne les jeunes demandeurs d'emploi, épisode {n}",
                         "text": "Le PLIE accompagne les jeunes demandeurs d'emploi de Bordeaux. " * 8,
                         "first_seen_at": "2026-11-24T10:00:00+00:00"})
    tag_items(db, config.taxonomy)
    curators.add_curator(curators.open_curators_db(tmp_path / "subscribers.db"), "marie", PASSWORD)
    monkeypatch.setenv("VEILLE_SECRET", SECRET)
    datasette = make_datasette(config, tmp_path / "veille.db", tmp_path / "subscribers.db", tmp_path / "bulletins")
    _, cookies = await login(datasette, PASSWORD)
    preview = await datasette.client.get("/-/curation/preview?week=2026-W48", cookies=cookies)
    text = page_text(preview.text)
    assert "cet exemplaire dépasserait la limite ; il est raccourci pour l'envoi" in text, text
    moved = int(re.search(r"\((\d+) article\(s\) de moins", text)[1])
    assert moved > 0
    copy = await datasette.client.get("/-/curation/preview/copy?week=2026-W48", cookies=cookies)
    assert len(copy.content) <= 100_000
