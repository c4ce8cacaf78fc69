# The two commands of README.md:
#   make book   execute every notebook with papermill (smoke profile, synthetic data) and build the book
#   make test   run the test suite (unit tests, notebook execution, built-book checks)
# Both create or refresh the virtual environment in .venv first (quick when it is up to date).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.emolab-installed

.PHONY: venv book test clean

venv: $(STAMP)

# pip byte-compiles every file it installs (about 18,000, most of them torch's and ray's): half
# of the install's time on two cores (208 s against 107 s with --no-compile).  Python compiles
# instead what is imported, once, on first use; for that it must be allowed to write bytecode,
# which some images forbid through PYTHONDONTWRITEBYTECODE, so make runs without that variable.
unexport PYTHONDONTWRITEBYTECODE

# Reinstall only when the package metadata changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -e ".[test]"
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/emolab book

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf book/_build book/chapters .pytest_cache
