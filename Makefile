# make demo  - set everything up and run the platform's main job on the local runtime
# make test  - set everything up and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test test-unit test-integration test-e2e lint format up down bench clean

install: $(STAMP)

# pip takes torch==2.13.0 (CPU) from the machine's wheel folder when it is there, and from PyPI otherwise.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

demo: install
	$(PY) -m maas.demo

test: install
	$(PY) -m pytest

test-unit: install
	$(PY) -m pytest tests/unit

test-integration: install
	$(PY) -m pytest tests/integration

test-e2e: install
	$(PY) -m pytest tests/e2e

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared/maas
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/cfn-lint infra/*.yaml
	$(PY) -m maas.local.translate template.yaml --output build/template.translated.json
	$(VENV)/bin/cfn-lint build/template.translated.json

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

up: install
	$(VENV)/bin/maas local up

down: install
	$(VENV)/bin/maas local down

bench: install
	@for script in benchmarks/[!_]*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf build .maas .pytest_cache .mypy_cache .ruff_cache
