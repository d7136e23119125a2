# genai-o11y: two commands do all set-up on a fresh machine.
#   make run   - install, build the collector, generate from the embedded default spec, validate
#   make test  - install, build the tools, check committed artifacts are fresh, run the test suite
# Built tools are cached under ~/.cache/genai-o11y (override: GENAI_O11Y_CACHE).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/genai-o11y
STAMP  := $(VENV)/.installed

.PHONY: run test install collector prometheus tools generate check validate clean

run: install collector generate validate

test: install tools check
	$(PY) -m pytest $(PYTEST_ARGS)

install: $(STAMP)
$(STAMP): pyproject.toml
	@command -v go >/dev/null || { echo "error: Go is required (it builds the collector and promtool): https://go.dev/dl/"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

collector: install
	$(PY) -m genai_o11y.toolchain collector

prometheus: install
	$(PY) -m genai_o11y.toolchain prometheus

tools: collector prometheus

generate: install
	$(CLI) generate --out .

check: install
	$(CLI) check --dir .

validate: install
	$(CLI) validate .

clean:
	rm -rf $(VENV) .pytest_cache
