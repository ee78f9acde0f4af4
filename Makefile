# Two commands: `make run` (everything needed, then the web server and the worker) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install lint migrate demo serve clean

$(VENV)/bin/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Re-installs whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py seed_demo
	$(PY) manage.py demo_user --url http://$(HOST):$(PORT)/

# Web server and django-q2 worker together; Ctrl-C (or TERM) stops both. The worker stops on the terminal's
# Ctrl-C itself (a second signal would interrupt its shutdown); it is told after 3 s and killed after 10 s.
serve:
	@echo ""
	@echo "  Open http://$(HOST):$(PORT)/  (Ctrl-C stops the web server and the worker)"
	@echo ""
	@$(PY) manage.py qcluster & worker=$$!; \
	$(PY) manage.py runserver $(HOST):$(PORT) --noreload & web=$$!; \
	trap 'trap "" INT TERM; trap - EXIT; kill -TERM $$web 2>/dev/null; \
	      for n in 1 2 3 4 5 6 7 8 9 10; do kill -0 $$worker 2>/dev/null || break; \
	        [ $$n = 3 ] && kill -INT $$worker 2>/dev/null; sleep 1; done; \
	      pkill -KILL -P $$worker 2>/dev/null; kill -KILL $$worker 2>/dev/null; exit 0' INT TERM EXIT; \
	wait $$web

run: demo
	@$(MAKE) --no-print-directory serve

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(PY) manage.py makemigrations --check --dry-run > /dev/null || (echo "Missing migrations: run manage.py makemigrations"; exit 1)

test: install lint
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(VENV)/bin/pytest

clean:
	rm -rf $(VENV) node_modules staticfiles db.sqlite3*
