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
- a street ("avenue de Limoges") or a person ("M. Pons", "Hélène de Nexon") is not a place, nor a
  firm named after a village ("la biscuiterie Lezay"); an area named after a commune ("la forêt de
  Chizé") gives its département only;
- a commune is also called by a part of a double-barrelled name ("Montalivet": the gazetteer's
  `parts`, context needed), and found glued by a hyphen to another commune or a resort's suffix
  ("Tarnos-Ondres", "Lacanau-Océan");
- a département in a table's row ("Creuse\t7,4") is the département;
- homonyms across France are resolved by a following "(NN)", a postcode, the other places of the
  text, then population; a short name of ours ("Saint-Paul" for Saint-Paul-lès-Dax) that is the
  official name of a far larger town elsewhere (Saint-Paul, La Réunion) is that town unless the text
  says otherwise;
- a town called by the first word of its name ("Neuville" for Neuville-de-Poitou) when the gazetteer
  has no such short name for it is that town only if the text names its département otherwise;
- "de Corrèze", a département named like one of its own villages, is the département ("la mairie de
  Corrèze" the village); "le Val de Sérigny" (a brand, a small country) gives the département only;
- places in a sentence that opens on a comparison ("À titre de comparaison, la Gironde…") are not the
  text's, when the text names a place of the région elsewhere;
- a commune implies its département and its EPCI; a département name alone gives the département.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass, field, fields, replace
from functools import cached_property, lru_cache
from operator import itemgetter
from pathlib import Path

import ahocorasick
import orjson

from config.errors import VeilleError
from pipeline.folding import fold, frequent_first, match_text, word_key

GAZETTEER = Path(__file__).resolve().parents[1] / "config" / "gazetteer.json"
FIRST_NAMES = Path(__file__).resolve().parents[1] / "config" / "first_names.txt"
# Names outside France that regional news uses; a country or a foreign city outweighs any homonym
# commune of the région ("du Soudan", "Saint-Sébastien" across the border).
MINOR_POPULATION = 2000
CITY_POPULATION = 10000
FIRST_WORD_POPULATION = 1000  # a town called by its first word ("Neuville"): from this size
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
# Parts of the région that lie in one département (« le Médoc », « la Côte basque », « le Seignanx »): they
# give the département, no commune. Only names that are nouns of those places (not « le Niortais » the
# inhabitant: he is of Niort anyway) and that no other département shares.
SUB_TERRITORIES = {
    "33": ("Médoc", "Bassin d'Arcachon", "Entre-deux-Mers", "Libournais", "Blayais", "Haute-Gironde", "Sud-Gironde",
           "Cubzaguais", "Bazadais", "Réolais", "Val de l'Eyre", "Graves"),
    "24": ("Périgord", "Périgord vert", "Périgord noir", "Périgord blanc", "Périgord pourpre", "Sarladais",
           "Bergeracois", "Nontronnais", "Ribéracois"),
    "40": ("Seignanx", "Chalosse", "Marensin", "Tursan", "Pays d'Orthe", "Maremne", "Sud-Landes"),
    "64": ("Pays basque", "Côte basque", "Béarn", "Soule", "Labourd", "Basse-Navarre", "Vallée d'Aspe",
           "Vallée d'Ossau"),
    "47": ("Agenais", "Marmandais", "Villeneuvois", "Fumélois", "Néracais"),
    "16": ("Angoumois", "Cognaçais", "Confolentais", "Ruffécois"),
    "17": ("Aunis", "Île de Ré", "Île d'Oléron", "Royannais"),
    "79": ("Gâtine", "Thouarsais", "Bressuirais", "Mellois"),
    "86": ("Châtelleraudais", "Loudunais", "Montmorillonnais", "Haut-Poitou"),
    "19": ("Xaintrie", "Haute-Corrèze", "Basse-Corrèze"),
}
OTHER_FORMER_REGIONS = ("Midi-Pyrénées", "Languedoc-Roussillon", "Rhône-Alpes", "Auvergne", "Alsace", "Lorraine",
                        "Picardie", "Nord-Pas-de-Calais", "Franche-Comté", "Champagne-Ardenne", "Basse-Normandie",
                        "Haute-Normandie", "Provence")


# « Boulazac Isle Manoire », a new commune's official name with spaces (not « Le Pin »)
_SPACED_NAME = re.compile(r"^(?!(?:Le|La|Les|L')[ '])[^-()]+ [^-()]+$")


def name_variants(name: str) -> set[str]:
    """Keys of a name: hyphens or spaces (or hyphens throughout), Saint/St/Ste, œ or oe; between spaces
    (see `match_text`)."""
    base = fold(name)
    if "saint" not in base and "œ" not in base and "æ" not in base and " " not in base:
        # Most names, one word or hyphenated: their key and the same with spaces, made from the key
        # (the gazetteer is built from 9,000 names; the same keys as the general way below).
        if not base.strip():
            return set()
        key = word_key(base, folded=True)
        if "-" not in key:
            return {key}
        spaced = " ".join(key.replace("-", " ").split())
        return {key, f" {spaced} "} if spaced else {key}
    variants = {base, base.replace("-", " ")}
    if "-" in base and " " in base:  # "Provence-Alpes-Côte-d'Azur", "La-Teste-de-Buch": hyphens throughout
        variants.add(base.replace(" ", "-"))
    if "saint" in base:
        for variant in list(variants):
            variants.add(_SAINT_SPACE.sub(_then_hyphen, variant))  # "Pays de Saint Yrieix", "Saint-Yrieix"
            if variant.count("-") >= 2:
                variants.add(_SAINT_HYPHEN.sub(_then_space, variant))  # "Saint Yrieix-la-Perche"
        for variant in list(variants):
            for pattern, short in _SAINT_SHORT:
                variants.add(pattern.sub(short, variant))
    if "œ" in base or "æ" in base:
        for variant in list(variants):
            variants.add(variant.replace("œ", "oe").replace("æ", "ae"))
    return {word_key(v, folded=True) for v in variants if v.strip()}


# The space or hyphen after « saint(e) », swapped by a function: quicker than a group's template
# (Python 3.11 expands those in Python), and start-up makes the variants of 9,000 names.
_SAINT_SPACE = re.compile(r"\bsainte? ")
_SAINT_HYPHEN = re.compile(r"\bsainte?-")


def _then_hyphen(match: re.Match) -> str:
    return match[0][:-1] + "-"


def _then_space(match: re.Match) -> str:
    return match[0][:-1] + " "


_SAINT_SHORT = [(re.compile(rf"\b{long}(?=[- ])"), short) for long, short in (("saint", "st"), ("sainte", "ste"))]


# ----------------------------------------------------------------- entities


# Never changed once made (shared by every document; `replace` makes another), yet not frozen: a frozen
# dataclass sets each field through object.__setattr__, and start-up makes 10,000 places (a twentieth of
# `veille tag --jsonl`'s start-up). Hashed by value, as a frozen one.
@dataclass(slots=True, unsafe_hash=True)
class Place:
    kind: str          # commune | commune_out | departement | region | epci | abroad
    code: str          # INSEE commune or département code, région code, EPCI SIREN
    name: str
    dep: str | None    # département of a commune or EPCI
    population: int = 0
    ambiguous: bool = False  # a common word or first name: needs context
    in_region: bool = False
    region: str | None = None
    needs_departement: bool = False  # a town's first word ("Neuville"): stands only with its département named
    accents_needed: bool = False  # "Contré": written "Contre", the word is meant
    article: bool = False  # its commune is named after an article (Le Bois-Plage-en-Ré, Île-d'Aix): "du Bois-Plage"

    @property
    def weight(self) -> int:
        """Population prior; a département or a région outweighs any commune of the same name."""
        return 10**8 if self.kind in ("departement", "region", "abroad", "area") else self.population


_NOT_A_FIRST_WORD = frozenset(("saint", "sainte", "haute", "basse", "grand", "grande", "petit", "petite", "notre",
                               "vieux", "vieille"))
# A town's name whose first word people use alone ("Neuville" for Neuville-de-Poitou); not the generic
# first words of merged communes' names ("Terres-de-Haute-Charente", "Val-de-…").
_FIRST_WORD_OF_A_TOWN = re.compile(r"([^\W\d_]{5,})-(?:de|d'|du|des|sur|sous|en|les|lès|la|le|l')(?=[-'])")
_GENERIC_FIRST_WORDS = _NOT_A_FIRST_WORD | {"terres", "vals", "vallee", "vallees", "coteaux", "portes", "rives"}


@dataclass
class Gazetteer:
    names: dict[str, tuple[Place, ...]]  # automaton key (see `name_variants`) -> the places so called
    communes: dict[str, dict]
    epci: dict[str, dict]
    departements: dict[str, dict]
    region: str
    first_names: frozenset[str]  # folded
    _namesakes: dict[tuple[str, str], list[str]] = field(default_factory=dict, init=False, repr=False)

    @cached_property
    def automaton(self) -> ahocorasick.Automaton:
        """Every name, valued (key, places); built on first use (the whole tagger uses its own
        automaton of names and taxonomy keywords together: pipeline/tagging.py)."""
        automaton = ahocorasick.Automaton()
        for key in sorted(self.names, key=frequent_first):
            automaton.add_word(key, (key, self.names[key]))
        automaton.make_automaton()
        return automaton

    @cached_property
    def epci_members(self) -> dict[str, tuple[str | None, tuple[tuple[str, str], ...]]]:
        """EPCI SIREN -> (the région's département where most of its people live, ((" folded name ",
        INSEE code) of its member communes))."""
        people: dict[str, dict[str, int]] = {}
        names: dict[str, list[tuple[str, str]]] = {}
        for code, c in self.communes.items():
            if c.get("epci") in self.epci:
                people.setdefault(c["epci"], {}).setdefault(c["dep"], 0)
                people[c["epci"]][c["dep"]] += c.get("pop") or 0
                for name in (c["name"], *c.get("aliases", ())):
                    key = _search_key(name)
                    names.setdefault(c["epci"], []).append((f" {key} ", code))
                    article, _, rest = key.partition(" ")
                    if article in ("le", "la", "les") and rest:  # "Bénévent Grand Bourg": Le Grand-Bourg
                        names[c["epci"]].append((f" {rest} ", code))
        # A member called by the first word of its name ("Pays de Villeneuve en Armagnac": Villeneuve-de-Marsan),
        # when no other member starts so and the word is no département ("Sud Gironde") nor a Saint-….
        departements = {_search_key(d["name"]) for d in self.departements.values()}
        for code, members in names.items():
            firsts: dict[str, set[str]] = {}
            for key, member in members:
                word, _, rest = key.strip().partition(" ")
                if rest and len(word) >= 5 and word not in _NOT_A_FIRST_WORD and word not in departements:
                    firsts.setdefault(word, set()).add(member)
            members.extend((f" {word} ", next(iter(codes))) for word, codes in firsts.items() if len(codes) == 1)
        return {code: (max(people[code], key=people[code].get) if code in people else None,
                       tuple(names.get(code, ())))
                for code in self.epci}

    def namesakes(self, code: str, surface: str) -> list[str]:
        """The member communes named in an EPCI's name as written ("Grand Poitiers", "Limoges
        Métropole", "Agglomération d'Agen"), sorted (read once: the same names recur from text to text)."""
        found = self._namesakes.get((code, surface))
        if found is None:
            name = f" {_search_key(surface)} "
            found = self._namesakes[(code, surface)] = sorted(
                {member_code for member, member_code in self.epci_members[code][1] if member in name})
        return found

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
    """The gazetteer at `path` (settings' `paths.gazetteer`; by default the one this project ships),
    built from it once and then read back from the user's cache (see `_cache_file`)."""
    try:
        source = Path(path).read_bytes()
    except FileNotFoundError:
        raise VeilleError(f"répertoire géographique introuvable : {path} (paths.gazetteer dans settings.yaml, "
                          "« make gazetteer » pour le produire)") from None
    cache = _cache_file(source)
    gazetteer = _read_cache(cache)
    if gazetteer is None:
        gazetteer = _build_gazetteer(orjson.loads(source))  # orjson: twice as quick as json on 0.8 MB
        _write_cache(cache, gazetteer)
    return gazetteer


# The gazetteer as built, kept between processes: building it (every name's keys, 10,000 places) is a
# quarter of a second, a third of `veille tag --jsonl`'s start-up; reading it back, a fifth of that.
_CACHE_FORMAT = 1
_CACHE_KEPT = 4  # the latest files: two checkouts of other versions on one machine do not evict each other


def _cache_file(source: bytes) -> Path | None:
    """Where the gazetteer built from `source` is kept: in the user's cache folder ($XDG_CACHE_HOME,
    else ~/.cache), named by a digest of `source`, of the first names and of the code that builds it
    (this package's modules: a change in any of them builds anew, simpler than knowing which count).
    None when there is no home to keep it in, or no source to tell the code's version by."""
    modules = sorted(Path(__file__).parent.glob("*.py"))
    if not modules:  # installed as bytecode alone: no way to tell one version's from another's
        return None
    digest = hashlib.sha256(source)
    digest.update(FIRST_NAMES.read_bytes())
    for module in modules:
        digest.update(module.read_bytes())
    configured = os.environ.get("XDG_CACHE_HOME", "")
    try:  # a relative $XDG_CACHE_HOME is to be ignored (XDG Base Directory specification)
        folder = (Path(configured) if os.path.isabs(configured) else Path.home() / ".cache") / "veille"
    except RuntimeError:  # no home directory
        return None
    return folder / f"gazetteer-{_CACHE_FORMAT}-{digest.hexdigest()[:32]}.json"


def _read_cache(cache: Path | None) -> Gazetteer | None:
    """The gazetteer kept in `cache`, or None (absent, unreadable or not what this code writes)."""
    if cache is None:
        return None
    try:
        data = orjson.loads(cache.read_bytes())
        places = [Place(*values) for values in data["places"]]
        names = {key: tuple([places[i] for i in numbers]) for key, numbers in data["names"].items()}
        return Gazetteer(names, data["communes"], data["epci"], data["departements"], data["region"],
                         frozenset(data["first_names"]))
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def _write_cache(cache: Path | None, gazetteer: Gazetteer) -> None:
    """Keep `gazetteer` in `cache` (written whole then renamed: a reader never sees half of it), and
    remove all but the latest files that other code or data left there. Nothing kept where that
    fails: the next start builds it again."""
    if cache is None:
        return
    numbers: dict[int, int] = {}  # id of a place -> its number: a place under several keys is kept once
    places, place_fields = [], [f.name for f in fields(Place)]
    for named in gazetteer.names.values():
        for place in named:
            if id(place) not in numbers:
                numbers[id(place)] = len(places)
                places.append([getattr(place, name) for name in place_fields])
    data = {"places": places, "names": {key: [numbers[id(p)] for p in named] for key, named in gazetteer.names.items()},
            "communes": gazetteer.communes, "epci": gazetteer.epci, "departements": gazetteer.departements,
            "region": gazetteer.region, "first_names": sorted(gazetteer.first_names)}
    written = None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=cache.parent, prefix=".gazetteer-", delete=False) as file:
            written = file.name
            file.write(orjson.dumps(data))
        os.replace(written, cache)
        kept = sorted(cache.parent.glob("gazetteer-*.json"), key=lambda path: path.stat().st_mtime, reverse=True)
        for old in kept[_CACHE_KEPT:]:
            old.unlink(missing_ok=True)
    except OSError:
        if written is not None:
            Path(written).unlink(missing_ok=True)


def _build_gazetteer(data: dict) -> Gazetteer:
    """The gazetteer of the data of a gazetteer file (scripts/build_gazetteer.py)."""
    region = data["region"]
    names: dict[str, list[Place]] = {}

    def add(name: str, place: Place) -> None:
        for variant in name_variants(name):
            bucket = names.setdefault(variant, [])
            if place not in bucket:
                bucket.append(place)

    dep_region = {code: d["region"] for code, d in data["departements"].items()}
    taken = {fold(name) for c in data["communes"].values() for name in (c["name"], *c["aliases"])}
    short_names: dict[str, list[Place]] = {}  # "Condat" -> the towns so called (Condat-sur-Vienne)
    for code, c in data["communes"].items():
        # A commune merged as "Sigoulès-et-Flaugeac", "Port-Sainte-Foy-et-Ponchapt" is still called by its
        # first part, when no other commune has that name.
        first, joined, _ = c["name"].partition("-et-")
        if joined and len(first) >= 4 and fold(first) not in taken:
            c = {**c, "aliases": [*c["aliases"], first], "first_part": first}
            data["communes"][code] = c
        with_article = _WITH_AN_ARTICLE.match(fold(c["name"])) is not None
        place = Place("commune", code, c["name"], c["dep"], c["pop"], c["ambiguous"], True, region,
                      accents_needed=c.get("accents_needed", False), article=with_article)
        add(c["name"], place)
        if _SPACED_NAME.match(c["name"]):
            add(c["name"].replace(" ", "-"), place)  # written with hyphens as the old ones are
        for alias in c["aliases"]:
            # An old name of a merged commune: small places, so short one-word names need context; so
            # does a name without its article ("Passage" for Le Passage: a common noun first).
            short = " " not in alias and "-" not in alias and (len(alias) < 6 or alias == c.get("first_part"))
            no_article = fold(c["name"]).split(" ", 1)[-1] == fold(alias) and fold(c["name"]).split(" ", 1)[0] in (
                "le", "la", "les")
            alias_place = Place("commune", code, alias, c["dep"], c["pop"], c["ambiguous"] or short or no_article, True,
                                region, article=with_article)
            add(alias, alias_place)
            if c["name"].startswith(f"{alias}-"):
                short_names.setdefault(alias, []).append(alias_place)
        for part in c.get("parts", ()):  # "Montalivet" for Vendays-Montalivet: a town's context needed
            add(part, Place("commune", code, part, c["dep"], c["pop"], True, True, region, article=with_article))
        # "au Dorat", "des Cars": the article of Le Dorat, Les Cars contracted with the preposition
        # before it (Dorat, Cars are other communes: "à Dorat", "de Cars").
        article, _, bare = c["name"].partition(" ")
        if article in ("Le", "Les") and bare[:1].isupper():
            for contracted in (("au", "du") if article == "Le" else ("aux", "des")):
                add(f"{contracted} {bare}", place)
    # A town's short name is also how the people of another département call their own commune of that
    # first part: « Condat » is Condat-sur-Vienne near Limoges, Condat-sur-Vézère in a text about the
    # Dordogne. Those communes stand only with their département in the text (see `tag_places`); not
    # where a département has many (« Saint-Martin-… »: the short name says none of them).
    by_first_part: dict[str, list[str]] = {}
    for code, c in data["communes"].items():
        hyphen = c["name"].find("-")
        while hyphen != -1:
            by_first_part.setdefault(c["name"][:hyphen], []).append(code)
            hyphen = c["name"].find("-", hyphen + 1)
    for short, towns in short_names.items():
        town_deps = {town.dep for town in towns}
        others: dict[str, list[str]] = {}
        for code in by_first_part[short]:
            if data["communes"][code]["dep"] not in town_deps:
                others.setdefault(data["communes"][code]["dep"], []).append(code)
        buckets = [names[key] for key in name_variants(short)]  # the towns' keys: there already
        for communes in others.values():
            for code in communes if len(communes) <= 2 else ():
                c = data["communes"][code]
                place = Place("commune", code, short, c["dep"], c["pop"], towns[0].ambiguous, True, region,
                              needs_departement=True, article=_WITH_AN_ARTICLE.match(fold(c["name"])) is not None)
                for bucket in buckets:
                    bucket.append(place)
    # A town of the région called by the first word of its name, when the gazetteer has no such short
    # name for it (the word is another place's name too, or a word): "à Neuville" in a text about the
    # Vienne is Neuville-de-Poitou; elsewhere, not (see `tag_places`). One town a word and département.
    first_words: dict[tuple[str, str], list[tuple[str, str, dict]]] = {}
    for code, c in data["communes"].items():
        match = _FIRST_WORD_OF_A_TOWN.match(c["name"])
        if match and (c["pop"] or 0) >= FIRST_WORD_POPULATION and fold(match[1]) not in _GENERIC_FIRST_WORDS:
            first_words.setdefault((fold(match[1]), c["dep"]), []).append((match[1], code, c))
    for towns in first_words.values():
        word, code, c = towns[0]
        if len(towns) == 1 and not any(p.code == code for key in name_variants(word) for p in names.get(key, ())):
            add(word, Place("commune", code, word, c["dep"], c["pop"], True, True, region, needs_departement=True))
    for name, code, dep, population, short_names, ambiguous in data["outside_communes"]:
        place = Place("commune_out", code, name, dep, population, ambiguous, False, dep_region.get(dep),
                      article=_WITH_AN_ARTICLE.match(fold(name)) is not None)
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
    for dep, areas in SUB_TERRITORIES.items():
        for name in areas:
            add(name, Place("area", dep, name, dep, 0, False, True, region))

    # A commune's name glued by a hyphen to another place or a resort's suffix ("Tarnos-Ondres",
    # "Lacanau-Océan"): the name as a prefix, " tarnos-", checked in `find_mentions`.
    # Towns only, of one word: such pairs and resorts are towns, and every key makes the scan slower.
    for key, places in list(names.items()):
        communes = [p for p in places if p.kind == "commune" and p.population >= MINOR_POPULATION
                    and not p.needs_departement]
        if communes and " " not in key[1:-1] and "-" not in key:
            names.setdefault(key[:-1] + "-", []).extend(communes)

    keyed: dict[str, tuple[Place, ...]] = {}
    for key, places in names.items():
        # A name is a common word or not for all its places: "Campagne" needs context whichever
        # Campagne it would be; "Mérignac" does not, its largest place (Gironde) is a city.
        if len(places) > 1:
            largest = max(places, key=lambda p: p.weight)
            ambiguous = largest.ambiguous or (largest.weight < CITY_POPULATION and any(p.ambiguous for p in places))
            places = [p if p.ambiguous == ambiguous else replace(p, ambiguous=ambiguous) for p in places]
        keyed[key] = tuple(places)
    first_names = frozenset(
        fold(name) for line in FIRST_NAMES.read_text(encoding="utf-8").splitlines()
        if not line.startswith("#") for name in line.split())
    return Gazetteer(keyed, data["communes"], data["epci"], data["departements"], region, first_names)


# ------------------------------------------------------------------ matching

# Contexts, read in the folded text just before a name (punctuation kept: "du Passage, de Boé" is
# not the street "passage de Boé").
_PLACE_CONTEXT = re.compile(
    r"(?:\b(?:a|de|en|sur|dans|vers|pres de|commune de|ville de|village de|mairie de|du|au|aux|des"
    r"|quartier de|secteur de|\d{5})\s+|\b(?:d|jusqu'a|l)')$")
# For a name that is also a first name, "de"/"d'" is not enough ("celui d'Anaïs").
_STRONG_PLACE_CONTEXT = re.compile(
    r"(?:\b(?:a|en|sur|dans|vers|pres de|commune de|ville de|village de|mairie de|au|aux|\d{5})\s+"
    r"|\bjusqu'a)$")
_RIVER = re.compile(r"\b(?:bords?|bordures?|rives?|berges?|vallee|cours|long|amont|aval|confluent|boucles?|meandres?"
                    r"|sur|traverse[rz]?|franchi[rt]?)"
                    r"\s+(?:(?:de\s+)?(?:la|le|les|l')|du|des)\s*$")  # "les bords de la Vienne", "les rives du Brion"
_ARTICLE = re.compile(r"(?:\b(?:la|les|le|des|du|en)\s+|\bl')$")
_TOWN_PREPOSITION = re.compile(r"\b(?:a|commune de|mairie de|maire de|village de|bourg de)\s+$")
_OF = re.compile(r"(?:\bde\s+|\bd')$")
_ENUMERATION = re.compile(r"^\s*(?:,|et|ou)\s*$")
# "Anais, en Charente-Maritime", "Bonnes (Vienne)"; not an acronym in brackets ("Mer et Montagne (GEIQ)").
_LOCATED_AFTER = re.compile(r"\s*(?:,\s*(?:en|au|aux|dans)\s|\((?!\s*[A-Z]{2,}\b))")
_CODE_AFTER = re.compile(r"\s*\((\d[\dabAB]|97\d)\)")
_WRITTEN_DEP = re.compile(r"\((\d[\dabAB]|97\d)\)")
# "Bruges, en Belgique", "Lagos, au Nigeria", "Bonnes (Vienne)"; not an enumeration "la Corrèze, la Creuse".
_LOCATED_IN = re.compile(r"^\s*(?:,?\s*(?:en|au|aux|dans\s+(?:le|la|les)|dans\s+l['’])|\((?:en\s+)?)\s*$")
_POSTCODE = re.compile(r" (\d{5})(?= )")  # in the matching text (match_text): far faster than \b…\b

_RIVER_ENDS = ("la", "le", "les", "l'", "du", "des")


def _river_before(before: str) -> bool:
    """"les bords de la", "les rives du" (folded) just before a name: a river's. A regular expression
    anchored at the end is tried at every position of the text before it: the ending it needs is
    tested first, in C (most names have none of these words before them)."""
    return before.rstrip().endswith(_RIVER_ENDS) and _RIVER.search(before) is not None


@dataclass(slots=True)
class Mention:
    start: int
    end: int
    places: tuple[Place, ...]
    surface: str
    chosen: Place | None = None
    inner: list[tuple[int, int, tuple[Place, ...]]] = field(default_factory=list)  # shorter names inside


@dataclass
class PlaceTags:
    departements: list[str] = field(default_factory=list)
    communes: list[str] = field(default_factory=list)
    epci: list[str] = field(default_factory=list)
    region_na: bool = False
    outside: bool = False
    evidence: list[dict] = field(default_factory=list)


_START, _END = itemgetter(0), itemgetter(1)


def find_mentions(text: str, gazetteer: Gazetteer, words: str | None = None, matches=None) -> list[Mention]:
    """Leftmost-longest whole-word name matches (`words`: match_text(text), `matches`: the
    automaton's (end index, (key, places)) in it, if already computed)."""
    found = []
    if matches is None:
        matches = gazetteer.automaton.iter(words or match_text(text))
    for end_index, (key, places) in matches:
        start = end_index - len(key) + 1  # in the padded text: where the name starts in `text`
        if key[-1] == "-":
            found.extend(_glued(start, start + len(key) - 2, places, words or match_text(text), gazetteer))
            continue
        found.append((start, start + len(key) - 2, places))
    if len(found) > 1:  # by start, the longest first: two stable sorts in C (a key function costs a call each)
        found.sort(key=_END, reverse=True)
        found.sort(key=_START)
    mentions, last_end = [], -1
    for start, end, places in found:
        if start >= last_end:
            mentions.append(Mention(start, end, places, text[start:end]))
            last_end = end
        elif mentions and end <= mentions[-1].end:
            mentions[-1].inner.append((start, end, places))  # a shorter name inside it ("bassin de [Marennes]")
    return mentions


# What may follow a commune's name glued by a hyphen and still leave the commune: a resort's or an old
# agglomeration's suffix ("Lacanau-Océan", "Montalivet-les-Bains", "Bayonne-Atlantique").
_GLUED_SUFFIXES = frozenset(("les-bains", "plage", "ocean", "sur-mer", "pyrenees", "atlantique", "centre", "ville"))


def _glued(start: int, end: int, places: tuple[Place, ...], words: str, gazetteer: Gazetteer) -> list:
    """A name glued by a hyphen (`start`, `end` in the text; "tarnos-" matched): the name and the place
    after it when the rest of the hyphenated word is a commune's name ("Tarnos-Ondres"), the name alone
    before a resort's suffix ("Lacanau-Océan"), nothing otherwise ("Saint-Martin-de-…" of another
    place, a person's "Marie-Hélène")."""
    rest_end = words.find(" ", end + 1)
    rest = words[end + 2:rest_end]  # `words` is padded by one space: text index i is words index i + 1
    if rest in _GLUED_SUFFIXES:
        return [(start, end, places)]
    second = gazetteer.names.get(f" {rest} ")
    if second and "-" not in rest and any(p.kind == "commune" for p in second):
        # Glued to a town, a name that is also a word needs no other context ("Sarlat-Carsac").
        second = tuple(replace(p, ambiguous=False) if p.ambiguous else p for p in second if p.kind == "commune")
        return [(start, end, places), (end + 1, rest_end - 1, second)]
    return []


def _capitalised(surface: str) -> bool:
    """A proper noun: "Guéret", "La Force", "l'Isle-Jourdain"; not "La force de frappe"."""
    first = surface[:1]
    if surface[:3] in ("au ", "du ") or surface[:4] in ("aux ", "des "):  # « au Dorat », « des Cars »
        return surface.split(" ", 1)[1][:1].isupper()
    if surface[:4].lower() in ("île ", "ile "):  # « l'île d'Aix », « île de Ré »: the island is in lower case
        return any(part[:1].isupper() for part in re.split(r"['’\s-]", surface[4:]) if part)
    if first not in ("l", "L"):
        return first.isupper()
    parts = _ARTICLE_SPLIT(surface, maxsplit=1)
    if len(parts) == 2 and parts[0].lower() in ("l", "la", "le", "les"):
        return parts[1][:1].isupper()
    return first.isupper()


_ARTICLE_SPLIT = re.compile(r"['’\s]").split


@lru_cache(maxsize=4096)
def _surface_facts(surface: str) -> tuple[str, bool, bool]:
    """A name as written: folded, whether capitalised, whether it starts as an EPCI's name does (the
    same names recur from text to text: read once)."""
    folded = fold(surface)
    return folded, _capitalised(surface), folded.startswith(_EPCI_LEADS)


def _previous_word(text: str, start: int) -> tuple[str, int] | None:
    """The word just before `start` and where it starts: a run of letters, digits, "_" or "-"
    followed by spaces only, within 40 characters (what the expression ([\\w-]+)[ \\u00a0]+$ finds there)."""
    low = max(0, start - 40)
    window = text[low:start]
    stripped = window.rstrip(" \u00a0")
    if len(stripped) == len(window):
        return None
    last = stripped[-1:]
    if not (last.isalnum() or last in ("_", "-")):
        return None
    word = stripped.rsplit(None, 1)[-1]  # most often the word itself: one call in C
    if not word.isalnum():
        index = len(word)
        while index and (word[index - 1].isalnum() or word[index - 1] in "_-"):
            index -= 1
        word = word[index:]
    return word, low + len(stripped) - len(word)


def _inside_longer_name(text: str, previous: tuple[str, int] | None) -> bool:
    """A capitalised word just before (`previous`: the word and where it starts), mid-sentence, that
    is not a preposition or an article."""
    if not previous:
        return False
    word, word_start = previous
    if not word[:1].isupper():
        return False
    sentence_start = text[max(0, word_start - 2):word_start].strip()[-1:] in _SENTENCE_OPENERS
    return not sentence_start and fold(word) not in ("de", "du", "des", "la", "le", "les", "a")


# What may come just before a sentence's (or a quotation's) first word: « "Entre St Laurent-Médoc et… ».
_SENTENCE_OPENERS = frozenset((".", "!", "?", "\n", "", "«", "“", '"', "(", ":", "—", "–"))
_EPCI_LEADS = ("communaute", "agglomeration", "metropole", "pays")
_READ_IN_CONTEXT = frozenset(("commune", "commune_out", "epci"))  # kinds `_admissible` judges by the words around
_EPCI_WORDS = frozenset(("ca", "cc", "cu", "cda", "cdc", "communaute", "agglomeration", "metropole", "agglo", "pays",
                         "intercommunalite"))


def _admissible(mention: Mention, text: str, first_names: frozenset[str], in_enumeration,
                after_a_place=lambda: False) -> list[Place]:
    """The places this mention can be by its own surroundings (`in_enumeration()`: whether it sits
    between places of an enumeration; `after_a_place()`: whether a place's name comes just before it,
    « Bourganeuf Royère de Vassivière »). The facts of the surroundings are read once per mention."""
    places = mention.places
    surface = mention.surface
    folded_surface, capitalised, epci_lead = _surface_facts(surface)
    if folded_surface in first_names and _SURNAME_AFTER.match(text, mention.end):
        return []  # "Aude de Vayres", "Florence Martin": a person
    if not capitalised and not epci_lead:
        return []  # a word ("contre", "plan"), unless an EPCI's name in lower case ("communauté de …")
    for place in places:
        if place.ambiguous or place.kind in _READ_IN_CONTEXT:
            break
    else:  # a région, a département that is no common word…: no need to read the words around
        return list(places) if capitalised else []
    previous = _previous_word(text, mention.start)  # the word before: a first name, a longer name's start…
    inside_longer = code_after = None  # read when a place needs them
    for place in places:
        if place.kind == "epci":
            inside_longer = _inside_longer_name(text, previous)
            if inside_longer and not epci_lead and not (previous and fold(previous[0]) in _EPCI_WORDS):
                # "Territoire Touraine Val de Vienne" is not the EPCI Val de Vienne ("CA Grand Poitiers" is)
                places = [p for p in places if p.kind != "epci"]
                if not places:
                    return []
            break
    if not capitalised:
        places = [p for p in places if p.kind == "epci"]
        if not places:
            return []
    before = fold(text[max(0, mention.start - 30):mention.start])
    not_a_town = ambiguous_ok = named_before = None
    strong_context = False
    kept = []
    for place in places:
        if place.kind in ("commune", "commune_out"):
            if place.accents_needed and surface.isascii() and not surface.isupper():
                continue  # « Contre le chômage… », « le Maire de Bègles »: the word, not Contré or Mairé
            if place.ambiguous and len(surface) <= 4 and surface.isupper():
                continue  # « l'ARS »: an acronym, not the village Ars (a common word's name)
            if not_a_town is None:
                named_before = _named_before(before)
                not_a_town = named_before in ("street", "person", "product") or _not_a_town(
                    text, mention, previous, first_names)
            if not_a_town:
                continue
            if named_before == "area":
                # "la forêt de Chizé", "le marais de Brouage": an area around the commune, not the commune;
                # in the région, its département (as « le Médoc »).
                if place.kind == "commune":
                    kept.append(Place("area", place.dep, place.name, place.dep, 0, False, True, place.region))
                continue
            if place.population < CITY_POPULATION and named_before in ("firm", "district"):
                continue  # "la biscuiterie Lezay", "le quartier du Pin": named after a village (a town's is in it)
            if place.population < CITY_POPULATION and _river_before(before):
                continue  # "les rives du Brion": a river named like a village
            if place.population < CITY_POPULATION and not place.article and before.endswith(_ARTICLE_ENDS):
                # "les quartiers du Peyrouat et de la Moustey", "des Cours": a village's name without an
                # article, written after one, is another name (a district, a river, a place; a common word's
                # too, whatever context the article gives); "La Moustey" is `_not_a_town`'s.
                continue
            if place.population < CITY_POPULATION and not place.ambiguous:
                if surface[:1] in "lL" and _LOWER_ARTICLE.match(surface) and place.name[:1].isupper() \
                        and fold(place.name).split(" ", 1)[0] in ("la", "le", "les", "l'"):
                    # "le Parc de la Vallée" is no La Vallée: a town's article is written in capitals, else
                    # it takes a town's context ("à la Souterraine").
                    place = replace(place, ambiguous=True)
                    strong_context = True
                elif surface.isupper() and len(surface) > 3:
                    # A village is a common word written in capitals ("LUTTE CONTRE LA PAUVRETÉ") more
                    # often than itself: then it needs what an ambiguous name needs; unless it is the
                    # dateline that opens a title or a line ("CARCANS. Le renouveau…").
                    if not ((mention.start == 0 or text[mention.start - 1] == "\n")
                            and _DATELINE_END.match(text, mention.end)):
                        place = replace(place, ambiguous=True)
                else:
                    if inside_longer is None:
                        inside_longer = _inside_longer_name(text, previous)
                    if inside_longer and not after_a_place():
                        continue  # a person's or a firm's name after a capitalised word ("Florent Juille")
                    if _OF_A_NAME_AFTER.match(text, mention.end) or _NUMERAL_AFTER.match(text, mention.end) or (
                            surface[:1].islower() and _CAPITALISED_AFTER.match(text, mention.end)):
                        continue  # "le quartier d'Ousse des Bois", "Lascaux IV", "au Pin Galant": a longer name
        if place.kind == "departement" and place.ambiguous:
            if _river_before(before):
                continue
            if code_after is None:
                code_after = _CODE_AFTER.match(text, mention.end) or False
            # Leading a line: a title ("Creuse : …") or a table's row ("Creuse\t7,4").
            title_lead = (mention.start <= 1 or text[mention.start - 1] == "\n") and (
                _TITLE_LEAD.match(text, mention.end) or _TABLE_CELL.match(text, mention.end))
            # The département is a name of its own villages only ("Corrèze"): "de Corrèze" is the département.
            only_departement = all(p.kind in ("departement", "area") or p.kind == "commune" and p.dep == place.code
                                   for p in places)
            if (_ARTICLE.search(before) or code_after or title_lead or surface.isupper()
                    or in_enumeration()  # "GEIQ BTP Landes et Côte basque"
                    or only_departement and _OF.search(before)):  # "député de Gironde" (not "de Vienne": a town)
                kept.append(place)
            continue
        if place.ambiguous:
            if ambiguous_ok is None and (_river_before(before) or _inside_a_name_of(text, mention.start)
                                         or _CAPITALISED_AFTER.match(text, mention.end)):
                # "les bords de l'Isle": the river, not the commune Isle; "la Quinzaine du Bois", "Plaine
                # Commune": a longer name
                ambiguous_ok = False
            if ambiguous_ok is None:
                if inside_longer is None:
                    inside_longer = _inside_longer_name(text, previous)
                if code_after is None:
                    code_after = _CODE_AFTER.match(text, mention.end) or False
                if inside_longer:
                    ambiguous_ok = False  # "Grande Champagne", "Petite Champagne": a longer proper name
                elif code_after or in_enumeration() or _LOCATED_AFTER.match(text, mention.end):
                    ambiguous_ok = True
                else:
                    strong = strong_context or folded_surface in first_names  # "celui d'Anaïs", "parc de la Vallée"
                    context = _STRONG_PLACE_CONTEXT if strong else _PLACE_CONTEXT
                    ambiguous_ok = bool(context.search(before))
            if not ambiguous_ok:
                continue
        kept.append(place)
    return kept


def _not_a_town(text: str, mention: Mention, previous: tuple[str, int] | None, first_names: frozenset[str]) -> bool:
    """A street named after a person ("rue Agrippa d'Aubigné"), a person ("Alain Rousset", "Hélène de
    Nexon") or another name with its own article ("La Moustey"); the words of a street or a title
    ("avenue de Limoges", "M. Pons") are read by `_named_before`."""
    if previous and previous[0][:1].isupper() and fold(previous[0]) in first_names:
        return True
    raw = text[max(0, mention.start - 40):mention.start]
    if raw.endswith(_CAPITAL_ARTICLES) or (raw.rstrip().endswith(_CAPITAL_PARTICLE_ENDS)
                                           and _CAPITAL_PARTICLE.search(raw)):
        return True  # "La Moustey"; "les épisodes De Fursac": a brand's or a family's name
    if raw.endswith(_PARTICLES):
        particle = _PARTICLE_OF_A_NAME.search(raw)
        return bool(particle and fold(particle[1]) in first_names or _STREET_NAMED_AFTER.search(raw))
    return False


_CAPITAL_ARTICLES = ("La ", "Le ", "Les ", "L'", "L’")
_CAPITAL_PARTICLE = re.compile(r"[^\s.!?:;«\"“(]\s+(?:(?:De|Du|Des)\s+|D['’])$")  # mid-sentence
_CAPITAL_PARTICLE_ENDS = ("De", "Du", "Des", "D'", "D’")  # how it must end (see `_river_before`)
_CAPITALISED_AFTER = re.compile(r"[ \u00a0]+[A-ZÀ-Ý][a-zà-ÿ]")
_NUMERAL_AFTER = re.compile(r"[ \u00a0]+(?:I{2,3}|IV|VI{0,3}|IX|XI{0,3})\b")  # "Lascaux IV": a site, a work
_OF_A_NAME_AFTER = re.compile(r"[ \u00a0]+(?:des|du|de[ \u00a0]+la|de[ \u00a0]+l['’])[ \u00a0]*[A-ZÀ-Ý][a-zà-ÿ]")
_SURNAME_AFTER = re.compile(r"[ \u00a0]+(?:(?:de|du|d['’]) ?)?[A-ZÀ-Ý][a-zà-ÿ]")
_PARTICLES = ("de ", "d'", "d’", "du ")


_TITLE_LEAD = re.compile(r"\s*[:,(]")
_DATELINE_END = re.compile(r"(?:\.|\s*[:–—-])\s")
_TABLE_CELL = re.compile(r"\t|[ \t]+[-+−]?\d")  # "Creuse\t7,4", "Charente -0,2": a row of a table
# What the words just before a town's name make of it (`_named_before`): a street ("avenue de Limoges",
# "place du Marché"), a person ("M. Pons"), a firm named after a village ("la biscuiterie Lezay": the
# noun right before the name), an area named after a commune ("la forêt de Chizé", "le marais de
# Brouage": "de" or "d'" between). Words as `fold` writes them.
_STREET_WORDS = frozenset((
    "rue", "avenue", "av", "av.", "boulevard", "bd", "place", "route", "chemin", "allee", "allees", "quai", "impasse",
    "cours", "square", "rond-point", "esplanade", "faubourg", "rocade", "passage"))
# "le quartier du Pin", "la cité de Saint-Georges": a district named like a village (a town's district:
# "un quartier de Poitiers").
_DISTRICT_WORDS = frozenset(("quartier", "quartiers", "cite", "residence", "lotissement", "hameau"))
_PERSON_WORDS = frozenset(("m.", "mme", "mlle", "me", "dr", "pr", "monsieur", "madame"))
_FIRM_WORDS = frozenset((
    "fromagerie", "laiterie", "biscuiterie", "conserverie", "brasserie", "distillerie", "chocolaterie", "cidrerie",
    "boulangerie", "charcuterie", "salaisons", "societe", "entreprise", "groupe", "marque", "ets", "etablissements",
    "transports", "laboratoire", "laboratoires", "editions", "imprimerie", "menuiserie", "scierie", "fonderie"))
_AREA_WORDS = frozenset((
    "foret", "marais", "presqu'ile", "plateau", "massif", "estuaire", "baie", "pointe", "pertuis", "etang", "dune",
    "dunes", "landes", "causse", "gorges", "vallee", "vallees",  # « la vallée de Josbaig »
    "val"))  # « le Val de Sérigny »: a brand or a small country named after a village, not the village
# A wine or a spirit named after its town ("l'appellation Pessac-Léognan", "la filière Cognac").
_PRODUCT_WORDS = frozenset(("appellation", "appellations", "aoc", "aop", "igp", "filiere", "cru", "crus", "cuvee"))
_OF_ONE = frozenset(("du", "des", "de", "d'"))
_LEADING_PUNCTUATION = "([{«\"“‘'‹,;:.!?-"


def _named_before(before: str) -> str | None:
    """"street", "district", "person", "firm" or "area" from the folded words just before a name (`before`), or
    None. Words compared with sets: a regular expression anchored at the end is tried at every
    position of the text before, several times slower."""
    if before[-1:] not in (" ", "'"):
        return None
    words = before.split()[-4:]
    if not words:
        return None
    if len(words) >= 2 and words[-2] == "de" and words[-1] in ("la", "l'"):
        head, of = (words[-3] if len(words) >= 3 else ""), True
    elif words[-1] in _OF_ONE:
        head, of = (words[-2] if len(words) >= 2 else ""), True
    else:
        head, of = words[-1], False
    head = head.lstrip(_LEADING_PUNCTUATION)
    if "'" in head and head not in _AREA_WORDS:
        head = head.rsplit("'", 1)[1]  # "l'avenue de", "d'Établissements" (not "presqu'île")
    if head in _STREET_WORDS:
        return "street"
    if head in _DISTRICT_WORDS:
        return "district"
    if of:
        return "area" if head in _AREA_WORDS else None
    if head in _PERSON_WORDS:
        return "person"
    if head in _PRODUCT_WORDS:
        return "product"
    return "firm" if head in _FIRM_WORDS else None
_STREET_NAMED_AFTER = re.compile(
    r"\b(?:rue|avenue|boulevard|place|allée|allées|quai|impasse|chemin|cours|square)\s+"
    r"(?:[A-ZÀ-Ý][\w-]*\s+){1,2}(?:de\s|du\s|d['’])$")
_LOWER_ARTICLE = re.compile(r"(?:la|le|les)\s|l['’]")
# An article (or one contracted with « à », « de ») just before a name, in the folded text.
_ARTICLE_ENDS = (" la ", " le ", " les ", " du ", " des ", " au ", " aux ", " l'")
_WITH_AN_ARTICLE = re.compile(r"(?:la|le|les)\s|l'|ile\b")  # a name written after an article (« l'île d'Aix »)


def _inside_a_name_of(text: str, start: int) -> bool:
    """A capitalised word mid-sentence and "du", "des", "de la", "de l'" or "de" just before `start`:
    a common word's name ends a longer proper name ("la Quinzaine du Bois", "la Filature de l'Isle")."""
    window = text[max(0, start - 60):start]
    if not window.rstrip().endswith(_NAME_BEFORE_OF_ENDS):
        return False  # (see `_river_before`)
    found = _NAME_BEFORE_OF.search(window)
    # A text's first word is a sentence's; « la Ville de Brive », « le Maire de Bort » name the town itself.
    return found is not None and found.start() > 0 and fold(found[0].split()[0]) not in _THE_TOWN_ITSELF


_NAME_BEFORE_OF = re.compile(r"(?<![.!?:\n]\s)(?<![.!?:\n])\b[A-ZÀ-Ý][a-zà-ÿ]+[ \u00a0]+"
                             r"(?:(?:du|des|de[ \u00a0]+la|de)[ \u00a0]+|de[ \u00a0]+l['’]|d['’])$")
_NAME_BEFORE_OF_ENDS = ("du", "des", "de", "la", "d'", "d’", "l'", "l’")
_THE_TOWN_ITSELF = frozenset(("ville", "commune", "mairie", "maire"))
# "Hélène de Nexon": a first name and a particle before the name make a person.
_PARTICLE_OF_A_NAME = re.compile(r"\b([A-ZÀ-Ý][a-zà-ÿ]+)\s+(?:de\s|d['’])$")


def tag_places(text: str, gazetteer: Gazetteer | None = None, words: str | None = None,
               matches=None) -> PlaceTags:
    """The places of `text` (title and body together), in the format of the tag output (README)
    (`words`: match_text(text), `matches`: the gazetteer's matches in `words`, when already computed)."""
    gazetteer = gazetteer or load_gazetteer()
    mentions = find_mentions(text, gazetteer, words, matches)
    written_deps = _written_departements(text) if "(" in text else set()
    if not mentions:
        return _assemble(mentions, gazetteer, written_deps)

    # Pass 1: what each mention's own surroundings allow and decide. A common word between two
    # places of an enumeration ("Aixe-sur-Vienne, Isle et Le Palais-sur-Vienne") is a place too.
    clear = [_clear(m) for m in mentions]  # before pass 1 changes them
    first_names = gazetteer.first_names
    for i, mention in enumerate(mentions):
        def in_enumeration(i=i) -> bool:
            return any(
                0 <= j < len(mentions) and clear[j] and _ENUMERATION.match(
                    text[mentions[min(i, j)].end:mentions[max(i, j)].start])
                for j in (i - 1, i + 1))
        def after_a_place(i=i) -> bool:
            return i > 0 and clear[i - 1] and not text[mentions[i - 1].end:mentions[i].start].strip()
        places = _admissible(mention, text, first_names, in_enumeration, after_a_place)
        mention.places = tuple(places if len(places) < 2 else _decide_locally(mention, places, text))
    if any(not m.places and m.inner for m in mentions):
        mentions = _fall_back_to_inner_names(mentions, text, gazetteer)
    _apply_located_in(mentions, text)

    # Context: the départements and the side (région or not) of the mentions now unambiguous.
    context_deps = set(written_deps)
    inside = outside = 0
    for mention in mentions:
        if not mention.places or _minor(mention) or _short_name_of_a_town(mention, gazetteer):
            continue
        places = mention.places
        side = places[0].in_region
        if len(places) == 1 and not places[0].needs_departement:
            context_deps.add(places[0].dep or "")
        elif any(p.in_region != side for p in places):
            continue  # no side; but "La Réunion", a département and a région, both elsewhere, has one
        inside += side
        outside += not side
    if outside >= 2 and not inside:
        # A text about elsewhere: a village of the région named like one of its places (Mauriac in the
        # Cantal, too small to be in the gazetteer's outside list) is that place, not ours; so is a
        # short name of one of our towns ("l'Isle" in Vienne, Isère).
        for mention in mentions:
            if _minor(mention) or _short_name_of_a_town(mention, gazetteer):
                mention.places = ()

    # Pass 2: one place per mention.
    postcode_deps = None
    for mention in mentions:
        for place in mention.places:
            if place.needs_departement:
                mention.places = tuple(p for p in mention.places if not p.needs_departement or p.dep in context_deps)
                break
        if len(mention.places) == 1:
            mention.chosen = mention.places[0]
        elif mention.places:
            if postcode_deps is None:
                postcode_deps = {p[:2] for p in _POSTCODE.findall(words or match_text(text)) if not p.startswith("97")}
            mention.chosen = _choose(mention.places, context_deps, postcode_deps, inside, outside, gazetteer)
    _prefer_named_in_full(mentions, gazetteer)
    _drop_compared(mentions, text)
    return _assemble(mentions, gazetteer, written_deps)


def _prefer_named_in_full(mentions: list[Mention], gazetteer: Gazetteer) -> None:
    """A short name ("Saint-Jean", of Saint-Jean-de-Luz) in a text that names in full another town it
    starts ("Saint-Jean-Pied-de-Port") is that town; of several so named, one of them (none is added).
    So is a village's own name when it starts the name of one town of another département named in full."""
    full = {}  # folded official name -> the place, of the communes the text names in full
    for mention in mentions:
        place = mention.chosen
        if place is not None and place.kind == "commune" and place.name == gazetteer.communes[place.code]["name"]:
            full[fold(place.name)] = place
    if not full:
        return
    for mention in mentions:
        place = mention.chosen
        if place is None or place.kind != "commune":
            continue
        short = fold(place.name) + "-"
        if place.name == gazetteer.communes[place.code]["name"]:
            # A village named like the first part of a town of another département the text names in
            # full: that town's short name (« Ars-en-Ré… à Ars, le camping », not Ars in Charente).
            named = [q for name, q in full.items() if name.startswith(short) and q.dep != place.dep]
            if len(named) == 1 and place.population < CITY_POPULATION:
                mention.chosen = named[0]
            continue
        if any(q.code == place.code for q in full.values()):
            continue  # its own town is named in full too
        named = [q for name, q in full.items() if name.startswith(short)]
        if named:
            mention.chosen = named[0] if len(named) == 1 else None


# How a sentence about places compared with opens, folded: the phrase alone before a comma (« À titre
# de comparaison, la Gironde… »), not « Par comparaison avec 2022, Niort… » (the text's place then).
_COMPARISON_OPENING = re.compile(r"(?:a titre de comparaison|a titre comparatif|par comparaison|en comparaison"
                                 r"|pour comparaison|en guise de comparaison|comparativement)\s*,")


def _in_comparison(text: str, start: int) -> bool:
    """The sentence of a name at `start`, read in the 300 characters before it where "compar" is
    written there (`_drop_compared` checks that first), opens on a comparison."""
    window = text[max(0, start - 300):start]
    opening = max(window.rfind(". "), window.rfind("\n"), window.rfind("! "), window.rfind("? ")) + 1
    return _COMPARISON_OPENING.match(fold(window[opening:].lstrip(" \u00a0"))) is not None


def _drop_compared(mentions: list[Mention], text: str) -> None:
    """Places named in a sentence that opens on a comparison (« À titre de comparaison, la hausse
    atteint 12 % en Gironde ») are the yardstick, not the text's places: dropped when the text names
    a place of the région elsewhere. (The same place named elsewhere still counts there.) Most
    mentions cost one bounded search in C."""
    compared = [m for m in mentions if m.chosen is not None and text.find("ompar", max(0, m.start - 300), m.start) >= 0
                and _in_comparison(text, m.start)]
    if not compared:
        return
    compared_ids = {id(m) for m in compared}
    if any(m.chosen is not None and m.chosen.in_region and id(m) not in compared_ids for m in mentions):
        for mention in compared:
            mention.chosen = None


def _fall_back_to_inner_names(mentions: list[Mention], text: str, gazetteer: Gazetteer) -> list[Mention]:
    """A name found nothing ("bassin de Marennes", an EPCI's alias in lower case): the names inside it
    are read on their own ("Marennes")."""
    result = []
    for mention in mentions:
        if mention.places or not mention.inner:
            result.append(mention)
            continue
        last_end = -1
        for start, end, places in sorted(mention.inner, key=lambda m: (m[0], -m[1])):
            if start < last_end:
                continue
            inner = Mention(start, end, places, text[start:end])
            inner.places = tuple(_decide_locally(
                inner, _admissible(inner, text, gazetteer.first_names, lambda: False), text))
            result.append(inner)
            last_end = end
    return result


def _written_departements(text: str) -> set[str]:
    """The département codes written after a name: "Bonnes (86)", "Saint-Machin (24)"; not a count after
    an acronym or a word ("des SIAE (87)", "les jeunes (15)")."""
    codes = set()
    for match in _WRITTEN_DEP.finditer(text):
        previous = _previous_word(text, match.start())
        if previous and previous[0][:1].isupper() and not previous[0].isupper():
            codes.add(match[1].upper())
    return codes


# These run for every mention: plain loops (a generator costs more than the test it makes).

def _short_name_of_a_town(mention: Mention, gazetteer: Gazetteer) -> bool:
    """Only short or old names of the région's towns (not cities) could be meant."""
    for p in mention.places:
        if p.kind != "commune" or p.population >= CITY_POPULATION or p.name == gazetteer.communes[p.code]["name"]:
            return False
    return bool(mention.places)


def _minor(mention: Mention) -> bool:
    """Only villages of the région (or common words) could be meant: weak evidence of the région."""
    for p in mention.places:
        if p.kind != "commune" or p.population >= MINOR_POPULATION and not p.ambiguous:
            return False
    return bool(mention.places)


def _clear(mention: Mention) -> bool:
    """One of the places needs no context."""
    for p in mention.places:
        if not p.ambiguous:
            return True
    return False


def _decide_locally(mention: Mention, places: list[Place], text: str) -> list[Place]:
    """A following "(86)" picks that département's place; "la Vienne" is the département and
    "à Vienne", "la mairie de Corrèze" a town."""
    if len(places) < 2:
        return places
    code_after = _CODE_AFTER.match(text, mention.end)
    if code_after:
        same = [p for p in places if p.dep == code_after[1].upper()]
        if same:
            return same
    before = fold(text[max(0, mention.start - 16):mention.start])
    departements = [p for p in places if p.kind == "departement"]
    if departements and _ARTICLE.search(before):
        return departements
    towns = [p for p in places if p.kind in ("commune", "commune_out", "epci")]
    # ("à La Réunion": a département that is also a région is an island, not a town)
    if departements and towns and _TOWN_PREPOSITION.search(before) and not any(p.kind == "region" for p in places):
        return towns
    return places


def _apply_located_in(mentions: list[Mention], text: str) -> None:
    """"Bruges, en Belgique", "Bonnes (Vienne)", "Vienne, en Isère": a place followed by where it is
    keeps only the candidates that are there."""
    located: dict[str, tuple[Place, ...]] = {}
    for mention, where in zip(mentions, mentions[1:]):
        if _district_of(mention, where, text):
            mention.places = ()
            continue
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
    if not located:
        return
    for mention in mentions:  # the same name elsewhere in the text is the same place ("Bruges : …")
        surface = fold(mention.surface)
        if surface in located:
            mention.places = tuple(p for p in mention.places if p in located[surface])


def _district_of(mention: Mention, town: Mention, text: str) -> bool:
    """"Ma Campagne (Angoulême)", "Saint-Cybard (Angoulême)": a smaller place's name, then a town's
    alone in brackets, names a district of the town."""
    if len(town.places) != 1 or town.places[0].kind != "commune" or not mention.places:
        return False
    if text[mention.end:town.start].strip() != "(" or text[town.end:town.end + 2].strip()[:1] != ")":
        return False
    return all(p.kind in ("commune", "commune_out") and p.population < town.places[0].population
               for p in mention.places)


def _choose(places: tuple[Place, ...], context_deps: set[str], postcode_deps: set[str], inside: int,
            outside: int, gazetteer: Gazetteer) -> Place:
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
    if best_out.kind == "commune_out" and best_in.kind == "commune":
        official = gazetteer.communes[best_in.code]["name"]
        # "Saint-Paul" is the official name of a town of La Réunion and only a short name of our
        # Saint-Paul-lès-Dax: without a place of the text to say otherwise, the town so called. An
        # old name ("Sainte-Suzanne", a village merged into Orthez) carries today's commune's
        # population, not its own: any larger town so called today wins.
        margin = 3 if official.startswith(best_in.name) else 1
        if best_in.name != official and best_out.weight > margin * best_in.weight:
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
        surface, start = mention.surface, mention.start
        if place.kind == "commune":
            communes.add(place.code)
            tags.evidence.append({"facet": "communes", "value": place.code, "match": surface, "start": start})
            commune = gazetteer.communes[place.code]
            departements.add(commune["dep"])
            if commune["epci"] in gazetteer.epci:
                epci.add(commune["epci"])
        elif place.kind == "epci":
            epci.add(place.code)
            tags.evidence.append({"facet": "epci", "value": place.code, "match": surface, "start": start})
            # A commune in the name is named too; an EPCI across départements is of the one where most
            # of its people live.
            namesakes = gazetteer.namesakes(place.code, surface)
            for code in namesakes:
                communes.add(code)
                tags.evidence.append({"facet": "communes", "value": code, "match": surface, "start": start})
                departements.add(gazetteer.communes[code]["dep"])
            if not namesakes:
                main = gazetteer.epci_members[place.code][0]
                in_region = [d for d in gazetteer.epci[place.code]["departements"]
                             if gazetteer.departements[d]["region"] == gazetteer.region]
                departements.update([main] if main in in_region else in_region)
        elif place.kind in ("departement", "area") and place.in_region:
            departements.add(place.dep)
            tags.evidence.append({"facet": "departements", "value": place.dep, "match": surface, "start": start})
        elif place.kind == "region" and place.in_region:
            region_named = True
            tags.evidence.append({"facet": "region", "value": "na", "match": surface, "start": start})
        else:
            named_outside = True
    departements.update(d for d in written_deps if gazetteer.departements.get(d, {}).get("region") == gazetteer.region)
    tags.departements, tags.communes, tags.epci = sorted(departements), sorted(communes), sorted(epci)
    tags.region_na = bool(departements or communes or epci or region_named)
    tags.outside = named_outside and not tags.region_na
    return tags
