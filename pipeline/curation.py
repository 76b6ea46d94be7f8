"""Curator decisions: the same functions serve `veille curate` and the curation pages.

A decision is stored with origin `curator` and is never overwritten by the machine: re-tagging
only replaces rows of origin `auto`.
"""

from __future__ import annotations

import hashlib
import re
from datetime import tzinfo

import sqlite_utils

from config.dates import utcnow
from config.errors import VeilleError
from config.schema import PLACE_CODE_FORMATS, TAG_FACETS, TAXONOMY_FACETS, Taxonomy
from pipeline.places import Gazetteer
from pipeline.text import fold
from pipeline.selection import WeekItem, week_plan

# The columns that make an item's version (see `version_of`).
TAG_COLUMNS = "facet, value, origin, action, curator, updated_at"
CURATION_COLUMNS = "rejected, highlight, note, curator, updated_at"


class StaleItem(VeilleError):
    """The item changed since the page the decision was made on was shown: nothing is recorded."""


def version_of(tag_rows, curation_row) -> str:
    """A short fingerprint of an item's tags (`TAG_COLUMNS`) and decision (`CURATION_COLUMNS`): it
    changes with any tagging or curator decision, even two within the same second."""
    digest = hashlib.sha1(repr((sorted(tuple(r) for r in tag_rows), tuple(curation_row or ()))).encode())
    return digest.hexdigest()[:16]


def item_version(db: sqlite_utils.Database, item_id: int) -> str:
    """The current version of an item (as `pipeline.review` shows it)."""
    tags = db.execute(f"SELECT {TAG_COLUMNS} FROM tags WHERE item_id = ?", [item_id]).fetchall()
    decision = db.execute(f"SELECT {CURATION_COLUMNS} FROM curation WHERE item_id = ?", [item_id]).fetchone()
    return version_of(tags, decision)


def parse_tag(spec: str, taxonomy: Taxonomy) -> tuple[str, str]:
    """"plie" -> ("dispositifs", "plie"); "communes:33063" -> ("communes", "33063")."""
    spec = spec.strip()
    if ":" in spec:
        facet, value = (part.strip() for part in spec.split(":", 1))
        if facet not in TAG_FACETS:
            raise VeilleError(f"facette inconnue « {facet} » (permises : {', '.join(TAG_FACETS)})")
        if facet == "region":  # machine flags (na, outside), computed from the places: not a curator's tag
            raise VeilleError("« region » est calculée à partir des lieux : ajoutez ou retirez un département, "
                              "une commune ou un EPCI")
        if facet in PLACE_CODE_FORMATS:
            if not re.fullmatch(PLACE_CODE_FORMATS[facet], value):
                raise VeilleError(f"code {facet} invalide : « {value} »")
            return facet, value
        if value not in getattr(taxonomy, facet):
            raise VeilleError(f"« {value} » n'est pas un slug de {facet}")
        return facet, value
    facet = taxonomy.facet_of(spec)
    if facet is None:
        raise VeilleError(
            f"étiquette inconnue « {spec} » : donnez un slug de la taxonomie "
            "ou facette:valeur (ex. departements:23)"
        )
    return facet, spec


class AmbiguousTag(VeilleError):
    """A name that several tags or places bear: `choices` are (spec, label) pairs to pick from."""

    def __init__(self, message: str, choices: list[tuple[str, str]]):
        super().__init__(message)
        self.choices = choices


def tag_label(facet: str, value: str, taxonomy: Taxonomy, gazetteer: Gazetteer) -> str:
    """A tag as a person reads it: the taxonomy's label, a place's name (« Haute-Vienne (87) »)."""
    if facet in TAXONOMY_FACETS:
        return taxonomy.label(facet, value)
    return gazetteer.display_name(facet, value)


def choice_label(facet: str, value: str, taxonomy: Taxonomy, gazetteer: Gazetteer) -> str:
    """A tag in a list to pick from: homonym communes told apart by code and département
    (« Mazerolles (86153) · Vienne »), EPCI by département."""
    label = tag_label(facet, value, taxonomy, gazetteer)
    if facet == "communes" and value in gazetteer.communes:
        return f"{label} ({value}) · {gazetteer.label('departements', gazetteer.communes[value]['dep'])}"
    if facet == "epci" and value in gazetteer.epci:
        departements = ", ".join(gazetteer.label("departements", d) for d in gazetteer.epci[value]["departements"])
        return f"{label} · intercommunalité, {departements}"
    if facet in TAXONOMY_FACETS:
        return f"{label} · {'nature' if facet == 'nature' else facet[:-1]}"
    return label


def suggest_tags(query: str, taxonomy: Taxonomy, gazetteer: Gazetteer, limit: int = 12) -> list[tuple[str, str]]:
    """Tags whose label (or slug) or place name starts like `query`: (spec, choice label) pairs,
    taxonomy first, for the add-a-tag field (typing « Guér » offers Guéret (23096))."""
    key = fold(query).strip()
    if not key:
        return []
    found = []
    for facet in TAXONOMY_FACETS:
        for slug, entry in getattr(taxonomy, facet).items():
            words = fold(entry.label)
            if words.startswith(key) or slug.startswith(key) or f" {key}" in f" {words}":
                found.append((f"{facet}:{slug}", choice_label(facet, slug, taxonomy, gazetteer)))
    found += [(f"{facet}:{code}", choice_label(facet, code, taxonomy, gazetteer))
              for facet, code in gazetteer.search(query, limit)]
    return found[:limit]


_CHOICE = re.compile(r"^(?P<name>.+?)\s*\((?P<code>\d[\dAB](?:\d{3})?|\d{9})\)(?:\s*·.*)?$")


def resolve_tag(text: str, taxonomy: Taxonomy, gazetteer: Gazetteer) -> tuple[str, str]:
    """What the curator typed in the add-a-tag field, as (facet, value): a slug or facet:value, a
    taxonomy label (« Jeunes et publics »), a place's name (« Guéret », « Limoges Métropole »), a
    suggestion as listed (« Guéret (23096) »). A name several places bear raises `AmbiguousTag`
    with the choices; a name nothing bears, a French error with the nearest names."""
    text = " ".join(text.split())
    if not text:
        raise VeilleError("étiquette vide : tapez un thème, un dispositif, une nature ou un lieu")
    if ":" in text or taxonomy.facet_of(text):
        return parse_tag(text, taxonomy)
    key = fold(text)
    labelled = [(facet, slug) for facet in TAXONOMY_FACETS for slug, entry in getattr(taxonomy, facet).items()
                if fold(entry.label) == key]
    chosen = _CHOICE.match(text)
    if chosen:
        code = chosen["code"]
        facet = "communes" if len(code) == 5 else "epci" if len(code) == 9 else "departements"
        table = {"communes": gazetteer.communes, "epci": gazetteer.epci, "departements": gazetteer.departements}[facet]
        if code in table:
            return facet, code
    places = labelled + gazetteer.find_by_name(text)
    if len(places) == 1:
        return places[0]
    if places:
        raise AmbiguousTag(f"plusieurs étiquettes ou lieux s'appellent « {text} » : choisissez", [
            (f"{facet}:{value}", choice_label(facet, value, taxonomy, gazetteer)) for facet, value in places])
    near = suggest_tags(text, taxonomy, gazetteer, limit=8)
    if near:
        raise AmbiguousTag(f"aucune étiquette ni aucun lieu ne s'appelle exactement « {text} » : vouliez-vous…", near)
    raise VeilleError(f"aucune étiquette ni aucun lieu de la région ne s'appelle « {text} »")


def curate(
    db: sqlite_utils.Database,
    taxonomy: Taxonomy,
    item_id: int,
    add: list[str] = (),
    remove: list[str] = (),
    reject: bool | None = None,
    highlight: bool | None = None,
    note: str | None = None,
    by: str | None = None,
    expected_version: str | None = None,
    gazetteer: Gazetteer | None = None,
) -> dict:
    """Record a curator decision on an item; return the item's curation row.

    `by` is the name of the curator's account that made it (stored in `curator` on the tags and the
    curation row it writes); None when unknown (the command line without a name). With
    `expected_version` (the item's version on the page the decision was made on), an item that
    changed meanwhile raises `StaleItem` and nothing is recorded. With the `gazetteer`, a commune
    she adds brings its département and its EPCI, as the machine's place tags do (so that the
    item reaches that département's subscribers)."""
    if not 0 < item_id < 2**63 or not db.execute("SELECT 1 FROM items WHERE id = ?", [item_id]).fetchone():
        raise VeilleError(f"aucun article n°{item_id} dans l'archive")
    if expected_version is not None and item_version(db, item_id) != expected_version:
        raise StaleItem(f"l'article n°{item_id} a changé depuis l'affichage de la page (autre décision ou "
                        "nouvel étiquetage) : rien n'a été enregistré ; voici son état actuel, refaites votre choix")
    additions = [parse_tag(spec, taxonomy) for spec in add]
    if gazetteer is not None:
        additions += [implied for facet, value in additions if facet == "communes"
                      for implied in implied_places(gazetteer, value) if implied not in additions]
    removals = [parse_tag(spec, taxonomy) for spec in remove]
    if len([f for f, _ in additions if f == "nature"]) > 1:
        raise VeilleError("un article n'a qu'une nature")
    now = utcnow()
    with db.atomic():
        for facet, value in additions:
            if facet == "nature":  # a new curator nature replaces the previous one
                db.execute("DELETE FROM tags WHERE item_id = ? AND facet = 'nature' AND origin = 'curator'",
                           [item_id])
            _set_curator_tag(db, item_id, facet, value, "add", now, by)
        for facet, value in removals:
            _set_curator_tag(db, item_id, facet, value, "remove", now, by)
        row = {"item_id": item_id, "updated_at": now, "curator": by}  # who made the item's last decision
        if reject is not None:
            row["rejected"] = int(reject)
        if highlight is not None:
            row["highlight"] = int(highlight)
        if note is not None:
            row["note"] = note.strip() or None
        db["curation"].upsert(row, pk="item_id", alter=False)
    return db["curation"].get(item_id)


def implied_places(gazetteer: Gazetteer, commune: str) -> list[tuple[str, str]]:
    """The département and EPCI of a commune of the région."""
    entry = gazetteer.communes.get(commune)
    if not entry:
        return []
    return [("departements", entry["dep"]), *([("epci", entry["epci"])] if entry.get("epci") else [])]


def _set_curator_tag(db, item_id: int, facet: str, value: str, action: str, now: str, by: str | None) -> None:
    db["tags"].upsert(
        {"item_id": item_id, "facet": facet, "value": value, "origin": "curator", "action": action,
         "score": None, "evidence": None, "updated_at": now, "curator": by},
        pk=("item_id", "facet", "value", "origin"),
    )


def curation_queue(db: sqlite_utils.Database, week: str, tz: tzinfo, max_age_days: int) -> list[WeekItem]:
    """The week's items as the curator reviews them: the week plan (each item in or out of the
    bulletin, and why), with the tags the curator set herself in `curator_tags`."""
    items = week_plan(db, week, tz, max_age_days)
    ids = [i.id for i in items]
    by_curator: dict[int, set[tuple[str, str]]] = {i: set() for i in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ", ".join("?" for _ in chunk)
        for item_id, facet, value in db.execute(
                f"SELECT item_id, facet, value FROM tags WHERE origin = 'curator' AND action = 'add' "
                f"AND item_id IN ({marks})", chunk):
            by_curator[item_id].add((facet, value))
    for item in items:
        item.curator_tags = by_curator[item.id]
    return items
