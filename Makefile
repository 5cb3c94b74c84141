# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`;
# a third, `make fashion`, runs the Fashion-MNIST temperature study (README).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_OUT ?= runs/demo-$(shell date +%Y%m%d-%H%M%S)
FASHION_STAMP := $(shell date +%Y%m%d-%H%M%S)
FASHION_OUT ?= runs/fashion-$(FASHION_STAMP)
FASHION_CONFIG ?= configs/fashion_cnn.yaml
FASHION_ARGS ?=
# the suite on 2 worker processes, each test file whole on one worker (module fixtures built
# once; the Ray tests keep their one local instance): 7 min -> 5 min on the 2-core machine
TEST_WORKERS ?= 2
PYTEST_ARGS ?= -n $(TEST_WORKERS) --dist loadfile

.PHONY: demo test fashion lint bench clean-venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# the CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# Ray is optional (the ray backend and its tests); its tests skip when it cannot install
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]' || echo "ray extra not installed: ray tests will skip"
	# TensorBoard and MLflow (optional trackers); their tests skip when they cannot install
	$(BIN)/python -m pip install --quiet -e '.[dev,trackers]' || echo "trackers extra not installed: tracker tests will skip"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tempcheck sweep --config configs/digits_cnn.yaml --out $(DEMO_OUT)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# the Fashion-MNIST study: gets the data when missing (Debian's dataset-fashion-mnist, as root),
# runs the sweep, then prints the README's results table from the run folder.
# Options: FASHION_OUT=DIR, FASHION_ARGS='--epochs 6 --seeds 0,1,2' (any sweep option)
# with Ray installed (the optional extra) the two seed banks train side by side, one thread each
FASHION_BACKEND = $(shell $(BIN)/python -c 'import ray' 2>/dev/null && echo --backend ray)

fashion: $(STAMP)
	bash scripts/ensure_fashion_mnist.sh
	$(BIN)/tempcheck sweep --config $(FASHION_CONFIG) --out $(FASHION_OUT) $(FASHION_BACKEND) $(FASHION_ARGS)
	$(BIN)/python scripts/study_table.py $(FASHION_OUT) > $(FASHION_OUT)/study_table.md
	cat $(FASHION_OUT)/study_table.md

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts

clean-venv:
	rm -rf $(VENV)
