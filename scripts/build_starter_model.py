"""Build the starter model (models/starter.npz) from the development part of the shared press corpus.

    make model            # python scripts/build_starter_model.py
    python scripts/build_starter_model.py --corpus PATH --reserved PATH --out PATH

Its settings (pipeline/learning.SETTINGS) were chosen by cross-validation on the development part:
`python scripts/evaluate_press.py --cv 5` (pipeline/evaluation.cross_validate_press).

Reads ../shared/corpora/press/articles.jsonl beside the repository (others' words: read there, never
copied), keeps the `dev` part only (the `blind` part is for measuring), drops every article listed in
../shared/reserved.txt (URL, normalised URL or lower-cased title; pipeline/evaluation.load_press), and
trains pipeline/learning.py's model on the articles' labels (nature and themes) and the rules' scores
of config/taxonomy.yaml. The file holds the model's weights and the training articles' features
(hashed word counts and the rules' scores, so that `veille learn` can retrain with the curator's
items), never a text; the same corpus and taxonomy give the same bytes with the same versions of
scikit-learn and NumPy (models/README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.evaluation import PRESS_CORPUS, RESERVED, load_press, reserved_digests  # noqa: E402
from pipeline.learning import STARTER, labelled_document, save_model, train_starter  # noqa: E402


def corpus_documents(corpus: Path, reserved: Path) -> tuple[list[dict], list[tuple]]:
    articles = load_press(corpus, "dev", reserved)
    if any(a["split"] != "dev" for a in articles):
        raise SystemExit("only the development part may be learned from")
    documents = [labelled_document(a["title"], a["text"], a["gold"]["nature"], a["gold"]["themes"])
                 for a in articles]
    return articles, documents


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=PRESS_CORPUS)
    parser.add_argument("--reserved", type=Path, default=RESERVED)
    parser.add_argument("--out", type=Path, default=STARTER)
    args = parser.parse_args()
    if not args.corpus.exists():
        print(f"corpus absent: {args.corpus} (the shared press corpus sits beside the repository)", file=sys.stderr)
        return 2
    if not reserved_digests(args.reserved):
        print(f"list of reserved articles absent or empty: {args.reserved}; refusing to build without it",
              file=sys.stderr)
        return 2
    articles, documents = corpus_documents(args.corpus, args.reserved)
    digest = hashlib.sha256(args.corpus.read_bytes()).hexdigest()
    taxonomy = hashlib.sha256((ROOT / "config" / "taxonomy.yaml").read_bytes()).hexdigest()
    model = train_starter(documents, {
        "built_from": f"shared/corpora/press/articles.jsonl, split dev ({len(documents)} articles)",
        "corpus_sha256": digest, "taxonomy_sha256": taxonomy})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, args.out)
    size = args.out.stat().st_size
    print(f"{args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}: {len(documents)} articles "
          f"of the development part, {len(model.linear.vocabulary)} words, {size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
