"""Where the corpus tests find feedparser's own test corpus (odd, ill-formed, mis-encoded and hostile feeds).

First the copy `make corpus` takes from the installed feedparser's sdist on PyPI (build/corpora/feedparser,
ignored by git), else ../shared/corpora/feedparser beside this checkout. Both hold wellformed/,
illformed/, encoding/ and feedparser's LICENSE. Neither is in the repository, so the tests that read it
skip with CORPUS_MISSING as their reason when FEEDPARSER_CORPUS is None.
VEILLE_SHARED_CORPORA replaces ../shared/corpora (e.g. a path that does not exist, to prove the tests
run from the fetched copy alone).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FETCHED = ROOT / "build" / "corpora" / "feedparser"
SHARED = Path(os.environ.get("VEILLE_SHARED_CORPORA", ROOT.parent / "shared" / "corpora")) / "feedparser"
CORPUS_MISSING = (f"feedparser's test corpus is in neither {FETCHED} nor {SHARED}: "
                  "run `make corpus` (fetches it from PyPI once)")


def feedparser_corpus() -> Path | None:
    """The first of the fetched copy and the shared one that holds the corpus, or None."""
    for folder in (FETCHED, SHARED):
        if (folder / "wellformed").is_dir():
            return folder
    return None


FEEDPARSER_CORPUS = feedparser_corpus()
