"""Territories of Nouvelle-Aquitaine known to Veille (first cut: départements and main towns).

The gazetteer derived from @etalab/decoupage-administratif (issue 4) replaces these lists.
"""

from __future__ import annotations

DEPARTEMENTS = {
    "16": "Charente", "17": "Charente-Maritime", "19": "Corrèze", "23": "Creuse", "24": "Dordogne",
    "33": "Gironde", "40": "Landes", "47": "Lot-et-Garonne", "64": "Pyrénées-Atlantiques",
    "79": "Deux-Sèvres", "86": "Vienne", "87": "Haute-Vienne",
}

# INSEE code -> name; the first two digits are the département.
COMMUNES = {
    "16015": "Angoulême", "17300": "La Rochelle", "19272": "Tulle", "19031": "Brive-la-Gaillarde",
    "23096": "Guéret", "24322": "Périgueux", "33063": "Bordeaux", "40192": "Mont-de-Marsan",
    "47001": "Agen", "64445": "Pau", "64102": "Bayonne", "79191": "Niort", "86194": "Poitiers",
    "87085": "Limoges",
}

REGION_NAMES = ("Nouvelle-Aquitaine",)


def place_label(facet: str, code: str) -> str:
    names = {"departements": DEPARTEMENTS, "communes": COMMUNES}.get(facet, {})
    return names.get(code, code)
