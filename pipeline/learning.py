"""Learning from the curator's corrections: one text classifier per theme and dispositif.

The training set is the archive's curated items (items the curator has touched: a tag added or
removed, a rejection, a highlight, a note), labelled with their effective tags; the nature is
learned too (one classifier over the five kinds) once each kind has MIN_POSITIVES examples. Features are
French-aware: words and word pairs without accents nor French stop words, and character 3–5-grams
within words (inflections, compounds, acronyms). A tag is learned once it has MIN_POSITIVES
examples and as many counter-examples. The model proposes a tag when its probability reaches
ACCEPT, doubts a theme of the rules below VETO, and replaces the rules' nature by its own from
NATURE_ACCEPT: all are stored beside the rules' tags (origin `model`, with the probability), where
the curator sees them and can overrule them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import sqlite_utils

from config.schema import NATURES
from pipeline.archive import effective_tags

if TYPE_CHECKING:  # scikit-learn takes a second to import: only where a model is trained or used
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion

MODEL_FACETS = ("themes", "dispositifs")
MIN_POSITIVES = 5
MIN_EXAMPLES = 20
ACCEPT = 0.5   # the model proposes a tag the rules missed from this probability
VETO = 0.3     # below this probability, the model doubts a theme the rules gave
NATURE_ACCEPT = 0.35  # the learned nature replaces the rules' one from this probability
# The model judges themes only: on dispositifs the rules are near-perfect and its additions only cost
# precision (benchmarks/bench_learning.py); it still scores them for `veille tag --explain`.
JUDGED_FACETS = ("themes",)

FRENCH_STOP_WORDS = sorted(set("""
a afin ai aie aient ainsi alors au aucun aucune aupres auquel aura aurai auraient aurait aussi autre autres aux
auxquelles auxquels avaient avais avait avant avec avoir ayant c ca car ce ceci cela celle celles celui cependant
ces cet cette ceux chaque chez ci comme comment d dans de dont des desquelles desquels deux devant doit donc du
duquel durant elle elles en encore entre es est et etaient etait etant ete etre eu eux fait faire font hors il
ils j je jusqu l la laquelle le lequel les lesquelles lesquels leur leurs lors lui m ma mais me meme memes mes moi
mon n ne ni nos notre nous on ont ou par parce pas pendant peu peut plus pour pourquoi puis qu quand que quel quelle
quelles quels qui quoi s sa sans se selon ses si sien soi soit son sont sous sur t ta tandis te tes toi ton tous
tout toute toutes tres tu un une unes uns vers voici voila vos votre vous y
""".split()))


def _features() -> FeatureUnion:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    return FeatureUnion([
        ("words", TfidfVectorizer(strip_accents="unicode", lowercase=True, stop_words=FRENCH_STOP_WORDS,
                                  ngram_range=(1, 2), min_df=1, sublinear_tf=True,
                                  token_pattern=r"(?u)\b\w[\w'-]+\b")),
        ("chars", TfidfVectorizer(strip_accents="unicode", lowercase=True, analyzer="char_wb",
                                  ngram_range=(3, 5), min_df=2, sublinear_tf=True)),
    ])


@dataclass
class TagModel:
    features: FeatureUnion
    classifiers: dict[tuple[str, str], LogisticRegression]
    examples: int
    trained_at: str
    skipped: dict[tuple[str, str], int] = field(default_factory=dict)  # tag -> positives, too few to learn
    nature_classifier: LogisticRegression | None = None  # one of the five natures, once each has examples

    def probabilities(self, documents: list[tuple[str, str]]) -> list[dict[tuple[str, str], float]]:
        """For each (title, text): {(facet, slug): probability} of every learned tag."""
        if not documents:
            return []
        matrix = self.features.transform([_document(t, x) for t, x in documents])
        columns = {tag: classifier.predict_proba(matrix)[:, 1] for tag, classifier in self.classifiers.items()}
        if self.nature_classifier is not None:
            natures = self.nature_classifier.predict_proba(matrix)
            for index, nature in enumerate(self.nature_classifier.classes_):
                columns[("nature", str(nature))] = natures[:, index]
        return [{tag: float(values[i]) for tag, values in columns.items()} for i in range(len(documents))]

    def judge(self, title: str, text: str, rule_tags: set[tuple[str, str]]) -> tuple[dict, dict]:
        """(additions, vetoes): {(facet, slug): probability} of the tags the model proposes beside
        the rules, and of the rules' themes it doubts."""
        (probabilities,) = self.probabilities([(title, text)])
        judged = {tag: p for tag, p in probabilities.items() if tag[0] in JUDGED_FACETS}
        additions = {tag: p for tag, p in judged.items() if p >= ACCEPT and tag not in rule_tags}
        vetoes = {tag: p for tag, p in judged.items() if p < VETO and tag in rule_tags}
        natures = {tag: p for tag, p in probabilities.items() if tag[0] == "nature"}
        if natures:
            best, probability = max(natures.items(), key=lambda kv: kv[1])
            if best not in rule_tags and probability >= NATURE_ACCEPT:
                # One nature per item: the learned one replaces the rules' one.
                additions[best] = probability
                vetoes.update({tag: natures.get(tag, 0.0) for tag in rule_tags if tag[0] == "nature"})
        return additions, vetoes


def _document(title: str, text: str) -> str:
    return f"{title}\n{title}\n{text}"  # the title twice: it says what the item is about


def train(examples: list[tuple[str, str, set[tuple[str, str]]]]) -> TagModel | None:
    """Train on (title, text, {(facet, slug)}) examples; None when there are too few of them."""
    if len(examples) < MIN_EXAMPLES:
        return None
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    features = _features()
    matrix = features.fit_transform([_document(title, text) for title, text, _ in examples])
    counts: dict[tuple[str, str], int] = {}
    for _, _, labels in examples:
        for tag in labels:
            if tag[0] in MODEL_FACETS:
                counts[tag] = counts.get(tag, 0) + 1
    classifiers, skipped = {}, {}
    for tag, positives in sorted(counts.items()):
        if positives < MIN_POSITIVES or len(examples) - positives < MIN_POSITIVES:
            skipped[tag] = positives
            continue
        target = np.array([tag in labels for _, _, labels in examples])
        classifier = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000)
        classifiers[tag] = classifier.fit(matrix, target)
    natures = [next((v for f, v in labels if f == "nature"), None) for _, _, labels in examples]
    nature_classifier = None
    known = [n for n in natures if n]
    if known and all(known.count(n) >= MIN_POSITIVES for n in NATURES):
        rows = [i for i, n in enumerate(natures) if n]
        nature_classifier = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000).fit(
            matrix[rows], [natures[i] for i in rows])
    return TagModel(features, classifiers, len(examples), datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    skipped, nature_classifier)


def curated_examples(db: sqlite_utils.Database) -> list[tuple[str, str, set[tuple[str, str]]]]:
    """The archive's curated items with their effective tags (what the curator validated)."""
    rows = list(db.query(
        """
        SELECT id, title, text FROM items
        WHERE id IN (SELECT item_id FROM curation) OR id IN (SELECT item_id FROM tags WHERE origin = 'curator')
        ORDER BY id
        """))
    tags = effective_tags(db, [r["id"] for r in rows])
    return [(r["title"] or "", r["text"] or "", {(facet, value) for facet, values in tags[r["id"]].items()
                                                 for value in values})
            for r in rows]


def model_path(db_path: Path | str) -> Path:
    db_path = Path(db_path)
    return db_path.with_name(f"{db_path.stem}.model.joblib")


def save_model(model: TagModel, path: Path | str) -> None:
    import joblib

    joblib.dump(model, path)


def load_model(path: Path | str) -> TagModel | None:
    """The saved model (our own file, written by `veille learn`), or None if there is none."""
    path = Path(path)
    if not path.exists():
        return None
    import joblib

    return joblib.load(path)


def describe(model: TagModel) -> str:
    learned = ", ".join(["nature"] * (model.nature_classifier is not None)
                        + [f"{facet}:{slug}" for facet, slug in model.classifiers]) or "aucune"
    skipped = ", ".join(f"{facet}:{slug} ({n})" for (facet, slug), n in model.skipped.items())
    text = f"{model.examples} articles validés ; étiquettes apprises : {learned}"
    return text + (f"\n  pas assez d'exemples (moins de {MIN_POSITIVES}) : {skipped}" if skipped else "")


def suggestion_evidence(probability: float) -> str:
    return json.dumps([{"model": "classifieur appris des corrections", "probability": round(probability, 3)}])
