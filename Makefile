# The few verbs a person needs. `make run` starts the site, `make test` passes the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install run test lint format bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

## run: migrate, demo login and accounts, schedules and orders, then web + worker + beat (Ctrl-C stops all)
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_user
	$(BIN)/python manage.py open_account demo --currency EUR --name "Demo main" --deposit 1000.00 --if-none
	$(BIN)/python manage.py open_account demo --currency EUR --name "Demo savings" --if-none
	$(BIN)/python manage.py setup_schedules
	$(BIN)/python manage.py seed_orders --count 20000 --days 365 --if-empty
	@echo "Open http://$${WEB_HOST:-127.0.0.1}:$${WEB_PORT:-8000}/ (web, worker and beat start below)"
	TZ=$(RUN_TZ) $(BIN)/honcho start

# honcho stamps each line with its own clock: run it in TIME_ZONE (settings),
# the zone Django sets for the app's processes, so both times on a line agree.
RUN_TZ = $(shell $(BIN)/python -c 'from mysite import settings; print(settings.TIME_ZONE)')

## test: lint, migrations in step with models, then the whole suite in TEST_WORKERS processes
test: install lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# Much of the suite waits (on workers, brokers, browsers) rather than computes:
# six processes keep two cores busy (measured: 3 took 314 s, 4 about 245 s,
# 6 about 230 s). Each has its own test database and Redis database
# (tests/parallel.py). TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 6

## lint: ruff (rules and format), then mypy with django-stubs (pyproject.toml); .pre-commit-config.yaml runs the same
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: the cost of a task (needs Redis, PostgreSQL), the image pipeline, payments, media in a bucket; see benchmarks/README.md
bench: install
	$(BIN)/python benchmarks/task_overhead.py
	$(BIN)/python benchmarks/image_pipeline.py
	$(BIN)/python benchmarks/payments.py
	$(BIN)/python benchmarks/media_storage.py

clean:
	rm -rf var staticfiles test-output .pytest_cache .ruff_cache .mypy_cache
