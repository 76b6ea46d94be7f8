"""What the learned suggestions add over the rules alone, on a held-out split of curated data.

The curated data are the 150 texts of tests/fixtures/topics_devset.yaml and topics_heldout.yaml with
their expected themes and dispositifs (what a curator would have validated). Five folds: train the
model on four, measure on the fifth, three ways: rules alone, rules plus the model's confident
suggestions and doubts (what `veille tag` does), and the model alone. Micro-averaged F1 over all folds.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from pipeline.evaluation import Score
from pipeline.learning import ACCEPT, JUDGED_FACETS, NATURE_ACCEPT, VETO, train
from pipeline.topics import topic_matcher
from config.loading import load_taxonomy

ROOT = Path(__file__).resolve().parents[1]
FOLDS = 5
FACETS = ("themes", "dispositifs")


def labelled() -> list[tuple[str, str, set[tuple[str, str]]]]:
    docs = []
    for name in ("topics_devset", "topics_heldout"):
        for doc in yaml.safe_load((ROOT / "tests" / "fixtures" / f"{name}.yaml").read_text(encoding="utf-8")):
            labels = {(facet, slug) for facet in FACETS for slug in doc["expected"][facet]}
            labels.add(("nature", doc["expected"]["nature"]))
            docs.append((doc["title"], doc["text"], labels))
    return docs


def run() -> None:
    docs = labelled()
    matcher = topic_matcher(load_taxonomy(ROOT / "config" / "taxonomy.yaml"))
    scores = {way: {facet: Score() for facet in FACETS} for way in ("rules", "rules + model", "model")}
    natures_right = {"rules": 0, "rules + model": 0}
    training_seconds = 0.0
    for fold in range(FOLDS):
        test = [d for i, d in enumerate(docs) if i % FOLDS == fold]
        training = [d for i, d in enumerate(docs) if i % FOLDS != fold]
        started = time.perf_counter()
        model = train(training)
        training_seconds += time.perf_counter() - started
        probabilities = model.probabilities([(title, text) for title, text, _ in test])
        for (title, text, expected), probs in zip(test, probabilities):
            tags = matcher.tag(title, text)
            expected_nature = next(v for f, v in expected if f == "nature")
            natures_right["rules"] += tags.nature == expected_nature
            natures_right["rules + model"] += _nature(model, probs, tags.nature) == expected_nature
            rules = {("themes", t) for t in tags.themes} | {("dispositifs", d) for d in tags.dispositifs}
            learned = {tag for tag, p in probs.items() if p >= ACCEPT}
            judged = {tag for tag in learned if tag[0] in JUDGED_FACETS}
            doubted = {tag for tag in rules if tag[0] in JUDGED_FACETS and probs.get(tag, 1.0) < VETO}
            combined = (rules - doubted) | judged
            for way, found in (("rules", rules), ("rules + model", combined), ("model", learned)):
                for facet in FACETS:
                    scores[way][facet].add({t for t in expected if t[0] == facet}, {t for t in found if t[0] == facet})
    print(f"{len(docs)} curated texts, {FOLDS} folds (train on {len(docs) * (FOLDS - 1) // FOLDS}, "
          f"test on {len(docs) // FOLDS}); model adds at probability ≥ {ACCEPT}, doubts a rule theme < {VETO}; "
          f"training {training_seconds / FOLDS:.2f} s per fold")
    for way, facets in scores.items():
        nature = f"nature accuracy {natures_right[way] / len(docs):.3f}   " if way in natures_right else ""
        print(f"  {way:<14} {nature}" + "   ".join(f"{facet}: {score}" for facet, score in facets.items()))
    gain = scores["rules + model"]["themes"].f1 - scores["rules"]["themes"].f1
    print(f"  themes F1 with the learned suggestions: {gain:+.3f} over the rules alone")

    # Trained on all 150, measured on the blind set (never used to tune the rules nor the model).
    blind = yaml.safe_load((ROOT / "tests" / "fixtures" / "topics_blind.yaml").read_text(encoding="utf-8"))
    model = train(docs)
    rules_score, combined_score = Score(), Score()
    rules_nature = combined_nature = 0
    for doc, probs in zip(blind, model.probabilities([(d["title"], d["text"]) for d in blind])):
        rule_nature = matcher.tag(doc["title"], doc["text"]).nature
        rules_nature += rule_nature == doc["expected"]["nature"]
        combined_nature += _nature(model, probs, rule_nature) == doc["expected"]["nature"]
        expected = {("themes", t) for t in doc["expected"]["themes"]}
        rules = {("themes", t) for t in matcher.tag(doc["title"], doc["text"]).themes}
        learned = {tag for tag, p in probs.items() if p >= ACCEPT and tag[0] in JUDGED_FACETS}
        doubted = {tag for tag in rules if probs.get(tag, 1.0) < VETO}
        rules_score.add(expected, rules)
        combined_score.add(expected, (rules - doubted) | learned)
    print(f"blind set ({len(blind)} articles), model trained on the {len(docs)} curated texts:")
    print(f"  rules          nature accuracy {rules_nature / len(blind):.3f}   themes: {rules_score}")
    print(f"  rules + model  nature accuracy {combined_nature / len(blind):.3f}   themes: {combined_score}")


def _nature(model, probabilities: dict, rule_nature: str) -> str:
    """The nature `veille tag` keeps: the learned one from NATURE_ACCEPT, else the rules' one."""
    natures = {v: p for (f, v), p in probabilities.items() if f == "nature"}
    if natures:
        best = max(natures, key=natures.get)
        if natures[best] >= NATURE_ACCEPT:
            return best
    return rule_nature


if __name__ == "__main__":
    run()
