# Two entry points on a fresh machine with only Python:
#   make run   installs what the main job needs and runs it on the simulated engine
#   make test  installs the project, its test tools and the CPU vLLM engine, and runs every test
# Each re-installs only when pyproject.toml (or the engine installer) changed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TRACE := agentrt/replay/traces/swebench-lite-deepseek-v3.jsonl

.PHONY: run test bench clean

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
	$(VENV)/bin/agentrt bench $(TRACE) --engine sim --profile llama-3.1-8b-h100

test: $(VENV)/.stamp-test
	$(PY) -m pytest

clean:
	rm -rf $(VENV) build results .pytest_cache
