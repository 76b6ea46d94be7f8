"""Quality of the actor extraction on the labelled sets: precision and recall per kind.

tests/fixtures/actors_dev.yaml was used to tune pipeline/actors.py; tests/fixtures/actors_blind.yaml, written
the same way, was measured once at the end. An actor is found when a document's extraction has one of the
same canonical name (accents and case aside) and kind; its départements are scored on the actors found.
The figures are printed (`pytest -s`); the test fails below the levels reached, a little under them.
"""

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from pipeline.actors import KINDS, extract_actors
from pipeline.folding import fold

FIXTURES = Path(__file__).parent / "fixtures"
# Levels reached, a little under: micro precision, micro recall, and the share of found actors with the
# right départements. Dev: 1.00, 0.98, 109/109. Blind, first measured: 0.91, 0.93, 41/41.
FLOORS = {
    "actors_dev.yaml": {"precision": 0.97, "recall": 0.95, "departements": 0.97},
    "actors_blind.yaml": {"precision": 0.88, "recall": 0.90, "departements": 0.95},
}


@dataclass
class Scores:
    true: Counter = field(default_factory=Counter)       # kind -> actors found
    false: Counter = field(default_factory=Counter)      # kind -> actors extracted that are not expected
    missed: Counter = field(default_factory=Counter)     # kind -> expected actors not found
    placed: int = 0                                      # found actors with the expected départements
    errors: list[str] = field(default_factory=list)

    def precision(self, kind: str | None = None) -> float:
        true = self.true[kind] if kind else sum(self.true.values())
        false = self.false[kind] if kind else sum(self.false.values())
        return true / (true + false) if true + false else 1.0

    def recall(self, kind: str | None = None) -> float:
        true = self.true[kind] if kind else sum(self.true.values())
        missed = self.missed[kind] if kind else sum(self.missed.values())
        return true / (true + missed) if true + missed else 1.0

    def report(self, title: str) -> str:
        lines = [f"{title}: precision {self.precision():.2f}, recall {self.recall():.2f}, "
                 f"départements right {self.placed}/{sum(self.true.values())}",
                 f"  {'kind':30} {'P':>5} {'R':>5} {'found':>6} {'false':>6} {'missed':>6}"]
        for kind in KINDS:
            if self.true[kind] or self.false[kind] or self.missed[kind]:
                lines.append(f"  {kind:30} {self.precision(kind):5.2f} {self.recall(kind):5.2f} "
                             f"{self.true[kind]:6} {self.false[kind]:6} {self.missed[kind]:6}")
        return "\n".join(lines + [f"  {error}" for error in self.errors])


def load(name: str) -> list[dict]:
    return yaml.safe_load((FIXTURES / name).read_text(encoding="utf-8"))["texts"]


def score(texts: list[dict]) -> Scores:
    scores = Scores()
    for text in texts:
        expected = {(fold(a["name"]), a["kind"]): a for a in text["actors"]}
        found = {}
        for mention in extract_actors(text["title"], text["text"]):
            found.setdefault((fold(mention.name), mention.kind), mention)
        for key, actor in expected.items():
            if key not in found:
                scores.missed[actor["kind"]] += 1
                scores.errors.append(f"{text['id']} missed {actor['name']} ({actor['kind']})")
                continue
            scores.true[actor["kind"]] += 1
            if sorted(found[key].departements) == sorted(actor["departements"]):
                scores.placed += 1
            else:
                scores.errors.append(f"{text['id']} {actor['name']} placed in {list(found[key].departements)}, "
                                     f"expected {actor['departements']}")
        for key, mention in found.items():
            if key not in expected:
                scores.false[mention.kind] += 1
                scores.errors.append(f"{text['id']} extra {mention.name} ({mention.kind}) from « {mention.match} »")
    return scores


def test_sets_are_well_formed():
    ids = set()
    for name in FLOORS:
        for text in load(name):
            assert text["id"] not in ids
            ids.add(text["id"])
            for actor in text["actors"]:
                assert actor["kind"] in KINDS, (text["id"], actor)
                assert all(isinstance(code, str) for code in actor["departements"]), (text["id"], actor)


@pytest.mark.parametrize("name", FLOORS)
def test_precision_and_recall(name):
    scores = score(load(name))
    print("\n" + scores.report(name))
    floors = FLOORS[name]
    assert scores.precision() >= floors["precision"]
    assert scores.recall() >= floors["recall"]
    assert scores.placed >= floors["departements"] * sum(scores.true.values())
