# Two commands for a fresh machine with Python >= 3.11:
#   make demo   install genrekit and run it on the example audio in examples/
#   make test   install genrekit with its test tools and run tests, mypy and ruff
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_OUT ?= build/demo

.PHONY: demo test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[explore]'
	touch $@

$(VENV)/.dev: pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@ $(VENV)/.base

demo: $(VENV)/.base
	$(BIN)/genrekit extract examples -o $(DEMO_OUT) --images
	$(BIN)/genrekit embed examples -o $(DEMO_OUT)
	$(BIN)/genrekit figure "examples/metal/Muldjord - Armygeddon.mp3" -o $(DEMO_OUT)/armygeddon.mel.png
	$(BIN)/genrekit explore $(DEMO_OUT) -o $(DEMO_OUT)/report
	@echo "features: $(DEMO_OUT)/features  images: $(DEMO_OUT)/images  index: $(DEMO_OUT)/index.sqlite"
	@echo "report: $(DEMO_OUT)/report/index.html (open it in a browser)"
	$(BIN)/genrekit classify examples --tags

test: $(VENV)/.dev
	$(BIN)/python -m pytest -q
	$(BIN)/python -m mypy
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .

clean:
	rm -rf $(VENV) build
