# Everything bootstraps itself: a fresh machine needs only Python 3.11 and pip. `make help` lists the targets.
PYTHON ?= python3.11
POETRY_VERSION := 2.5.1
TOOLS := .tools
POETRY := $(TOOLS)/bin/python tools/poetry_launcher.py
export POETRY_VIRTUALENVS_IN_PROJECT := true
export POETRY_NO_INTERACTION := 1
# Metaflow refuses to run without a user name
export USERNAME ?= $(or $(USER),recsys)
TRACKING_URI ?= sqlite:///mlflow.db
MODEL ?= models:/stokman-recommender@champion
PORT ?= 5001
UI_PORT ?= 5000

.PHONY: help setup run test lint baseline serve ui present notebook drill stack clean

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  (ARGS=\"...\" passes flow or command options, e.g. make run ARGS=\"--data-dir /path/to/stokman\")"

$(TOOLS)/bin/poetry:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "poetry==$(POETRY_VERSION)"

.venv/.installed: $(TOOLS)/bin/poetry pyproject.toml poetry.lock
	$(POETRY) check --lock
	# one package at a time: mlflow, mlflow-skinny and mlflow-tracing ship the same files, and installed in parallel
	# with --compile a file's bytecode could be compiled while another package rewrote it (a broken mlflow import)
	# quiet unless it fails: the install prints ~2,000 lines; its log stays in .tools/install.log
	@echo "installing the locked dependencies into .venv/ (log: $(TOOLS)/install.log)"
	@POETRY_INSTALLER_PARALLEL=false $(POETRY) install --no-interaction --compile > $(TOOLS)/install.log 2>&1 \
		|| { tail -40 $(TOOLS)/install.log; echo "the install failed; full log: $(TOOLS)/install.log"; exit 1; }
	touch $@

# the cluster group (boto3, the kubernetes client, psycopg2: docs/cluster.md) for the tests and `make stack`
.venv/.cluster: .venv/.installed
	@echo "installing the cluster group into .venv/ (log: $(TOOLS)/install-cluster.log)"
	@POETRY_INSTALLER_PARALLEL=false $(POETRY) install --no-interaction --compile --with cluster \
		> $(TOOLS)/install-cluster.log 2>&1 \
		|| { tail -40 $(TOOLS)/install-cluster.log; echo "the install failed; full log: $(TOOLS)/install-cluster.log"; exit 1; }
	touch $@

setup: .venv/.installed ## install poetry (.tools/) and the locked dependencies (.venv/)

run: setup ## run the flow (embedded synthetic data unless ARGS="--data-dir DIR") -> submission.csv, MLflow run
	.venv/bin/python flows/recsys_flow.py run $(ARGS)

baseline: setup ## score the baselines on the validation cut and the truth file (python -m recsys baseline)
	.venv/bin/python -m recsys baseline $(ARGS)

serve: setup ## serve the champion model on http://127.0.0.1:5001/invocations (PORT=...), with request limits
	MLFLOW_TRACKING_URI=$(TRACKING_URI) .venv/bin/python -m recsys serve --model $(MODEL) --port $(PORT) $(ARGS)

ui: setup ## the MLflow UI on the local database, http://127.0.0.1:5000 (UI_PORT=...)
	.venv/bin/mlflow ui --backend-store-uri $(TRACKING_URI) --host 127.0.0.1 --port $(UI_PORT)

present: setup ## export the latest run's slides to presentation/ (and attach them to its MLflow run)
	.venv/bin/python -m recsys present $(ARGS)

notebook: setup ## open notebooks/explore_run.ipynb in Jupyter (installs the optional notebook group)
	$(POETRY) install --no-interaction --with notebook
	.venv/bin/jupyter notebook notebooks/explore_run.ipynb $(ARGS)

drill: setup ## the failure drill (a killed step, then resume) in a scratch folder: your results stay as they are
	bash tools/drill.sh $(ARGS)

stack: .venv/.cluster ## start S3 (moto), PostgreSQL and an MLflow server on loopback for the cluster path (docs/cluster.md)
	.venv/bin/python tools/local_stack.py $(ARGS)

lint: setup ## ruff check and ruff format --check
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

test: lint .venv/.cluster ## lint, then the whole test suite (ARGS="-m 'not slow'" skips the flow and cluster runs)
	.venv/bin/python -m pytest $(ARGS)

clean: ## remove every run output (Metaflow datastore, MLflow, CatBoost files, data cache, submission, slides)
	rm -rf .metaflow mlruns mlartifacts mlflow.db catboost_info data/synthetic submission*.csv submission*.csv.json presentation \
		report.html talk shots batch.csv metaflow_card_cache
