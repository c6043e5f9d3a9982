# The two set-up commands of the README are `make serve` and `make test`; both create the
# virtualenv and install what they need, and do nothing again that is already done.
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
STORE  ?= var/store
ARGS   ?=

.PHONY: help serve test lint fix load docs bench mutation clean

help:  ## List the targets (with the values of STORE, HOST and PORT in effect)
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-8s %s\n",$$1,$$2}' \
	  | sed -e 's|$$(STORE)|$(STORE)|g' -e 's|$$(HOST)|$(HOST)|g' -e 's|$$(PORT)|$(PORT)|g'

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed-test
	$(BIN)/python -m pip install -q -e '.[test,bench,dev]'
	@touch $@

# A restart with nothing changed costs three CLI starts: kb load skips the files whose
# content it loaded before, and kb reason the asserted triples it reasoned over last time.
load: $(VENV)/.installed  ## Load the ontology and data/ into $(STORE) and reason (skipped when unchanged)
	$(BIN)/kb --store $(STORE) load ontology data
	$(BIN)/kb --store $(STORE) reason

serve: load  ## Install, load the bundled data and serve on http://$(HOST):$(PORT)/
	$(BIN)/kb --store $(STORE) serve --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-test  ## Install with the test extras and run the whole suite (ARGS=… for pytest)
	$(BIN)/python -m pytest $(ARGS)

lint: $(VENV)/.installed-test  ## Check style with ruff
	$(BIN)/ruff check kb api tests $(wildcard bench)

fix: $(VENV)/.installed-test  ## Apply ruff's fixes
	$(BIN)/ruff check --fix kb api tests $(wildcard bench)

docs: $(VENV)/.installed  ## Write the ontology's documentation (pyLODE) to docs/ontology.html
	@mkdir -p docs
	$(BIN)/python -c "from kb.docs import ontology_html; open('docs/ontology.html', 'w').write(ontology_html())"

bench: $(VENV)/.installed-test  ## Run the benchmarks (see bench/README.md)
	$(BIN)/python -m bench $(ARGS)

# mutmut works in mutants/ (git ignores it) and carries on where a run stopped; remove
# mutants/ to start again. Its settings (modules, tests) are [tool.mutmut] in pyproject.toml.
mutation: $(VENV)/.installed-dev  ## Mutation testing (mutmut) of safety, export and projections with the fast tests
	nice -n 19 $(BIN)/mutmut run --max-children 2 $(ARGS)
	@$(BIN)/python -c "import collections, glob, json; from mutmut.stats import status_by_exit_code as s; \
	  [print(f[8:-5], dict(collections.Counter(s[v] for v in json.load(open(f))['exit_code_by_key'].values()))) \
	   for f in sorted(glob.glob('mutants/kb/*.py.meta'))]"
	$(BIN)/mutmut results

clean:  ## Remove the virtualenv and the store
	rm -rf $(VENV) var
