"""The tagger measured on the shared corpus of real press articles, per facet and per part.

    python scripts/evaluate_press.py [--split dev|blind|both] [--details] [--json]
    python scripts/evaluate_press.py --cv 5 [--repeats 2]     # the honest estimate, on the dev part
    python scripts/evaluate_press.py --corpus FILE --split all --ways rules,shipped   # another labelled set

Ways measured:
- `rules`: config/taxonomy.yaml and the gazetteer alone;
- `project model`: the rules plus a model trained on the project's own 190 labelled texts alone
  (tests/fixtures/topics_*.yaml), applied as `veille tag` applies a learned model (how issue 14
  measured « before »);
- `shipped`: what `veille tag --jsonl` does out of the box: the rules and the starter model
  (models/starter.npz, trained on the development part: its figures there are not a measure);
- `--cv K`: what ships, cross-validated on the development part: a starter model trained as `make
  model` trains it on K-1 folds, the K-th tagged with it (pipeline/evaluation.cross_validate_press);
  each repeat shuffles the folds anew. The estimate of the blind figures while tuning.

The blind part is for measuring only: print its aggregate figures, never its errors (`--details`
gives per-tag scores; no article of the corpus is ever printed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from config.loading import load_taxonomy  # noqa: E402
from pipeline.evaluation import PRESS_CORPUS, cross_validate_press, evaluate_press, load_press  # noqa: E402
from pipeline.places import load_gazetteer  # noqa: E402


def project_examples() -> list[tuple[str, str, set[tuple[str, str]]]]:
    import yaml

    examples = []
    for name in ("topics_devset", "topics_heldout", "topics_blind"):
        for doc in yaml.safe_load((ROOT / "tests" / "fixtures" / f"{name}.yaml").read_text(encoding="utf-8")):
            labels = {(facet, slug) for facet in ("themes", "dispositifs") for slug in doc["expected"][facet]}
            labels.add(("nature", doc["expected"]["nature"]))
            examples.append((doc["title"], doc["text"], labels))
    return examples


def taggers() -> dict:
    from pipeline import tagging
    from pipeline.learning import train

    taxonomy = load_taxonomy(ROOT / "config" / "taxonomy.yaml")
    gazetteer = load_gazetteer()
    def rules(article):
        return tagging.tag_document(taxonomy, article["id"], article["title"], article["text"], gazetteer,
                                    model=None)

    def shipped(article):
        return tagging.tag_document(taxonomy, article["id"], article["title"], article["text"], gazetteer)

    model = train(project_examples(), starter=None)

    def with_project_model(article):
        tags = dict(rules(article))
        rule_tags = {("nature", tags["nature"])} | {("themes", t) for t in tags["themes"]} | {
            ("dispositifs", d) for d in tags["dispositifs"]}
        additions, vetoes = model.judge(article["title"], article["text"], rule_tags)
        effective = (rule_tags - set(vetoes)) | set(additions)
        natures = [v for f, v in additions if f == "nature"]
        tags["nature"] = natures[0] if natures else tags["nature"]
        tags["themes"] = sorted(v for f, v in effective if f == "themes")
        return tags

    return {"rules": rules, "project model": with_project_model, "shipped": shipped}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default=str(PRESS_CORPUS))
    parser.add_argument("--split", choices=("dev", "blind", "both", "all"), default=None,
                        help="default: both (dev with --cv); all: every article of --corpus whatever its split "
                             "(another set in the same format, e.g. real articles labelled apart)")
    parser.add_argument("--ways", default="rules,project model,shipped",
                        help="comma-separated: rules, project model, shipped")
    parser.add_argument("--details", action="store_true", help="precision and recall per nature and per tag")
    parser.add_argument("--json", action="store_true", help="one JSON line per (split, way) of headline figures")
    parser.add_argument("--cv", type=int, metavar="K", help="cross-validate what ships on the dev part, K folds")
    parser.add_argument("--repeats", type=int, default=2, help="with --cv: shuffles of the folds (default 2)")
    args = parser.parse_args()
    if not Path(args.corpus).exists():
        print(f"corpus absent: {args.corpus}", file=sys.stderr)
        return 2
    if args.cv:
        if args.split not in (None, "dev"):
            print("--cv only reads the development part (the blind part is never tuned on)", file=sys.stderr)
            return 2
        return cross_validate(args)
    ways = taggers()
    wanted = [w.strip() for w in args.ways.split(",")]
    for split in (("dev", "blind") if args.split in (None, "both") else (args.split,)):
        articles = load_press(args.corpus, None if split == "all" else split)
        for way in wanted:
            scores = evaluate_press(articles, ways[way])
            if args.json:
                print(json.dumps({"split": split, "way": way, "documents": scores.documents, **scores.summary()}))
            else:
                print(f"{split} part ({scores.documents} articles), {way}:")
                print(scores.report(details=args.details))
    return 0


def cross_validate(args) -> int:
    articles = load_press(args.corpus, "dev")
    runs = cross_validate_press(articles, args.cv, args.repeats)
    for repeat, scores in enumerate(runs):
        if args.json:
            print(json.dumps({"split": "dev", "way": f"cv{args.cv}", "repeat": repeat, "documents": scores.documents,
                              **scores.summary()}))
        else:
            print(f"dev part ({scores.documents} articles), shipped, {args.cv}-fold cross-validation, repeat {repeat}:")
            print(scores.report(details=args.details))
    if not args.json:
        mean = {"nature": sum(s.nature_accuracy for s in runs) / len(runs),
                **{facet: sum(s.facets[facet].f1 for s in runs) / len(runs) for facet in ("themes", "dispositifs")}}
        print("mean of the repeats: " + ", ".join(f"{key} {value:.3f}" for key, value in mean.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
