"""Precision, recall and F1 of tags against expected tags (development sets, benchmarks), and the
measure of the whole tagger on the shared corpus of real press articles.

The press corpus (`../shared/corpora/press/articles.jsonl` beside the repository) holds others'
words: it is read where it lies, never copied into the repository. Articles listed in
`../shared/reserved.txt` (SHA-256 digests of the URL, the normalised URL and the lower-cased title)
are kept for an independent evaluation: `load_press` drops them, so no set built from the corpus
(training data of the starter model included) can contain one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
PRESS_CORPUS = SHARED / "corpora" / "press" / "articles.jsonl"
RESERVED = SHARED / "reserved.txt"
PRESS_FACETS = ("themes", "dispositifs", "departements", "communes")


@dataclass
class Score:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    def add(self, expected: set, found: set) -> None:
        self.true_positives += len(expected & found)
        self.false_positives += len(found - expected)
        self.false_negatives += len(expected - found)

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        expected = self.true_positives + self.false_negatives
        return self.true_positives / expected if expected else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __str__(self) -> str:
        return (f"P {self.precision:.3f}  R {self.recall:.3f}  F1 {self.f1:.3f}  "
                f"(tp {self.true_positives}, fp {self.false_positives}, fn {self.false_negatives})")


# ------------------------------------------------------------ press corpus


def normalised_url(url: str) -> str:
    """The URL as reserved.txt's header normalises it."""
    return re.sub(r"^www\.", "", re.sub(r"^[a-z]+://", "", url.strip().lower())).rstrip("/")


def reserved_digests(path: Path | str = RESERVED) -> frozenset[str]:
    """The digests of the articles kept for an independent evaluation (empty when the file is absent)."""
    path = Path(path)
    if not path.exists():
        return frozenset()
    return frozenset(line.strip().lower() for line in path.read_text(encoding="utf-8").splitlines()
                     if line.strip() and not line.startswith("#"))


def is_reserved(url: str, title: str, digests: frozenset[str]) -> bool:
    def digest(value: str) -> str:
        return hashlib.sha256(value.encode("utf-8")).hexdigest()

    return bool(digests) and not {digest(url), digest(normalised_url(url)), digest(title.strip().lower())}.isdisjoint(
        digests)


def load_press(path: Path | str = PRESS_CORPUS, split: str | None = None,
               reserved: Path | str = RESERVED) -> list[dict]:
    """The corpus's articles (of one split, "dev" or "blind", when given), reserved ones dropped.
    Raises FileNotFoundError when the corpus is absent."""
    digests = reserved_digests(reserved)
    articles = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            article = json.loads(line)
            if split is not None and article["split"] != split:
                continue
            if is_reserved(article.get("url", ""), article.get("title", ""), digests):
                continue
            articles.append(article)
    return articles


@dataclass
class PressScores:
    """Per-facet scores of a tagger on labelled articles."""
    documents: int = 0
    natures_right: int = 0
    facets: dict[str, Score] = field(default_factory=lambda: {facet: Score() for facet in PRESS_FACETS})
    per_tag: dict[tuple[str, str], Score] = field(default_factory=dict)
    natures: Counter = field(default_factory=Counter)  # (expected, found) -> documents
    leaks: int = 0           # texts about elsewhere only given a Nouvelle-Aquitaine code
    region_errors: int = 0   # region_na wrong
    outside_errors: int = 0  # outside wrong

    @property
    def nature_accuracy(self) -> float:
        return self.natures_right / self.documents if self.documents else 1.0

    def nature_score(self, nature: str) -> Score:
        """Precision and recall of one nature."""
        score = Score()
        for (expected, found), count in self.natures.items():
            for _ in range(count):
                score.add({expected} & {nature}, {found} & {nature})
        return score

    def add(self, gold: dict, tags: dict) -> None:
        self.documents += 1
        self.natures_right += tags["nature"] == gold["nature"]
        self.natures[(gold["nature"], tags["nature"])] += 1
        for facet in PRESS_FACETS:
            expected, found = set(gold[facet]), set(tags[facet])
            self.facets[facet].add(expected, found)
            if facet in ("themes", "dispositifs"):
                for slug in expected | found:
                    self.per_tag.setdefault((facet, slug), Score()).add(expected & {slug}, found & {slug})
        if gold["outside"] and (tags["departements"] or tags["communes"]):
            self.leaks += 1
        self.region_errors += bool(gold["region_na"]) != bool(tags["region_na"])
        self.outside_errors += bool(gold["outside"]) != bool(tags["outside"])

    def summary(self) -> dict[str, float]:
        """The headline figures: nature accuracy and F1 per facet, errors of side."""
        return {"nature": round(self.nature_accuracy, 3),
                **{facet: round(score.f1, 3) for facet, score in self.facets.items()},
                "leaks": self.leaks, "region_errors": self.region_errors, "outside_errors": self.outside_errors}

    def report(self, details: bool = False) -> str:
        lines = [f"  nature accuracy {self.nature_accuracy:.3f} ({self.natures_right}/{self.documents})"]
        lines += [f"  {facet:<13} {score}" for facet, score in self.facets.items()]
        lines.append(f"  texts about elsewhere given a région code: {self.leaks}; region_na wrong: "
                     f"{self.region_errors}; outside wrong: {self.outside_errors}")
        if details:
            from config.schema import NATURES

            lines += [f"    nature {nature:<20} {self.nature_score(nature)}" for nature in NATURES]
            lines += [f"    {facet[:5]} {slug:<20} {score}" for (facet, slug), score in sorted(self.per_tag.items())]
        return "\n".join(lines)


def evaluate_press(articles: list[dict], tag: Callable[[dict], dict]) -> PressScores:
    """Score `tag(article) -> tags` (the format of `veille tag --jsonl`) against the articles' gold."""
    scores = PressScores()
    for article in articles:
        scores.add(article["gold"], tag(article))
    return scores


def cross_validate_press(articles: list[dict], folds: int = 5, repeats: int = 2, taxonomy=None,
                         gazetteer=None) -> list[PressScores]:
    """What ships, measured honestly on a labelled part of the corpus: for each of `folds` folds
    (stratified by nature, shuffled anew at each repeat), a starter model trained as
    `make model` trains it (pipeline/learning.train_starter) on the other folds, and the fold's
    articles tagged as `veille tag` tags them (the rules, then that model). One PressScores per repeat,
    each article measured once in it. The rules themselves were tuned on the development part: this
    measures the model's generalisation, not the rules'."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    from config.loading import load_taxonomy
    from pipeline.learning import labelled_document, train_starter
    from pipeline.places import load_gazetteer
    from pipeline.tagging import tag_texts

    taxonomy = taxonomy or load_taxonomy(ROOT / "config" / "taxonomy.yaml")
    gazetteer = gazetteer or load_gazetteer()
    documents = [labelled_document(a["title"], a["text"], a["gold"]["nature"], a["gold"]["themes"], taxonomy)
                 for a in articles]
    natures = np.array([a["gold"]["nature"] for a in articles])
    results = []
    for repeat in range(repeats):
        scores = PressScores()
        splitter = StratifiedKFold(folds, shuffle=True, random_state=repeat)
        for train_rows, test_rows in splitter.split(np.zeros(len(articles)), natures):
            model = train_starter([documents[i] for i in train_rows], {"built_from": f"fold of {len(train_rows)}"})
            tested = [articles[i] for i in test_rows]
            for article, result in zip(tested, tag_texts(taxonomy, ((a["id"], a["title"], a["text"]) for a in tested),
                                                         gazetteer, model)):
                scores.add(article["gold"], result.tags)
        results.append(scores)
    return results
