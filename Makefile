# Kaohe — `make run` starts the stack with a sample county; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp
PROTOS := $(shell find protos -name '*.proto')
# buf (protos' lint and breaking-change check), pinned, installed with npm into .tools/ (not committed).
BUF_VERSION := 1.75.0
BUF := .tools/node_modules/.bin/buf
BUF_STAMP := .tools/.buf-$(BUF_VERSION)

.PHONY: setup tools run test test-unit test-pg lint fmt typecheck bench clean protos

setup: $(STAMP)

$(STAMP): pyproject.toml $(PROTOS) scripts/gen_protos.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "grpcio-tools>=1.66" "mypy-protobuf>=3.6"
	$(BIN)/python scripts/gen_protos.py
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

tools: $(BUF_STAMP)

$(BUF_STAMP):
	npm install --prefix .tools --no-audit --no-fund @bufbuild/buf@$(BUF_VERSION)
	@touch $@

protos: setup
	$(BIN)/python scripts/gen_protos.py

run: setup
	$(BIN)/kaohe serve --sample $(ARGS)

test: setup tools
	$(BIN)/python -m pytest -n 2 tests

lint: setup tools
	$(BIN)/ruff check services tests scripts benchmarks
	$(BIN)/ruff format --check services tests scripts benchmarks
	$(BIN)/lint-imports
	$(BUF) lint
	BUF=$(BUF) scripts/buf_breaking.sh

fmt: setup
	$(BIN)/ruff format services tests scripts benchmarks
	$(BIN)/ruff check --fix services tests scripts benchmarks

typecheck: setup
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m benchmarks $(ARGS)

clean:
	rm -rf $(VENV) gen var .pytest_cache .mypy_cache .ruff_cache
