# liandong: `make run` serves the app with demo data; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint venv db vendor clean bench

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

vendor: webui/static/vendor/.installed

webui/static/vendor/.installed: package.json package-lock.json scripts/vendor.sh scripts/bundle.mjs $(wildcard webui/static/src/*.js webui/static/src/*/*.js)
	bash scripts/vendor.sh
	touch $@

db: venv
	$(BIN)/liandong init-db --demo

run: venv vendor db
	$(BIN)/liandong run --host 127.0.0.1 --port 5000

# The figures of issue 10 (docs/PERFORMANCE.md); needs PostgreSQL for most of them (--no-pg: SQLite only).
bench: venv
	$(BIN)/python -m bench --plot docs/bench_steps.svg $(BENCH_ARGS)

lint: venv
	$(BIN)/ruff check .

test: venv vendor lint
	$(BIN)/liandong validate
	$(BIN)/pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) node_modules webui/static/vendor instance
