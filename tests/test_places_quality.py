"""Territory tagging measured on sets written for Veille: precision and recall per level, and no
Nouvelle-Aquitaine code on texts about other regions.

- places_devset.yaml (100 short texts, one per case to handle): tuned on;
- places_heldout.yaml (60 longer, messier articles): written without seeing the tagger; measured
  blind once (départements F1 0.906, communes 0.969, EPCI 0.967, two outside texts given a code),
  then the general fixes its errors showed were made;
- places_blind.yaml (40 articles, written later the same way): measured blind once (départements
  0.870, communes 0.933, EPCI 0.901, two outside texts given a code), then fixed in general ways
  (rivers, short names, longer proper names); one text about Flanders still gets Bruges (Gironde).

For issue 14 the three sets were relabelled to the shared press corpus's conventions (a commune inside
an EPCI's name is named; an EPCI across départements gives its main one), and a rule was added after
an error of places_blind (a commune merged as « A-et-B » is still called « A »).

Issue 14, second part: the classes of error seen on the press corpus's development part, each fixed by a
general rule and proven on texts written for it:
- places_traps.yaml (12 texts, one or two per class: a part of a double-barrelled name, names glued by a
  hyphen, a resort's suffix, a firm named after a village, a short name of ours that is the official
  name of a larger town elsewhere, départements in the rows of a table, a person named with a
  particle, an area named after a commune, examples in a text about elsewhere, a river, a member named
  by its first word in an EPCI's name): tuned on;
- places_traps_heldout.yaml (24 texts of the same classes and others: articles, abbreviations,
  datelines, seats and passing mentions): written before the rules, measured once, never tuned on.
  First 10 texts before → after the rules: départements F1 0.625 → 1.0, communes 0.625 → 1.0, one
  text about elsewhere given a code → none; the 14 others, written later, measured once after:
  communes 0.981 (« de Corrèze » in a title read as the village of Corrèze), départements and EPCI 1.0;
  1.0 everywhere since the rule of a département named like one of its villages (issue 14, third part).

Issue 14, third part: four more classes seen on the press corpus's development part (places in a
sentence that opens on a comparison, a town called by the first word of its name, « de Corrèze » the
département, « Val de X » a brand), each with two texts of places_traps.yaml (t013-t019, tuned on) and
places_traps_heldout2.yaml (w001-w007, written before the rules, measured once after them, never tuned
on): before → after, départements F1 0.857 → 1.0, communes 0.75 → 1.0, EPCI 0.75 → 1.0, no text about
elsewhere given a code (0 → 0).

The shared corpus of real press articles (tests/press_corpus.py) is measured too, on both its parts:
départements and communes, texts about elsewhere given a région code, region_na and outside wrong.
Only aggregate figures of the blind part are printed. Issue 14, blind part, before → after:
départements F1 0.951 → 0.959, communes 0.876 → 0.895, one text about elsewhere given a code (1 → 1).

The thresholds are the levels reached: a regression makes the test fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipeline.evaluation import Score
from pipeline.places import tag_places
from tests.press_corpus import PRESS_MISSING, SPLITS, press_available, press_scores

FIXTURES = Path(__file__).parent / "fixtures"
SETS = {name: yaml.safe_load((FIXTURES / f"{name}.yaml").read_text(encoding="utf-8"))
        for name in ("places_devset", "places_heldout", "places_blind", "places_traps", "places_traps_heldout",
                     "places_traps_heldout2")}
DEVSET = SETS["places_devset"]
LEVELS = ("departements", "communes", "epci")
# Per set: minimum F1 per level, and outside-only texts allowed to get a Nouvelle-Aquitaine code.
MIN_F1 = {
    "places_devset": ({"departements": 0.99, "communes": 0.99, "epci": 0.99}, 0),
    "places_heldout": ({"departements": 0.99, "communes": 0.99, "epci": 0.99}, 0),
    "places_blind": ({"departements": 0.96, "communes": 0.98, "epci": 0.96}, 1),
    "places_traps": ({"departements": 0.99, "communes": 0.99, "epci": 0.99}, 0),
    "places_traps_heldout": ({"departements": 0.99, "communes": 0.99, "epci": 0.99}, 0),
    "places_traps_heldout2": ({"departements": 0.99, "communes": 0.99, "epci": 0.99}, 0),
}


def evaluate(docs: list[dict]) -> tuple[dict[str, Score], list[str], int]:
    scores = {level: Score() for level in LEVELS}
    errors = []
    leaks = 0  # outside-only texts given a Nouvelle-Aquitaine code
    for doc in docs:
        tags = tag_places(f"{doc['title']}\n\n{doc['text']}")
        expected = doc["expected"]
        for level in LEVELS:
            scores[level].add(set(expected[level]), set(getattr(tags, level)))
            if set(expected[level]) != set(getattr(tags, level)):
                errors.append(f"{doc['id']} [{doc['case']}] {level}: expected {expected[level]}, "
                              f"got {getattr(tags, level)}")
        for flag in ("region_na", "outside"):
            if expected[flag] != getattr(tags, flag):
                errors.append(f"{doc['id']} [{doc['case']}] {flag}: expected {expected[flag]}")
        if expected["outside"] and (tags.departements or tags.communes or tags.epci):
            leaks += 1
    return scores, errors, leaks


def test_devset_is_large_and_covers_the_cases():
    cases = {doc["case"].split(":")[0] for doc in DEVSET}
    assert len(DEVSET) >= 60
    assert {"plain commune", "ambiguous name", "homonym", "street name", "outside region", "EPCI name"} <= cases


@pytest.mark.parametrize("name", SETS)
def test_precision_and_recall_per_level(name, capsys):
    scores, errors, leaks = evaluate(SETS[name])
    with capsys.disabled():
        print(f"\nplaces on {name} ({len(SETS[name])} texts):")
        for level, score in scores.items():
            print(f"  {level:<13} {score}")
        print(f"  outside-only texts given a Nouvelle-Aquitaine code: {leaks}")
        for error in errors:
            print(f"  - {error}")
    minima, allowed_leaks = MIN_F1[name]
    for level, minimum in minima.items():
        assert scores[level].f1 >= minimum, f"{level}: {scores[level]}"
    assert leaks <= allowed_leaks


@pytest.mark.parametrize("doc", [d for name in ("places_devset", "places_heldout", "places_traps",
                                                 "places_traps_heldout", "places_traps_heldout2") for d in SETS[name]
                                 if d["expected"]["outside"]], ids=lambda d: d["id"])
def test_texts_about_other_regions_get_no_region_code(doc):
    tags = tag_places(f"{doc['title']}\n\n{doc['text']}")
    assert not (tags.departements or tags.communes or tags.epci), tags
    assert tags.outside


# Real press (tests/press_corpus.py): minimum F1 per level, and at most so many texts about elsewhere
# given a région code, region_na wrong, outside wrong.
PRESS_MINIMA = {"dev": ({"departements": 0.97, "communes": 0.98}, (0, 2, 12)),
                "blind": ({"departements": 0.95, "communes": 0.89}, (1, 2, 7))}


@pytest.mark.skipif(not press_available(), reason=PRESS_MISSING)
@pytest.mark.parametrize("split", SPLITS)
def test_press_corpus_places(split, capsys):
    scores = press_scores(split)
    with capsys.disabled():
        print(f"\nplaces on the press corpus, {split} part ({scores.documents} articles):")
        for level in ("departements", "communes"):
            print(f"  {level:<13} {scores.facets[level]}")
        print(f"  texts about elsewhere given a région code: {scores.leaks}; region_na wrong: "
              f"{scores.region_errors}; outside wrong: {scores.outside_errors}")
    minima, (leaks, region_errors, outside_errors) = PRESS_MINIMA[split]
    for level, minimum in minima.items():
        assert scores.facets[level].f1 >= minimum, f"{level}: {scores.facets[level]}"
    assert scores.leaks <= leaks
    assert scores.region_errors <= region_errors
    assert scores.outside_errors <= outside_errors
