"""`veille serve`: a real Datasette on the archive with Veille's plugin, queried in process."""

from __future__ import annotations

import pytest

from newsletter.subscribers import active_subscribers, add_subscriber, open_subscribers_db
from newsletter.unsubscribe import unsubscribe_token
from pipeline.archive import insert_item, open_db
from tests.conftest import ROOT
from veille.config import load_config
from veille.server import make_datasette

SECRET = "secret-de-test"


@pytest.fixture
def site(tmp_path):
    db = open_db(tmp_path / "veille.db")
    insert_item(db, {"url": "https://example.org/a", "raw_url": "https://example.org/a", "source_id": "s",
                     "title": "Chantier d'insertion à Guéret", "text": "Un atelier chantier d'insertion ouvre."})
    db.close()
    subscribers = open_subscribers_db(tmp_path / "subscribers.db")
    anne = add_subscriber(subscribers, "anne@example.org", "Anne")
    (tmp_path / "bulletins").mkdir()
    (tmp_path / "bulletins" / "bulletin-2026-W48.html").write_text("<h1>Bulletin 48</h1>", encoding="utf-8")
    (tmp_path / "bulletins" / "bulletin-2026-W48.txt").write_text("Bulletin 48", encoding="utf-8")
    settings = load_config(ROOT / "config").settings.model_copy(update={"secret": SECRET})
    datasette = make_datasette(tmp_path / "veille.db", settings, tmp_path / "subscribers.db", tmp_path / "bulletins")
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
