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
the title and the first lines. `exclude` entries (same notation) cancel the matches they cover.

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

from pipeline.text import fold, match_text, word_key
from config.schema import TAXONOMY_FACETS, Taxonomy

TITLE_WEIGHT = 3
MAX_REPEAT = 3
LEDE_CHARS = 600       # a nature cue after the lede counts half: the news is in the title and the lede
LONG_TEXT_CHARS = 1000  # a theme needs min_score per started thousand characters of body
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


@dataclass
class TopicTags:
    nature: str
    scores: dict[tuple[str, str], float]       # (facet, value) -> score
    themes: list[str]
    dispositifs: list[str]
    evidence: list[dict] = field(default_factory=list)


def expand_keyword(keyword: str) -> list[tuple[str, bool]]:
    """"appel[s] à projet[s]" -> its spellings; each with True when it ends with * (a prefix)."""
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


@dataclass
class TopicMatcher:
    automaton: ahocorasick.Automaton
    patterns: list[tuple[Cue, re.Pattern, tuple[str, ...] | None]]
    min_scores: dict[tuple[str, str], float]

    def tag(self, title: str, text: str, words: str | None = None) -> TopicTags:
        """Tag a document; `words` is match_text(title + "\\n\\n" + text) when already computed."""
        full = f"{title}\n\n{text}"
        words = words or match_text(full)
        title_end = len(title)
        hits: list[tuple[int, int, Cue]] = []
        excluded: list[tuple[int, int]] = []
        found_anchors: set[str] = set()
        for end_index, (key_length, word_length, cues) in self.automaton.iter(words):
            start = end_index - key_length + 1  # the key's leading space is the character before the word
            end = start + word_length
            for cue in cues:
                if cue.facet == "anchor":
                    found_anchors.add(cue.value)
                elif cue.exclude:
                    excluded.append((start, end))
                elif not cue.acronym or _acronym_as_written(full, start, end):
                    hits.append((start, end, cue))
        if self.patterns:
            folded = None
            for cue, regex, anchors in self.patterns:
                if anchors is None or not found_anchors.isdisjoint(anchors):
                    # Nature cues are read in the title and the lede only (the rest counts half anyway).
                    folded = folded or fold(full[:title_end + 2 + LEDE_CHARS])
                    hits.extend((m.start(), m.end(), cue) for m in regex.finditer(folded))

        scores: dict[tuple[str, str], float] = defaultdict(float)
        repeats: dict[tuple[str, str, str], int] = defaultdict(int)
        counted = []
        hits.sort(key=lambda h: h[0])
        for start, end, cue in hits:
            if excluded and any(a <= start and end <= b for a, b in excluded):
                continue
            repeat_key = (cue.facet, cue.value, cue.keyword)
            repeats[repeat_key] += 1
            if repeats[repeat_key] > MAX_REPEAT:
                continue
            position = TITLE_WEIGHT if start < title_end else (1 if cue.facet != "nature" or start < LEDE_CHARS else 0.5)
            scores[(cue.facet, cue.value)] += cue.weight * position
            counted.append((start, end, cue))

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
                      for start, end, cue in counted if (cue.facet, cue.value) in chosen],
        )


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
        return bool(before) and before[-1] not in ".!?:«\n"
    return False


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
                for spelling, prefix in expand_keyword(keyword):
                    entries[word_key(spelling, prefix)].append(cue)
                    if acronym and " " not in spelling.strip() and len(spelling) <= 6:
                        entries[word_key(" ".join(spelling), prefix)].append(cue)  # "P.L.I.E."
            for keyword in entry.exclude:
                cue = Cue(facet, slug, keyword, exclude=True)
                for spelling, prefix in expand_keyword(keyword):
                    entries[word_key(spelling, prefix)].append(cue)
            for pattern in entry.patterns:
                anchors = _anchors(pattern)
                patterns.append((Cue(facet, slug, pattern), re.compile(pattern), anchors))
                for anchor in anchors or ():
                    entries[anchor].append(Cue("anchor", anchor, pattern))  # anywhere, not only at a word start
    automaton = ahocorasick.Automaton()
    for key, cues in entries.items():
        automaton.add_word(key, (len(key), len(key.rstrip()) - 1, tuple(cues)))
    automaton.make_automaton()
    return TopicMatcher(automaton, patterns, min_scores)


_compiled: dict[int, tuple[Taxonomy, TopicMatcher]] = {}


def topic_matcher(taxonomy: Taxonomy) -> TopicMatcher:
    """The compiled matcher of a taxonomy object (compiled once per loaded taxonomy)."""
    cached = _compiled.get(id(taxonomy))
    if cached is None or cached[0] is not taxonomy:
        cached = _compiled[id(taxonomy)] = (taxonomy, compile_taxonomy(taxonomy))
    return cached[1]
