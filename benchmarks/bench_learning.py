"""What the learned model adds over the rules alone.

1. The starter model (models/starter.npz, trained on the development part of the shared press
   corpus) on the project's own labelled texts, which it never saw (tests/fixtures/topics_*.yaml):
   rules alone against rules and model, as `veille tag` decides.
2. `veille learn` on curated data: the 150 texts of topics_devset.yaml and topics_heldout.yaml with
   their expected tags stand for the curator's decisions. Five folds: train on four (with the starter
   corpus, the curator's items weighing more, as `veille learn` does; and on the curated items alone),
   measure on the fifth. Micro-averaged over all folds.
3. When ../shared/corpora/press is there: cross-validation of the starter model on the development
   part (the figures that chose its settings), and the cost of training.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from config.loading import load_taxonomy
from pipeline.evaluation import Score
from pipeline.learning import starter_model, train
from pipeline.tagging import tag_text

ROOT = Path(__file__).resolve().parents[1]
FOLDS = 5


def labelled(names) -> list[tuple[str, str, set[tuple[str, str]]]]:
    docs = []
    for name in names:
        for doc in yaml.safe_load((ROOT / "tests" / "fixtures" / f"{name}.yaml").read_text(encoding="utf-8")):
            labels = {(facet, slug) for facet in ("themes", "dispositifs") for slug in doc["expected"][facet]}
            labels.add(("nature", doc["expected"]["nature"]))
            docs.append((doc["title"], doc["text"], labels))
    return docs


def measure(docs, taxonomy, model) -> tuple[float, Score]:
    right, themes = 0, Score()
    for title, text, expected in docs:
        tags = tag_text(taxonomy, "x", title, text, model=model).tags
        right += (("nature", tags["nature"]) in expected)
        themes.add({t for t in expected if t[0] == "themes"}, {("themes", t) for t in tags["themes"]})
    return right / len(docs), themes


def run() -> None:
    taxonomy = load_taxonomy(ROOT / "config" / "taxonomy.yaml")
    starter = starter_model()
    own = labelled(("topics_devset", "topics_heldout", "topics_blind"))
    print(f"1. the project's own {len(own)} labelled texts, never seen by the starter model:")
    for way, model in (("rules", None), ("rules + starter model", starter)):
        if way != "rules" and model is None:
            print("  (no starter model: run `make model`)")
            continue
        accuracy, themes = measure(own, taxonomy, model)
        print(f"  {way:<34} nature accuracy {accuracy:.3f}   themes: {themes}")

    curated = labelled(("topics_devset", "topics_heldout"))
    print(f"2. `veille learn` on {len(curated)} curated texts, {FOLDS} folds:")
    for way, base in (("curated + starter corpus", "shipped"), ("curated alone", None)):
        right, themes, seconds = 0, Score(), 0.0
        for fold in range(FOLDS):
            test = [d for i, d in enumerate(curated) if i % FOLDS == fold]
            training = [d for i, d in enumerate(curated) if i % FOLDS != fold]
            started = time.perf_counter()
            model = train(training, taxonomy, starter=base)
            seconds += time.perf_counter() - started
            accuracy, fold_themes = measure(test, taxonomy, model)
            right += accuracy * len(test)
            themes.true_positives += fold_themes.true_positives
            themes.false_positives += fold_themes.false_positives
            themes.false_negatives += fold_themes.false_negatives
        print(f"  {way:<34} nature accuracy {right / len(curated):.3f}   themes: {themes}   "
              f"(training {seconds / FOLDS:.2f} s per fold)")

    press = ROOT.parent / "shared" / "corpora" / "press" / "articles.jsonl"
    if press.exists():
        import subprocess
        import sys

        print("3. the starter model in cross-validation on the press corpus's development part:")
        result = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_starter_model.py"), "--cross-validate"],
                                cwd=ROOT, capture_output=True, text=True)
        print("  " + result.stdout.strip().replace("\n", "\n  "))


if __name__ == "__main__":
    run()
