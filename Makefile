# Two commands a newcomer needs: `make run` and `make test`. Each does all set-up first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install lint typecheck bench clean check

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## Grace's main job: the engine on embedded SQLite (.grace/) with the bundled playbooks and a demo.
run: $(STAMP)
	$(BIN)/python -m grace.demo

## The whole suite (SQLite always; PostgreSQL too when GRACE_TEST_DATABASE_URL is set).
test: $(STAMP)
	$(BIN)/python -m pytest -q --durations=15

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench: $(STAMP)
	$(BIN)/python bench/audit.py

clean:
	rm -rf $(VENV) .grace logs .pytest_cache .mypy_cache .ruff_cache
