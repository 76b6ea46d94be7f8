# Veille — set-up and everyday commands. Only Python 3.11+ and make are needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser systemd corpus demo test bench serve gazetteer model clean

install: $(STAMP)

# Re-install when the project definition changes.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/veille demo

# The bulletin's screenshot test drives Debian's Chromium (Playwright never downloads a browser here).
browser:
	@test -x /usr/bin/chromium || { \
	  echo "Installing Debian's chromium for the browser test (apt-get)…"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	  { echo "Could not install chromium: run 'apt-get install chromium' as root, then 'make test'."; exit 1; }; }

# tests/test_deploy.py checks deploy/'s units with systemd-analyze (verify, security, calendar), from
# Debian's systemd package; nothing is started.
systemd:
	@test -x /usr/bin/systemd-analyze || { \
	  echo "Installing Debian's systemd for the deployment test (apt-get)…"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null) || \
	  { echo "Could not install systemd: run 'apt-get install systemd' as root, then 'make test'."; exit 1; }; }

# feedparser's own test corpus (odd, ill-formed, mis-encoded and hostile feeds) for the corpus tests. It is
# not in the repository: it ships in feedparser's sdist on PyPI (wheels carry no tests), so it is fetched
# once, for the installed feedparser's version, into an ignored folder that tests/corpora.py looks at
# first (then ../shared/corpora/feedparser). Fetched again only when that version changes.
CORPUS := build/corpora/feedparser
corpus: install
	@version=$$($(BIN)/python -c 'import importlib.metadata as m; print(m.version("feedparser"))') || exit 1; \
	if [ -d $(CORPUS)/wellformed ] && [ "$$(cat $(CORPUS).version 2>/dev/null)" = "$$version" ]; then exit 0; fi; \
	echo "Fetching feedparser $$version's test corpus from PyPI into $(CORPUS)/…"; \
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	{ $(BIN)/python -m pip download --quiet --no-binary :all: --no-deps "feedparser==$$version" -d "$$tmp" || \
	  { echo "Could not download feedparser $$version's sdist from PyPI: run 'make corpus' once online."; \
	    echo "Until then the corpus tests use ../shared/corpora/feedparser if it is there, else they skip."; exit 1; }; } && \
	rm -rf $(CORPUS) $(CORPUS).tmp $(CORPUS).version && \
	$(BIN)/python -c "$$EXTRACT_CORPUS" "$$tmp"/feedparser-*.tar.gz $(CORPUS).tmp && \
	mv $(CORPUS).tmp $(CORPUS) && echo "$$version" > $(CORPUS).version

# Only tests/wellformed, illformed and encoding of the sdist, and feedparser's LICENSE: the layout of
# ../shared/corpora/feedparser, on which the tests' thresholds were set (tests/entities, http and
# compression feed feedparser's own entity and HTTP checks). The "data" filter refuses links, absolute
# paths and paths leaving the folder.
define EXTRACT_CORPUS
import sys, tarfile
sdist, folder = sys.argv[1:]
def keep(member, path):
    parts = member.name.split("/")  # feedparser-X.Y.Z/tests/wellformed/… → wellformed/…
    if parts[1:2] == ["tests"] and parts[2:3] in (["wellformed"], ["illformed"], ["encoding"]):
        return tarfile.data_filter(member.replace(name="/".join(parts[2:]), deep=False), path)
    if parts[1:] == ["LICENSE"]:
        return tarfile.data_filter(member.replace(name="LICENSE", deep=False), path)
    return None
with tarfile.open(sdist) as tar:
    tar.extractall(folder, filter=keep)
endef
export EXTRACT_CORPUS

test: install browser systemd corpus
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# The project's bytecode compiled first, as any first run writes it: where PYTHONDONTWRITEBYTECODE is set
# (containers, CI), every start-up measured would compile the project's modules again (+0.3 G instructions).
bench: install
	$(BIN)/python -m compileall -q config crawlers newsletter pipeline veille
	$(BIN)/python -m benchmarks

serve: install
	$(BIN)/veille serve

# Regenerate config/gazetteer.json from the official gazetteer (needs npm and the network);
# the generated file is committed, so installing and testing never need npm.
gazetteer: install
	$(BIN)/python -m pip install --quiet -e '.[gazetteer]'
	$(BIN)/python scripts/build_gazetteer.py

clean:
	rm -rf $(VENV) demo/out build *.egg-info .pytest_cache

# The starter model (models/starter.npz) from the development part of ../shared/corpora/press
# (models/README.md); committed, so installing and testing never need the corpus.
model: install
	$(BIN)/python scripts/build_starter_model.py
