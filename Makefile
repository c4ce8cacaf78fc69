# The two commands of README.md:
#   make book   execute every notebook with papermill (smoke profile, synthetic data) and build the book
#   make test   run the test suite (unit tests, notebook execution, built-book checks)
# Both create or refresh the virtual environment in .venv first (quick when it is up to date).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.emolab-installed

.PHONY: venv book test check-browser clean

# `make test` opens the built book in headless Chromium (tests/test_browser.py), about ten minutes
# in on a fresh machine.  check-browser runs first, before the virtual environment is installed,
# and stops at once when the browser or its driver is missing, naming the command that installs
# them (make itself installs nothing system-wide; .ci/run installs them where it may).
BROWSERS        := chromium chromium-browser google-chrome
BROWSER_INSTALL := sudo apt-get install chromium chromium-driver
# The prerequisites of `test` run in the order written, the browser check first.
.NOTPARALLEL:

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

test: check-browser $(STAMP)
	$(BIN)/python -m pytest

check-browser:
	@found=""; for b in $(BROWSERS); do command -v $$b >/dev/null 2>&1 && found=$$b && break; done; \
	if [ -z "$$found" ] || ! command -v chromedriver >/dev/null 2>&1; then \
	  echo "make test: the browser test needs Chromium and chromedriver on PATH" \
	    "(found browser: $${found:-none}; chromedriver: $$(command -v chromedriver || echo none))." >&2; \
	  echo "Install them, then run make test again:  $(BROWSER_INSTALL)" >&2; \
	  echo "(Debian's packages; on Ubuntu 24.04 or elsewhere, Google Chrome and its chromedriver on PATH" \
	    "also do)" >&2; \
	  exit 1; \
	fi

clean:
	rm -rf book/_build book/chapters .pytest_cache
