"""The learned part of the tagger: the nature and the themes, from labelled articles.

Two models, one format (pipeline/linear.py: a linear model over the article's words and the rules'
scores, read without scikit-learn):

- the **starter model** ships with the project (models/starter.npz, rebuilt by `make model` from
  the development part of the shared press corpus, see models/README.md). It is used until the
  archive has its own model, and it carries the corpus's training features (hashed words, no text);
- `veille learn` trains the **archive's model** on those features and on the archive's curated
  items (items the curator has touched: a tag added or removed, a rejection, a highlight, a note,
  labelled with their effective tags), the curator's decisions weighing CURATOR_WEIGHT times more.

What the model decides, beside the rules (pipeline/tagging.py stores it with origin `model`, where
the curator sees it and can overrule it): the nature, when its most likely kind differs from the
rules' one with a probability of at least NATURE_ACCEPT (STRONG_ACCEPT against a rules' nature of
STRONG_RULES); the themes, adding one the rules saw but found too weak from ACCEPT (in a text of
MIN_WORDS words it knows) and doubting one of theirs below VETO (not one the rules scored
STRONG_THEME); the themes of RULES_ONLY, where it did worse than the rules, and the dispositifs (near
perfect) stay with the rules. The thresholds were chosen by
cross-validation on the corpus's development part (scripts/evaluate_press.py --cv 5), with the
project's own labelled sets as a second check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from config.schema import THEMES, Taxonomy
from pipeline.folding import match_text
from pipeline.linear import Examples, LinearModel, Settings, fit, split_words

if TYPE_CHECKING:  # the archive's modules only where the archive is read: tagging a text needs none of them
    import sqlite_utils

ROOT = Path(__file__).resolve().parents[1]
STARTER = ROOT / "models" / "starter.npz"
MIN_POSITIVES = 5       # a theme the curator gave fewer times is reported (the corpus still teaches it)
MIN_EXAMPLES = 20       # curated items before `veille learn` trains the archive's model
CURATOR_WEIGHT = 3.0    # a curated item weighs as much as three articles of the starter corpus
ACCEPT = 0.4            # the model adds a theme the rules saw but found too weak from this probability,
MIN_WORDS = 10          # in a text of at least this many words it knows;
VETO = 0.3              # below this probability, the model doubts a theme the rules gave…
STRONG_THEME = 8.0      # …unless the rules' score of it is this high (cues in the title and the body)
NATURE_ACCEPT = 0.5     # the learned nature replaces the rules' one from this probability…
STRONG_RULES = 6.0      # …unless the rules' nature has this score (a cue in the title and more):
STRONG_ACCEPT = 0.6     # then the model needs this probability
JUDGED_FACETS = ("themes",)
# Themes the model does not judge: learned from a few debatable labels, it did worse than the rules
# on them (chosen on the other folds, it stayed with the rules in 29 of 30 cross-validation folds).
RULES_ONLY = {("themes", "animation-locale"), ("themes", "diagnostic-strategie")}
# Chosen by cross-validation on the corpus's development part (scripts/evaluate_press.py --cv 5).
SETTINGS = Settings(C=16.0, min_df=2, max_df=0.5, rule_weight=0.5, max_words=2000)


@dataclass
class Judgement:
    """What the model says of one document beside the rules."""
    nature: str                                     # the nature in effect
    nature_origin: str                              # "rules" or "model": who decided it
    probabilities: dict[tuple[str, str], float]
    additions: dict[tuple[str, str], float]         # tags the model adds (the nature it decides included)
    vetoes: dict[tuple[str, str], float]            # rule tags it doubts (the rules' nature it replaces included)


@dataclass
class TagModel:
    linear: LinearModel
    examples: int                      # curated items it learned from (0: the starter model alone)
    trained_at: str
    skipped: dict[tuple[str, str], int] = field(default_factory=dict)  # themes the curator gave too rarely
    corpus: int = 0                    # articles of the starter corpus in its training
    training: Examples | None = None   # the starter corpus's features, to retrain with the curator's items

    @property
    def source(self) -> str:
        return "starter" if self.examples == 0 else "archive"

    @property
    def classifiers(self) -> dict[tuple[str, str], int]:
        """The tags other than the nature it scores, with their column."""
        return {tag: i for i, tag in enumerate(self.linear.outputs) if tag[0] != "nature"}

    @property
    def nature_classifier(self) -> list[int] | None:
        """The columns of the natures, None when it does not judge the nature."""
        return self.linear.nature_columns or None

    def probabilities(self, documents: list[tuple[str, str]], rule_scores: list[dict] | None = None,
                      taxonomy: Taxonomy | None = None) -> list[dict[tuple[str, str], float]]:
        """For each (title, text): {(facet, slug): probability} of every learned tag. The rules'
        scores are computed with `taxonomy` (the project's by default) when not given."""
        result = []
        for index, (title, text) in enumerate(documents):
            words = match_text(f"{title}\n\n{text}")
            scores = rule_scores[index] if rule_scores is not None else _rule_scores(title, text, words, taxonomy)
            result.append(self.linear.probabilities(*split_words(words, len(title)), scores))
        return result

    def judge_scores(self, title_words: list[str], body_words: list[str], rule_scores: dict, rule_nature: str,
                     rule_themes: list[str]) -> Judgement:
        """The model's judgement of a document already read by the rules."""
        counts = self.linear.counts(title_words, body_words)
        return self.decide(self.linear.probabilities_from_counts(counts, rule_scores), rule_nature, rule_themes,
                           rule_scores, len(counts))

    def decide(self, probabilities: dict[tuple[str, str], float], rule_nature: str,
               rule_themes: list[str], rule_scores: dict | None = None, known_words: int = 0) -> Judgement:
        """What stands beside the rules' nature and themes, given the model's probabilities (and the
        rules' scores, the number of the document's words the model knows)."""
        additions, vetoes, natures = {}, {}, {}
        rule_scores = rule_scores or {}
        for tag, p in probabilities.items():
            if tag[0] == "nature":
                natures[tag[1]] = p
            elif tag[0] in JUDGED_FACETS and tag not in RULES_ONLY:
                if (p >= ACCEPT and tag[1] not in rule_themes and known_words >= MIN_WORDS
                        and rule_scores.get(tag, 0.0) > 0):
                    additions[tag] = p
                elif p < VETO and tag[1] in rule_themes and rule_scores.get(tag, 0.0) < STRONG_THEME:
                    vetoes[tag] = p
        nature, origin = rule_nature, "rules"
        if natures:
            best = max(natures, key=natures.get)
            strong = rule_scores.get(("nature", rule_nature), 0.0) >= STRONG_RULES
            if best != rule_nature and natures[best] >= (STRONG_ACCEPT if strong else NATURE_ACCEPT):
                nature, origin = best, "model"
                additions[("nature", best)] = natures[best]
                vetoes[("nature", rule_nature)] = natures.get(rule_nature, 0.0)
        return Judgement(nature, origin, probabilities, additions, vetoes)

    def judge(self, title: str, text: str, rule_tags: set[tuple[str, str]], rule_scores: dict | None = None,
              taxonomy: Taxonomy | None = None) -> tuple[dict, dict]:
        """(additions, vetoes): {(facet, slug): probability} of the tags the model proposes beside
        the rules, and of the rules' tags it doubts (their nature when it decides another)."""
        words = match_text(f"{title}\n\n{text}")
        scores = rule_scores if rule_scores is not None else _rule_scores(title, text, words, taxonomy)
        rule_nature = next((v for f, v in rule_tags if f == "nature"), "initiative")
        judgement = self.judge_scores(*split_words(words, len(title)), scores, rule_nature,
                                      [v for f, v in rule_tags if f == "themes"])
        return judgement.additions, judgement.vetoes

    def reasons(self, title: str, text: str, tag: tuple[str, str], limit: int = 6) -> list[tuple[str, float]]:
        """The words of the document that weigh most towards `tag`."""
        if tag not in self.linear.outputs:
            return []
        words = match_text(f"{title}\n\n{text}")
        return self.linear.contributions(*split_words(words, len(title)), tag, limit)


@lru_cache(maxsize=1)
def _project_taxonomy() -> Taxonomy:
    from config.loading import load_taxonomy

    return load_taxonomy(ROOT / "config" / "taxonomy.yaml")


def _rule_scores(title: str, text: str, words: str, taxonomy: Taxonomy | None) -> dict:
    from pipeline.topics import topic_matcher

    return topic_matcher(taxonomy or _project_taxonomy()).tag(title, text, words).scores


# ------------------------------------------------------------------ training


def labelled_document(title: str, text: str, nature: str | None, themes, taxonomy: Taxonomy | None = None) -> tuple:
    """(title words, body words, rule scores, nature, themes) of a labelled document."""
    words = match_text(f"{title}\n\n{text}")
    return (*split_words(words, len(title)), _rule_scores(title, text, words, taxonomy), nature or "", set(themes))


def train(examples: list[tuple[str, str, set[tuple[str, str]]]], taxonomy: Taxonomy | None = None,
          starter: TagModel | None | str = "shipped") -> TagModel | None:
    """Train on (title, text, {(facet, slug)}) curated examples, with the starter model's corpus
    (`starter`: the shipped one by default, None for the curated items alone); None when there are
    fewer than MIN_EXAMPLES of them."""
    if len(examples) < MIN_EXAMPLES:
        return None
    if starter == "shipped":
        starter = starter_model()
    documents = [labelled_document(title, text, next((v for f, v in labels if f == "nature"), None),
                                   {v for f, v in labels if f == "themes"}, taxonomy)
                 for title, text, labels in examples]
    curated = Examples.build(documents, weight=CURATOR_WEIGHT)
    corpus = starter.training if starter is not None else None
    training = corpus + curated if corpus is not None else curated
    skipped = {}
    for t, theme in enumerate(THEMES):
        positives = int(curated.themes[:, t].sum())
        if positives < MIN_POSITIVES:
            skipped[("themes", theme)] = positives
    trained_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    linear = fit(training, SETTINGS, {"source": "archive", "trained_at": trained_at})
    return TagModel(linear, len(examples), trained_at, skipped, len(corpus) if corpus is not None else 0)


def train_starter(documents: list[tuple], provenance: dict) -> TagModel:
    """The starter model, from labelled_document() tuples of the corpus (scripts/build_starter_model.py)."""
    training = Examples.build(documents, weight=1.0)
    linear = fit(training, SETTINGS, {"source": "starter", **provenance})
    # What ships for `veille learn`: the training articles' counts of the model's words only.
    return TagModel(linear, 0, provenance.get("trained_at", ""), {}, len(training),
                    training.restricted(linear.vocabulary))


def curated_examples(db: sqlite_utils.Database) -> list[tuple[str, str, set[tuple[str, str]]]]:
    """The archive's curated items with their effective tags (what the curator validated)."""
    from pipeline.archive import effective_tags

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


# --------------------------------------------------------------------- files


def model_path(db_path: Path | str) -> Path:
    """Where `veille learn` saves the archive's model: beside the archive."""
    db_path = Path(db_path)
    return db_path.with_name(f"{db_path.stem}.model.npz")


def save_model(model: TagModel, path: Path | str) -> None:
    model.linear.meta.update({"examples": model.examples, "trained_at": model.trained_at, "corpus": model.corpus,
                              "skipped": {f"{f}:{v}": n for (f, v), n in model.skipped.items()}})
    model.linear.save(path, model.training.arrays() if model.training is not None else None)


def load_model(path: Path | str) -> TagModel | None:
    """The model saved at `path` (a NumPy archive: loading it runs no code), or None if there is none."""
    path = Path(path)
    if not path.exists():
        return None
    linear, arrays = LinearModel.load(path)
    meta = linear.meta
    skipped = {tuple(k.split(":", 1)): n for k, n in meta.get("skipped", {}).items()}
    return TagModel(linear, int(meta.get("examples", 0)), str(meta.get("trained_at", "")), skipped,
                    int(meta.get("corpus", 0)), Examples.from_arrays(arrays))


@lru_cache(maxsize=1)
def starter_model() -> TagModel | None:
    """The starter model shipped with the project (None when models/starter.npz is absent)."""
    return load_model(STARTER)


def archive_or_starter_model(db_path: Path | str) -> TagModel | None:
    """The archive's model when `veille learn` trained one, else the starter model."""
    return load_model(model_path(db_path)) or starter_model()


def describe(model: TagModel) -> str:
    learned = ", ".join(["nature"] * (model.nature_classifier is not None)
                        + [f"{facet}:{slug}" for facet, slug in model.classifiers]) or "aucune"
    corpus = f" et {model.corpus} articles du corpus de départ" if model.corpus else ""
    text = f"{model.examples} articles validés{corpus} ; étiquettes apprises : {learned}"
    skipped = ", ".join(f"{facet}:{slug} ({n})" for (facet, slug), n in model.skipped.items())
    if skipped:
        text += f"\n  peu d'exemples de la curation (moins de {MIN_POSITIVES}) : {skipped}"
    return text


def suggestion_evidence(probability: float, model: TagModel | None = None,
                        reasons: list[tuple[str, float]] | None = None) -> str:
    source = "modèle de départ (corpus de presse)" if model is not None and model.source == "starter" else \
        "classifieur appris des corrections"
    proof = {"model": source, "probability": round(probability, 3)}
    if reasons:
        proof["words"] = [word for word, _ in reasons]
    return json.dumps([proof], ensure_ascii=False)
