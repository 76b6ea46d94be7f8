"""Nature, themes and dispositifs from the curator's taxonomy: compiled once, one Aho-Corasick pass.

Each taxonomy entry has `keywords` (whole words or phrases, case and accents ignored), written in a
small notation that covers French inflections:

    appel[s] à projet[s]     optional letters: "appel à projet", "appels à projets"…
    recrut*                  a prefix: recruter, recrutement, recrutent…
    PLIE                     a word in capitals is an acronym: it matches in capitals only
                             (and dotted: "P.L.I.E."), so the verb "plie" is not the PLIE

`strong_keywords` count double. `patterns` are regular expressions on the folded text (lower case,
no accents) for what the notation cannot say; each is only tried when one of its anchors (its
longest plain run, or the words of an alternation group) was found by the automaton, and only in
the title and the first lines, near where the anchor was found. `exclude` entries (same notation)
cancel the matches of their own entry they cover ("par rapport" is no study; "appel à initiatives"
is a call, not an initiative).

A match in the title weighs TITLE_WEIGHT, one in the body 1 (a nature cue after the lede ½); a
keyword counts at most MAX_REPEAT times. A theme needs `min_score` (default 2: one passing mention
is not a theme; more in long texts), a dispositif 1. The nature is the best-scored kind that
reaches its `min_score`, `initiative` otherwise.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass, field

import ahocorasick

from pipeline.folding import fold, match_text, word_key
from config.schema import TAXONOMY_FACETS, Taxonomy

TITLE_WEIGHT = 3
MAX_REPEAT = 3
LEDE_CHARS = 400       # a nature cue after the lede counts half: the news is in the title and the lede
LONG_TEXT_CHARS = 1000  # a theme needs min_score times the body's length in these units (at least once)
DEFAULT_MIN_SCORE = {"nature": 1, "themes": 2, "dispositifs": 1}
# When two natures tie, the more specific kind wins.
NATURE_PRIORITY = ("appel", "evenement", "etude", "politique", "initiative")


@dataclass(frozen=True)
class Cue:
    facet: str
    value: str
    keyword: str          # as the curator wrote it
    acronym: bool = False
    exclude: bool = False
    weight: float = 1.0   # 2 for a strong keyword
    tag: tuple[str, str] = field(init=False, compare=False, repr=False)           # (facet, value)
    repeat_key: tuple[str, str, str] = field(init=False, compare=False, repr=False)  # counted MAX_REPEAT times
    lede_only: bool = field(init=False, compare=False, repr=False)  # a nature cue: counts half after the lede

    def __post_init__(self) -> None:
        object.__setattr__(self, "tag", (self.facet, self.value))
        object.__setattr__(self, "repeat_key", (self.facet, self.value, self.keyword))
        object.__setattr__(self, "lede_only", self.facet == "nature")


@dataclass
class TopicTags:
    nature: str
    scores: dict[tuple[str, str], float]       # (facet, value) -> score
    themes: list[str]
    dispositifs: list[str]
    evidence: list[dict] = field(default_factory=list)


def expand_keyword(keyword: str, hyphenate: bool = False) -> list[tuple[str, bool]]:
    """"appel[s] à projet[s]" -> its spellings; each with True when it ends with * (a prefix). A
    hyphenated spelling is also written with a space; with `hyphenate`, two of its words joined by a
    hyphen too (the press hyphenates programme names: "Pôle-Emploi", "France-Travail", "chantier-école")."""
    prefix = keyword.endswith("*")
    keyword = keyword.rstrip("*")
    parts = re.split(r"(\[[^\]]*\])", keyword)
    choices = [[part[1:-1], ""] if part.startswith("[") else [part] for part in parts]
    spellings = {"".join(combo) for combo in itertools.product(*choices)}
    variants = set()
    for spelling in spellings:
        variants.add(spelling)
        if "-" in spelling:
            variants.add(spelling.replace("-", " "))
        elif hyphenate:  # one space at a time made a hyphen: "selon Pôle-Emploi" too
            words = spelling.strip().split(" ")
            for i in range(len(words) - 1):
                variants.add(" ".join([*words[:i], f"{words[i]}-{words[i + 1]}", *words[i + 2:]]))
    return [(v, prefix) for v in sorted(variants) if v.strip()]


def _is_acronym(keyword: str) -> bool:
    letters = [c for c in keyword if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def _anchors(pattern: str) -> tuple[str, ...] | None:
    """Words one of which every match of a regular expression contains, to prefilter it with the
    automaton: its longest plain run ("forum"), or the alternatives of a group of plain words
    ("(janvier|fevrier|…)"), whichever is the most selective. None when there is none: the
    regex then runs on every text."""
    candidates: list[tuple[str, ...]] = []
    run, depth, i = "", 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            candidates.append((run,))
            run, i = "", i + 2
            continue
        if char == "[":
            candidates.append((run,))
            run = ""
            i = pattern.index("]", i + 1) if "]" in pattern[i + 1:] else len(pattern)
        elif char == "(":
            candidates.append((run,))
            run = ""
            close = _group_end(pattern, i)
            group = pattern[i + 1:close]
            optional = pattern[close + 1:close + 2] in ("?", "*")
            if not optional and re.fullmatch(r"[\w' -]+(\|[\w' -]+)*", group):
                candidates.append(tuple(group.split("|")))
            i = close
        elif char == "|" and depth == 0:
            return None  # an alternation at the top: no literal is required
        elif char in "?*{":
            run = run[:-1]  # the character before is optional
            candidates.append((run,))
            run = ""
            if char == "{":
                i = pattern.find("}", i) if "}" in pattern[i:] else len(pattern)
        elif char in ".^$+)":
            candidates.append((run,))
            run = ""
        else:
            run += char
        i += 1
    candidates.append((run,))
    usable = [tuple(word_key(w).strip() for w in c) for c in candidates if all(len(w.strip()) >= 3 for w in c)]
    if not usable:
        return None
    return max(usable, key=lambda words: (min(len(w) for w in words), -len(words)))


def _group_end(pattern: str, start: int) -> int:
    depth = 0
    for i in range(start, len(pattern)):
        if pattern[i] == "\\":
            continue
        depth += {"(": 1, ")": -1}.get(pattern[i], 0)
        if depth == 0:
            return i
    return len(pattern) - 1


# A pattern is searched within this many characters around each occurrence of one of its anchors
# (a regular expression runs at about 50 ns a character: never over a whole text).
PATTERN_REACH = 40


@dataclass
class TopicMatcher:
    # Each key's value: (key length, word length, cues, the tags it is an exclusion of, the anchor it is or None).
    automaton: ahocorasick.Automaton
    patterns: list[tuple[Cue, re.Pattern, tuple[str, ...] | None]]
    min_scores: dict[tuple[str, str], float]
    keys: dict[str, tuple]  # the automaton's keys and values (for an automaton shared with places)

    def tag(self, title: str, text: str, words: str | None = None, matches=None) -> TopicTags:
        """Tag a document; `words` is match_text(title + "\\n\\n" + text) when already computed,
        `matches` the automaton's matches in it (end index, value) when already found."""
        full = f"{title}\n\n{text}"
        if matches is None:
            matches = self.automaton.iter(words or match_text(full))
        title_end = len(title)
        hits: list[tuple[int, int, Cue]] = []
        excluded: list[tuple[int, int, tuple[str, str]]] = []
        anchors: dict[str, list[int]] = {}  # anchor -> where it occurs
        for end_index, (key_length, word_length, cues, exclude, anchor) in matches:
            start = end_index - key_length + 1  # the key's leading space is the character before the word
            if anchor is not None:
                anchors.setdefault(anchor, []).append(end_index)
                continue
            for tag in exclude:
                excluded.append((start, start + word_length, tag))
            for cue in cues:
                if not cue.acronym or _acronym_as_written(full, start, start + word_length):
                    hits.append((start, start + word_length, cue))
        if self.patterns:
            hits.extend(self._pattern_hits(full, title_end, anchors))

        scores: dict[tuple[str, str], float] = {}
        repeats: dict[tuple[str, str, str], int] = {}
        counted = []
        # The automaton gives matches by where they end: the occurrences of one keyword (never
        # overlapping) are in the order of the text, which is what MAX_REPEAT needs.
        for hit in hits:
            start, end, cue = hit
            if excluded and any(a <= start and end <= b and tag == cue.tag for a, b, tag in excluded):
                continue
            repeat = repeats.get(cue.repeat_key, 0) + 1
            repeats[cue.repeat_key] = repeat
            if repeat > MAX_REPEAT:
                continue
            if start < title_end:
                weight = cue.weight * TITLE_WEIGHT
            elif cue.lede_only and start >= LEDE_CHARS:
                weight = cue.weight * 0.5
            else:
                weight = cue.weight
            scores[cue.tag] = scores.get(cue.tag, 0.0) + weight
            counted.append(hit)

        natures = [n for n in NATURE_PRIORITY if scores.get(("nature", n), 0) >= self.min_scores[("nature", n)]]
        nature = max(natures, key=lambda n: (scores[("nature", n)], -NATURE_PRIORITY.index(n)), default="initiative")
        length_factor = max(1.0, len(text) / LONG_TEXT_CHARS)
        chosen = {("nature", nature)} | {
            tag for tag, score in scores.items()
            if tag[0] != "nature" and score >= self.min_scores[tag] * (length_factor if tag[0] == "themes" else 1)}
        return TopicTags(
            nature=nature,
            scores=dict(scores),
            themes=sorted(v for f, v in chosen if f == "themes"),
            dispositifs=sorted(v for f, v in chosen if f == "dispositifs"),
            evidence=[{"facet": cue.facet, "value": cue.value, "match": full[start:end], "start": start}
                      for start, end, cue in counted if cue.tag in chosen],
        )

    def _pattern_hits(self, full: str, title_end: int, anchors: dict[str, list[int]]) -> list[tuple[int, int, Cue]]:
        """Matches of the patterns in the title and the lede (nature cues: the rest counts half anyway),
        each searched around the occurrences of its anchors there (everywhere when it has none)."""
        lede_end = title_end + 2 + LEDE_CHARS
        found = []
        for cue, regex, pattern_anchors in self.patterns:
            if pattern_anchors is None:
                windows = [(0, min(lede_end, len(full)))]
            else:
                ends = sorted(end for a in pattern_anchors for end in anchors.get(a, ()) if end < lede_end)
                if not ends:
                    continue
                windows = []
                for end in ends:
                    low, high = max(0, end - PATTERN_REACH), min(lede_end, len(full), end + PATTERN_REACH)
                    if windows and low <= windows[-1][1]:
                        windows[-1] = (windows[-1][0], high)
                    else:
                        windows.append((low, high))
            for low, high in windows:
                # The window alone is folded; a lookbehind still sees the characters before it.
                folded = fold(full[max(0, low - 16):high])
                shift = low - max(0, low - 16)
                found.extend((low + m.start() - shift, low + m.end() - shift, cue)
                             for m in regex.finditer(folded, shift))
        return found


def _acronym_as_written(full: str, start: int, end: int) -> bool:
    """An acronym in capitals ("PLIE", "P.L.I.E."), or for four letters and more in the press's
    title case ("le Plie", "le Geiq") when not at the start of a sentence (the verb "Plie…")."""
    letters = [c for c in full[start:end] if c.isalpha()]
    if not letters:
        return False
    if all(c.isupper() for c in letters):
        return True
    if len(letters) >= 4 and letters[0].isupper() and all(c.islower() for c in letters[1:]):
        before = full[max(0, start - 3):start].rstrip()
        if not before:  # the first word of the title: a heading ("Geiq : …"), not the imperative "Plie-toi"
            return full[end:end + 1] != "-"
        return before[-1] not in ".!?:«\n"
    return False


def _glued(key: str) -> tuple[str, ...]:
    """A keyword's key and the same glued by a hyphen to the word before or after it: "GEIQ-BTP",
    "EA-Geiq", "atelier-chantier d'insertion" (a place name glued so is another name; a keyword is
    still itself). A prefix key (" recrut") already matches before a hyphen."""
    if not key.endswith(" "):
        return (key,)
    return key, f"{key[:-1]}-", f"-{key[1:]}", f"-{key[1:-1]}-"


def compile_taxonomy(taxonomy: Taxonomy) -> TopicMatcher:
    entries: dict[str, list[Cue]] = defaultdict(list)
    patterns: list[tuple[Cue, re.Pattern, tuple[str, ...] | None]] = []
    min_scores = {}
    for facet in TAXONOMY_FACETS:
        for slug, entry in getattr(taxonomy, facet).items():
            min_scores[(facet, slug)] = entry.min_score if entry.min_score is not None else DEFAULT_MIN_SCORE[facet]
            for keyword, weight in [(k, 1.0) for k in entry.keywords] + [(k, 2.0) for k in entry.strong_keywords]:
                acronym = _is_acronym(keyword)
                cue = Cue(facet, slug, keyword, acronym, weight=weight)
                for spelling, prefix in expand_keyword(keyword, hyphenate=facet == "dispositifs"):
                    for key in _glued(word_key(spelling, prefix)):
                        entries[key].append(cue)
                    if acronym and " " not in spelling.strip() and len(spelling) <= 6:
                        entries[word_key(" ".join(spelling), prefix)].append(cue)  # "P.L.I.E."
            for keyword in entry.exclude:
                cue = Cue(facet, slug, keyword, exclude=True)
                for spelling, prefix in expand_keyword(keyword, hyphenate=facet == "dispositifs"):
                    for key in _glued(word_key(spelling, prefix)):
                        entries[key].append(cue)
            for pattern in entry.patterns:
                anchors = _anchors(pattern)
                patterns.append((Cue(facet, slug, pattern), re.compile(pattern), anchors))
                for anchor in anchors or ():
                    entries[anchor].append(Cue("anchor", anchor, pattern))  # anywhere, not only at a word start
    keys = {}
    for key, cues in entries.items():
        anchor = next((cue.value for cue in cues if cue.facet == "anchor"), None)
        hits = tuple(cue for cue in cues if cue.facet != "anchor" and not cue.exclude)
        excludes = tuple(sorted({cue.tag for cue in cues if cue.exclude}))
        word_length = len(key.strip(" -")) if key.startswith("-") or key.endswith("-") else len(key.rstrip()) - 1
        keys[key] = (len(key), word_length, hits, excludes, anchor)
    automaton = ahocorasick.Automaton()
    for key, value in keys.items():
        automaton.add_word(key, value)
    automaton.make_automaton()
    return TopicMatcher(automaton, patterns, min_scores, keys)


_compiled: dict[int, tuple[Taxonomy, TopicMatcher]] = {}


def topic_matcher(taxonomy: Taxonomy) -> TopicMatcher:
    """The compiled matcher of a taxonomy object (compiled once per loaded taxonomy)."""
    cached = _compiled.get(id(taxonomy))
    if cached is None or cached[0] is not taxonomy:
        cached = _compiled[id(taxonomy)] = (taxonomy, compile_taxonomy(taxonomy))
    return cached[1]
