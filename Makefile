# Two entry points on a fresh machine with only Python:
#   make run   installs what the main job needs and runs it on the simulated engine
#   make test  installs the project, its test tools and the CPU vLLM engine, checks the import
#              layering and the types, and runs every test
# Each re-installs only when pyproject.toml (or the engine installer) changed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The main job: the mixed workload (SWE-bench + BFCL programs), 16 programs drawn with seed 0, on a
# simulated H100 whose KV cache is cut to 8,000 blocks so that a few long contexts oversubscribe it;
# three rates from light load to past fcfs's knee; every policy and the clairvoyant oracle.
RUN_ARGS := mixed --programs 16 --num-gpu-blocks 8000 --rates 0.02,0.05,0.1 --engine sim --profile llama-3.1-8b-h100
# The full sweep: the whole mixed workload on the full cache, knee found and bisected to 5%.
BENCH_ARGS := mixed --engine sim --profile llama-3.1-8b-h100

.PHONY: run test typecheck bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q setuptools wheel

$(VENV)/.stamp-run: pyproject.toml | $(PY)
	$(PY) -m pip install -q --no-build-isolation -e .
	touch $@

$(VENV)/.stamp-test: pyproject.toml engine_adapters/vllm/install.py | $(PY)
	$(PY) -m pip install -q --no-build-isolation -e '.[test,otlp,ray]'
	$(PY) -m agentrt.engine_adapters.vllm.install
	touch $@

run: $(VENV)/.stamp-run
	$(VENV)/bin/agentrt bench $(RUN_ARGS) --output results/run

bench: $(VENV)/.stamp-run
	$(VENV)/bin/agentrt bench $(BENCH_ARGS)

test: typecheck
	$(PY) -m pytest

# import-linter and mypy find modules by walking the `agentrt` folder, but pyproject's package-dir
# maps programs/, runtime/, tools/ and engine_adapters/ into `agentrt` from outside it: both run
# on the installed layout, assembled here from links.
LAYOUT := build/layout
typecheck: $(VENV)/.stamp-test
	rm -rf $(LAYOUT) && mkdir -p $(LAYOUT)/agentrt
	ln -s $(CURDIR)/agentrt/* $(LAYOUT)/agentrt/
	for d in programs runtime tools engine_adapters; do ln -s $(CURDIR)/$$d $(LAYOUT)/agentrt/$$d; done
	cd $(LAYOUT) && $(CURDIR)/$(VENV)/bin/lint-imports --no-cache $(CURDIR)/pyproject.toml
	cd $(LAYOUT) && $(CURDIR)/$(PY) -m mypy --config-file $(CURDIR)/pyproject.toml --cache-dir $(CURDIR)/.mypy_cache -p agentrt

clean:
	rm -rf $(VENV) build results .pytest_cache
