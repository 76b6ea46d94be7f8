"""`veille serve`: a real Datasette on the archive, queried in process."""

from __future__ import annotations

import pytest

from pipeline.archive import insert_item, open_db
from tests.conftest import ROOT
from veille.config import load_config
from veille.server import make_datasette


@pytest.fixture
def datasette(tmp_path):
    db = open_db(tmp_path / "veille.db")
    insert_item(db, {"url": "https://example.org/a", "raw_url": "https://example.org/a", "source_id": "s",
                     "title": "Chantier d'insertion à Guéret", "text": "Un atelier chantier d'insertion ouvre."})
    db.close()
    (tmp_path / "subscribers.db").write_bytes(b"")  # beside the archive, never to be served
    return make_datasette(tmp_path / "veille.db", load_config(ROOT / "config").settings)


@pytest.mark.asyncio
async def test_archive_is_browsable_and_searchable(datasette):
    response = await datasette.client.get("/veille/items.json?_search=gueret&_shape=array")
    assert response.status_code == 200
    assert [r["url"] for r in response.json()] == ["https://example.org/a"]
    databases = (await datasette.client.get("/-/databases.json")).json()
    assert [d["name"] for d in databases] == ["veille"]
    assert (await datasette.client.get("/subscribers")).status_code == 404
