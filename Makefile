# Two commands do all the set-up on a fresh machine: `make run` and `make test` each create the
# virtual environment and install the project into it when missing (or when setup.cfg changed).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.polypnet-installed
PYTEST_ARGS ?=

.PHONY: help venv run summary test clean

help:
	@echo "make run    the training quickstart: IAM-UNet on the bundled sample, CPU, about a minute"
	@echo "make summary  the layer table of the paper preset"
	@echo "make test   the test suite"
	@echo "make venv   only create $(VENV) and install polypnet[dev] into it"

$(STAMP): setup.cfg pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) scripts/fit.py

summary: $(STAMP)
	$(PY) -m polypnet.models summary iam_unet

# pytest exits 5 when it collects no test: say so and fail, rather than pass silently.
test: $(STAMP)
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5): treating as a failure"; fi; \
	exit $$rc

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
