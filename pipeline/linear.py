"""A small linear text model that scores a document in tens of microseconds, without scikit-learn.

Features of a document: the words of its vocabulary as the tagger matches them (`match_text`: lower
case, no accents; words of three letters or more, in at least two training articles and at most half
of them), counted in the body and, apart, in the title (a title word counts in both), weighted by
TF-IDF (1 + log of the count, times the inverse document frequency; the vector of unit length), and
beside them the rules' scores (pipeline/topics.py) for each nature and theme.

Outputs are columns of one weight matrix: the natures (one softmax over the five kinds) and one
logistic column per theme. Training (scikit-learn's logistic regression, imported only then) is in
`fit`. The whole tagger finds the vocabulary's words in the same automaton pass as places and
keywords (pipeline/tagging.py) and scores them with `probabilities_from_counts`; `probabilities`
splits a text into words itself.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain, repeat
from pathlib import Path

import numpy as np

from config.schema import NATURES, THEMES

RULE_FACETS = (*(("nature", n) for n in NATURES), *(("themes", t) for t in THEMES))
_SUBLINEAR = (1.0 + np.log(np.maximum(np.arange(256), 1))).astype(np.float32)  # 1 + log(count), for counts < 256
RULE_SCALE = 0.2          # log(1 + rule score) times this: a rule score of 20 weighs about one unit
_RULE_COLUMNS = {tag: column for column, tag in enumerate(RULE_FACETS)}


def rule_features(scores: dict[tuple[str, str], float]) -> list[float]:
    """The rules' scores the model reads, scaled (log: a long text's many cues saturate)."""
    return [math.log1p(scores.get(tag, 0.0)) * RULE_SCALE for tag in RULE_FACETS]


def split_words(words: str, title_length: int) -> tuple[list[str], list[str]]:
    """The title's and the body's words of a matching text (`match_text(title + "\\n\\n" + text)`)."""
    return words[:title_length + 1].split(), words[title_length + 1:].split()


def eligible(word: str) -> bool:
    """A word that may be in a vocabulary: three characters or more, not a number."""
    return len(word) >= 3 and not word.isdigit()


@dataclass
class LinearModel:
    vocabulary: list[str]      # V words; feature i is word i in the body, V + i the same in the title
    idf: np.ndarray            # float32, 2V (0 for a feature the model does not use)
    weights: np.ndarray        # float32, 2V x outputs
    rule_weights: np.ndarray   # float32, len(RULE_FACETS) x outputs
    bias: np.ndarray           # float32, outputs
    outputs: list[tuple[str, str]]  # (facet, slug) of each column: natures first, then themes
    meta: dict = field(default_factory=dict)
    _index: dict[str, int] | None = field(default=None, repr=False)
    _scaled: np.ndarray | None = field(default=None, repr=False)   # weights times idf
    _idf2: np.ndarray | None = field(default=None, repr=False)

    @property
    def nature_columns(self) -> list[int]:
        return [i for i, (facet, _) in enumerate(self.outputs) if facet == "nature"]

    @property
    def index(self) -> dict[str, int]:
        """word -> its number in the vocabulary."""
        if self._index is None:
            self._index = {word: i for i, word in enumerate(self.vocabulary)}
        return self._index

    def counts(self, title_words: list[str], body_words: list[str]) -> dict[int, int]:
        """feature -> count of a document given as words (a title word counts in the body too)."""
        get = self.index.get
        # map() and Counter() run in C: no Python-level step per word of the text.
        counts = Counter(map(get, body_words, repeat(-1)))
        if title_words:
            title = Counter(map(get, title_words, repeat(-1)))
            counts.update(title)
            size = len(self.vocabulary)
            for i, n in title.items():
                if i >= 0:
                    counts[size + i] = n
        counts.pop(-1, None)
        return counts

    def scores_from_counts(self, counts: dict[int, int], rule_scores: dict) -> np.ndarray:
        """Raw scores of every output for one document's feature counts."""
        if self._scaled is None:
            self._scaled = (self.weights * self.idf[:, None]).astype(np.float32)
            self._idf2 = (self.idf * self.idf).astype(np.float32)
        total = self.bias + np.asarray(rule_features(rule_scores), dtype=np.float32) @ self.rule_weights
        if counts:
            rows = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.intp, count=len(counts))
            sublinear = _SUBLINEAR[np.minimum(tf, len(_SUBLINEAR) - 1)]
            norm = math.sqrt(float((sublinear * sublinear) @ self._idf2[rows]))
            if norm:
                total = total + (sublinear @ self._scaled[rows]) / norm
        return total

    def probabilities_from_counts(self, counts: dict[int, int], rule_scores: dict) -> dict[tuple[str, str], float]:
        """(facet, slug) -> probability: the natures sum to one, each theme on its own."""
        raw = self.scores_from_counts(counts, rule_scores).tolist()
        out = {}
        natures = self.nature_columns
        if natures:
            top = max(raw[c] for c in natures)
            exp = [math.exp(raw[c] - top) for c in natures]
            total = sum(exp)
            for column, e in zip(natures, exp):
                out[self.outputs[column]] = e / total
        for column, tag in enumerate(self.outputs):
            if tag[0] != "nature":
                out[tag] = 1.0 / (1.0 + math.exp(-raw[column]))
        return out

    def probabilities_of_many(self, counts: list[dict[int, int]],
                              rule_scores: list[dict]) -> list[dict[tuple[str, str], float]]:
        """`probabilities_from_counts` of many documents with a few NumPy operations in all (what one
        document at a time costs is their fixed overhead, not the arithmetic)."""
        if not counts:
            return []
        if self._scaled is None:
            self.scores_from_counts({}, {})
        # rule_features of each document, the log computed only for the tags it scored (the others are 0).
        scored_rows, scored_columns, values = [], [], []
        for row, scores in enumerate(rule_scores):
            for tag, score in scores.items():
                column = _RULE_COLUMNS.get(tag)  # None for a dispositif
                if column is not None:
                    scored_rows.append(row)
                    scored_columns.append(column)
                    values.append(math.log1p(score) * RULE_SCALE)
        rules = np.zeros((len(rule_scores), len(RULE_FACETS)), dtype=np.float32)
        rules[scored_rows, scored_columns] = values
        raw = self.bias + rules @ self.rule_weights
        documents = [i for i, c in enumerate(counts) if c]
        if documents:
            counted = [counts[i] for i in documents]
            lengths = list(map(len, counted))
            total = sum(lengths)
            # map() and chain() run in C: no Python-level step per feature.
            rows = np.fromiter(chain.from_iterable(map(dict.keys, counted)), dtype=np.intp, count=total)
            tf = np.fromiter(chain.from_iterable(map(dict.values, counted)), dtype=np.intp, count=total)
            sublinear = _SUBLINEAR[np.minimum(tf, len(_SUBLINEAR) - 1)]
            starts = np.cumsum([0, *lengths[:-1]])
            norms = np.sqrt(np.add.reduceat(sublinear * sublinear * self._idf2[rows], starts))
            sums = np.add.reduceat(sublinear[:, None] * self._scaled[rows], starts, axis=0)
            norms[norms == 0] = 1.0
            raw[documents] += sums / norms[:, None]
        natures = self.nature_columns
        others = [(column, tag) for column, tag in enumerate(self.outputs) if tag[0] != "nature"]
        probabilities = []  # the natures' columns, then the themes'
        if natures:
            logits = raw[:, natures]
            exp = np.exp(logits - logits.max(axis=1, keepdims=True))
            probabilities.append(exp / exp.sum(axis=1, keepdims=True))
        if others:
            probabilities.append(1.0 / (1.0 + np.exp(-raw[:, [c for c, _ in others]])))
        if not probabilities:
            return [{} for _ in counts]
        tags = [self.outputs[c] for c in natures] + [tag for _, tag in others]
        return [dict(zip(tags, row)) for row in np.hstack(probabilities).tolist()]

    def probabilities(self, title_words: list[str], body_words: list[str],
                      rule_scores: dict) -> dict[tuple[str, str], float]:
        return self.probabilities_from_counts(self.counts(title_words, body_words), rule_scores)

    def contributions(self, title_words: list[str], body_words: list[str], tag: tuple[str, str],
                      limit: int = 6) -> list[tuple[str, float]]:
        """The document's words that weigh most towards `tag` (for an explanation), strongest first."""
        column = self.outputs.index(tag)
        counts = self.counts(title_words, body_words)
        if not counts:
            return []
        rows = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        values = (1.0 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))) * self.idf[rows]
        norm = math.sqrt(float(values @ values)) or 1.0
        size, words = len(self.vocabulary), {}
        for row, contribution in zip(rows.tolist(), (values * self.weights[rows, column] / norm).tolist()):
            word = self.vocabulary[row % size]
            words[word] = words.get(word, 0.0) + contribution
        return sorted(((w, c) for w, c in words.items() if c > 0), key=lambda wc: -wc[1])[:limit]

    # ------------------------------------------------------------ files

    def save(self, path: Path | str, extra: dict[str, np.ndarray] | None = None) -> None:
        """A NumPy archive (no pickle: loading it runs no code), weights in half precision; the same
        model gives the same bytes (no time stamp in the file)."""
        _write_npz(path, {
            "vocabulary": np.array(self.vocabulary, dtype=str), "idf": self.idf.astype(np.float16),
            "weights": self.weights.astype(np.float16), "rule_weights": self.rule_weights.astype(np.float32),
            "bias": self.bias.astype(np.float32), "outputs": np.array([f"{f}:{s}" for f, s in self.outputs]),
            "meta": np.array(json.dumps(self.meta, ensure_ascii=False, sort_keys=True)), **(extra or {})})

    @classmethod
    def load(cls, path: Path | str) -> tuple[LinearModel, dict[str, np.ndarray]]:
        """The model, and the file's other arrays (the training features, when they ship)."""
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        model = cls([str(w) for w in arrays.pop("vocabulary")], arrays.pop("idf").astype(np.float32),
                    arrays.pop("weights").astype(np.float32), arrays.pop("rule_weights").astype(np.float32),
                    arrays.pop("bias").astype(np.float32),
                    [tuple(str(o).split(":", 1)) for o in arrays.pop("outputs")],
                    json.loads(str(arrays.pop("meta"))))
        return model, arrays


def _write_npz(path: Path | str, arrays: dict[str, np.ndarray]) -> None:
    """np.savez_compressed's format, with a fixed date on every member (np.savez stamps the time)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())
    temporary.replace(path)  # readers never see a half-written model


# ------------------------------------------------------------------ training


@dataclass
class Examples:
    """Training documents as features over their own vocabulary: word counts in the body and in the
    title (CSR layout), the rules' features, labels and sample weights. No text."""
    vocabulary: list[str]
    indptr: np.ndarray         # int64, documents + 1
    features: np.ndarray       # int32: i < V the body count of word i, V + i its title count
    counts: np.ndarray         # uint16
    rules: np.ndarray          # float32, documents x len(RULE_FACETS)
    natures: np.ndarray        # str, "" when unknown
    themes: np.ndarray         # bool, documents x len(THEMES)
    weights: np.ndarray        # float32

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @classmethod
    def build(cls, documents: list[tuple[list[str], list[str], dict, str, set[str]]],
              weight: float = 1.0) -> Examples:
        """From (title words, body words, rule scores, nature, themes) documents."""
        vocabulary = sorted({w for d in documents for w in (*d[0], *d[1]) if eligible(w)})
        index, size = {w: i for i, w in enumerate(vocabulary)}, len(vocabulary)
        indptr, features, counts = [0], [], []
        for title_words, body_words, _, _, _ in documents:
            row: Counter = Counter()
            for word in (*body_words, *title_words):
                if word in index:
                    row[index[word]] += 1
            for word in title_words:
                if word in index:
                    row[size + index[word]] += 1
            for feature, n in sorted(row.items()):
                features.append(feature)
                counts.append(min(n, 65535))
            indptr.append(len(features))
        return cls(vocabulary, np.array(indptr, dtype=np.int64), np.array(features, dtype=np.int32),
                   np.array(counts, dtype=np.uint16),
                   np.array([rule_features(d[2]) for d in documents], dtype=np.float32).reshape(-1, len(RULE_FACETS)),
                   np.array([d[3] or "" for d in documents], dtype=str),
                   np.array([[t in d[4] for t in THEMES] for d in documents], dtype=bool).reshape(-1, len(THEMES)),
                   np.full(len(documents), weight, dtype=np.float32))

    def reindexed(self, vocabulary: list[str]) -> Examples:
        """The same documents over another vocabulary (a superset of this one's)."""
        index, size, new_size = {w: i for i, w in enumerate(vocabulary)}, len(self.vocabulary), len(vocabulary)
        mapping = np.array([index[w] for w in self.vocabulary] + [new_size + index[w] for w in self.vocabulary],
                           dtype=np.int32)
        features = mapping[self.features] if size else self.features
        order = np.zeros(0, dtype=np.int64)
        rows = []
        for start, end in zip(self.indptr[:-1], self.indptr[1:]):  # keep each row's features sorted
            rows.append(start + np.argsort(features[start:end], kind="stable"))
        order = np.concatenate(rows) if rows else order
        return Examples(list(vocabulary), self.indptr, features[order], self.counts[order], self.rules,
                        self.natures, self.themes, self.weights)

    def restricted(self, vocabulary: list[str]) -> Examples:
        """The same documents counting only the words of `vocabulary` (a subset of this one's)."""
        keep = set(vocabulary)
        size = len(self.vocabulary)
        word_kept = np.array([w in keep for w in self.vocabulary] * 2, dtype=bool)
        mask = word_kept[self.features]
        indptr = np.concatenate([[0], np.cumsum([mask[a:b].sum() for a, b in zip(self.indptr[:-1], self.indptr[1:])])])
        smaller = Examples(self.vocabulary, indptr.astype(np.int64), self.features[mask], self.counts[mask],
                           self.rules, self.natures, self.themes, self.weights)
        order = sorted(keep & set(self.vocabulary))
        index = {w: i for i, w in enumerate(self.vocabulary)}
        mapping = np.full(2 * size, -1, dtype=np.int32)
        for new, word in enumerate(order):
            mapping[index[word]], mapping[size + index[word]] = new, len(order) + new
        return Examples(order, smaller.indptr, mapping[smaller.features], smaller.counts, self.rules, self.natures,
                        self.themes, self.weights)

    def __add__(self, other: Examples) -> Examples:
        vocabulary = sorted(set(self.vocabulary) | set(other.vocabulary))
        first, second = self.reindexed(vocabulary), other.reindexed(vocabulary)
        return Examples(vocabulary, np.concatenate([first.indptr, second.indptr[1:] + first.indptr[-1]]),
                        np.concatenate([first.features, second.features]),
                        np.concatenate([first.counts, second.counts]), np.concatenate([first.rules, second.rules]),
                        np.concatenate([first.natures, second.natures]),
                        np.concatenate([first.themes, second.themes]),
                        np.concatenate([first.weights, second.weights]))

    def arrays(self, prefix: str = "train_") -> dict[str, np.ndarray]:
        arrays = {prefix + name: getattr(self, name) for name in
                  ("indptr", "features", "counts", "rules", "natures", "themes", "weights")}
        arrays[prefix + "vocabulary"] = np.array(self.vocabulary, dtype=str)
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], prefix: str = "train_") -> Examples | None:
        if prefix + "indptr" not in arrays:
            return None
        return cls([str(w) for w in arrays[prefix + "vocabulary"]],
                   *(arrays[prefix + name] for name in
                     ("indptr", "features", "counts", "rules", "natures", "themes", "weights")))


@dataclass
class Settings:
    C: float = 16.0                # inverse regularisation of the logistic regressions
    min_df: int = 2                # a word must be in this many training documents…
    max_df: float = 0.5            # …and in at most this share of them
    rule_weight: float = 0.5       # the rules' features, relative to the words
    max_words: int | None = 1200   # then only the words that weigh most in a first model are kept


def fit(examples: Examples, settings: Settings | None = None, meta: dict | None = None) -> LinearModel:
    """Train the natures (when every kind has two examples) and every theme with two positives and two
    negatives; the vocabulary: the examples' words within the settings' document frequencies, and of
    those, with `max_words`, the ones that weigh most in a first model (what a word costs is its
    occurrences in every text tagged: the fewer words, the faster)."""
    settings = settings or Settings()
    model = _fit(examples, settings, meta)
    if settings.max_words is None or len(model.vocabulary) <= settings.max_words:
        return model
    size = len(model.vocabulary)
    scaled = np.abs(model.weights * model.idf[:, None]).max(axis=1)
    weight = scaled[:size] + scaled[size:]
    keep = sorted(model.vocabulary[i] for i in np.argsort(-weight, kind="stable")[:settings.max_words])
    return _fit(examples.restricted(keep), settings, meta)


def _fit(examples: Examples, settings: Settings, meta: dict | None) -> LinearModel:
    from scipy.sparse import csr_matrix, hstack
    from sklearn.linear_model import LogisticRegression

    size = len(examples.vocabulary)
    raw = csr_matrix((examples.counts.astype(np.float32), examples.features.astype(np.int64), examples.indptr),
                     shape=(len(examples), 2 * size))
    present = csr_matrix((np.ones_like(raw.data), raw.indices, raw.indptr), shape=raw.shape)
    document_frequency = np.asarray(present.sum(axis=0)).ravel()
    word_frequency = document_frequency[:size]  # a title word counts in the body too
    kept_words = np.flatnonzero((word_frequency >= settings.min_df)
                                & (word_frequency <= settings.max_df * len(examples)))
    kept = np.concatenate([kept_words, size + kept_words[document_frequency[size + kept_words] >= settings.min_df]])
    idf = (np.log((1 + len(examples)) / (1 + document_frequency[kept])) + 1).astype(np.float32)
    matrix = _tfidf(raw[:, kept], idf)
    full = hstack([matrix, csr_matrix(examples.rules * settings.rule_weight)]).tocsr()
    outputs: list[tuple[str, str]] = []
    columns = []
    labelled = np.flatnonzero(examples.natures != "")
    if all((examples.natures == n).sum() >= 2 for n in NATURES):
        classifier = LogisticRegression(C=settings.C, max_iter=5000, class_weight="balanced")
        classifier.fit(full[labelled], examples.natures[labelled], sample_weight=examples.weights[labelled])
        for nature in NATURES:
            k = list(classifier.classes_).index(nature)
            columns.append((classifier.coef_[k], classifier.intercept_[k]))
            outputs.append(("nature", nature))
    for t, theme in enumerate(THEMES):
        target = examples.themes[:, t]
        if target.sum() < 2 or (~target).sum() < 2:
            continue
        classifier = LogisticRegression(C=settings.C, max_iter=5000, class_weight="balanced")
        classifier.fit(full, target, sample_weight=examples.weights)
        columns.append((classifier.coef_[0], classifier.intercept_[0]))
        outputs.append(("themes", theme))
    # Back to the vocabulary of the words kept (V words, body then title features).
    used_words = sorted(set((kept % size).tolist()))
    vocabulary = [examples.vocabulary[i] for i in used_words]
    position = {old: new for new, old in enumerate(used_words)}
    new_rows = np.array([position[f % size] + (len(vocabulary) if f >= size else 0) for f in kept.tolist()],
                        dtype=np.intp)
    weights = np.zeros((2 * len(vocabulary), len(outputs)), dtype=np.float32)
    full_idf = np.zeros(2 * len(vocabulary), dtype=np.float32)
    full_idf[new_rows] = idf
    rule_weights = np.zeros((len(RULE_FACETS), len(outputs)), dtype=np.float32)
    for column, (coef, _) in enumerate(columns):
        weights[new_rows, column] = coef[:len(kept)]
        rule_weights[:, column] = coef[len(kept):] * settings.rule_weight
    bias = np.array([intercept for _, intercept in columns], dtype=np.float32)
    return LinearModel(vocabulary, full_idf, weights, rule_weights, bias, outputs,
                       {**(meta or {}), "C": settings.C, "min_df": settings.min_df, "max_df": settings.max_df,
                        "rule_weight": settings.rule_weight, "max_words": settings.max_words,
                        "documents": len(examples)})


def _tfidf(counts, idf: np.ndarray):
    from scipy.sparse import diags

    matrix = counts.astype(np.float32).tocsr(copy=True)
    matrix.data = 1.0 + np.log(matrix.data)
    matrix = matrix.multiply(idf.reshape(1, -1)).tocsr()
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return (diags(1.0 / norms) @ matrix).tocsr()
