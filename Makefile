# genai-o11y: two commands do all set-up on a fresh machine.
#   make run   - install, build what the stack runs (collector, Prometheus, Alertmanager), generate from the
#                embedded default spec, validate, then run the stack locally with the demo and a fault scenario
#                (UP_ARGS="--scenario slow_tool"; UP_ARGS=--exit-when-paged stops at the first page); Ctrl-C stops
#   make test  - install, build the tools, check committed artifacts are fresh, run the test suite
# Built tools are cached under ~/.cache/genai-o11y (override: GENAI_O11Y_CACHE).

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CLI    := $(VENV)/bin/genai-o11y
STAMP  := $(VENV)/.installed

RUN_TOOLS  := collector prometheus alertmanager
TEST_TOOLS := $(RUN_TOOLS) k8s cortex

.PHONY: run test install plan-run plan-test collector prometheus alertmanager k8s-tools cortex-tools tools helm-render helm-check generate check validate clean

# make run builds only what the local stack runs; helm, kubeconform and the k8s schemas are make test's
run: install plan-run collector prometheus alertmanager generate validate
	$(CLI) up $(UP_ARGS)

test: install plan-test tools check
	$(PY) -m pytest $(PYTEST_ARGS)

plan-run: install
	@$(PY) -m genai_o11y.toolchain plan $(RUN_TOOLS)

plan-test: install
	@$(PY) -m genai_o11y.toolchain plan $(TEST_TOOLS)

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

# Alertmanager + amtool do not build from Go modules: Debian's package (0.25).
alertmanager:
	@if command -v amtool >/dev/null && command -v prometheus-alertmanager >/dev/null; then echo "alertmanager: $$(command -v prometheus-alertmanager)"; \
	elif [ "$$(id -u)" = 0 ]; then echo "alertmanager: installing Debian's prometheus-alertmanager (about a minute)"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null && echo "alertmanager: installed prometheus-alertmanager"; \
	elif command -v sudo >/dev/null; then echo "alertmanager: installing Debian's prometheus-alertmanager with sudo (about a minute)"; sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-alertmanager >/dev/null; \
	else echo "error: Alertmanager and amtool are needed: apt-get install prometheus-alertmanager"; exit 2; fi

# helm and kubeconform from Go modules, schemas from the Kubernetes and operator modules
k8s-tools: install
	$(PY) -m genai_o11y.toolchain k8s

# Cortex (the distributed store of tests/test_cortex.py), from a wrapper module with Cortex's replaces
cortex-tools: install
	$(PY) -m genai_o11y.toolchain cortex

tools: collector prometheus alertmanager k8s-tools cortex-tools

# the chart's rendering, committed for review (tests compare it with a fresh `helm template`)
helm-render: k8s-tools generate
	$(PY) -m genai_o11y.k8s_render > deploy/helm/rendered/genai-o11y.yaml

# a team's values checked before installing: rendered as the chart would be, every manifest through kubeconform (offline);
# CHART=DIR checks a chart generated elsewhere (genai-o11y generate --out DIR: DIR/deploy/helm/genai-o11y)
helm-check: k8s-tools
	$(PY) -m genai_o11y.k8s_render --check $(foreach v,$(VALUES),-f $(v)) $(if $(CHART),--chart $(CHART))

generate: install
	$(CLI) generate --out . --go-testdata

# generated files fresh, and the committed rendering of the chart its helm template
check: install k8s-tools
	$(CLI) check --dir . --go-testdata
	$(PY) -m genai_o11y.k8s_render --compare

validate: install
	$(CLI) validate .

clean:
	rm -rf $(VENV) .pytest_cache
