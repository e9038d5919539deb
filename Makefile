# The README's two commands: `make book` builds the book, `make test` runs the tests.
# Each creates .venv and installs the pinned dependencies when they are missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PROFILE ?= cpu
JOBS ?= $(shell nproc 2>/dev/null || echo 1)
# The grids `make book` computes first (illusion sweep, JOBS rows at a time) so that the
# notebooks find every row and extra they read in the artifact cache: every row the pages
# declare (book:PROFILE; pages never build, and run_notebooks.py --no-builds checks that the
# notebooks' phase built nothing); on `paper`, first the grid file a cluster user edits.
GRID_smoke := book:smoke
GRID_cpu := book:cpu
GRID_paper := grids/paper_cifar10.yaml book:paper
NO_BUILDS_smoke := --no-builds
NO_BUILDS_cpu := --no-builds
NO_BUILDS_paper := --no-builds
GRID ?= $(GRID_$(PROFILE))
# The smoke profile computes on the AVX2 code paths of oneDNN, MKL and ATen, which every x86-64
# machine CI may run on has: its tiny models amplify the rounding of another instruction set
# into other verdicts (reference/README.md), and its reference was built on these paths.
ISA_smoke := ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 MKL_CBWR=AVX2
ISA := $(ISA_$(PROFILE))
export ILLUSION_CACHE ?= $(CURDIR)/artifacts
export ILLUSION_DATA ?= $(CURDIR)/data

.PHONY: book book-pages test data bench book-time clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-cache-dir -e '.[book,dev]'
	@touch $(STAMP)

# Fashion-MNIST: already there, else apt-get as root on Debian/Ubuntu, else torchvision's
# download, else one line naming both ways (tools/get_data.py).
data: $(STAMP)
	$(BIN)/python tools/get_data.py

# Two `make book` at once: the sweeps share the cache (a lock per artifact builds each once);
# the pages and the book, which write the same folders, run one build at a time (flock).
# BUNDLE=FILE|URL: first import a bundle of the profile's artifacts (illusion cache import:
# every checksum verified before anything enters the cache), so that the sweep finds every row.
# The book ends with the reproduction report against reference/$(PROFILE).json.
BUNDLE ?=
book: $(STAMP) data
	$(if $(BUNDLE),$(BIN)/illusion cache import $(BUNDLE) --profile $(PROFILE),true)
	$(foreach g,$(GRID),env $(ISA) $(BIN)/illusion sweep $(g) --max-parallel $(JOBS) &&) true
	@mkdir -p build
	flock build/.book.lock $(MAKE) --no-print-directory book-pages
	@$(BIN)/illusion results --profile $(PROFILE)

book-pages:
	env $(ISA) $(BIN)/python tools/run_notebooks.py --profile $(PROFILE) --out book/notebooks --jobs $(JOBS) $(NO_BUILDS_$(PROFILE))
	$(BIN)/jupyter-book build . --warningiserror --nitpick --keep-going

# The smoke book: every notebook executed under `smoke`, built with warnings as errors into
# $(SMOKE_BOOK), then opened page by page in headless Chromium (tests/test_book_browser.py).
SMOKE_BOOK := build/smoke-book
# The smoke book is built with launch buttons on, for a placeholder address, so that the check
# sees them (illusion.sphinxext; the cpu book gets them only from a real address).
SMOKE_REPOSITORY_URL := https://github.com/example/illusion

test: $(STAMP) data
	$(BIN)/python tools/run_notebooks.py --profile smoke --out build/smoke --prepare-only
	env $(ISA_smoke) $(BIN)/illusion sweep $(GRID_smoke) --max-parallel $(JOBS) --quiet
	env $(ISA_smoke) $(BIN)/python tools/run_notebooks.py --profile smoke --stage-book $(SMOKE_BOOK) --jobs $(JOBS) --no-builds
	ILLUSION_REPOSITORY_URL=$(SMOKE_REPOSITORY_URL) $(BIN)/jupyter-book build $(SMOKE_BOOK) --warningiserror --nitpick --keep-going --quiet
	ILLUSION_REPOSITORY_URL=$(SMOKE_REPOSITORY_URL) ILLUSION_BOOK_HTML=$(SMOKE_BOOK)/_build/html ILLUSION_SMOKE_RESULTS=$(SMOKE_BOOK)/_build/results/smoke.json $(BIN)/python -m pytest tests build/smoke --nbval-lax -q
	$(foreach g,$(DRY_RUN_GRIDS),$(BIN)/illusion sweep $(g) --dry-run kinds --max-parallel $(JOBS) --quiet &&) true

# The paper grids' dry run (illusion.dryrun): every method entry and extra of each grid, for one
# seed and one single- and one multi-class forget set, on a synthetic CIFAR-shaped twin with
# one or two steps per phase, in a temporary cache. `illusion sweep GRID --dry-run` runs every cell.
# Both grids' kinds: 64 cells, 6-30 s each on one core (CIFAR-100's alone: 578 s on one busy core).
DRY_RUN_GRIDS := grids/paper_cifar10.yaml grids/paper_cifar100.yaml

bench: $(STAMP)
	$(BIN)/python bench/train_throughput.py

book-time: $(STAMP)
	$(BIN)/python bench/book_time.py --profile $(PROFILE) --jobs $(JOBS)

clean:
	rm -rf _build build book/notebooks
