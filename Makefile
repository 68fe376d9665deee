# make demo  - set everything up and run the platform's main job on the local runtime
# make test  - set everything up, build for AWS, and run the whole suite
# make build - `sam build`: the Lambda functions and layers as they are deployed, in .aws-sam/build
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

# The Lambda runtime's Python (template.yaml: Runtime). The SAM CLI gets its own virtual environment on it,
# so that its dependencies never meet the project's pins, and its Python builder finds python3.12 first on PATH.
LAMBDA_PYTHON_VERSION := 3.12
SAM_CLI_VERSION := 1.170.0
SAM_VENV  := build/sam-venv
SAM       := $(SAM_VENV)/bin/sam
SAM_ENV   := PATH="$(abspath $(SAM_VENV))/bin:$$PATH" SAM_CLI_TELEMETRY=0
BUILD_DIR := .aws-sam/build
# What the Lambda runtime provides (boto3 and its dependencies): the size report checks the layers against it,
# `maas local up --from-build` runs the functions on it.
LAMBDA_RUNTIME := build/lambda-runtime

.PHONY: install demo demo-built test test-unit test-integration test-e2e test-built lint format up down bench clean build sam \
	openapi browser kserve-venv

install: $(STAMP)

# pip takes torch==2.13.0 (CPU) from the machine's wheel folder when it is there, and from PyPI otherwise.
# The SDK (clients/python, maas_client) goes in beside it: the CLI talks through it; it adds no pinned package.
$(STAMP): pyproject.toml clients/python/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]' -e clients/python
	@touch $(STAMP)

demo: install
	$(PY) -m maas.demo

# The same demo on the functions as `make build` made them (maas local up --from-build).
demo-built: install build
	$(PY) -m maas.demo --from-build $(BUILD_DIR)

# Everything, then the end-to-end tests that cover each function again on what `make build` made.
test: install build kserve-venv browser
	$(PY) -m pytest
	$(MAKE) --no-print-directory test-built

test-unit: install
	$(PY) -m pytest tests/unit

test-integration: install
	$(PY) -m pytest tests/integration

test-e2e: install kserve-venv browser
	$(PY) -m pytest tests/e2e

# The end-to-end tests marked `built`, on `maas local up --from-build` (run `make build` first).
test-built: install
	MAAS_E2E_FROM_BUILD=$(BUILD_DIR) $(PY) -m pytest tests/e2e -m built

# kserve's own REST client, for the end-to-end test that calls the platform with it unchanged
# (tests/e2e/kserve_client.py). Its own environment, made once: kserve 0.21 needs protobuf 6, the project pins 7.
KSERVE_VERSION := 0.21.0
KSERVE_VENV    := .venv-kserve

kserve-venv: $(KSERVE_VENV)/.installed-$(KSERVE_VERSION)

$(KSERVE_VENV)/.installed-$(KSERVE_VERSION): tests/e2e/kserve-constraints.txt | $(STAMP)
	rm -rf $(KSERVE_VENV)
	python="$$($(PY) -m maas.deployment.interpreter $(LAMBDA_PYTHON_VERSION))" && "$$python" -m venv $(KSERVE_VENV)
	$(KSERVE_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
		-c tests/e2e/kserve-constraints.txt kserve==$(KSERVE_VERSION)
	@touch $@

sam: $(SAM_VENV)/.installed-$(SAM_CLI_VERSION)

$(SAM_VENV)/.installed-$(SAM_CLI_VERSION): | $(STAMP)
	rm -rf $(SAM_VENV)
	python="$$($(PY) -m maas.deployment.interpreter $(LAMBDA_PYTHON_VERSION))" && "$$python" -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check aws-sam-cli==$(SAM_CLI_VERSION)
	@touch $@

$(LAMBDA_RUNTIME)/.installed-stamp: layers/lambda-runtime.txt | sam
	rm -rf $(LAMBDA_RUNTIME)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
		--implementation cp --python-version $(LAMBDA_PYTHON_VERSION) --platform manylinux_2_28_x86_64 \
		--platform manylinux2014_x86_64 --target $(LAMBDA_RUNTIME)/python -r layers/lambda-runtime.txt
	@touch $@

# sam build, then every function's unzipped size (the table ends with a JSON line); fails over 230 MB, or
# when a function's layers lack a package that another one needs.
build: install sam $(LAMBDA_RUNTIME)/.installed-stamp
	$(PY) -m maas.deployment.requirements --check
	$(SAM_ENV) $(SAM) build --parallel
	$(PY) -m maas.deployment.sizes $(BUILD_DIR) --runtime-dir $(LAMBDA_RUNTIME)/python

lint: install sam
	$(SAM_ENV) $(SAM) validate --lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared/maas clients/python/maas_client
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

# The API description (shared/maas/api/openapi.json), generated from the routes; a unit test fails when it is stale.
openapi: install
	$(PY) -m maas.api.openapi

# Headless Chromium for the Swagger UI test (tests/e2e/test_e2e_docs_browser.py), from Debian's packages.
browser:
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium chromium-driver)

bench: install
	@for script in benchmarks/[!_]*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean:
	rm -rf build .aws-sam .maas .pytest_cache .mypy_cache .ruff_cache .venv-kserve
