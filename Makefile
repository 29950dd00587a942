# All set-up lives here: `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8080
DIST ?= dist
# The container image and its local dependencies (Docker is needed for these targets only).
DOCKER ?= docker
IMAGE ?= nestor/catalog:dev
VERSION ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE ?= $(shell git remote get-url origin 2>/dev/null | sed 's|//[^@/]*@|//|' || echo unknown)
# Where `make docker-up` publishes DynamoDB Local and Redis; `make dev-catalog` serves against them.
DEV_DYNAMODB_ENDPOINT ?= http://127.0.0.1:8000
DEV_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test pytest check lint typecheck format bench venv clean tools dist docker-build docker-up docker-down dev-catalog

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python >= 3.11 (https://www.python.org/downloads/) or pass PYTHON=/path/to/python3.11" >&2; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { echo "error: $(PYTHON) is older than 3.11; pass PYTHON=/path/to/python3.11" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

# System tools the tests drive for real: git (CLI, git daemon, git http-backend) and a Redis server.
tools:
	@scripts/ensure-tools

run: $(STAMP)
	$(BIN)/nestor-catalog serve --config configs/development.yaml --host $(HOST) --port $(PORT)

# The image, tagged $(IMAGE) (multi-stage build, see Dockerfile).
docker-build:
	$(DOCKER) build --tag $(IMAGE) --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
	  --build-arg SOURCE=$(or $(SOURCE),unknown) --build-arg CREATED=$$(date -u +%Y-%m-%dT%H:%M:%SZ) .

# The dependencies of the scale-out setup, from docker-compose.yml: DynamoDB Local on :8000, Redis on :6379.
docker-up:
	$(DOCKER) compose up --detach dynamodb redis

docker-down:
	$(DOCKER) compose down

# The server on this machine against `make docker-up`'s DynamoDB Local and Redis, serving and
# watching examples/ (configs/development.yaml; the table is created at start).
dev-catalog: $(STAMP)
	STORAGE_TYPE=dynamodb DYNAMODB_ENDPOINT=$(DEV_DYNAMODB_ENDPOINT) CACHE_TYPE=redis REDIS_URL=$(DEV_REDIS_URL) \
	  $(BIN)/nestor-catalog serve --config configs/development.yaml --host $(HOST) --port $(PORT)

# What CI runs (.ci/run): lint, format check, mypy --strict, then every test.
test: lint typecheck pytest

# The tests alone (PYTEST_ARGS passes options, e.g. PYTEST_ARGS='-k sync -x').
pytest: $(STAMP) tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

check: test

bench: $(STAMP) tools
	@scripts/ensure-bench-tools
	$(BIN)/python -m benchmarks $(BENCH_ARGS)

# The sdist and the wheel in $(DIST) (pip install dist/nestor_catalog-$(VERSION)-py3-none-any.whl,
# with extras: 'dist/nestor_catalog-$(VERSION)-py3-none-any.whl[server]').
dist: $(STAMP)
	rm -rf $(DIST)
	$(BIN)/python -m build --outdir $(DIST) .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info src/*.egg-info
