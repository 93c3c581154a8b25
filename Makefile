# Two commands matter: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

# Python writes its bytecode (and pytest its rewritten tests) next to the sources, even
# where the shell asks it not to: the suite starts dozens of Python processes (test
# workers, live servers), and each compiled every module again, seconds each.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: run test lint typecheck bench translations clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: install, migrate the embedded database, publish xlsforms/, make a first admin, serve
run: $(STAMP)
	$(BIN)/pybabel compile --statistics -d server/web/translations
	$(BIN)/casework migrate
	$(BIN)/casework publish-xlsforms xlsforms
	$(BIN)/casework ensure-admin
	$(BIN)/casework serve --host $${CASEWORK_HOST:-127.0.0.1} --port $${CASEWORK_PORT:-8080}

## test: lint and import layers, then types beside the whole suite on SQLite and (when reachable) PostgreSQL
# mypy takes one core for about six seconds: beside the suite it shares the two cores with it,
# instead of leaving one idle before it. Its report is printed after the suite's (printed when
# mypy ended, it landed among the suite's progress lines and scrolled away); either failing fails.
test: $(STAMP)
	bash .ci/test-deps
	$(BIN)/ruff check server exports tests
	$(BIN)/ruff format --check server exports tests
	$(BIN)/lint-imports
	@log=$$(mktemp); $(BIN)/mypy >$$log 2>&1 & mypy=$$!; \
	bash .ci/pytest-both "$(PG_URL)"; suite=$$?; \
	wait $$mypy; types=$$?; echo "== types (mypy) =="; cat $$log; rm -f $$log; \
	test $$suite -eq 0 && test $$types -eq 0

lint: $(STAMP)
	$(BIN)/ruff check server exports tests
	$(BIN)/ruff format --check server exports tests
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

## bench: the ingest, merge and export benchmarks (minutes; they print their figures)
bench: $(STAMP)
	$(BIN)/python tests/benchmarks/bench_ingest.py
	$(BIN)/python tests/benchmarks/bench_merge.py
	$(BIN)/python tests/benchmarks/bench_export.py

## translations: refresh the catalogue from the templates and code, then compile it
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k _l -k _k:3 --no-location --sort-output \
		--project casework \
		-o server/web/translations/messages.pot .
	$(BIN)/pybabel update -i server/web/translations/messages.pot -d server/web/translations
	$(BIN)/pybabel compile -d server/web/translations

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
