# promptprint — the two commands: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed-stamp
NODE_STAMP := node_modules/.installed-stamp
DATA_DIR ?= var
LISTEN ?= 127.0.0.1:50051

# No model may be fetched at run time: the packaged MiniLM is loaded from site-packages.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test lint proto check-proto bench clean chromium

install: $(STAMP) $(NODE_STAMP)

# torch first, pinned to the local CPU build: anything else would pull a multi-GB CUDA build.
# Then the runtime lock and the test/dev tools, then promptprint itself (editable, C extensions built).
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml setup.py $(wildcard promptprint/text/*.c promptprint/text/*.h)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -r requirements.txt -r requirements-dev.txt
	$(PIP) install -q --no-deps -e .
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: install
	$(VENV)/bin/promptprint serve --data-dir $(DATA_DIR) --listen $(LISTEN)

test: install lint chromium
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# Headless Chromium renders report.html in the tests (Debian's package; CI runs as root).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# buf for the contract, mypy (mypy.ini) over the whole package.
lint: install check-proto
	npx --no-install buf lint
	$(PY) -m mypy

# Regenerate the Python stubs from proto/ (commit the result).
proto: $(STAMP)
	$(PY) -m grpc_tools.protoc -Iproto --python_out=. --pyi_out=. --grpc_python_out=. proto/promptprint/v1/*.proto

# Generated code is checked in; fail when it no longer matches proto/.
check-proto: $(STAMP)
	@tmp=$$(mktemp -d) && \
	$(PY) -m grpc_tools.protoc -Iproto --python_out=$$tmp --pyi_out=$$tmp --grpc_python_out=$$tmp proto/promptprint/v1/*.proto && \
	diff -r -x __init__.py -x __pycache__ $$tmp/promptprint/v1 promptprint/v1 && rm -rf $$tmp && echo "generated stubs match proto/" || \
	{ echo "promptprint/v1 is stale: run 'make proto' and commit"; rm -rf $$tmp; exit 1; }

bench: install
	$(PY) scripts/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) node_modules build *.egg-info
