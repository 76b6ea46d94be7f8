"""Tagging: nature, themes and dispositifs from the curator's taxonomy (pipeline/topics.py) and a
learned model (pipeline/learning.py), places from the gazetteer (pipeline/places.py).

`tag_text`/`tag_document` are pure functions (text in, tags out): the rules, then the model — the
archive's own once `veille learn` trained one, the starter model shipped with the project until
then — which may decide the nature and add or doubt themes. `tag_items` applies them to the archive,
replacing only the machine's tags (origins `auto` for the rules, `model` for the model's judgement):
curator decisions are never touched. `explain` says, for each tag, who decided it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING

import ahocorasick

from config.dates import utcnow
from pipeline.folding import frequent_first, match_text
from pipeline.learning import Judgement, TagModel, starter_model, suggestion_evidence
from pipeline.linear import LinearModel
from pipeline.places import Gazetteer, load_gazetteer, tag_places
from pipeline.topics import TopicMatcher, topic_matcher
from config.schema import TAG_FACETS, Taxonomy

if TYPE_CHECKING:  # sqlite-utils (and what it imports) only for the archive's commands, not `veille tag --jsonl`
    import sqlite_utils

STARTER = "starter"  # the `model` argument's default: the starter model shipped with the project


@dataclass
class TagResult:
    tags: dict                                  # the format of `veille tag --jsonl` (README): what is in effect
    scores: dict[tuple[str, str], float]        # (facet, value) -> rule score, for nature, themes, dispositifs
    rule_tags: dict = field(default_factory=dict)  # the same format, the rules alone
    judgement: Judgement | None = None          # the model's, when one was applied
    model: TagModel | None = None
    words: str | None = None                    # match_text(title + "\n\n" + text), read by the actors too

    @property
    def nature_origin(self) -> str:
        """"rules" or "model": who decided the nature."""
        return self.judgement.nature_origin if self.judgement else "rules"


def tag_text(taxonomy: Taxonomy, doc_id: str, title: str, text: str,
             gazetteer: Gazetteer | None = None, model: TagModel | None | str = STARTER) -> TagResult:
    """The tags of one document and their scores. Evidence offsets point into `title + "\\n\\n" + text`.
    `model`: the starter model by default, an archive's model, or None for the rules alone."""
    if model == STARTER:
        model = starter_model()
    result, counts = _rules(taxonomy, doc_id, title, text, gazetteer, model)
    if model is None:
        return result
    return _judged(result, model, model.linear.probabilities_from_counts(counts, result.scores), len(counts))


def tag_texts(taxonomy: Taxonomy, documents, gazetteer: Gazetteer | None = None,
              model: TagModel | None | str = STARTER, batch: int = 256):
    """`tag_text` of many (id, title, text) documents, yielded in order: the model scores them by
    batches (the same results, a fraction of the cost: `veille tag --jsonl`, `veille tag`)."""
    if model == STARTER:
        model = starter_model()
    pending: list[tuple[TagResult, dict[int, int]]] = []
    for doc_id, title, text in documents:
        pending.append(_rules(taxonomy, doc_id, title, text, gazetteer, model))
        if len(pending) >= batch:
            yield from _judge_many(pending, model)
            pending = []
    yield from _judge_many(pending, model)


def _judge_many(pending: list[tuple[TagResult, dict[int, int]]], model: TagModel | None):
    if model is None:
        return [result for result, _ in pending]
    probabilities = model.linear.probabilities_of_many([counts for _, counts in pending],
                                                       [result.scores for result, _ in pending])
    return [_judged(result, model, p, len(counts)) for (result, counts), p in zip(pending, probabilities)]


def _rules(taxonomy: Taxonomy, doc_id: str, title: str, text: str, gazetteer: Gazetteer | None,
           model: TagModel | None) -> tuple[TagResult, dict[int, int]]:
    """The rules' tags of a document, and the counts of the model's words in it."""
    full = f"{title}\n\n{text}"
    words = match_text(full)
    gazetteer = gazetteer or load_gazetteer()
    matcher = topic_matcher(taxonomy)
    linear = model.linear if model is not None else None
    place_matches, topic_matches, model_words = [], [], []
    count = model_words.append
    automaton, size = _shared_automaton(gazetteer, matcher, linear), len(linear.vocabulary) if linear else 0
    # One pass of one automaton finds the place names, the taxonomy's keywords and the model's words (a
    # word of the title counts in the body and, apart, in the title). Most matches are words only the
    # model knows, valued by their number alone: one test each.
    title_end = len(title) + 2
    for end_index, value in automaton.iter(words):
        if type(value) is int:
            count(value)
            if end_index < title_end:
                count(size + value)
            continue
        place, topic, word = value
        if word is not None:
            count(word)
            if end_index < title_end:
                count(size + word)
        if place is not None:
            place_matches.append((end_index, place))
        if topic is not None:
            topic_matches.append((end_index, topic))
    topics = matcher.tag(title, text, words, topic_matches)
    places = tag_places(full, gazetteer, words, matches=place_matches)
    rule_tags = {
        "id": doc_id,
        "nature": topics.nature,
        "themes": topics.themes,
        "dispositifs": topics.dispositifs,
        "departements": places.departements,
        "communes": places.communes,
        "epci": places.epci,
        "region_na": places.region_na,
        "outside": places.outside,
        "evidence": sorted(topics.evidence + places.evidence, key=_start),
    }
    return TagResult(rule_tags, topics.scores, rule_tags, words=words), Counter(model_words)  # counted in C


def _judged(result: TagResult, model: TagModel, probabilities: dict, known_words: int) -> TagResult:
    """The result with the model's judgement applied."""
    rule_tags = result.rule_tags
    judgement = model.decide(probabilities, rule_tags["nature"], rule_tags["themes"], result.scores, known_words)
    result.judgement, result.model = judgement, model  # the rules' result is this document's alone
    if not judgement.additions and not judgement.vetoes:  # most often: the rules' nature and themes stand
        return result
    themes = (set(rule_tags["themes"]) - {v for f, v in judgement.vetoes if f == "themes"}) | {
        v for f, v in judgement.additions if f == "themes"}
    if judgement.nature == rule_tags["nature"] and themes == set(rule_tags["themes"]):
        return result
    tags = {**rule_tags, "nature": judgement.nature, "themes": sorted(themes),
            "evidence": [e for e in rule_tags["evidence"]
                         if e["facet"] not in ("nature", "themes")
                         or (e["facet"] == "nature" and e["value"] == judgement.nature)
                         or (e["facet"] == "themes" and e["value"] in themes)]}
    return TagResult(tags, result.scores, rule_tags, judgement, model, result.words)


_start = itemgetter("start")  # an evidence's offset (in C: called for every evidence)


_shared: dict[tuple[int, int, int], tuple] = {}


def _shared_automaton(gazetteer: Gazetteer, matcher: TopicMatcher, linear: LinearModel | None) -> ahocorasick.Automaton:
    """One automaton of the gazetteer's names, the taxonomy's keys and the model's words: one scan of
    the text instead of three (built once per gazetteer, taxonomy and model, its keys added in
    `frequent_first` order). A word only the model knows is valued by its number in the vocabulary;
    any other key by (places or None, topic value or None, word number or None)."""
    key = (id(gazetteer), id(matcher), id(linear))
    cached = _shared.get(key)
    if cached is None or cached[0] is not gazetteer or cached[1] is not matcher or cached[2] is not linear:
        model_keys = {f" {word} ": i for i, word in enumerate(linear.vocabulary)} if linear is not None else {}
        automaton = ahocorasick.Automaton()
        for name in sorted(gazetteer.names.keys() | matcher.keys.keys() | model_keys.keys(), key=frequent_first):
            places, topic = gazetteer.names.get(name), matcher.keys.get(name)
            if places is None and topic is None:
                automaton.add_word(name, model_keys[name])
            else:
                automaton.add_word(name, ((name, places) if places else None, topic, model_keys.get(name)))
        automaton.make_automaton()
        if len(_shared) > 8:
            _shared.clear()
        cached = _shared[key] = (gazetteer, matcher, linear, automaton)
    return cached[3]


def prepare(taxonomy: Taxonomy, gazetteer: Gazetteer, model: TagModel | None) -> None:
    """Build now what the first document would: the taxonomy's matcher and the shared automaton (a
    long-lived process makes them with the rest of what it loads, see `veille tag --jsonl`)."""
    _shared_automaton(gazetteer, topic_matcher(taxonomy), model.linear if model is not None else None)


def tag_document(taxonomy: Taxonomy, doc_id: str, title: str, text: str,
                 gazetteer: Gazetteer | None = None, model: TagModel | None | str = STARTER) -> dict:
    """The tags of one document, in the format of `veille tag --jsonl` (README, « Tag output »)."""
    return tag_text(taxonomy, doc_id, title, text, gazetteer, model).tags


def tag_documents(taxonomy: Taxonomy, documents, gazetteer: Gazetteer | None = None,
                  model: TagModel | None | str = STARTER, batch: int = 256):
    """`tag_document` of many (id, title, text) documents, yielded in order, the model's part by
    batches: what `veille tag --jsonl` should run."""
    for result in tag_texts(taxonomy, documents, gazetteer, model, batch):
        yield result.tags


# ------------------------------------------------------------------- archive

def tag_rows(item_id: int, result: TagResult) -> list[dict]:
    """Rows of the `tags` table (origin auto) for one document's rule tags: the rule score, or for
    places the number of mentions, and the evidence."""
    tags, now, rows = result.rule_tags or result.tags, utcnow(), []
    flags = {**tags, "region": [flag for flag, key in (("na", "region_na"), ("outside", "outside")) if tags[key]]}
    for facet in TAG_FACETS:
        values = flags[facet] if isinstance(flags[facet], list) else [flags[facet]]
        for value in values:
            proof = [e for e in tags["evidence"] if e["facet"] == facet and e["value"] == value]
            score = result.scores.get((facet, value)) or float(len(proof)) or None
            rows.append({"item_id": item_id, "facet": facet, "value": value, "origin": "auto",
                         "action": "add", "score": score,
                         "evidence": json.dumps(proof, ensure_ascii=False), "updated_at": now})
    return rows


def model_rows(item_id: int, additions: dict[tuple[str, str], float],
               vetoes: dict[tuple[str, str], float], model: TagModel | None = None,
               reasons: dict[tuple[str, str], list] | None = None) -> list[dict]:
    """Rows of origin `model`: tags the model proposes (action add; for the nature it decides, with
    the words that weighed most) and rule tags it doubts (action remove), each with its probability."""
    now, reasons = utcnow(), reasons or {}
    return [{"item_id": item_id, "facet": facet, "value": value, "origin": "model", "action": action,
             "score": round(probability, 3),
             "evidence": suggestion_evidence(probability, model, reasons.get((facet, value))), "updated_at": now}
            for action, tags in (("add", additions), ("remove", vetoes))
            for (facet, value), probability in sorted(tags.items())]


@dataclass
class TagReport:
    items: int = 0
    gained: Counter = field(default_factory=Counter)  # "facet:value" -> items that gained it
    lost: Counter = field(default_factory=Counter)


def _machine_tags(db: sqlite_utils.Database, item_id: int) -> set[str]:
    rows = db.execute("SELECT facet, value, action FROM tags WHERE item_id = ? AND origin IN ('auto', 'model')",
                      [item_id]).fetchall()
    return {f"{f}:{v}" for f, v, a in rows if a == "add"} - {f"{f}:{v}" for f, v, a in rows if a == "remove"}


def tag_items(db: sqlite_utils.Database, taxonomy: Taxonomy, everything: bool = False, progress=None,
              model: TagModel | None = None, gazetteer: Gazetteer | None = None,
              rules_only: bool = False) -> TagReport:
    """Tag the items not yet tagged (all items with `everything`), replacing only the machine's tags
    (origins auto and model): curator decisions are never touched. `model`: the archive's model;
    without one, the starter model shipped with the project (none at all with `rules_only`).
    The actors each item names replace its machine mentions, then the directory is rebuilt
    (pipeline/directory.py: the curator's decisions on actors are applied again)."""
    from pipeline.actors import extract_actors
    from pipeline.directory import rebuild_directory, replace_mentions

    gazetteer = gazetteer or load_gazetteer()
    where = "" if everything else "WHERE tagged_at IS NULL"
    items = list(db.execute(f"SELECT id, title, text FROM items {where} ORDER BY id").fetchall())
    if model is None and not rules_only:
        model = starter_model()
    report = TagReport()
    texts = {item_id: (title or "", text or "") for item_id, title, text in items}
    # A snapshot of the ids: the loop below forgets each text once stored, while tag_texts still reads.
    results = tag_texts(taxonomy, ((item_id, *texts[item_id]) for item_id in list(texts)), gazetteer, model)
    for result in results:
        item_id = result.tags["id"]
        title, text = texts.pop(item_id)
        before = _machine_tags(db, item_id)
        rows = tag_rows(item_id, result)
        if result.judgement is not None:
            judgement = result.judgement
            reasons = {tag: model.reasons(title, text, tag) for tag in judgement.additions if tag[0] == "nature"}
            rows += model_rows(item_id, judgement.additions, judgement.vetoes, model, reasons)
        after = {f"{r['facet']}:{r['value']}" for r in rows if r["action"] == "add"} - {
            f"{r['facet']}:{r['value']}" for r in rows if r["action"] == "remove"}
        actors = extract_actors(title, text, gazetteer, places=result.tags, words=result.words)  # not read twice
        with db.atomic():
            db.execute("DELETE FROM tags WHERE item_id = ? AND origin IN ('auto', 'model')", [item_id])
            if rows:
                db["tags"].insert_all(rows)
            replace_mentions(db, item_id, actors)
            db.execute("UPDATE items SET tagged_at = ? WHERE id = ?", [utcnow(), item_id])
        report.items += 1
        report.gained.update(after - before)
        report.lost.update(before - after)
        if progress:
            progress()
    if report.items:
        rebuild_directory(db, gazetteer, taxonomy)
    return report


DECIDERS = {"auto": "rules", "model": "model", "curator": "curator"}


def explain(db: sqlite_utils.Database, item_id: int) -> list[dict]:
    """Every tag row of an item, curator decisions first: facet, value, origin, action, score, evidence,
    whether it is in effect, and for a curator's, who (`curator`, None when unknown) and when (`at`).
    The row of the nature in effect says who decided it (`decided_by`: "rules", "model" or
    "curator"); the others have `decided_by` None."""
    effective = {(f, v) for f, v in db.execute("SELECT facet, value FROM effective_tags WHERE item_id = ?",
                                               [item_id])}
    rows = db.execute(
        "SELECT facet, value, origin, action, score, evidence, curator, updated_at FROM tags WHERE item_id = ? "
        "ORDER BY origin = 'auto', origin = 'model', facet, value", [item_id]).fetchall()
    explained = [{"facet": f, "value": v, "origin": o, "action": a, "score": sc,
                  "evidence": json.loads(e) if e else [], "effective": (f, v) in effective and a == "add",
                  "curator": who if o == "curator" else None, "at": at if o == "curator" else None,
                  "decided_by": None}
                 for f, v, o, a, sc, e, who, at in rows]
    # The nature in effect: the first row that adds it (curator, then model, then rules, by the order above).
    deciding = next((row for row in explained if row["facet"] == "nature" and row["effective"]), None)
    if deciding is not None:
        deciding["decided_by"] = DECIDERS.get(deciding["origin"], deciding["origin"])
    return explained
