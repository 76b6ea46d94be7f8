"""Actors named in a text: organisations of employment and territorial development, with their kind and
their territory (« le PLIE des Graves », « la mission locale du Libournais », « l'EBE de Felletin »,
« la communauté de communes du Val de Charente », « le GEIQ BTP 19 »).

`extract_actors` is a pure function (text in, actors out). One Aho-Corasick automaton holds the written
forms of the known networks (config/actors.yaml: acronyms, their expansions, old names such as
« Pôle emploi ») and the institutional names of the région's intercommunalities, over the folded text
(`match_text`); around each hit a small parse reads what follows — a place of the gazetteer (« de
Tulle », « du Libournais », « 19 »), a proper name (« Elan », « BTP 19 ») or an enumeration (« de
Limoges, Guéret et Tulle ») — and what precedes (an article, a first name). Variants of one actor share
its key and canonical name (« Plie des Graves », « plan local pour l'insertion et l'emploi des
Graves »); a bare later mention (« le PLIE ») is the one named fully before, when there was only one.
An actor whose name does not say where is placed by what follows it (« l'association Elan, à Guéret »)
or by the text's places when they are in one département. Actors of another région are left out: the
directory is the région's.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import ahocorasick
import yaml

from config.errors import ConfigError
from pipeline.folding import fold, frequent_first, match_text, word_key
from pipeline.places import Gazetteer, Place, PlaceTags, load_gazetteer, tag_places

ACTORS = Path(__file__).resolve().parents[1] / "config" / "actors.yaml"


COMPLEMENTS = ("place", "name", "place-or-name")


@lru_cache(maxsize=2)
def load_config(path: Path | str = ACTORS) -> dict:
    """config/actors.yaml (the kinds and the known networks), checked: a network of an unknown kind or
    complement is refused, with where it is."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    problems = []
    for index, entry in enumerate(data["networks"]):
        if entry.get("kind") not in data["kinds"]:
            problems.append((None, f"networks[{index}].kind", f"type inconnu « {entry.get('kind')} »"))
        if entry.get("complement", "place") not in COMPLEMENTS:
            problems.append((None, f"networks[{index}].complement",
                             f"« {entry.get('complement')} » : attendu {', '.join(COMPLEMENTS)}"))
        if not entry.get("forms") and not entry.get("capitalised"):
            problems.append((None, f"networks[{index}]", "aucune forme écrite (forms ou capitalised)"))
    for written, code in data.get("epci_names", {}).items():
        if not isinstance(code, str):
            problems.append((None, f"epci_names.{written}", "le code SIREN doit être écrit entre guillemets"))
    if problems:
        raise ConfigError(path, problems)
    return data


def _config() -> dict:
    return load_config()


KINDS: dict[str, str] = dict(_config()["kinds"])


@dataclass(frozen=True)
class ActorMention:
    key: str                       # the actor's stable id, from its canonical name ("plie-des-graves")
    name: str                      # canonical name, « PLIE des Graves »
    kind: str                      # a KINDS slug
    match: str                     # the text as written
    start: int                     # offset of `match` in title + "\n\n" + text
    departements: tuple[str, ...]  # INSEE codes of the département(s) it is placed in
    communes: tuple[str, ...] = ()  # INSEE commune codes when the name says where


@dataclass(frozen=True, eq=False)
class Network:
    """A known network of config/actors.yaml (the file's header says what each field means)."""
    kind: str
    name: str
    complement: str = "place"
    places: frozenset[str] = frozenset()
    local: str | None = None
    bare: str | None = None
    bare_place: bool = False
    article: bool = False
    glued: bool = False


@dataclass(frozen=True)
class Form:
    network: Network
    plural: bool
    acronym: bool       # written in capitals in the configuration: needs a capital
    capitalised: bool   # only this network with a capital
    local: bool = False  # « l'agence France Travail »: a bare mention is the local one named before


PLACE_KINDS = frozenset(("commune", "area", "epci", "departement", "region"))
# Articles of the région's départements, for canonical names (« Conseil départemental de la Creuse »).
DEPARTEMENT_OF = {"16": "de la", "17": "de la", "19": "de la", "23": "de la", "24": "de la", "33": "de la",
                  "40": "des", "47": "du", "64": "des", "79": "des", "86": "de la", "87": "de la"}
REGION_NAMES = {"75": "Nouvelle-Aquitaine"}  # the current name of a région also named by its former parts
PARTICLES = frozenset(("de", "du", "des", "d", "la", "le", "les", "l", "et", "a", "à", "en", "sur", "au", "aux"))
INNER_PARTICLES = frozenset(("sur", "sous", "en", "les", "lès"))  # « Aixe-sur-Vienne » with spaces
# Words that are no name on their own (« la mission locale du Pays royannais » read as far as « Pays »).
VAGUE = frozenset(("pays", "communaute", "agglomeration", "territoire", "departement", "region", "ville",
                   "centre", "sud", "nord", "est", "ouest", "association", "quartier", "secteur", "bassin"))
EPCI_LEADS = ("communaute", "agglomeration", "cc ", "ca ", "cdc ", "cda ")
CURRENT_REGION_KINDS = frozenset(("regions", "etat", "france-travail"))  # merged with the former régions
APOSTROPHES = ("'", "’")
CONNECTOR_STARTS = ("de ", "du ", "des ", "d'", "d’", "de\u00a0", "du\u00a0")
QUOTES = {"«": "»", '"': '"', "“": "”"}
# A first name or a civility before the network's word makes a person (« Jean-Pierre Plie »).
CIVILITIES = frozenset(("m", "mme", "mlle", "monsieur", "madame", "dr", "me"))
# Before an acronym, a plural (« les PLIE de la région », « les 23 PLIE de Nouvelle-Aquitaine »).
PLURAL_WORDS = frozenset(("les", "des", "aux", "ces", "nos", "vos", "leurs", "plusieurs", "quelques", "certains",
                          "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "douze", "vingt"))
LOCATED = frozenset(("base", "basee", "bases", "basees", "installe", "installee", "implante", "implantee",
                     "situe", "situee", "siege"))
MAX_NAME_WORDS = 8

_TOKEN = re.compile(r"[^\W_](?:[\w-]*[^\W_])?|['’]|[^\w\s]|\n")


@dataclass
class _Matcher:
    automaton: ahocorasick.Automaton
    gazetteer: Gazetteer
    last_words: frozenset[str]  # the last words of the gazetteer's names of several words (« basque »)
    # What recurs from text to text, kept by written name: a word before a network's is a first name?
    persons: dict[str, bool] = field(default_factory=dict)
    leading: dict[tuple, tuple | bool | None] = field(default_factory=dict)  # see _leading_place
    inside: dict[str, tuple] = field(default_factory=dict)  # a proper name: its places, and as shown (_named)
    epci: dict[str, tuple] = field(default_factory=dict)  # see _epci_actor


_MATCHERS: dict[int, _Matcher] = {}


def _matcher(gazetteer: Gazetteer) -> _Matcher:
    """The automaton of a gazetteer, built once (a Gazetteer is not hashable: kept by identity)."""
    cached = _MATCHERS.get(id(gazetteer))
    if cached is None or cached.gazetteer is not gazetteer:
        cached = _MATCHERS[id(gazetteer)] = _build_matcher(gazetteer)
    return cached


def _build_matcher(gazetteer: Gazetteer) -> _Matcher:
    automaton = ahocorasick.Automaton()
    entries: dict[str, list] = {}

    def add(written: str, value) -> None:
        for key in {word_key(written), word_key(written.replace("-", " "))}:
            entries.setdefault(key, []).append(value)
            if written.isupper():  # « GEIQ-BTP »: an acronym glued to its name by a hyphen
                entries.setdefault(key[:-1] + "-", []).append(value)

    for entry in _config()["networks"]:
        network = Network(entry["kind"], entry["name"], entry.get("complement", "place"),
                          frozenset(entry.get("places", PLACE_KINDS)), entry.get("local"), entry.get("bare"),
                          entry.get("bare_place", False), entry.get("article", False), entry.get("glued", False))
        local_forms = {fold(f) for f in entry.get("local_forms", ())}
        for written in (*entry.get("forms", ()), *entry.get("local_forms", ())):
            add(written, Form(network, False, written.isupper(), False, fold(written) in local_forms))
        for written in entry.get("capitalised", ()):
            add(written, Form(network, False, False, True))
        for written in entry.get("plural", ()):
            add(written, Form(network, True, written.isupper(), False))
    # Intercommunalities written by their institutional names (« Bordeaux Métropole », « Grand Poitiers »).
    for code, epci in gazetteer.epci.items():
        for alias in (epci["name"], *epci.get("aliases", ())):
            folded = fold(alias)
            if epci["type"] in ("CU", "METRO", "CA") and ("metropole" in folded or "agglo" in folded
                                                          or folded.startswith("grand")):
                add(alias, ("epci", code))
    for written, code in _config().get("epci_names", {}).items():
        if code in gazetteer.epci:
            add(written, ("epci", code))
    for key in sorted(entries, key=frequent_first):  # the scan is faster (pipeline/folding.py)
        values = entries[key]
        # Valued (key's length, what it may be, whether only a capitalised word is any of them).
        capital = all(isinstance(v, tuple) or v.acronym or v.capitalised for v in values)
        automaton.add_word(key, (len(key), tuple(values), capital))
    automaton.make_automaton()
    last_words = frozenset(key.split()[-1] for key in gazetteer.names if " " in key.strip())
    return _Matcher(automaton, gazetteer, last_words)


# ------------------------------------------------------------------ small parses


class _Tokens:
    """The words and punctuation of `full` from `start` (their texts, starts and ends), read as far as a
    parse asks (most parses look at two or three); a line break ends them."""

    __slots__ = ("texts", "starts", "ends", "_matches")

    def __init__(self, full: str, start: int, limit: int = 200):
        self._matches = _TOKEN.finditer(full, start, min(len(full), start + limit))
        self.texts: list[str] = []
        self.starts: list[int] = []
        self.ends: list[int] = []

    def has(self, i: int) -> bool:
        texts = self.texts
        if i < len(texts):
            return True
        if self._matches is None:
            return False
        for match in self._matches:
            text = match.group()
            if text == "\n":
                break
            texts.append(text)
            self.starts.append(match.start())
            self.ends.append(match.end())
            if i < len(texts):
                return True
        self._matches = None
        return False

    def text(self, i: int) -> str:
        texts = self.texts
        return texts[i] if i < len(texts) or self.has(i) else ""


def _connector(tokens: _Tokens, i: int) -> tuple[str | None, int]:
    """« de », « du », « des », « de la », « de l' », « d' » at tokens[i]: its normal form, next index."""
    first = tokens.text(i)
    if first[:1] not in ("d", "D"):  # most words: none of these
        return None, i
    first = first.lower()
    if first == "du" or first == "des":
        return first, i + 1
    if first == "d":
        return ("d'", i + 2) if tokens.text(i + 1) in APOSTROPHES else (None, i)
    if first != "de":
        return None, i
    second = tokens.text(i + 1).lower()
    if second == "la":
        return "de la", i + 2
    if second == "l" and tokens.text(i + 2) in APOSTROPHES:
        return "de l'", i + 3
    return "de", i + 1


def _is_name_word(text: str) -> bool:
    """A capitalised word, or a département code (« GEIQ BTP 19 »)."""
    if text[:1].isdigit():
        return text in DEPARTEMENT_OF
    return text[:1].isupper()


def _name(tokens: _Tokens, i: int) -> tuple[int, int] | None:
    """A proper name at tokens[i] (capitalised words, département codes, particles between them, or a
    quoted name): the index of its first token and the index after its last."""
    if not tokens.has(i):
        return None
    if tokens.texts[i] in QUOTES:
        close = QUOTES[tokens.texts[i]]
        if not tokens.text(i + 1)[:1].isupper():
            return None
        for j in range(i + 2, i + 2 + MAX_NAME_WORDS * 2):
            if tokens.text(j) == close:
                return i + 1, j
        return None
    if not _is_name_word(tokens.texts[i]):
        return None
    texts = tokens.texts
    end, words, capitals, j = i + 1, 1, int(texts[i].isupper()), i + 1
    while (j < len(texts) or tokens.has(j)) and words < MAX_NAME_WORDS:
        text = texts[j]
        if _is_name_word(text):
            if capitals >= 2 and not text.isupper() or not capitals and text.isupper() and len(text) > 3:
                break  # « PLIE du GRAND NARBONNE Appel à », « PLIE du Cambrésis APPEL À PROJETS »
            end, words, j = j + 1, words + 1, j + 1
            capitals = capitals + 1 if text.isupper() and len(text) > 1 else 0
            continue
        connector, k = _connector(tokens, j)
        if connector is None and (text in INNER_PARTICLES
                                  or text in APOSTROPHES and tokens.starts[j] == tokens.ends[j - 1]):
            k = j + 1  # « Aixe sur Vienne », « Mob'In »
        if k == j or not tokens.text(k)[:1].isupper():
            break  # a particle belongs to the name only when a capitalised word follows
        j = k
    return i, end


def _span(full: str, tokens: _Tokens, first: int, after: int) -> str:
    return full[tokens.starts[first]:tokens.ends[after - 1]]


# ------------------------------------------------------------------ places


_PLACES: dict[tuple[int, str, frozenset[str]], Place | None | bool] = {}  # names recur from text to text


def _place(gazetteer: Gazetteer, text: str, allowed: frozenset[str]) -> Place | None | bool:
    """The place called `text` (a capitalised name or a département code): the région's one of an
    allowed kind; False when it is a place elsewhere (another région, abroad); None when it is no place."""
    if not text[:1].isupper() and not text[:1].isdigit():
        return None
    key = (id(gazetteer), text, allowed)
    if key not in _PLACES:
        if len(_PLACES) > 100_000:
            _PLACES.clear()
        _PLACES[key] = _lookup_place(gazetteer, text, allowed)
    return _PLACES[key]


def _lookup_place(gazetteer: Gazetteer, text: str, allowed: frozenset[str]) -> Place | None | bool:
    if text.isdigit():
        departement = gazetteer.departements.get(text)
        if not departement or "departement" not in allowed:
            return None
        if departement["region"] != gazetteer.region:
            return False
        return Place("departement", text, departement["name"], text, 0, False, True, gazetteer.region)
    places = gazetteer.names.get(word_key(text))
    if not places:
        return None
    inside = [p for p in places if p.in_region and p.kind in allowed and p.kind in PLACE_KINDS]
    if not inside and allowed == {"epci"}:  # « l'agglomération de Pau »: the intercommunality named after it
        inside = [town for p in places if p.kind == "commune" and (town := _town_epci(gazetteer, p))]
    outside = [p for p in places if not p.in_region]
    best_in = max(inside, key=lambda p: p.weight, default=None)
    best_out = max(outside, key=lambda p: p.weight, default=None)
    if best_out and (not best_in or best_out.weight > 20 * best_in.weight):
        return False
    return best_in


def _town_epci(gazetteer: Gazetteer, town: Place) -> Place | None:
    """The intercommunality of a town when it bears the town's name (Pau: CA Pau Béarn Pyrénées; Niort:
    CA du Niortais)."""
    code = gazetteer.communes[town.code].get("epci")
    epci = gazetteer.epci.get(code)
    if not epci or fold(town.name) not in " ".join(fold(n) for n in (epci["name"], *epci.get("aliases", ()))):
        return None
    departements = [d for d in epci["departements"] if d in DEPARTEMENT_OF]
    return Place("epci", code, epci["name"], departements[0] if len(departements) == 1 else None,
                 epci.get("population") or 0, False, True, gazetteer.region)


def _of(name: str) -> str:
    """« de Tulle », « d'Angoulême », « du Bouscat », « des Eyzies »."""
    folded = fold(name)
    if folded.startswith(("communaute", "metropole")):
        return f"de la {name}"
    if folded.startswith("agglomeration"):
        return f"de l'{name}"
    if folded.startswith("le "):
        return f"du {name[3:]}"
    if folded.startswith("les "):
        return f"des {name[4:]}"
    if folded.startswith("la "):
        return f"de la {name[3:]}"
    if folded[:1] in "aeiouyh":
        return f"d'{name}"
    return f"de {name}"


def _area_of(name: str) -> str:
    """« du Libournais », « des Graves », « de la Haute-Gironde », « de l'Agenais », « du Sud-Gironde »:
    the article of a part of a département, whatever the text wrote (the key must not depend on it)."""
    folded = fold(name)
    if folded.startswith(("sud-", "nord-", "pays", "bassin", "val ", "haut-", "perigord")):
        return f"du {name}"
    if folded[:1] in "aeiouy":  # not « h »: « de la Haute-Gironde »
        return f"de l'{name}"
    if folded.endswith("s") and not folded.endswith(("ais", "ois")):
        return f"des {name}"
    if folded.endswith("e"):
        return f"de la {name}"
    return f"du {name}"


def _canonical(gazetteer: Gazetteer, network: Network, place: Place) -> str:
    """The canonical name of the network's actor at a place: « Mission locale du Libournais »,
    « Conseil départemental de la Creuse », « DREETS Nouvelle-Aquitaine », « Initiative Corrèze »."""
    if place.kind == "epci" and network.kind == "epci":
        return _epci_name(gazetteer, place.code)
    prefix = network.local if network.local and place.kind in ("commune", "area") else network.name
    if place.kind == "region":
        current = network.kind in CURRENT_REGION_KINDS
        return f"{prefix} {REGION_NAMES.get(place.code, place.name) if current else place.name}"
    if network.glued:
        return f"{prefix} {place.name}"
    if place.kind == "departement":
        where = f"{DEPARTEMENT_OF.get(place.code, 'de')} {place.name}"
    elif place.kind == "epci":
        where = _of(_epci_short(gazetteer, place.code))
    elif place.kind == "area":
        where = _area_of(place.name)
    else:  # a commune, by its name, not the old or short name written (« Sarlat »)
        where = _of(gazetteer.communes[place.code]["name"])
    return f"{prefix} {where}"


def _epci_short(gazetteer: Gazetteer, code: str) -> str:
    """An intercommunality's name inside another's: « CIAS de Rochefort Océan »."""
    epci = gazetteer.epci[code]
    short = [a for a in epci.get("aliases", ()) if not fold(a).startswith(("communaute", "ca ", "cc "))]
    return min(short, key=len) if short else _epci_name(gazetteer, code)


def _epci_name(gazetteer: Gazetteer, code: str) -> str:
    """« Bordeaux Métropole », « Agglomération d'Agen », « Communauté de communes Val de Charente »."""
    epci = gazetteer.epci[code]
    if epci["type"] in ("CU", "METRO"):
        return gazetteer.display_name("epci", code)
    aliases = [(fold(a), a) for a in epci.get("aliases", ())]
    for folded, alias in aliases:
        if not folded.startswith("communaute") and ("agglo" in folded or "metropole" in folded
                                                    or folded.startswith("grand ")):
            return alias
    for folded, alias in aliases:
        if folded.startswith("communaute"):
            return alias
    return epci["name"]


def _territory(gazetteer: Gazetteer, place: Place) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(départements, communes) of a place."""
    if place.kind == "commune":
        return (place.dep,), (place.code,)
    if place.kind == "epci":
        departements = gazetteer.epci[place.code]["departements"]
        return tuple(d for d in departements if d in DEPARTEMENT_OF or d not in gazetteer.departements), ()
    if place.kind in ("departement", "area"):
        return (place.dep,), ()
    return (), ()


def _places_in(gazetteer: Gazetteer, full: str, tokens: _Tokens, first: int,
               after: int) -> tuple[list[Place], bool]:
    """The région's places named inside a proper name (« BTP 19 », « Propreté Gironde »), longest
    first, and whether it names a place elsewhere (« GEIQ BTP Hérault »)."""
    found, elsewhere = [], False
    i = first
    while i < after:
        for j in range(after, i, -1):
            place = _place(gazetteer, _span(full, tokens, i, j), PLACE_KINDS)
            if place is False:
                elsewhere = True
            if place is not None:
                if place:
                    found.append(place)
                i = j - 1
                break
        i += 1
    return found, elsewhere


# ------------------------------------------------------------------ extraction


@lru_cache(maxsize=4096)
def slug(name: str) -> str:
    """The key of a canonical name: ascii, lower case, words joined by hyphens."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return "-".join("".join(c if c.isalnum() else " " for c in ascii_name.lower()).split())


@dataclass(frozen=True)
class TextPlaces:
    """What an actor needs of its text's places: the région's départements named, and whether the text
    is about elsewhere only (the fields of the same names of `tag_places` and of the tag output)."""
    departements: tuple[str, ...]
    outside: bool


class _Text:
    """One document being read: its text, what was named so far, its places when asked."""

    __slots__ = ("full", "gazetteer", "matcher", "last_words", "given_places", "named", "_places", "_hits",
                 "_starts")

    def __init__(self, full: str, matcher: _Matcher, given_places: PlaceTags | dict | None, hits: list[tuple]):
        self.full = full
        self.gazetteer = matcher.gazetteer
        self.matcher = matcher
        self.last_words = matcher.last_words
        self.given_places = given_places
        self.named: dict[Network, list[ActorMention]] = {}  # named fully, by network
        self._places: TextPlaces | None = None
        self._hits = hits  # the automaton's (start, -length, values)
        self._starts: set[int] | None = None

    def hit_at(self, *offsets: int) -> bool:
        """Whether a hit of the automaton starts at one of `offsets` (its starts gathered when first asked)."""
        if self._starts is None:
            self._starts = {hit[0] for hit in self._hits}
        return any(offset in self._starts for offset in offsets)

    @property
    def places(self) -> TextPlaces:
        """The text's places: given (the tagger has them) or read only when an actor needs them."""
        if self._places is None:
            given = self.given_places
            if given is None:
                given = tag_places(self.full, self.gazetteer)
            if isinstance(given, dict):
                self._places = TextPlaces(tuple(given.get("departements", ())), bool(given.get("outside")))
            else:
                self._places = TextPlaces(tuple(given.departements), given.outside)
        return self._places

    def mention(self, name: str, kind: str, start: int, end: int, departements=(), communes=()) -> ActorMention:
        return ActorMention(slug(name), name, kind, self.full[start:end], start, tuple(departements),
                            tuple(communes))


def extract_actors(title: str, text: str, gazetteer: Gazetteer | None = None,
                   places: PlaceTags | dict | None = None, words: str | None = None) -> list[ActorMention]:
    """Every actor mention of a document, in text order (an actor named three times gives three
    mentions with the same key). Offsets point into `title + "\\n\\n" + text`. `places`: the
    document's places when already known — the tag output of `tag_document` (its "departements" and
    "outside") or `tag_places`'s — else they are read when an actor needs them. `words`: the folded
    text `match_text(title + "\\n\\n" + text)` when already computed (the tagger has it)."""
    gazetteer = gazetteer or load_gazetteer()
    matcher = _matcher(gazetteer)
    full = f"{title}\n\n{text}"
    hits = []
    for end_index, (length, values, capital) in matcher.automaton.iter(words or match_text(full)):
        start = end_index - length + 1  # the padded text starts with a space: this is in `full`
        if capital and full[start].islower():
            continue  # « la région », « le département »: only the capitalised word is an actor
        hits.append((start, -length, values))
    if not hits:
        return []
    if len(hits) > 1:
        hits.sort()  # by start, the longest first (never two of the same start and length: values not compared)
    document = _Text(full, matcher, places, hits)
    mentions: list[ActorMention] = []
    last_end = -1
    for start, length, values in hits:
        if start < last_end:
            continue  # leftmost-longest
        found = _read(document, start, start - length - 2, values)  # the key ends with a space or a hyphen
        if found:
            mentions.extend(found)
            last_end = (found[0].start + len(found[0].match) if len(found) == 1
                        else max(m.start + len(m.match) for m in found))
    return _merge_short_names(mentions) if len(mentions) > 1 else mentions


def _merge_short_names(mentions: list[ActorMention]) -> list[ActorMention]:
    """« le GEIQ-BTP » in the title, « le GEIQ-BTP Landes » in the text: one actor, by its longer name,
    when only one longer name of that kind starts with the shorter."""
    actors = {(m.name, m.kind): m for m in reversed(mentions)}  # the first mention of each
    shorter = tuple(f"{name} " for name, _ in actors)
    if not any(name.startswith(shorter) for name, _ in actors):  # most often: no name starts another
        return mentions
    longer = {}
    for name, kind in actors:
        candidates = [other for other, other_kind in actors if other_kind == kind and other.startswith(name + " ")]
        if len(candidates) == 1:
            longer[name, kind] = actors[candidates[0], kind]
    if not longer:
        return mentions
    return [ActorMention(full.key, full.name, full.kind, m.match, m.start, full.departements, full.communes)
            if (full := longer.get((m.name, m.kind))) else m for m in mentions]


def _read(document: _Text, start: int, end: int, values: tuple) -> list[ActorMention]:
    """The actors a hit of the automaton names, from what follows and precedes it."""
    full = document.full
    surface = full[start:end]
    capitalised = surface[:1].isupper()
    person = None  # whether a first name comes before, read when a form asks
    for value in values:
        if isinstance(value, tuple):  # an intercommunality by its own name
            if not capitalised:
                continue
            name, departements, communes = _epci_actor(document.matcher, value[1])
            return [document.mention(name, "epci", start, end, departements, communes)]
        form: Form = value
        network = form.network
        if (form.acronym or form.capitalised) and not capitalised:
            continue
        if form.acronym and len(surface) <= 3 and not surface.isupper():
            continue
        if network.complement == "name" and document.hit_at(end + 1, end + 2):
            continue  # « l'association Maison de l'emploi de … »: the network's actor
        if capitalised and not surface.isupper() and " " not in surface:
            if person is None:
                person = _person_before(document, start)
            if person:  # « Marie Plie », « Jean Mairie »
                continue
        if network.article and not capitalised and not _article_before(full, start):
            continue
        found = _complement(document, start, end, form)
        if found is not None:
            return found
    return []


def _epci_actor(matcher: _Matcher, code: str) -> tuple:
    """(name, départements, communes) of an intercommunality written by its own name."""
    actor = matcher.epci.get(code)
    if actor is None:
        gazetteer = matcher.gazetteer
        place = Place("epci", code, gazetteer.epci[code]["name"], None, 0, False, True, gazetteer.region)
        actor = matcher.epci[code] = (_epci_name(gazetteer, code), *_territory(gazetteer, place))
    return actor


def _person_before(document: _Text, start: int) -> bool:
    """A first name or a civility just before: « Jean-Pierre Plie », « Mme Ville »."""
    full = document.full
    end = start - 1
    while end > 0 and full[end] in " \u00a0":
        end -= 1
    word = full[max(full.rfind(" ", 0, end), full.rfind("\n", 0, end)) + 1:end + 1].rstrip(".")
    persons = document.matcher.persons  # the same few words come before (« la », « le », « du »)
    person = persons.get(word)
    if person is None:
        if len(persons) > 10_000:
            persons.clear()
        person = persons[word] = _is_person_word(word, document.gazetteer)
    return person


def _is_person_word(word: str, gazetteer: Gazetteer) -> bool:
    """« Jean-Pierre », « Mme »: a first name (capitalised) or a civility."""
    if not word:
        return False
    if fold(word) in CIVILITIES:
        return True
    return word[:1].isupper() and fold(word.split("-")[0]) in gazetteer.first_names


def _plural_before(full: str, start: int) -> bool:
    words = full[max(0, start - 16):start].split()
    if not words:
        return False
    word = words[-1].lower()
    return word in PLURAL_WORDS or word.isdigit() and word not in ("0", "1")


def _article_before(full: str, start: int) -> bool:
    before = fold(full[max(0, start - 6):start])
    return before.endswith((" la ", " le ", " l'", "de la ", " du ", " au ", " les ")) or before in ("la ", "le ")


def _complement(document: _Text, start: int, end: int, form: Form) -> list[ActorMention] | None:
    """The actors named by a network's word and what follows it; None when the word names none here."""
    full, network = document.full, form.network
    after = full[end:end + 5]
    plural = form.plural or form.acronym and _plural_before(full, start)
    # Most mentions are followed by a lower-case word that is no « de »: no complement to read.
    next_char = after[1:2]
    follows = after[:1] == "-" or after[:1] in (" ", "\u00a0") and (
        next_char.isupper() or next_char.isdigit() or next_char in "«\"“("
        or after[1:].lower().startswith(CONNECTOR_STARTS))
    if not follows:
        return [] if plural else _bare(document, start, end, form)
    tokens = _Tokens(full, end + 1 if after[:1] == "-" else end)  # « GEIQ-BTP »
    connector, i = _connector(tokens, 0)
    if plural:
        return _enumeration(document, start, tokens, i, connector, form)
    span = _name(tokens, i)
    if span and (network.complement != "name" or connector is None):
        result = _named(document, start, tokens, *span, connector, form)
        if result is False:
            document.named[network] = []  # an actor of elsewhere: a bare mention after it is not ours
            return []
        if result is not None:
            earlier = document.named.setdefault(network, [])
            if all(m.key != result.key for m in earlier):
                earlier.append(result)
            return [result]
    return _bare(document, start, end, form)


def _bare(document: _Text, start: int, end: int, form: Form) -> list[ActorMention] | None:
    """A mention without its complement: the one named before (« le PLIE »), or the network's national
    or regional body, or the département's when the text is about one."""
    network = form.network
    if form.acronym and not document.full[start:end].isupper():
        return None  # « Plie » without a name is a word
    if network.bare and not form.local:
        return [document.mention(network.bare, network.kind, start, end)]
    earlier = document.named.get(network)
    if earlier is not None and len(earlier) == 1:
        antecedent = earlier[0]
        return [ActorMention(antecedent.key, antecedent.name, antecedent.kind, document.full[start:end], start,
                             antecedent.departements, antecedent.communes)]
    if earlier:
        return None
    if network.bare:  # « l'agence France Travail » with no agency named before
        return [document.mention(network.bare, network.kind, start, end)]
    if network.bare_place and len(document.places.departements) == 1:
        code = document.places.departements[0]
        departement = Place("departement", code, document.gazetteer.departements[code]["name"], code)
        return [document.mention(_canonical(document.gazetteer, network, departement), network.kind, start,
                                 end, (code,))]
    return None


def _named(document: _Text, start: int, tokens: _Tokens, first: int, after: int, connector: str | None,
           form: Form) -> ActorMention | None | bool:
    """The actor named by the network's word and the proper name tokens[first:after]: None when the
    name does not fit the network, False when it is an actor of elsewhere."""
    full, gazetteer, network = document.full, document.gazetteer, form.network
    if network.complement in ("place", "place-or-name"):
        if network.places == {"epci"}:  # « l'Agglomération d'Agen »: the whole is an intercommunality's name
            whole = full[start:tokens.ends[after - 1]]
            place = _place(gazetteer, whole[:1].upper() + whole[1:], network.places)
            if place:
                return document.mention(_epci_name(gazetteer, place.code), "epci", start, tokens.ends[after - 1],
                                        *_territory(gazetteer, place))
        elif "epci" in network.places and fold(tokens.texts[first]).startswith(EPCI_LEADS):
            # « le PLIE de la Communauté d'agglomération de La Rochelle »: the name may hold lower-case words
            for j in range(first + 10, first + 1, -1):
                if tokens.has(j - 1) and tokens.texts[j - 1][:1].isupper():
                    place = _place(gazetteer, _span(full, tokens, first, j), frozenset(("epci",)))
                    if place:
                        return document.mention(_canonical(gazetteer, network, place), network.kind,
                                                start, tokens.ends[j - 1], *_territory(gazetteer, place))
        # The longest leading part of the name that is a place (« de Tulle », « de la Haute-Gironde »), or
        # the name and a word in lower case (« Pays basque », « Périgord vert »).
        word = tokens.text(after)
        longer = after + 1 if word[:1].islower() and fold(word) in document.last_words else after
        cache = document.matcher.leading
        key = (network, connector, _span(full, tokens, first, longer), longer - after)
        leading = cache.get(key, _UNKNOWN)
        if leading is _UNKNOWN:
            if len(cache) > 20_000:
                cache.clear()
            leading = cache[key] = _leading_place(gazetteer, network, connector, full, tokens, first, after,
                                                  longer)
        if leading is False:
            return False
        if leading is not None:
            size, name, departements, communes = leading
            return document.mention(name, network.kind, start, tokens.ends[first + size - 1], departements,
                                    communes)
        if network.complement == "place":
            return None
    written = _span(full, tokens, first, after)
    if after - first == 1 and fold(written) in VAGUE:
        return None
    cache = document.matcher.inside
    inside = cache.get(written)
    if inside is None:
        if len(cache) > 20_000:
            cache.clear()
        places, elsewhere = _places_in(gazetteer, full, tokens, first, after)
        inside = cache[written] = (elsewhere and not places,
                                   tuple(sorted({d for p in places for d in _territory(gazetteer, p)[0]})),
                                   tuple(sorted({p.code for p in places if p.kind == "commune"})),
                                   # « PLIE ESPACE TECHNOWEST »: the name as a name, not as a title
                                   _title(written) if _shouted(written) else written)
    elsewhere_only, departements, communes, shown = inside
    if elsewhere_only:
        return False
    if not departements:
        located = _located_after(gazetteer, full, tokens, after)
        if located is False:
            return False
        if located:
            departements, communes = _territory(gazetteer, located)
        elif document.places.outside:
            return False  # a text about elsewhere
        elif len(document.places.departements) == 1:
            departements = document.places.departements
    name = f"{network.name} {connector + ' ' if connector else ''}{shown}".replace("' ", "'")
    return document.mention(name, network.kind, start, tokens.ends[after - 1], departements, communes)


_UNKNOWN = object()


def _leading_place(gazetteer: Gazetteer, network: Network, connector: str | None, full: str, tokens: _Tokens,
                   first: int, after: int, longer: int) -> tuple | bool | None:
    """The longest leading part of tokens[first:longer] that is a place of the network's kinds: (its
    number of tokens, the actor's canonical name, départements, communes); False for a place elsewhere,
    None when there is none. It depends on the written words only: kept by them (`_Matcher.leading`)."""
    for j in range(longer, first, -1):
        text = _span(full, tokens, first, j)
        place = _place(gazetteer, text, network.places)
        if place is None and connector in ("de la", "de l'") and j >= after:
            place = _place(gazetteer, f"{connector[3:]} {text}".replace("' ", "'"), network.places)
        if place is False:
            return False
        if place:
            return (j - first, _canonical(gazetteer, network, place), *_territory(gazetteer, place))
    return None


def _shouted(written: str) -> bool:
    """Written in capitals, at least in part (« HAUTS DE Garonne », « PéRIGORD » of a careless feed)."""
    return any(len(word) > 4 and sum(c.isupper() for c in word) > 0.6 * len(word) for word in written.split())


def _title(written: str) -> str:
    """« ESPACE TECHNOWEST » -> « Espace Technowest », « HAUTS DE GARONNE » -> « Hauts de Garonne »;
    acronyms of up to four letters stay (« BTP »)."""
    words = []
    for word in written.split(" "):
        if fold(word) in PARTICLES:
            word = word.lower()
        elif len(word) > 4 or not word.isupper():
            word = "-".join(part[:1].upper() + part[1:].lower() for part in word.split("-"))
        words.append(word)
    return " ".join(words)


def _located_after(gazetteer: Gazetteer, full: str, tokens: _Tokens, i: int) -> Place | None | bool:
    """Where a name is said to be just after it: « Elan (Creuse) », « Elan (23) », « Elan, à Guéret »,
    « Elan, basée à Tulle »."""
    if tokens.text(i) == "(":
        span = _name(tokens, i + 1)
        if span and tokens.text(span[1]) == ")":
            return _place(gazetteer, _span(full, tokens, *span), PLACE_KINDS)
        return None
    if tokens.text(i) == ",":
        i += 1
        if fold(tokens.text(i)) in LOCATED:
            i += 1
    if tokens.text(i) not in ("à", "en"):
        return None
    span = _name(tokens, i + 1)
    if not span:
        return None
    return _place(gazetteer, _span(full, tokens, *span), frozenset(("commune", "departement", "area")))


def _enumeration(document: _Text, start: int, tokens: _Tokens, i: int, connector: str | None,
                 form: Form) -> list[ActorMention]:
    """« les missions locales de Limoges, Guéret et Tulle »: one actor per place named; a plural
    without names, or over a whole département or région, is none."""
    full, gazetteer, network = document.full, document.gazetteer, form.network
    found = []
    if network.complement == "name":
        return []
    if connector is None:
        if tokens.text(i) != "(":
            return []
        i += 1  # « les quatre missions locales (Pau, Bayonne, Morlaàs et Mourenx) »
    while True:
        span = _name(tokens, i)
        if not span:
            break
        first, after = span
        place = None
        for j in range(after, first, -1):  # the longest leading place of the name
            place = _place(gazetteer, _span(full, tokens, first, j), network.places)
            if place is not None:
                after = j
                break
        if not place or place.kind in ("departement", "region"):
            break
        mention_start = start if not found else tokens.starts[first]
        found.append(document.mention(_canonical(gazetteer, network, place), network.kind, mention_start,
                                      tokens.ends[after - 1], *_territory(gazetteer, place)))
        i = after
        if tokens.text(i) not in (",", "et"):
            break
        i += 1
        if tokens.text(i) == "et":
            i += 1
        i = _connector(tokens, i)[1]  # « de Limoges, de Guéret et de Tulle »
    return found


def actor_documents(documents, gazetteer: Gazetteer | None = None):
    """`veille actors --jsonl`: for each (id, title, text), {"id", "actors": [...]} with one entry per
    actor (its first mention): {"name", "kind", "match", "start", "departements"}."""
    gazetteer = gazetteer or load_gazetteer()
    for doc_id, title, text in documents:
        seen, actors = set(), []
        for mention in extract_actors(title, text, gazetteer):
            if mention.key in seen:
                continue
            seen.add(mention.key)
            actors.append({"name": mention.name, "kind": mention.kind, "match": mention.match,
                           "start": mention.start, "departements": list(mention.departements)})
        yield {"id": doc_id, "actors": actors}
