# Developer and CI entry points. `make help` lists them.
#
# Each recipe runs as one bash script (.ONESHELL) with errexit, nounset and pipefail,
# so a failing step stops the target.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
# The interpreter that creates the virtualenv; the venv python is used for everything else.
PYTHON_BOOTSTRAP ?= $(shell command -v python3.11 || command -v python3)
STAMP := $(VENV)/.installed
ENSURE_DB := $(PY) scripts/ensure_db.py

# Extra arguments: `make test PYTEST_ARGS="-k upload -x"`, `make train TRAIN_ARGS="--epochs 5"`,
# `make bench BENCH_ARGS="--only load_test"`.
PYTEST_ARGS ?=
TRAIN_ARGS ?=
BENCH_ARGS ?=
RUNSERVER_ADDR ?= 127.0.0.1:8000
# `make serve SERVE_BIND=0.0.0.0:8000`; `make purge PURGE_ARGS="--older-than 30d --dry-run"`.
SERVE_BIND ?= 127.0.0.1:8000
PURGE_ARGS ?=

export DJANGO_SETTINGS_MODULE ?= speechemotion.settings

# Sets and exports DATABASE_URL in the recipe's shell. A plain assignment (not
# `export X=$(...)`) so that a failure of ensure_db.py stops the recipe.
define with_db
DATABASE_URL="$$($(ENSURE_DB))"
export DATABASE_URL
echo "make: DATABASE_URL=$$DATABASE_URL" >&2
endef

.PHONY: help venv db run serve purge test lint lint-imports format migrations-check bench train model \
	clean-db

help:
	@echo "make venv              create $(VENV) and install requirements.txt (only when it changed)"
	@echo "make run               database + migrate + optional superuser + worker + runserver $(RUNSERVER_ADDR)"
	@echo "make serve             production-style: DEBUG off, collectstatic, worker + gunicorn $(SERVE_BIND)"
	@echo "                       (needs SECRET_KEY and ALLOWED_HOSTS in the environment)"
	@echo "make purge             delete analyses past RETENTION_DAYS and leftover files (PURGE_ARGS=...)"
	@echo "make test              database + pytest (PYTEST_ARGS=...)"
	@echo "make lint              ruff check, ruff format --check and the import contracts"
	@echo "make lint-imports      the import contracts of pyproject.toml (import-linter)"
	@echo "make format            sort imports and format with ruff"
	@echo "make migrations-check  fail if models changed without a migration"
	@echo "make bench             every bench, short settings, one table of figures (BENCH_ARGS=--full)"
	@echo "make train             python -m ml train (TRAIN_ARGS=...)"
	@echo "make model             retrain the bundled model (fixed seed, about an hour)"
	@echo "make db                print the DATABASE_URL (starting a private cluster if needed)"
	@echo "make clean-db          stop the private PostgreSQL cluster in .pgdata/"

venv: $(STAMP)

# The stamp is newer than requirements.txt once the install succeeded.
$(STAMP): requirements.txt requirements-nodeps.txt
	@if ! "$(PY)" -c "" 2>/dev/null; then
		echo "make: creating $(VENV) with $(PYTHON_BOOTSTRAP)"
		"$(PYTHON_BOOTSTRAP)" -m venv --clear "$(VENV)"
	fi
	"$(PY)" -m pip install --disable-pip-version-check -r requirements.txt
	"$(PY)" -m pip install --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	touch "$(STAMP)"

db: venv
	@$(ENSURE_DB)

run: venv
	@$(with_db)
	$(PY) manage.py migrate --noinput
	# The optional admin account (DJANGO_SUPERUSER_USERNAME, _PASSWORD, _EMAIL). A value it
	# cannot use is reported with the variable's name; the site is served all the same.
	$(PY) manage.py ensure_superuser || echo "make: going on without the admin account" >&2
	# The worker runs the analyses that the web server queues (Procrastinate, in PostgreSQL).
	# runserver runs without `exec` so that the trap stops the worker when it stops; the
	# worker finishes (or requeues) a running analysis first.
	# One BLAS thread: the worker's own threads (two windows at a time, the charts' data)
	# keep both cores busy; OpenBLAS's threads would only spin against them.
	OPENBLAS_NUM_THREADS=1 $(PY) manage.py procrastinate worker & worker_pid=$$!
	trap 'kill "$$worker_pid" 2>/dev/null || true; wait "$$worker_pid" 2>/dev/null || true' EXIT
	$(PY) manage.py runserver $(RUNSERVER_ADDR)

# Production-style, on this machine: DEBUG off, static files collected and served by
# whitenoise, gunicorn configured by gunicorn.conf.py (WEB_CONCURRENCY, GUNICORN_*).
# Refuses to start without SECRET_KEY and ALLOWED_HOSTS rather than invent them.
serve: venv
	@missing=()
	for name in SECRET_KEY ALLOWED_HOSTS; do
		[[ -n "$${!name:-}" ]] || missing+=("$$name")
	done
	if (( $${#missing[@]} )); then
		echo "make serve: set $${missing[*]} in the environment first; production settings" >&2
		echo "need them (DEBUG is off). For example:" >&2
		echo "  export SECRET_KEY=\"\$$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')\"" >&2
		echo "  export ALLOWED_HOSTS=localhost,127.0.0.1" >&2
		echo "See .env.example for the rest. For development, use make run." >&2
		exit 2
	fi
	export DEBUG=0
	$(with_db)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput -v 0
	# Warnings only (e.g. SECURE_SSL_REDIRECT off behind no proxy); they do not stop the start.
	$(PY) manage.py check --deploy
	# One BLAS thread: the worker's own threads (two windows at a time, the charts' data)
	# keep both cores busy; OpenBLAS's threads would only spin against them.
	OPENBLAS_NUM_THREADS=1 $(PY) manage.py procrastinate worker & worker_pid=$$!
	trap 'kill "$$worker_pid" 2>/dev/null || true; wait "$$worker_pid" 2>/dev/null || true' EXIT
	GUNICORN_BIND="$${GUNICORN_BIND:-$(SERVE_BIND)}" $(PY) -m gunicorn -c gunicorn.conf.py

# Run it daily (cron, a systemd timer); see `python manage.py purge --help`.
purge: venv
	@$(with_db)
	$(PY) manage.py purge $(PURGE_ARGS)

test: venv
	@$(with_db)
	$(PY) -m pytest $(PYTEST_ARGS)

# Every check runs, and any failure fails the target.
lint: venv
	@status=0
	$(VENV)/bin/ruff check . || status=1
	$(VENV)/bin/ruff format --check . || status=1
	$(MAKE) --no-print-directory lint-imports || status=1
	exit "$$status"

# The layering (ml plain Python, views and models free of ml): [tool.importlinter].
lint-imports: venv
	@$(VENV)/bin/lint-imports --no-cache

format: venv
	@$(VENV)/bin/ruff check --select I --fix .
	$(VENV)/bin/ruff format .

migrations-check: venv
	@$(with_db)
	$(PY) manage.py makemigrations --check --dry-run

bench: venv
	@$(with_db)
	$(PY) -m bench.run_all $(BENCH_ARGS)

train: venv
	@$(PY) -m ml train $(TRAIN_ARGS)

# Rebuilds the bundled model with its fixed seed, in one command (45 minutes on two cores
# shared with benchmarks, features cached; computing the features adds about 9; they are
# cached in build/cache, so a rerun skips that):
# 1. leave one corpus out: the headline figures, and the member weights, temperature,
#    neutral prior and clarity rule fitted on them;
# 2. 5-fold speaker-disjoint cross-validation over the four corpora, with that prior;
# 3. the final fit on every speaker, saved with its ONNX export and all the figures.
MODEL_DATA ?= ../shared/data
MODEL_ARGS := --arch enc+enc+func --encoder-layers 2,4 --fit-weights --voice-quality --seed 1337 \
	--data $(MODEL_DATA)/ravdess $(MODEL_DATA)/savee $(MODEL_DATA)/emovo $(MODEL_DATA)/casia
model: venv
	@$(PY) -m ml train $(MODEL_ARGS) --folds 5 --out ml/models/bundled \
		--metrics-out build/model-metrics.json $(TRAIN_ARGS)

# Stops only the private cluster that ensure_db.py started; the data in .pgdata/ stays.
clean-db:
	@if [[ -x "$(PY)" ]]; then python="$(PY)"; else python="$(PYTHON_BOOTSTRAP)"; fi
	"$$python" scripts/ensure_db.py --stop
