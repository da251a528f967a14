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
# the compare page's bundle also imports an ES module and a style sheet
webui/static/vendor/.installed: $(wildcard webui/static/src/compare/*)

db: venv
	$(BIN)/liandong init-db --demo

# The web server and one timer worker beside it; Ctrl-C (or the server ending) stops both.
run: venv vendor db
	@trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/liandong worker & worker=$$!; \
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
