# Veille — set-up and everyday commands. Only Python 3.11+ and make are needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install browser demo test bench serve gazetteer clean

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

test: install browser
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

bench: install
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
