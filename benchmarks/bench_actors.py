"""Actor extraction benchmark: what `extract_actors` adds to the tagger, on real article lengths.

Texts: the dev part of the shared press corpus (../shared/corpora/press; read there, never copied) when it
is beside the repository, else the demo's articles. The tagger alone (`tag_documents`, as `veille tag`
runs it) and the tagger followed by the extraction (given the tagger's places and folded text, as
`veille tag` calls it) are measured in the same run on the same documents, the extraction's own share
timed call by call; the goal is an extraction adding at most 30 % to the tagger's time. The extraction
alone, folding the text and reading the places itself, is shown too.
Times are this process's CPU time (`time.process_time`): the machine is shared, and wall-clock time there
measures the neighbours as much as the code. The ratio is the median of five rounds.
"""

from __future__ import annotations

import statistics
import time

from benchmarks.bench_tagging import DOCS, ROOT, corpus as press_texts


def corpus() -> tuple[list[tuple[str, str, str]], str]:
    """(id, title, text) documents cycled to DOCS (bench_tagging's texts), and where they come from."""
    texts, source = press_texts()
    return [(str(i), title, text) for i, (title, text) in enumerate(texts)], source


def run() -> None:
    from config.loading import load_taxonomy
    from pipeline.actors import extract_actors
    from pipeline.places import load_gazetteer
    from pipeline.tagging import tag_documents, tag_texts

    docs, source = corpus()
    gazetteer = load_gazetteer()
    taxonomy = load_taxonomy(ROOT / "config" / "taxonomy.yaml")
    started = time.process_time()
    extract_actors("", "Le PLIE des Graves.", gazetteer)  # builds the automaton
    build = time.process_time() - started
    for _ in tag_documents(taxonomy, docs[:50], gazetteer):  # warm-up: the model, the tagger's automaton
        pass

    def tagger() -> float:
        started = time.process_time()
        for _ in tag_documents(taxonomy, docs, gazetteer):
            pass
        return time.process_time() - started

    def tagger_and_actors() -> tuple[float, float]:
        # As `veille tag` runs it: the tagger's places and folded text given.
        extraction = 0.0
        started = time.process_time()
        for (_, title, text), result in zip(docs, tag_texts(taxonomy, docs, gazetteer)):
            before = time.process_time()
            extract_actors(title, text, gazetteer, places=result.tags, words=result.words)
            extraction += time.process_time() - before
        return time.process_time() - started, extraction

    def actors_alone() -> float:
        started = time.process_time()
        for _, title, text in docs:
            extract_actors(title, text, gazetteer)
        return time.process_time() - started

    # The extraction's share is timed document by document inside the tagger's run, so that a busy machine
    # (others' jobs come and go) slows both parts alike; the median of five rounds is reported.
    alone = both = extraction = float("inf")
    ratios = []
    for _ in range(5):
        alone = min(alone, tagger())
        round_both, round_extraction = tagger_and_actors()
        ratios.append(round_both / (round_both - round_extraction))
        both = min(both, round_both)
        extraction = min(extraction, actors_alone())
    ratio = statistics.median(ratios)
    mentions = sum(len(extract_actors(title, text, gazetteer)) for _, title, text in docs)
    print(f"{DOCS} documents ({source}, cycled), {mentions / DOCS:.1f} actor mentions a document")
    print(f"actor automaton built in {1000 * build:.0f} ms")
    print(f"tagger alone (tag_documents):      {DOCS / alone:8.0f} docs/s (best round)")
    print(f"tagger + extract_actors:           {DOCS / both:8.0f} docs/s (best round)")
    print(f"extract_actors alone (own places): {DOCS / extraction:8.0f} docs/s")
    print(f"extraction adds {100 * (ratio - 1):.0f} % to the tagger's time (ratio {ratio:.2f}, the median of "
          f"rounds from {min(ratios):.2f} to {max(ratios):.2f}; goal ≤ 1.30)")

if __name__ == "__main__":
    run()
