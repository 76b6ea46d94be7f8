"""The shared corpus of real press articles (../shared/corpora/press/articles.jsonl), for the quality tests.

It holds others' words: it is read where it lies and never copied into the repository; tests that
need it skip with PRESS_MISSING as their reason when it is absent. VEILLE_SHARED_CORPORA replaces
../shared/corpora, as for feedparser's corpus (tests/corpora.py). Articles listed in
../shared/reserved.txt are dropped on loading (pipeline/evaluation.load_press).

Each article is tagged once per test session, by what ships (`tag_document`: the rules and the
starter model) and by the rules alone. The starter model learned the development part: what ships
is measured there for regressions only; the blind part is the measure.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pipeline.evaluation import PressScores, evaluate_press, load_press

ROOT = Path(__file__).resolve().parents[1]
PRESS = Path(os.environ.get("VEILLE_SHARED_CORPORA", ROOT.parent / "shared" / "corpora")) / "press" / "articles.jsonl"
PRESS_MISSING = (f"the shared press corpus is absent ({PRESS}): it is not in the repository "
                 "(others' words); the press quality tests need ../shared beside the checkout")
SPLITS = ("dev", "blind")


def press_available() -> bool:
    return PRESS.exists()


@lru_cache(maxsize=None)
def press_articles(split: str) -> tuple[dict, ...]:
    return tuple(load_press(PRESS, split))


@lru_cache(maxsize=None)
def press_tags(split: str, way: str = "shipped") -> tuple[dict, ...]:
    """What `veille tag --jsonl` writes for each article of a part (way "shipped": the rules and the
    starter model; "rules": the rules alone)."""
    from config.loading import load_taxonomy
    from pipeline.places import load_gazetteer
    from pipeline.tagging import STARTER, tag_document

    taxonomy = load_taxonomy(ROOT / "config" / "taxonomy.yaml")
    gazetteer = load_gazetteer()
    model = STARTER if way == "shipped" else None
    return tuple(tag_document(taxonomy, a["id"], a["title"], a["text"], gazetteer, model)
                 for a in press_articles(split))


def press_scores(split: str, way: str = "shipped") -> PressScores:
    tags = dict(zip((a["id"] for a in press_articles(split)), press_tags(split, way)))
    return evaluate_press(list(press_articles(split)), lambda article: tags[article["id"]])
