# The two commands README.md promises: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/threadwise --db demo-out/demo.db demo --graph demo-out/quotes.png

SYNAPSE_VENV ?= .synapse-venv

# The Matrix end-to-end tests run a real Synapse, installed in its own virtualenv. The storage
# tests run on SQLite and on a real PostgreSQL server (installed here if missing; the tests
# start and stop their own): THREADWISE_REQUIRE_POSTGRES=1 makes its absence a failure.
test: $(STAMP)
	SYNAPSE_VENV=$(SYNAPSE_VENV) bash scripts/synapse-env.sh >/dev/null || \
		echo "Synapse could not be installed: the Matrix end-to-end tests will skip" >&2
	bash scripts/postgres-server.sh >/dev/null
	MPLCONFIGDIR=$${MPLCONFIGDIR:-$$(mktemp -d)} OPENBLAS_NUM_THREADS=1 SYNAPSE_VENV=$(SYNAPSE_VENV) \
		THREADWISE_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
