# The project's commands. `make run` and `make test` need only Python 3.11:
# SQLite, tasks run in-process, no other server.

PYTHON ?= $(shell command -v python3.11 2>/dev/null || echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements
PYTEST_ARGS ?=
ADDRESS ?= 127.0.0.1:8000

.PHONY: venv install run test lint bench ci clean

venv install: $(STAMP)

# Re-installs only when a lock file changed (or the virtualenv is new).
$(STAMP): requirements/base.txt requirements/dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is needed; $(PYTHON) is " + sys.version.split()[0] + " (try: make PYTHON=/path/to/python3.11 ...)")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check --require-hashes -r requirements/dev.txt
	touch $(STAMP)

# The demo on http://127.0.0.1:8000: SQLite (db.sqlite3), tasks in-process.
# demo_data is idempotent and prints the demo logins.
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_data --members 300 --seed 1
	$(BIN)/python manage.py runserver $(ADDRESS)

# The whole suite (SQLite unless DATABASE_URL says otherwise; PostgreSQL-only
# tests skip on SQLite, broker tests skip without CELERY_BROKER_URL).
test: install
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

# Every benchmark under bench/, on PostgreSQL at 127.0.0.1:5432 (its own
# database loyalty_bench); figures in bench/results/*.json.
bench: install
	$(BIN)/python -m bench

ci:
	bash .ci/run

clean:
	rm -rf $(VENV) staticfiles
