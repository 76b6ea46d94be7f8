"""Build config/gazetteer.json from the official gazetteer @etalab/decoupage-administratif (MIT).

    make gazetteer        # fetches the npm package (npm pack), needs the `gazetteer` extra (wordfreq)

Kept: every commune of Nouvelle-Aquitaine (region 75) with its délégué and associé names (people
still write the old names of merged communes), every EPCI with a member in the region (official
name and usual short forms), every département and region, and the communes outside the region
that a regional text is likely to name (population ≥ OUTSIDE_MIN_POPULATION; the larger ones also
by their short name, "Aix" for Aix-en-Provence), so that a text about Nevers or Meaux is recognised
as outside the region rather than untagged.

A part of a double-barrelled name is kept apart (`parts`: "Montalivet" for Vendays-Montalivet).

Names that are also common French words or first names ("Bonnes", "Anais", "Lot") are flagged
`ambiguous`: the matcher asks for context before believing them.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path

PACKAGE = "@etalab/decoupage-administratif"
VERSION = "6.0.0"
REGION = "75"
OUTSIDE_MIN_POPULATION = 3000
SHORT_NAME_MIN_POPULATION = 10000  # "Aix" for Aix-en-Provence, "Castelnau" for Castelnau-le-Lez
SAINT_SHORT_NAME_MIN_POPULATION = 20000  # "Saint-Laurent" for Saint-Laurent-du-Maroni
SHORT_NAME_MIN_TOWN = 2000         # "Brive" for Brive-la-Gaillarde, "Sainte-Foy" for Sainte-Foy-la-Grande
# A name is a common word when its lower-cased form is frequent in French (wordfreq's Zipf scale)
# and the commune is too small for that frequency to come from the commune itself.
COMMON_WORD_ZIPF = {2000: 2.8, 10000: 3.3}  # population below -> minimum Zipf frequency
PART_NAME_MAX_ZIPF = 3.0
# "La Teste" for La Teste-de-Buch: capitalised after its article, the word may be a rarer verb form ("teste")
ARTICLE_SHORT_NAME_MAX_ZIPF = 4.0  # a part of a double-barrelled name ("Hossegor") as frequent as this is a word
# First names and words that word frequencies miss (accents, rare spellings).
EXTRA_AMBIGUOUS = {"Anais", "Vars", "Sore", "Gours", "Marie", "Julien", "Lucie", "Benoît", "Agnès", "Claire",
                   "Germain", "Laurent", "Martin", "Vincent", "Mathieu", "Remy", "Rémy", "Aigre", "Gond", "Cave",
                   "Pont", "Port", "Lac", "Val", "Parc", "Plan", "Lot", "Creuse", "Landes", "Charente", "Vienne",
                   "Gironde", "Dordogne", "Sèvre", "Isle", "Dronne", "Corrèze",
                   # larger towns elsewhere whose name is a common word
                   "Orange", "Tours", "Sens", "Lens", "Nice", "Grasse", "Lourdes", "Dole", "Lure", "Digne", "Gap",
                   "Mende", "Bar", "Marseillan", "Agde", "Belle", "Beaune"}
FORMER_REGIONS = ["Aquitaine", "Limousin", "Poitou-Charentes"]
EPCI_PREFIXES = {"CA": "Communauté d'agglomération", "CC": "Communauté de communes", "CU": "Communauté urbaine"}


def fetch_package(workdir: Path) -> Path:
    """npm pack the pinned version and unpack it; return its data folder."""
    subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}", "--silent"], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    (archive,) = workdir.glob("*.tgz")
    with tarfile.open(archive) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / "package" / "data"


def load(data: Path, name: str):
    return json.loads((data / f"{name}.json").read_text(encoding="utf-8"))


def epci_short_forms(name: str, commune_names: set[str]) -> list[str]:
    """"CA du Grand Angoulême" -> ["Communauté d'agglomération du Grand Angoulême", "Grand Angoulême"]."""
    forms = []
    match = re.match(r"^(CA|CC|CU)\s+(?:(du|de la|de l'|des|de|d')\s*)?(.+)$", name)
    if match:
        prefix, connector, rest = match.groups()
        long_form = f"{EPCI_PREFIXES[prefix]} {connector + ' ' if connector and not connector.endswith(chr(39)) else connector or ''}{rest}"
        forms.append(re.sub(r"\s+", " ", long_form).replace("' ", "'"))
        # The short form alone ("Grand Angoulême", "Pays de Nay"), unless it is a commune's name (a commune
        # implies its EPCI anyway) or a lone word, too easily something else.
        if rest not in commune_names and (" " in rest or "-" in rest):
            forms.append(rest)
    forms = [f.replace('"', "").strip() for f in forms]
    for suffix in (" Métropole", " Agglo", " Agglomération"):
        if name.endswith(suffix):
            forms.append(name)
    return [f for f in dict.fromkeys(forms) if f != name]


def is_ambiguous(name: str, population: int) -> bool:
    """A single-word name that is also a common French word or a first name, for a commune too small
    for that frequency to come from the commune itself: the matcher asks for context before believing it."""
    from wordfreq import zipf_frequency  # the `gazetteer` extra, needed by this script only

    if name in EXTRA_AMBIGUOUS:
        return True
    if " " in name or "-" in name or "'" in name:
        return False
    frequency = zipf_frequency(name.lower(), "fr")
    return any(population < size and frequency >= zipf for size, zipf in COMMON_WORD_ZIPF.items())


def epcis_in_region(epcis: list, current: dict, region_communes: dict,
                    region_names: set[str]) -> tuple[dict[str, str], dict]:
    """Each commune's EPCI (every commune points to its own), and the EPCI kept: those with a member in
    the region, with the départements they span and their usual short forms."""
    epci_of: dict[str, str] = {}
    kept_epci = {}
    for epci in epcis:
        members = [m["code"] for m in epci["membres"]]
        for code in members:
            epci_of[code] = epci["code"]
        deps = sorted({current[m]["departement"] for m in members if m in current})
        if any(m in region_communes for m in members):
            kept_epci[epci["code"]] = {
                "name": epci["nom"], "type": epci["type"], "departements": deps,
                "aliases": epci_short_forms(epci["nom"], region_names),
                "population": epci.get("populationTotale") or 0,
            }
    return epci_of, kept_epci


def region_commune_entries(current: dict, region_communes: dict, epci_of: dict[str, str]) -> dict:
    """One entry per commune of the region, by code, aliases still empty; `homonym_pop` is the largest
    population of a commune of the same name outside the region (the prior for a homonym)."""
    outside_pop: dict[str, int] = defaultdict(int)
    for c in current.values():
        if c["region"] != REGION:
            outside_pop[c["nom"]] = max(outside_pop[c["nom"]], c.get("population") or 0)
    result_communes = {}
    for code, c in sorted(region_communes.items()):
        result_communes[code] = {
            "name": c["nom"], "dep": c["departement"], "pop": c.get("population") or 0,
            "epci": epci_of.get(code), "postcodes": c.get("codesPostaux", []), "aliases": [],
            "ambiguous": is_ambiguous(c["nom"], c.get("population") or 0),
            "homonym_pop": outside_pop.get(c["nom"], 0),
        }
        if word_without_accents(c["nom"]):
            result_communes[code]["accents_needed"] = True
    return result_communes


def word_without_accents(name: str) -> bool:
    """A one-word name whose accents make it a village and whose bare spelling is a common word
    ("Contré" and "contre", "Mairé" and "maire"): written without them, the word is meant."""
    import unicodedata

    from wordfreq import zipf_frequency

    if " " in name or "-" in name or "'" in name:
        return False
    bare = "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
    if bare == name:
        return False
    frequency = zipf_frequency(bare.lower(), "fr")
    return frequency >= PART_NAME_MAX_ZIPF and frequency > zipf_frequency(name.lower(), "fr")


def add_short_forms(result_communes: dict, all_names: set[str]) -> None:
    """People write "Brive" for Brive-la-Gaillarde, "Oloron" for Oloron-Sainte-Marie (towns only, when
    the short form is not a common word), and drop the article after "au", "du", "aux", "des":
    "au Château-d'Oléron", "des Trois-Moutiers" (unless the name without it is a commune's)."""
    first_parts = defaultdict(list)
    for code, c in result_communes.items():
        match = re.match(r"^((?:Saint|Sainte)-[A-ZÀ-Ý][\w']+|[A-ZÀ-Ý][\w']{3,})-", c["name"])
        if match and match[1] not in ("Saint", "Sainte"):
            first_parts[match[1]].append(code)
    for short, codes in first_parts.items():
        # Every town of that short name is a candidate, and so is a commune of that very name: the
        # context chooses ("Montignac" in the Dordogne is Montignac-Lascaux, "Saint-Jean" near
        # Saintes is Saint-Jean-d'Angély).
        for town in codes:
            population = result_communes[town]["pop"]
            # Without its article: "L'Isle" is the river Isle as often as L'Isle-d'Espagnac.
            bare = re.sub(r"^(?:L'|La |Le |Les )", "", short)
            if population >= SHORT_NAME_MIN_TOWN and not is_ambiguous(short, population) \
                    and not is_ambiguous(bare, population):
                result_communes[town]["aliases"].append(short)
    # A town named with an article and a hyphenated rest is called by its first part: "La Teste" for
    # La Teste-de-Buch (large towns only, the word no common one: not "Le Palais", "La Roche").
    from wordfreq import zipf_frequency

    for c in result_communes.values():
        match = re.match(r"^((?:La|Le|Les) ([A-ZÀ-Ý][\w']{3,}))-", c["name"])
        if (match and c["pop"] >= SHORT_NAME_MIN_POPULATION and match[1] not in all_names
                and zipf_frequency(match[2].lower(), "fr") < ARTICLE_SHORT_NAME_MAX_ZIPF):
            c["aliases"].append(match[1])
    for c in result_communes.values():
        article = re.match(r"^(?:Le|Les) (.+)$", c["name"])
        if article and article[1] not in all_names:
            c["aliases"].append(article[1])


def add_resort_short_names(result_communes: dict, all_names: set[str]) -> None:
    """A resort is called without its suffix when what is left is a double name no commune bears
    (« Vieux-Boucau » for Vieux-Boucau-les-Bains; « Cambo », « Andernos »: the short forms of towns)."""
    for c in result_communes.values():
        rest = re.sub(r"-(?:les-Bains|sur-Mer|Plage)$", "", c["name"])
        if rest != c["name"] and "-" in rest and rest not in all_names and rest not in c["aliases"]:
            c["aliases"].append(rest)


def add_island_spellings(result_communes: dict, kept_epci: dict, all_names: set[str]) -> None:
    """The île de Ré's communes are written with the island's name or without it: « La Flotte-en-Ré »
    for La Flotte (a name of one part), « Bois-Plage » for Le Bois-Plage-en-Ré (a hyphenated rest only,
    that no other commune bears: not « Ars », « Saint-Martin »)."""
    island = next((code for code, e in kept_epci.items() if re.search(r"[IÎ]le de Ré$", e["name"])), None)
    if island is None:
        return
    for c in result_communes.values():
        if c["epci"] != island:
            continue
        rest = re.sub(r"-(?:en|de)-Ré$", "", c["name"])
        if rest == c["name"]:
            if "-" not in rest:  # not « Rivedoux-Plage », « La Couarde-sur-Mer »: named enough
                c["aliases"].append(f"{c['name']}-en-Ré")
            continue
        bare = re.sub(r"^(?:Le|La|Les) ", "", rest)
        if "-" in bare and bare not in all_names:
            c["aliases"].extend(dict.fromkeys((rest, bare)))


def add_part_names(result_communes: dict, all_names: set[str]) -> None:
    """A double-barrelled name is often written by one of its parts ("Hossegor" for Soorts-Hossegor,
    "Montalivet" for Vendays-Montalivet): each part of a name of two words becomes a `parts` name of
    the commune, when it is no commune's name in France, belongs to one commune of the region only and
    is no common French word (not "Fonds" of Trois-Fonds, "Haut" of Haut-Mauco). Saint-… names are not
    split. The matcher asks a town's context for them."""
    from wordfreq import zipf_frequency

    owners = defaultdict(list)
    for code, c in result_communes.items():
        words = c["name"].split("-")
        if len(words) == 2 and words[0] not in ("Saint", "Sainte") and all(
                len(w) >= 4 and w[:1].isupper() and " " not in w for w in words):
            for word in words:
                owners[word].append(code)
    taken = all_names | {a for c in result_communes.values() for a in c["aliases"]}
    for word, codes in sorted(owners.items()):
        if len(codes) == 1 and word not in taken and zipf_frequency(word.lower(), "fr") < PART_NAME_MAX_ZIPF:
            result_communes[codes[0]].setdefault("parts", []).append(word)


def add_old_names(result_communes: dict, communes: list) -> None:
    """People still write the old names of merged communes: each délégué or associé commune of the
    region becomes an alias of today's commune."""
    for c in communes:
        if c["type"] in ("commune-deleguee", "commune-associee") and c["region"] == REGION:
            target = result_communes.get(c.get("chefLieu") or c.get("commune") or "")
            if target and c["nom"] != target["name"] and c["nom"] not in target["aliases"]:
                target["aliases"].append(c["nom"])


def outside_communes(current: dict) -> list:
    """Communes outside the region large enough for a regional text to name them, so that Nevers or
    Meaux is recognised as outside rather than left untagged; the larger ones also by their short
    name ("Aix" for Aix-en-Provence). Rows: name, code, département, population, short names, ambiguous."""
    outside = []
    for c in sorted(current.values(), key=lambda c: c["code"]):
        population = c.get("population") or 0
        if c["region"] == REGION or population < OUTSIDE_MIN_POPULATION:
            continue
        names = [c["nom"]]
        short = re.match(r"^((?:Saint|Sainte)-[A-ZÀ-Ý][\w]+|[A-ZÀ-Ý][\w]+)"
                         r"-(?:en|sur|les|le|la|de|du|des|Ferrand)\b", c["nom"])
        # A saint's name is a saint's (« les chemins de Saint-Jacques ») more often than a town's, but
        # for a city's: « la mission locale de Saint-Laurent » in Guyane is Saint-Laurent-du-Maroni.
        saint = short and short[1].startswith("Saint")
        if short and population >= (SAINT_SHORT_NAME_MIN_POPULATION if saint else SHORT_NAME_MIN_POPULATION):
            names.append(short[1])
        outside.append([c["nom"], c["code"], c["departement"], population, names[1:],
                        is_ambiguous(c["nom"], population)])
    return outside


def add_hyphen_variants(kept_epci: dict, region_names: set[str]) -> None:
    """EPCI names often spell a commune without its hyphens ("Mont de Marsan Agglomération"); add the
    hyphenated spelling ("Mont-de-Marsan Agglomération") as an alias too, longest commune names first."""
    hyphenated_names = sorted({n for n in region_names if "-" in n}, key=len, reverse=True)
    for epci in kept_epci.values():
        for alias in list(epci["aliases"]) + [epci["name"]]:
            for name in hyphenated_names:
                spaced = name.replace("-", " ")
                if spaced in alias and name not in alias:
                    variant = alias.replace(spaced, name)
                    if variant not in epci["aliases"]:
                        epci["aliases"].append(variant)


def build(data: Path) -> dict:
    """The gazetteer from the package's data/ folder (see the module docstring for what is kept)."""
    communes, departements, regions, epcis = (load(data, n) for n in ("communes", "departements", "regions", "epci"))
    current = {c["code"]: c for c in communes if c["type"] == "commune-actuelle"}
    region_communes = {code: c for code, c in current.items() if c["region"] == REGION}
    region_names = {c["nom"] for c in region_communes.values()}

    epci_of, kept_epci = epcis_in_region(epcis, current, region_communes, region_names)
    result_communes = region_commune_entries(current, region_communes, epci_of)
    all_names = {c["nom"] for c in current.values()}  # of every commune of France
    add_short_forms(result_communes, all_names)
    add_old_names(result_communes, communes)
    add_part_names(result_communes, all_names)
    add_island_spellings(result_communes, kept_epci, all_names)
    add_resort_short_names(result_communes, all_names)
    outside = outside_communes(current)
    add_hyphen_variants(kept_epci, region_names)
    return {
        "source": f"{PACKAGE} {VERSION} (MIT), INSEE/DGCL",
        "region": REGION,
        "regions": {r["code"]: r["nom"] for r in regions},
        "former_regions": FORMER_REGIONS,
        "departements": {d["code"]: {"name": d["nom"], "region": d["region"],
                                     "ambiguous": d["nom"] in EXTRA_AMBIGUOUS} for d in departements},
        "communes": result_communes,
        "epci": dict(sorted(kept_epci.items())),
        "outside_communes": outside,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "config" / "gazetteer.json")
    parser.add_argument("--data", type=Path, help="an unpacked package's data/ folder (skips npm)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or fetch_package(Path(tmp))
        gazetteer = build(data)
    args.out.write_text(json.dumps(gazetteer, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(gazetteer['communes'])} communes, {len(gazetteer['epci'])} EPCI, "
          f"{len(gazetteer['outside_communes'])} communes outside the region, "
          f"{sum(c['ambiguous'] for c in gazetteer['communes'].values())} ambiguous names")


if __name__ == "__main__":
    main()
