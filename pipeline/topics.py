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
from functools import cached_property

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

    @property
    def tag(self) -> tuple[str, str]:
        return self.facet, self.value


# A cue as `TopicMatcher.tag` reads it, all worked out when the taxonomy is compiled: (its tag's
# number, its keyword's number (counted MAX_REPEAT times), its weight in the title, in the lede and
# after it (a nature cue counts half there), whether it is an acronym, its facet, its value). Numbers,
# not tuples of strings, for what a document counts: a small integer hashes at no cost.
Scoring = tuple[int, int, float, float, float, bool, str, str]


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
    """Automaton keys one of which every match of a regular expression contains, to prefilter it: its
    longest plain run ("forum"), or the alternatives of a group of plain words ("(janvier|fevrier|…)"),
    whichever is the most selective. A word the pattern bounds (a space or \\b) is a key between
    spaces or hyphens, as a keyword: the automaton then stays out of the middle of words, and a
    bare "mai" opens no window in "semaine" or "maison". None when there is none: the regex then
    runs on every text."""
    candidates: list[tuple[tuple[str, ...], int, int]] = []  # (words as written, where they start, end)
    run, run_start, i = "", 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            candidates.append(((run,), run_start, i))
            run, i, run_start = "", i + 2, i + 2
            continue
        if char == "[":
            candidates.append(((run,), run_start, i))
            run = ""
            i = pattern.index("]", i + 1) if "]" in pattern[i + 1:] else len(pattern)
            run_start = i + 1
        elif char == "(":
            candidates.append(((run,), run_start, i))
            run = ""
            close = _group_end(pattern, i)
            group = pattern[i + 1:close]
            optional = pattern[close + 1:close + 2] in ("?", "*")
            if not optional and re.fullmatch(r"[\w' -]+(\|[\w' -]+)*", group):
                candidates.append((tuple(group.split("|")), i, close + 1))
            i, run_start = close, close + 1
        elif char == "|":  # groups are skipped whole: this one is at the top
            return None  # an alternation at the top: no literal is required
        elif char in "?*{":
            run = run[:-1]  # the character before is optional
            candidates.append(((run,), run_start, i - 1))
            run = ""
            if char == "{":
                i = pattern.find("}", i) if "}" in pattern[i:] else len(pattern)
            run_start = i + 1
        elif char in ".^$+)":
            candidates.append(((run,), run_start, i))
            run, run_start = "", i + 1
        else:
            run += char
        i += 1
    candidates.append(((run,), run_start, len(pattern)))
    usable = [candidate for candidate in candidates if all(len(w.strip()) >= 3 for w in candidate[0])]
    if not usable:
        return None
    written, start, end = max(usable, key=lambda candidate: (min(len(w.strip()) for w in candidate[0]),
                                                             -len(candidate[0])))
    words = tuple(word_key(w).strip() for w in written)
    # In the matching text, what a space, a boundary or a punctuation mark makes is a space, but a hyphen.
    starts = pattern[:start].endswith((" ", "\\b", "\\s", "\\s+")) or all(w[:1] == " " for w in written)
    ends = pattern[end:].startswith((" ", "\\b", "\\s")) or all(w[-1:] == " " for w in written)
    if starts and ends:
        return tuple(key for word in words for key in _glued(f" {word} "))
    if starts:
        return tuple(key for word in words for key in (f" {word}", f"-{word}"))
    return words


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
    patterns: list[tuple[Scoring, re.Pattern, tuple[str, ...] | None]]
    tags: list[tuple[str, str]]         # (facet, value) of each tag number, in the taxonomy's order
    min_scores: list[float]             # by tag number
    # The keywords' automaton keys, each valued (its length - 1, the word's length, Scoring of its
    # cues, None or for a key that is an exclusion or an anchor: (the tag numbers it is an exclusion
    # of, the numbers of the patterns it is an anchor of)).
    keys: dict[str, tuple]
    natures: list[tuple[int, str]] = field(init=False)    # (tag number, kind) in NATURE_PRIORITY order
    themes: frozenset[int] = field(init=False)            # tag numbers of themes

    def __post_init__(self) -> None:
        number = {tag: i for i, tag in enumerate(self.tags)}
        self.natures = [(number[("nature", n)], n) for n in NATURE_PRIORITY]
        self.themes = frozenset(i for i, (facet, _) in enumerate(self.tags) if facet == "themes")

    @cached_property
    def automaton(self) -> ahocorasick.Automaton:
        """The keys alone, built on first use: the whole tagger scans a text with one automaton of
        these keys and the gazetteer's names (pipeline/tagging.py)."""
        automaton = ahocorasick.Automaton()
        for key, value in self.keys.items():
            automaton.add_word(key, value)
        automaton.make_automaton()
        return automaton

    def tag(self, title: str, text: str, words: str | None = None, matches=None) -> TopicTags:
        """Tag a document; `words` is match_text(title + "\\n\\n" + text) when already computed,
        `matches` the automaton's matches in it (end index, value) when already found."""
        full = f"{title}\n\n{text}"
        if matches is None:
            matches = list(self.automaton.iter(words or match_text(full)))
        title_end = len(title)
        lede_end = title_end + 2 + LEDE_CHARS
        # First the few exclusions and anchors: an exclusion may come after the keyword it cancels.
        excluded: list[tuple[int, int, int]] = []
        excluded_tags: set[int] = set()  # the few tags with an exclusion in the text: most cues skip the search
        anchors: dict[int, list[int]] = {}  # pattern number -> where its anchors end in the title and lede
        for end_index, (offset, word_length, _, special) in matches:
            if special is not None:
                exclude, anchor_of = special
                for tag in exclude:
                    excluded.append((end_index - offset, end_index - offset + word_length, tag))
                    excluded_tags.add(tag)
                if anchor_of:
                    end = end_index - offset + word_length  # the word's end (a key may take a space after it)
                    if end < lede_end:
                        for pattern in anchor_of:
                            anchors.setdefault(pattern, []).append(end)
        pattern_matches = self._pattern_hits(full, lede_end, anchors) if self.patterns else ()

        scores: dict[int, float] = {}  # tag number -> score
        repeats: dict[int, int] = {}
        counted = []
        # The automaton gives matches by where they end: the occurrences of one keyword (never
        # overlapping) are in the order of the text, which is what MAX_REPEAT needs.
        for end_index, (offset, word_length, cues, _) in itertools.chain(matches, pattern_matches):
            start = end_index - offset  # the key's leading space is the character before the word
            end = start + word_length
            for cue in cues:
                tag, keyword, title_weight, lede_weight, late_weight, acronym, _, _ = cue
                if acronym and not _acronym_as_written(full, start, end):
                    continue
                if tag in excluded_tags and any(a <= start and end <= b and t == tag for a, b, t in excluded):
                    continue
                repeat = repeats[keyword] = repeats.get(keyword, 0) + 1
                if repeat > MAX_REPEAT:
                    continue
                weight = title_weight if start < title_end else lede_weight if start < LEDE_CHARS else late_weight
                scores[tag] = scores.get(tag, 0.0) + weight
                counted.append((start, end, cue))

        nature, best = "initiative", None
        for tag, kind in self.natures:  # the best score; of equal ones, the first in NATURE_PRIORITY
            score = scores.get(tag, 0)
            if score >= self.min_scores[tag] and (best is None or score > best):
                nature, best = kind, score
        nature_tag = self.natures[NATURE_PRIORITY.index(nature)][0]
        length_factor = max(1.0, len(text) / LONG_TEXT_CHARS)
        tags, min_scores, themes = self.tags, self.min_scores, self.themes
        chosen = {nature_tag} | {
            tag for tag, score in scores.items()
            if tags[tag][0] != "nature" and score >= min_scores[tag] * (length_factor if tag in themes else 1)}
        chosen_tags = [tags[tag] for tag in chosen]
        return TopicTags(
            nature=nature,
            scores={tags[tag]: score for tag, score in scores.items()},
            themes=sorted(v for f, v in chosen_tags if f == "themes"),
            dispositifs=sorted(v for f, v in chosen_tags if f == "dispositifs"),
            evidence=[{"facet": facet, "value": value, "match": full[start:end], "start": start}
                      for start, end, (tag, _, _, _, _, _, facet, value) in counted if tag in chosen],
        )

    def _pattern_hits(self, full: str, lede_end: int, anchors: dict[int, list[int]]) -> list[tuple[int, tuple]]:
        """Matches of the patterns in the title and the lede (nature cues: the rest counts half anyway),
        each searched around the occurrences of its anchors there (everywhere when it has none); as
        the automaton's matches: (start, (0, length, (Scoring,), None))."""
        found = []
        for number, (cue, regex, pattern_anchors) in enumerate(self.patterns):
            if pattern_anchors is None:
                windows = [(0, min(lede_end, len(full)))]
            else:
                ends = anchors.get(number)  # in the order of the text, as the automaton gives them
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
                found.extend((low + m.start() - shift, (0, m.end() - m.start(), (cue,), None))
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
    anchor_of: dict[str, dict[int, None]] = defaultdict(dict)  # anchor -> numbers of its patterns
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
                for anchor in anchors or ():
                    entries[anchor].append(Cue("anchor", anchor, pattern))  # anywhere, not only at a word start
                    anchor_of[anchor].setdefault(len(patterns))
                patterns.append((Cue(facet, slug, pattern), re.compile(pattern), anchors))
    tags = list(min_scores)
    number = {tag: i for i, tag in enumerate(tags)}
    keywords: dict[tuple[str, str, str], int] = {}

    def scoring(cue: Cue) -> Scoring:
        late = cue.weight * 0.5 if cue.facet == "nature" else cue.weight  # a nature cue after the lede
        keyword = keywords.setdefault((cue.facet, cue.value, cue.keyword), len(keywords))
        return number[cue.tag], keyword, cue.weight * TITLE_WEIGHT, cue.weight, late, cue.acronym, cue.facet, cue.value

    keys = {}
    for key, cues in entries.items():
        word_length = len(key.strip(" -")) if key.startswith("-") or key.endswith("-") else len(key.rstrip()) - 1
        if key in anchor_of:  # an anchor counts as nothing else (a keyword with the same key is not counted)
            keys[key] = (len(key) - 1, word_length, (), ((), tuple(anchor_of[key])))
            continue
        hits = tuple(scoring(cue) for cue in cues if not cue.exclude)
        excludes = tuple(number[tag] for tag in sorted({cue.tag for cue in cues if cue.exclude}))
        keys[key] = (len(key) - 1, word_length, hits, (excludes, ()) if excludes else None)
    return TopicMatcher([(scoring(cue), regex, anchors) for cue, regex, anchors in patterns], tags,
                        [min_scores[tag] for tag in tags], keys)


_compiled: dict[int, tuple[Taxonomy, TopicMatcher]] = {}


def topic_matcher(taxonomy: Taxonomy) -> TopicMatcher:
    """The compiled matcher of a taxonomy object (compiled once per loaded taxonomy)."""
    cached = _compiled.get(id(taxonomy))
    if cached is None or cached[0] is not taxonomy:
        cached = _compiled[id(taxonomy)] = (taxonomy, compile_taxonomy(taxonomy))
    return cached[1]
