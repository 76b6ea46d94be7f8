"""Tagging benchmark: places, and the whole tagger as `veille tag --jsonl` runs it, on real article lengths.

Texts: the shared press corpus (../shared/corpora/press, about 1.8 kB an article; read there, never
copied) when it is beside the repository, else the demo's articles. Prints documents per second with
start-up excluded, against a naive baseline measured in the same run (one compiled regular expression
alternating every commune name of the région, case-sensitive): the goal is the whole tagger (rules and
starter model) at 30× the baseline or more. Then the start-up of a fresh process: the gazetteer's
load (built the first time, then read back from the user's cache) and memory, and the CLI (`veille
--help`, `veille tag --jsonl` of one document, after a first run) with and without scikit-learn imported.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = 2000
ROUNDS = 4  # the best of each, alternating: a shared virtual machine's speed varies by ±10 % from minute to minute
PRESS = ROOT.parent / "shared" / "corpora" / "press" / "articles.jsonl"


def corpus() -> tuple[list[tuple[str, str]], str]:
    """(title, text) documents cycled to DOCS, and where they come from."""
    if PRESS.exists():
        from pipeline.evaluation import load_press

        texts = [(a["title"], a["text"]) for a in load_press(PRESS, "dev")]  # the blind part is for measuring once
        source = "the development part of the shared press corpus"
    else:
        texts = []
        for path in sorted((ROOT / "demo" / "site").glob("*.yaml")):
            for article in yaml.safe_load(path.read_text(encoding="utf-8"))["articles"]:
                texts.append((article["title"], f"{article['summary']}\n\n{article['body']}"))
        source = "the demo's articles (../shared/corpora/press is absent)"
    return [texts[i % len(texts)] for i in range(DOCS)], source


def commune_names() -> list[str]:
    """Every commune name of the région, longest first."""
    gazetteer = json.loads((ROOT / "config" / "gazetteer.json").read_text(encoding="utf-8"))
    return sorted({c["name"] for c in gazetteer["communes"].values()}, key=len, reverse=True)


def baseline_regex(names: list[str]) -> re.Pattern:
    """The baseline: one regular expression alternating `names`, case-sensitive, as whole words."""
    return re.compile(r"\b(?:" + "|".join(map(re.escape, names)) + r")\b")


def throughput(function, docs: list, rounds: int = 3) -> float:
    """Documents per second, the best of a few rounds (the machine may be shared)."""
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        for doc in docs:
            function(doc)
        best = max(best, len(docs) / (time.perf_counter() - started))
    return best


STARTUP = """
import json, sys, time, tracemalloc

def rss_mib():  # current resident memory (ru_maxrss would count the forking parent's pages)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024

before = rss_mib()
if sys.argv[1] == "memory":
    tracemalloc.start()  # slows everything down: the time is measured in another run
started = time.perf_counter()
from pipeline.places import load_gazetteer, tag_places
gazetteer = load_gazetteer()
tag_places("Bordeaux", gazetteer)
elapsed = time.perf_counter() - started
current = tracemalloc.get_traced_memory()[0] if sys.argv[1] == "memory" else 0
print(json.dumps({"seconds": elapsed, "python_mib": current / 2**20, "rss_mib": rss_mib() - before}))
"""


def startup(mode: str, cache: Path) -> dict:
    """Start-up figures of a fresh process (mode "time" or "memory"), the user's cache in `cache` (the
    gazetteer built and kept there when it is empty, read back when it is not)."""
    return json.loads(subprocess.run([sys.executable, "-c", STARTUP, mode], cwd=ROOT, capture_output=True,
                                     env={**os.environ, "XDG_CACHE_HOME": str(cache)}, text=True,
                                     check=True).stdout)


def cli_commands(veille: Path, folder: Path) -> dict[str, list[str]]:
    """The commands whose start-up is measured: `veille --help`, and `veille tag --jsonl` of a file of
    one short document written in `folder`."""
    document = folder / "one.jsonl"
    document.write_text(json.dumps({"id": "1", "title": "Forum de l'emploi à Guéret",
                                    "text": "Un forum France Travail en Creuse, jeudi 12 mars."}) + "\n",
                        encoding="utf-8")
    return {"veille --help": [str(veille), "--help"],
            "veille tag --jsonl (one document)": [str(veille), "tag", "--jsonl", str(document),
                                                  "--config", str(ROOT / "config")]}


def cli_startup() -> dict[str, float]:
    """Seconds (best of three) of `veille --help` and of `veille tag --jsonl` on one document."""
    veille = Path(sys.executable).with_name("veille")
    if not veille.exists():
        return {}
    with tempfile.TemporaryDirectory() as folder:
        timings = {}
        for name, command in cli_commands(veille, Path(folder)).items():
            best = float("inf")
            for _ in range(3):
                started = time.perf_counter()
                subprocess.run(command, cwd=ROOT, capture_output=True, check=True)
                best = min(best, time.perf_counter() - started)
            timings[name] = best
    check = ("import sys\nfrom config.loading import load_taxonomy\nfrom pipeline.tagging import tag_document\n"
             "tag_document(load_taxonomy('config/taxonomy.yaml'), '1', 'Appel à projets', 'Un texte.')\n"
             "print(any(m.split('.')[0] in ('sklearn', 'scipy') for m in sys.modules))")
    timings["scikit-learn imported to tag"] = subprocess.run([sys.executable, "-c", check], cwd=ROOT,
                                                             capture_output=True, text=True,
                                                             check=True).stdout.strip() == "True"
    return timings


# Instructions a document under valgrind (cachegrind, no cache simulation): a count that does not move
# with the machine's load, for telling a 2 % change from noise. Opt-in (VEILLE_BENCH_INSTRUCTIONS=1):
# about three minutes, the CLI's start-up counted too. Each count is the difference of two runs that
# tag FEW and MANY documents (the start-up cancels out), after the same warm-up (caches filled as in
# the timed stream).
INSTRUCTIONS = """
import sys
sys.path.insert(0, ".")
from benchmarks.bench_tagging import corpus
mode, count = sys.argv[1], int(sys.argv[2])
docs, _ = corpus()
if mode == "baseline":
    from benchmarks.bench_tagging import baseline_regex, commune_names
    naive = baseline_regex(commune_names())
    for title, text in docs[:count]:
        [m.group() for m in naive.finditer(f"{title}\\n\\n{text}")]
else:
    from config.loading import load_taxonomy
    from pipeline.places import load_gazetteer
    from pipeline.tagging import tag_documents
    taxonomy, gazetteer = load_taxonomy("config/taxonomy.yaml"), load_gazetteer()
    for _ in tag_documents(taxonomy, [(str(i), t, x) for i, (t, x) in enumerate(docs[:400])], gazetteer):
        pass
    for _ in tag_documents(taxonomy, [(str(i), t, x) for i, (t, x) in enumerate(docs[:count])], gazetteer):
        pass
"""


def instructions(mode: str, few: int, many: int) -> float:
    """Instructions a document of `mode` ("baseline" or "stream"), counted by valgrind."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    # Both counted runs read the gazetteer back from the user's cache: the first would build it otherwise.
    subprocess.run([sys.executable, "-c", "from pipeline.places import load_gazetteer; load_gazetteer()"],
                   cwd=ROOT, env=env, check=True)
    counts = []
    for documents in (few, many):
        command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                   sys.executable, "-c", INSTRUCTIONS, mode, str(documents)]
        report = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stderr
        counts.append(int(re.search(r"I\s+refs:\s+([\d,]+)", report)[1].replace(",", "")))
    return (counts[1] - counts[0]) / (many - few)


def cli_instructions() -> dict[str, int]:
    """Instructions (valgrind) of `veille --help` and of `veille tag --jsonl` on one document: the
    start-up as a count that does not move with the machine's load."""
    veille = Path(sys.executable).with_name("veille")
    env = {**os.environ, "PYTHONHASHSEED": "0", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    counts = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, arguments in cli_commands(veille, Path(folder)).items():
            subprocess.run(arguments, cwd=ROOT, env=env, capture_output=True, check=True)  # as after a first run
            command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                       *arguments]
            report = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stderr
            counts[name] = int(re.search(r"I\s+refs:\s+([\d,]+)", report)[1].replace(",", ""))
    return counts


def run() -> None:
    import orjson

    from pipeline.places import load_gazetteer, tag_places
    from pipeline.tagging import tag_document, tag_documents
    from config.loading import load_taxonomy

    docs, source = corpus()
    fulls = [f"{title}\n\n{text}" for title, text in docs]
    with tempfile.TemporaryDirectory() as cache:
        first = startup("time", Path(cache))
        timing, memory = startup("time", Path(cache)), startup("memory", Path(cache))

    names = commune_names()
    started = time.perf_counter()
    naive = baseline_regex(names)
    naive_compile = time.perf_counter() - started

    loaded = load_gazetteer()
    taxonomy = load_taxonomy(ROOT / "config" / "taxonomy.yaml")
    tag_document(taxonomy, "warm-up", "", "")
    tag_document(taxonomy, "warm-up", "", "", model=None)
    # The baseline and the tagger alternate, so that a busy machine slows both alike.
    numbered = [(str(i), title, text) for i, (title, text) in enumerate(docs)]

    def batched() -> float:  # what `veille tag --jsonl` runs: the model's part by batches
        started = time.perf_counter()
        for _ in tag_documents(taxonomy, numbered, loaded):
            pass
        return len(numbered) / (time.perf_counter() - started)

    def written() -> float:  # the same, each result written as a JSON line as `veille tag --jsonl` does
        started = time.perf_counter()
        for result in tag_documents(taxonomy, numbered, loaded):
            orjson.dumps(result, option=orjson.OPT_APPEND_NEWLINE).decode()
        return len(numbered) / (time.perf_counter() - started)

    baseline = places = rules = whole = stream = lines = 0.0
    for _ in range(ROUNDS):
        baseline = max(baseline, throughput(lambda text: [m.group() for m in naive.finditer(text)], fulls[:100], 1))
        places = max(places, throughput(lambda text: tag_places(text, loaded), fulls, 1))
        rules = max(rules, throughput(lambda doc: tag_document(taxonomy, "d", *doc, loaded, model=None), docs, 1))
        whole = max(whole, throughput(lambda doc: tag_document(taxonomy, "d", *doc, loaded), docs, 1))
        stream = max(stream, batched())
        lines = max(lines, written())

    size = sum(len(d.encode()) for d in fulls) / len(fulls)
    print(f"{DOCS} documents of {size / 1000:.1f} kB on average ({source}, cycled)")
    print(f"gazetteer start-up (fresh process, import + load + first call): {timing['seconds']:.2f} s "
          f"({first['seconds']:.2f} s the first time, built and kept in the user's cache), "
          f"{memory['python_mib']:.1f} MiB of Python objects, +{timing['rss_mib']:.0f} MiB of resident memory")
    print(f"baseline, one regex alternation of {len(names)} commune names: {baseline:8.0f} docs/s "
          f"(compiled in {naive_compile:.2f} s)")
    print(f"places alone (Aho-Corasick + disambiguation):             {places:8.0f} docs/s "
          f"= {places / baseline:5.1f}× the baseline")
    print(f"whole tagger, rules alone:                                {rules:8.0f} docs/s "
          f"= {rules / baseline:5.1f}× the baseline")
    print(f"whole tagger as shipped, one document at a time:          {whole:8.0f} docs/s "
          f"= {whole / baseline:5.1f}× the baseline")
    print(f"whole tagger as shipped, a stream (tag_documents):        {stream:8.0f} docs/s "
          f"= {stream / baseline:5.1f}× the baseline (goal ≥ 30×)")
    print(f"the same stream, each result written as a JSON line:      {lines:8.0f} docs/s "
          f"= {lines / baseline:5.1f}× the baseline (orjson.dumps: the CLI's part)")
    if os.environ.get("VEILLE_BENCH_INSTRUCTIONS"):
        if shutil.which("valgrind") is None:
            print("instructions: valgrind is not installed (apt-get install valgrind)")
        else:
            base, tagger = instructions("baseline", 2, 22), instructions("stream", 10, 410)
            print(f"instructions a document (valgrind): baseline {base / 1e6:.2f} M, whole tagger as shipped "
                  f"(stream) {tagger / 1e6:.3f} M = {base / tagger:.1f}× the baseline")
            for name, count in cli_instructions().items():
                print(f"instructions of {name} (valgrind): {count / 1e9:.2f} G")
    for name, value in cli_startup().items():
        print(f"{name}: {value:.2f} s" if isinstance(value, float) else f"{name}: {value}")


if __name__ == "__main__":
    run()
