# Two commands on a fresh machine with Python 3.11: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_OUT ?= runs/demo-$(shell date +%Y%m%d-%H%M%S)
PYTEST_ARGS ?=

.PHONY: demo test lint bench clean-venv

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

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

clean-venv:
	rm -rf $(VENV)
