"""Places of Nouvelle-Aquitaine named in a text, by official code, with the evidence.

One Aho-Corasick automaton (pyahocorasick) holds every name of the gazetteer (communes of the
région with their old names, EPCI and their short forms, départements, régions, the larger
communes of the rest of France) in a folded form: lower case, no accents, typographic apostrophes
and dashes unified, "Saint"/"St", hyphens or spaces. Only whole words match (a hyphen
glues: "Vienne" is not found in "Haute-Vienne"); matches are then disambiguated:

- names that are common words or first names ("Bonnes", "Anais", "Lot", "landes") need a capital
  and context: a preposition ("à", "de", "en"…), a département code "(86)" or a postcode;
- département names that are also rivers or words need their article ("la Creuse", "les Landes");
- "à Vienne" is a town (in Isère), "la Vienne" a département;
- a street ("avenue de Limoges") or a person ("M. Pons") is not a place;
- homonyms across France are resolved by a following "(NN)", a postcode, the other places of the
  text, then population;
- a commune implies its département and its EPCI; a département name alone gives the département.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache
from pathlib import Path

import ahocorasick

from config.errors import VeilleError
from pipeline.text import fold, match_text, word_key

GAZETTEER = Path(__file__).resolve().parents[1] / "config" / "gazetteer.json"
FIRST_NAMES = Path(__file__).resolve().parents[1] / "config" / "first_names.txt"
# Names outside France that regional news uses; a country or a foreign city outweighs any homonym
# commune of the région ("du Soudan", "Saint-Sébastien" across the border).
MINOR_POPULATION = 2000
CITY_POPULATION = 10000
ABROAD = (
    "Belgique", "Espagne", "Allemagne", "Italie", "Portugal", "Royaume-Uni", "Angleterre", "Suisse", "Luxembourg",
    "Pays-Bas", "Irlande", "Pologne", "Roumanie", "Ukraine", "Russie", "Grèce", "Turquie", "Maroc", "Algérie",
    "Tunisie", "Sénégal", "Mali", "Nigeria", "Ghana", "Côte d'Ivoire", "Cameroun", "Soudan", "Afghanistan", "Syrie",
    "Chine", "Japon", "Inde", "Canada", "Québec", "États-Unis", "Brésil", "Argentine", "Mexique",
    "Saint-Sébastien", "Irun", "Bilbao", "Pampelune", "Barcelone", "Madrid", "Londres", "Bruxelles", "Genève",
    "Lausanne", "Berlin", "Lisbonne", "Porto", "Rome", "Milan", "Dakar", "Casablanca", "Alger", "Tunis", "Montréal",
    "Gand", "Anvers", "Liège", "Namur", "Charleroi", "Flandre", "Flandres", "Wallonie", "Catalogne", "Andalousie",
    "Navarre", "Aragon", "Saragosse", "Séville", "Cologne", "Munich",
)
OTHER_FORMER_REGIONS = ("Midi-Pyrénées", "Languedoc-Roussillon", "Rhône-Alpes", "Auvergne", "Alsace", "Lorraine",
                        "Picardie", "Nord-Pas-de-Calais", "Franche-Comté", "Champagne-Ardenne", "Basse-Normandie",
                        "Haute-Normandie", "Provence")


def name_variants(name: str) -> set[str]:
    """Keys of a name: hyphens or spaces, Saint/St/Ste, œ or oe; between spaces (see `match_text`)."""
    base = fold(name)
    variants = {base, base.replace("-", " ")}
    for variant in list(variants):
        variants.add(re.sub(r"\b(saint|sainte) ", r"\1-", variant))  # "Pays de Saint Yrieix", "Saint-Yrieix"
    for variant in list(variants):
        for long, short in (("saint", "st"), ("sainte", "ste")):
            variants.add(re.sub(rf"\b{long}(?=[- ])", short, variant))
    for variant in list(variants):
        if "œ" in variant or "æ" in variant:
            variants.add(variant.replace("œ", "oe").replace("æ", "ae"))
    return {word_key(v) for v in variants if v.strip()}


# ----------------------------------------------------------------- entities


@dataclass(frozen=True)
class Place:
    kind: str          # commune | commune_out | departement | region | epci | abroad
    code: str          # INSEE commune or département code, région code, EPCI SIREN
    name: str
    dep: str | None    # département of a commune or EPCI
    population: int = 0
    ambiguous: bool = False  # a common word or first name: needs context
    in_region: bool = False
    region: str | None = None

    @property
    def weight(self) -> int:
        """Population prior; a département or a région outweighs any commune of the same name."""
        return 10**8 if self.kind in ("departement", "region", "abroad") else self.population


@dataclass
class Gazetteer:
    automaton: ahocorasick.Automaton
    communes: dict[str, dict]
    epci: dict[str, dict]
    departements: dict[str, dict]
    region: str
    first_names: frozenset[str]  # folded

    @property
    def region_departements(self) -> dict[str, str]:
        """The région's départements: code -> name."""
        return {code: d["name"] for code, d in self.departements.items() if d["region"] == self.region}

    def label(self, facet: str, code: str) -> str:
        """The name of a département, commune or EPCI code (the code itself if unknown)."""
        table = {"departements": self.departements, "communes": self.communes, "epci": self.epci}.get(facet, {})
        return table.get(code, {}).get("name", code)

    def display_name(self, facet: str, code: str) -> str:
        """How a person reads a place: « Haute-Vienne (87) », « Limoges », « Limoges Métropole »
        (an urban community or a metropolis by its usual name, not « CU Limoges Métropole »)."""
        if facet == "departements" and code in self.departements:
            return f"{self.departements[code]['name']} ({code})"
        if facet == "epci" and code in self.epci:
            epci = self.epci[code]
            if epci.get("type") in ("CU", "METRO") and epci.get("aliases"):
                return min(epci["aliases"], key=len)
        return self.label(facet, code)

    def search(self, query: str, limit: int = 10) -> list[tuple[str, str]]:
        """Places of the région named like `query` (folded), as (facet, code): exact names first,
        then names starting with it, then names with a word starting with it (« Métropole » finds
        « Limoges Métropole », from three letters); within each, départements, EPCI, then communes
        by population. Old names of merged communes count."""
        key = _search_key(query)
        if len(key) < 2:
            return []
        found = []
        for rank, size, facet, code, names in self._search_index:
            if key in names:
                found.append((0, rank, -size, facet, code))
            elif any(name.startswith(key) for name in names):
                found.append((1, rank, -size, facet, code))
            elif len(key) >= 3 and any(f" {key}" in name for name in names):
                found.append((2, rank, -size, facet, code))
        return [(facet, code) for *_, facet, code in sorted(found)[:limit]]

    def find_by_name(self, name: str) -> list[tuple[str, str]]:
        """Places of the région called exactly `name` (folded; old names too), as (facet, code)."""
        key = _search_key(name)
        return [(facet, code) for _, _, facet, code, names in sorted(self._search_index) if key in names]

    @cached_property
    def _search_index(self) -> list[tuple[int, int, str, str, tuple[str, ...]]]:
        index = []
        for code, name in self.region_departements.items():
            index.append((0, 0, "departements", code, (_search_key(name),)))
        for code, e in self.epci.items():
            index.append((1, e.get("population") or 0, "epci", code,
                          tuple(_search_key(n) for n in (e["name"], *e.get("aliases", [])))))
        for code, c in self.communes.items():
            index.append((2, c.get("pop") or 0, "communes", code,
                          tuple(_search_key(n) for n in (c["name"], *c.get("aliases", [])))))
        return index


def _search_key(name: str) -> str:
    return " ".join(fold(name).replace("-", " ").replace("'", " ").split())


@lru_cache(maxsize=2)
def load_gazetteer(path: Path | str = GAZETTEER) -> Gazetteer:
    """The gazetteer at `path` (settings' `paths.gazetteer`; by default the one this project ships)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise VeilleError(f"répertoire géographique introuvable : {path} (paths.gazetteer dans settings.yaml, "
                          "« make gazetteer » pour le produire)") from None
    region = data["region"]
    names: dict[str, list[Place]] = {}

    def add(name: str, place: Place) -> None:
        for variant in name_variants(name):
            bucket = names.setdefault(variant, [])
            if place not in bucket:
                bucket.append(place)

    dep_region = {code: d["region"] for code, d in data["departements"].items()}
    for code, c in data["communes"].items():
        add(c["name"], Place("commune", code, c["name"], c["dep"], c["pop"], c["ambiguous"], True, region))
        for alias in c["aliases"]:
            # An old name of a merged commune: small places, so short one-word names need context.
            short = " " not in alias and "-" not in alias and len(alias) < 6
            add(alias, Place("commune", code, alias, c["dep"], c["pop"], c["ambiguous"] or short, True, region))
    for name, code, dep, population, short_names, ambiguous in data["outside_communes"]:
        place = Place("commune_out", code, name, dep, population, ambiguous, False, dep_region.get(dep))
        for spelling in (name, *short_names):
            add(spelling, place)
    for code, e in data["epci"].items():
        dep = e["departements"][0] if len(e["departements"]) == 1 else None
        for name in (e["name"], *e["aliases"]):
            add(name, Place("epci", code, e["name"], dep, e["population"], False, True, region))
    for code, d in data["departements"].items():
        add(d["name"], Place("departement", code, d["name"], code, 0, d["ambiguous"], d["region"] == region,
                             d["region"]))
    for code, name in data["regions"].items():
        add(name, Place("region", code, name, None, 0, False, code == region, code))
    for name in data["former_regions"]:
        add(name, Place("region", region, name, None, 0, False, True, region))
    for name in OTHER_FORMER_REGIONS:
        add(name, Place("region", "other", name, None, region="other"))
    for name in ABROAD:
        add(name, Place("abroad", name, name, None, region="abroad"))

    automaton = ahocorasick.Automaton()
    for key, places in names.items():
        # A name is a common word or not for all its places: "Campagne" needs context whichever
        # Campagne it would be; "Mérignac" does not, its largest place (Gironde) is a city.
        largest = max(places, key=lambda p: p.weight)
        ambiguous = largest.ambiguous or (largest.weight < CITY_POPULATION and any(p.ambiguous for p in places))
        places = [replace(p, ambiguous=ambiguous) for p in places]
        automaton.add_word(key, (key, tuple(places)))
    automaton.make_automaton()
    first_names = frozenset(
        fold(name) for line in FIRST_NAMES.read_text(encoding="utf-8").splitlines()
        if not line.startswith("#") for name in line.split())
    return Gazetteer(automaton, data["communes"], data["epci"], data["departements"], region, first_names)


# ------------------------------------------------------------------ matching

# Contexts, read in the folded text just before a name (punctuation kept: "du Passage, de Boé" is
# not the street "passage de Boé").
_STREET = re.compile(
    r"\b(?:rue|avenue|av\.?|boulevard|bd|place|route|chemin|allees?|quai|impasse|cours|square|rond-point"
    r"|esplanade|faubourg|rocade|passage)\s+(?:de\s+la\s+|de\s+l'|du\s+|des\s+|de\s+|d')?$")
_PERSON = re.compile(r"\b(?:m\.|mme|mlle|me|dr|pr|monsieur|madame)\s+$")
_PLACE_CONTEXT = re.compile(
    r"(?:\b(?:a|de|en|sur|dans|vers|pres de|commune de|ville de|village de|mairie de|du|au|aux|des"
    r"|quartier de|secteur de|\d{5})\s+|\b(?:d|jusqu'a|l)')$")
# For a name that is also a first name, "de"/"d'" is not enough ("celui d'Anaïs").
_STRONG_PLACE_CONTEXT = re.compile(
    r"(?:\b(?:a|en|sur|dans|vers|pres de|commune de|ville de|village de|mairie de|au|aux|\d{5})\s+"
    r"|\bjusqu'a)$")
_RIVER = re.compile(r"\b(?:bords?|rives?|berges?|vallee|cours|long|amont|aval|confluent|sur|traverse[rz]?|franchi[rt]?)"
                    r"\s+(?:de\s+)?(?:la|le|les|l')\s*$")  # "les bords de la Vienne": the river
_ARTICLE = re.compile(r"(?:\b(?:la|les|le|des|du|en)\s+|\bl')$")
_TOWN_PREPOSITION = re.compile(r"\ba\s+$")
_ENUMERATION = re.compile(r"^\s*(?:,|et|ou)\s*$")
_LOCATED_AFTER = re.compile(r"\s*(?:,\s*(?:en|au|aux|dans)\s|\()")  # "Anais, en Charente-Maritime"
_CODE_AFTER = re.compile(r"\s*\((\d[\dabAB]|97\d)\)")
_WRITTEN_DEP = re.compile(r"\((\d[\dabAB]|97\d)\)")
# "Bruges, en Belgique", "Lagos, au Nigeria", "Bonnes (Vienne)"; not an enumeration "la Corrèze, la Creuse".
_LOCATED_IN = re.compile(r"^\s*(?:,\s*(?:en|au|aux|dans\s+(?:le|la|les)|dans\s+l['’])|\((?:en\s+)?)\s*$")
_PREVIOUS_WORD = re.compile(r"([\w-]+)[ \u00a0]+$")
_POSTCODE = re.compile(r"\b(\d{5})\b")


@dataclass
class Mention:
    start: int
    end: int
    places: tuple[Place, ...]
    surface: str
    chosen: Place | None = None


@dataclass
class PlaceTags:
    departements: list[str] = field(default_factory=list)
    communes: list[str] = field(default_factory=list)
    epci: list[str] = field(default_factory=list)
    region_na: bool = False
    outside: bool = False
    evidence: list[dict] = field(default_factory=list)


def find_mentions(text: str, gazetteer: Gazetteer, words: str | None = None) -> list[Mention]:
    """Leftmost-longest whole-word name matches (`words`: match_text(text), if already computed)."""
    found = []
    for end_index, (key, places) in gazetteer.automaton.iter(words or match_text(text)):
        start = end_index - len(key) + 1  # in the padded text: where the name starts in `text`
        found.append((start, start + len(key) - 2, places))
    found.sort(key=lambda m: (m[0], -m[1]))
    mentions, last_end = [], -1
    for start, end, places in found:
        if start >= last_end:
            mentions.append(Mention(start, end, places, text[start:end]))
            last_end = end
    return mentions


def _capitalised(surface: str) -> bool:
    """A proper noun: "Guéret", "La Force", "l'Isle-Jourdain"; not "La force de frappe"."""
    parts = re.split(r"['’\s]", surface, maxsplit=1)
    if len(parts) == 2 and parts[0].lower() in ("l", "la", "le", "les"):
        return parts[1][:1].isupper()
    return surface[:1].isupper()


def _before(text: str, mention: Mention, size: int) -> str:
    """The folded text just before a mention."""
    return fold(text[max(0, mention.start - size):mention.start])


def _after_first_name(text: str, mention: Mention, first_names: frozenset[str]) -> bool:
    """"Alain Rousset", "Marie Lagrange": a capitalised first name just before is a person's."""
    match = _PREVIOUS_WORD.search(text, max(0, mention.start - 40), mention.start)
    return bool(match) and match[1][:1].isupper() and fold(match[1]) in first_names


def _inside_longer_name(text: str, mention: Mention) -> bool:
    """A capitalised word just before, mid-sentence, that is not a preposition or an article."""
    match = _PREVIOUS_WORD.search(text, max(0, mention.start - 40), mention.start)
    if not match:
        return False
    word = match[1]
    sentence_start = text[max(0, match.start() - 2):match.start()].strip()[-1:] in (".", "!", "?", "\n", "")
    return word[:1].isupper() and not sentence_start and fold(word) not in ("de", "du", "des", "la", "le", "les", "a")


_EPCI_LEADS = ("communaute", "agglomeration", "metropole", "pays")


def _admissible(mention: Mention, place: Place, text: str, first_names: frozenset[str],
                in_enumeration: bool) -> bool:
    """Can this mention be this place, by its own surroundings?"""
    folded_surface = fold(mention.surface)
    if not _capitalised(mention.surface) and not (place.kind == "epci" and folded_surface.startswith(_EPCI_LEADS)):
        return False
    before = _before(text, mention, 30)
    if place.kind in ("commune", "commune_out") and (
            _STREET.search(before) or _PERSON.search(before) or _after_first_name(text, mention, first_names)):
        return False
    code_after = _CODE_AFTER.match(text, mention.end)
    if place.kind == "departement" and place.ambiguous:
        if _RIVER.search(before):
            return False
        title_lead = mention.start <= 1 and re.match(r"\s*[:,(]", text[mention.end:])
        return bool(_ARTICLE.search(before) or code_after or title_lead or mention.surface.isupper())
    if place.ambiguous:
        if _inside_longer_name(text, mention):
            return False  # "Grande Champagne", "Petite Champagne": a longer proper name
        if code_after or in_enumeration or _LOCATED_AFTER.match(text, mention.end):
            return True
        context = _STRONG_PLACE_CONTEXT if folded_surface in first_names else _PLACE_CONTEXT
        return bool(context.search(before))
    return True


def tag_places(text: str, gazetteer: Gazetteer | None = None, words: str | None = None) -> PlaceTags:
    """The places of `text` (title and body together), in the format of the tag output (README)
    (`words`: match_text(text), when already computed)."""
    gazetteer = gazetteer or load_gazetteer()
    words = words or match_text(text)
    mentions = find_mentions(text, gazetteer, words)
    written_deps = {m.upper() for m in _WRITTEN_DEP.findall(text)} if "(" in text else set()

    # Pass 1: what each mention's own surroundings allow and decide. A common word between two
    # places of an enumeration ("Aixe-sur-Vienne, Isle et Le Palais-sur-Vienne") is a place too.
    clear = [any(not p.ambiguous for p in m.places) for m in mentions]
    for i, mention in enumerate(mentions):
        in_enumeration = any(
            0 <= j < len(mentions) and clear[j] and _ENUMERATION.match(
                text[mentions[min(i, j)].end:mentions[max(i, j)].start])
            for j in (i - 1, i + 1))
        places = [p for p in mention.places if _admissible(mention, p, text, gazetteer.first_names, in_enumeration)]
        mention.places = tuple(_decide_locally(mention, places, text))
    _apply_located_in(mentions, text)

    # Context: the départements and the side (région or not) of the mentions now unambiguous.
    context_deps = set(written_deps)
    inside = outside = 0
    for mention in mentions:
        if len(mention.places) == 1 and not _minor(mention):
            place = mention.places[0]
            context_deps.add(place.dep or "")
            inside += place.in_region
            outside += not place.in_region
    if outside >= 2 and not inside:
        # A text about elsewhere: a village of the région named like one of its places (Mauriac in the
        # Cantal, too small to be in the gazetteer's outside list) is that place, not ours.
        for mention in mentions:
            if _minor(mention):
                mention.places = ()

    # Pass 2: one place per mention.
    postcode_deps = None
    for mention in mentions:
        if len(mention.places) == 1:
            mention.chosen = mention.places[0]
        elif mention.places:
            if postcode_deps is None:
                postcode_deps = {p[:2] for p in _POSTCODE.findall(text) if not p.startswith("97")}
            mention.chosen = _choose(mention.places, context_deps, postcode_deps, inside, outside)
    return _assemble(mentions, gazetteer, written_deps)


def _minor(mention: Mention) -> bool:
    """Only villages of the région (or common words) could be meant: weak evidence of the région."""
    return bool(mention.places) and all(
        p.kind == "commune" and (p.population < MINOR_POPULATION or p.ambiguous) for p in mention.places)


def _decide_locally(mention: Mention, places: list[Place], text: str) -> list[Place]:
    """A following "(86)" picks that département's place; "la Vienne" is the département and
    "à Vienne" a town."""
    if len(places) < 2:
        return places
    code_after = _CODE_AFTER.match(text, mention.end)
    if code_after:
        same = [p for p in places if p.dep == code_after[1].upper()]
        if same:
            return same
    before = _before(text, mention, 12)
    departements = [p for p in places if p.kind == "departement"]
    if departements and _ARTICLE.search(before):
        return departements
    towns = [p for p in places if p.kind in ("commune", "commune_out", "epci")]
    if departements and towns and _TOWN_PREPOSITION.search(before):
        return towns
    return places


def _apply_located_in(mentions: list[Mention], text: str) -> None:
    """"Bruges, en Belgique", "Bonnes (Vienne)", "Vienne, en Isère": a place followed by where it is
    keeps only the candidates that are there."""
    located: dict[str, tuple[Place, ...]] = {}
    for mention, where in zip(mentions, mentions[1:]):
        if len(where.places) != 1 or where.places[0].kind not in ("departement", "region", "abroad"):
            continue
        if not _LOCATED_IN.match(text[mention.end:where.start]):
            continue
        area = where.places[0]
        if area.kind == "departement":
            mention.places = tuple(p for p in mention.places if p.dep == area.code)
        elif area.in_region:
            mention.places = tuple(p for p in mention.places if p.in_region)
        else:
            mention.places = tuple(p for p in mention.places if not p.in_region and p.region in (area.region, None))
        located[fold(mention.surface)] = mention.places
    for mention in mentions:  # the same name elsewhere in the text is the same place ("Bruges : …")
        if fold(mention.surface) in located:
            mention.places = tuple(p for p in mention.places if p in located[fold(mention.surface)])


def _choose(places: tuple[Place, ...], context_deps: set[str], postcode_deps: set[str], inside: int,
            outside: int) -> Place:
    """Homonyms: the one in a département of the text, then the far larger one, then the side the
    text is on, then the région's (a regional watch's prior)."""
    abroad = [p for p in places if p.kind == "abroad"]
    if abroad and all(p.kind == "abroad" or p.population < MINOR_POPULATION for p in places):
        return abroad[0]  # "du Soudan": the country, not the village of the Deux-Sèvres
    for deps in (context_deps, postcode_deps):
        near = [p for p in places if p.dep in deps]
        if near:
            return max(near, key=lambda p: p.weight)
    inside_places = [p for p in places if p.in_region]
    outside_places = [p for p in places if not p.in_region]
    if not inside_places or not outside_places:
        return max(places, key=lambda p: p.weight)
    best_in = max(inside_places, key=lambda p: p.weight)
    best_out = max(outside_places, key=lambda p: p.weight)
    if best_out.weight > 20 * best_in.weight:
        return best_out
    if best_in.weight > 20 * best_out.weight:
        return best_in
    if outside > inside:
        return best_out
    return best_in


def _assemble(mentions: list[Mention], gazetteer: Gazetteer, written_deps: set[str]) -> PlaceTags:
    tags = PlaceTags()
    departements, communes, epci = set(), set(), set()
    named_outside = False
    region_named = False
    for mention in mentions:
        place = mention.chosen
        if place is None:
            continue
        evidence = {"match": mention.surface, "start": mention.start}
        if place.kind == "commune":
            communes.add(place.code)
            tags.evidence.append({"facet": "communes", "value": place.code, **evidence})
            commune = gazetteer.communes[place.code]
            departements.add(commune["dep"])
            if commune["epci"] in gazetteer.epci:
                epci.add(commune["epci"])
        elif place.kind == "epci":
            epci.add(place.code)
            tags.evidence.append({"facet": "epci", "value": place.code, **evidence})
            departements.update(d for d in gazetteer.epci[place.code]["departements"]
                                if gazetteer.departements[d]["region"] == gazetteer.region)
        elif place.kind == "departement" and place.in_region:
            departements.add(place.code)
            tags.evidence.append({"facet": "departements", "value": place.code, **evidence})
        elif place.kind == "region" and place.in_region:
            region_named = True
            tags.evidence.append({"facet": "region", "value": "na", **evidence})
        else:
            named_outside = True
    departements.update(d for d in written_deps if gazetteer.departements.get(d, {}).get("region") == gazetteer.region)
    tags.departements, tags.communes, tags.epci = sorted(departements), sorted(communes), sorted(epci)
    tags.region_na = bool(departements or communes or epci or region_named)
    tags.outside = named_outside and not tags.region_na
    return tags
