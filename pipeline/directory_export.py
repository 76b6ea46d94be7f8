"""The directory exported in the data·inclusion `Structure` format (package data-inclusion-schema),
so that the région's directory can feed the national one.

Only actors with enough information are exported: a kind of the field (not « entreprise », whose
directory is elsewhere, nor « autre ») and a territory (a commune, else a département). Each structure
is validated with the package's pydantic model; a refusal is counted with its reason, never written.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

import pydantic
import sqlite_utils
from data_inclusion.schema.v1 import ReseauPorteur
from data_inclusion.schema.v1.structures import Structure

from pipeline.directory import actor_places
from pipeline.urls import is_web_url

OUT_OF_SCOPE = ("entreprise", "autre")
NETWORKS = {network.value for network in ReseauPorteur}
NO_KIND = "de type hors du champ (entreprise, autre)"
NO_PLACE = "sans territoire"
INVALID = "refusé(s) par le schéma"


@dataclass
class Export:
    structures: list[dict] = field(default_factory=list)  # data·inclusion structures, as JSON
    left_out: Counter = field(default_factory=Counter)   # reason -> actors


def _description(row: dict) -> str:
    parts = [f"{row['kind']}" + (f", {row['territory']}" if row["territory"] else "") + "."]
    cited = f"Cité dans {row['items']} article(s) de la veille emploi et territoires"
    if row["first_seen"] and row["last_seen"]:
        cited += f" entre le {row['first_seen']} et le {row['last_seen']}"
    parts.append(cited + ".")
    dispositifs = json.loads(row["dispositifs"] or "[]")
    if dispositifs:
        parts.append("Dispositifs : " + ", ".join(dispositifs) + ".")
    partners = json.loads(row["partners"] or "[]")
    if partners:
        parts.append("Souvent cité avec : " + ", ".join(partners) + ".")
    return " ".join(parts)


def structure(row: dict, codes: tuple[list[str], list[str]], source: str, public_url: str | None,
              communes: dict[str, dict]) -> dict:
    """One directory row as a data·inclusion structure (not yet validated)."""
    _, commune_codes = codes
    commune = communes.get(commune_codes[0]) if commune_codes else None
    last = date.fromisoformat(row["last_seen"]) if row["last_seen"] else date.today()
    data = {
        "source": source, "id": f"{source}--{row['id']}", "nom": row["name"],
        "date_maj": min(last, date.today()).isoformat(),  # a date published ahead is no future update
        "description": _description(row),
        "reseaux_porteurs": [row["kind_slug"]] if row["kind_slug"] in NETWORKS else None,
    }
    if commune:
        data.update(commune=commune["name"], code_insee=commune_codes[0])
    if public_url:
        link = f"{public_url.rstrip('/')}/-/acteur/{row['id']}"
        if is_web_url(link):
            data["lien_source"] = link
    return {k: v for k, v in data.items() if v is not None}


def export_structures(db: sqlite_utils.Database, source: str, public_url: str | None = None,
                      communes: dict[str, dict] | None = None) -> Export:
    """The directory's exportable actors as validated data·inclusion structures (most cited first),
    and how many were left out, by reason. `communes`: the gazetteer's (INSEE code -> {"name", ...})."""
    if communes is None:
        from pipeline.places import load_gazetteer

        communes = load_gazetteer().communes
    places = actor_places(db)
    export = Export()
    columns = ("id", "name", "kind", "kind_slug", "territory", "dispositifs", "items", "first_seen", "last_seen",
               "partners")
    for values in db.execute(f"SELECT {', '.join(columns)} FROM acteurs ORDER BY items DESC, id"):
        row = dict(zip(columns, values))
        codes = places.get(row["id"], ([], []))
        if row["kind_slug"] in OUT_OF_SCOPE:
            export.left_out[NO_KIND] += 1
            continue
        if not codes[0] and not codes[1] and row["kind_slug"] != "regions":  # the Région is the région's
            export.left_out[NO_PLACE] += 1
            continue
        try:
            checked = Structure.model_validate(structure(row, codes, source, public_url, communes))
        except pydantic.ValidationError:
            export.left_out[INVALID] += 1
            continue
        export.structures.append(checked.model_dump(mode="json", exclude_none=True))
    return export
