# Everything bootstraps itself: a fresh machine needs only Python 3.11 and pip.
#   make run    -> set up, then run the flow on the embedded synthetic dataset (writes submission.csv)
#   make test   -> set up, then lint (ruff) and run the test suite
PYTHON ?= python3.11
POETRY_VERSION := 2.5.1
TOOLS := .tools
POETRY := $(TOOLS)/bin/python tools/poetry_launcher.py
export POETRY_VIRTUALENVS_IN_PROJECT := true
export POETRY_NO_INTERACTION := 1
# Metaflow refuses to run without a user name
export USERNAME ?= $(or $(USER),recsys)

.PHONY: setup run test lint baseline clean

$(TOOLS)/bin/poetry:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet "poetry==$(POETRY_VERSION)"

.venv/.installed: $(TOOLS)/bin/poetry pyproject.toml poetry.lock
	$(POETRY) check --lock
	$(POETRY) install --no-interaction
	touch $@

setup: .venv/.installed

run: setup
	.venv/bin/python flows/recsys_flow.py run $(ARGS)

baseline: setup
	.venv/bin/python -m recsys baseline $(ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

test: lint
	.venv/bin/python -m pytest $(ARGS)

clean:
	rm -rf .metaflow mlruns mlartifacts mlflow.db catboost_info data/synthetic
