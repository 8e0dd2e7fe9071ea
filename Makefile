# PixelTransformer: `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# torch's version is pinned here; every pip call below keeps it (see constraints.txt). Which build comes (CPU or CUDA)
# is the index's: TORCH_INDEX= names one (PyTorch's CPU index gives the CPU build where PyPI's default is CUDA's).
TORCH_PIN := torch==2.13.0
TORCH_INDEX ?=
DOMAIN ?= polynomial
DATA ?=
ARGS ?=
CKPT ?=
RESUME ?=
WANDB ?= offline
INPUT ?=
CONTEXT ?=
OUT ?=
RUNS ?=

# Bad variables stop here with one line (make's $(error)), before any Python starts.
DOMAINS := $(sort $(basename $(notdir $(wildcard configs/*.yaml))))
# no DOMAIN given: the run folder <run_root>/<domain>/<run> of RESUME= or CKPT= names it (a space in them: one word)
ifeq ($(origin DOMAIN),file)
  DOMAIN := $(or $(filter $(DOMAINS),$(notdir $(patsubst %/,%,$(dir $(patsubst %/,%,$(or $(subst $() $(),?,$(RESUME)),$(patsubst %/checkpoints/,%,$(dir $(subst $() $(),?,$(CKPT)))))))))),$(DOMAIN))
endif
# a value given with a stray space or slash (DOMAIN="sdf ", DOMAIN=sdf/) names the same domain or dataset
override DOMAIN := $(patsubst %/,%,$(strip $(DOMAIN)))
override DATA := $(strip $(DATA))
DATA_CONFIG := $(if $(DATA),--config configs/$(DOMAIN)/$(DATA).yaml,)
# DATA= takes a domain's dataset overlays: the files of configs/<domain>/ that name a dataset (data: init_args:
# dataset:). The others there are option files (a grid size, a GPU recipe, a quicker evaluation): ARGS="--config ...".
datasets = $(sort $(basename $(notdir $(shell awk 'FNR == 1 { top = "" } /^[^ \#]/ { top = $$1 } \
  top == "data:" && /^ +dataset:/ { print FILENAME }' $(wildcard configs/$(1)/*.yaml) /dev/null))))
CLI := WANDB_MODE=$(WANDB) $(PY) -m pixeltransformer
ifneq ($(filter train eval sample,$(MAKECMDGOALS)),)
  ifneq ($(words $(DOMAIN)) $(words $(filter $(DOMAINS),$(DOMAIN))),1 1)
    $(error unknown DOMAIN=$(DOMAIN); choose one of: $(DOMAINS))
  endif
  ifneq ($(DATA),)
    ifeq ($(wildcard configs/$(DOMAIN)/$(DATA).yaml),)
      $(error unknown DATA=$(DATA) for DOMAIN=$(DOMAIN); choose one of: $(or $(call datasets,$(DOMAIN)),none))
    endif
    ifeq ($(filter $(DATA),$(call datasets,$(DOMAIN))),)
      $(error configs/$(DOMAIN)/$(DATA).yaml is an option file, not a dataset: give it as ARGS="--config configs/$(DOMAIN)/$(DATA).yaml" (DATA= is one of: $(or $(call datasets,$(DOMAIN)),none)))
    endif
  endif
endif
ifneq ($(filter eval,$(MAKECMDGOALS)),)
  ifeq ($(CKPT),)
    $(error make eval needs CKPT=runs/<domain>/<run>/checkpoints/last.ckpt)
  endif
endif
ifneq ($(filter sample,$(MAKECMDGOALS)),)
  ifeq ($(CKPT),)
    $(error make sample needs CKPT=<a .ckpt file> and INPUT=<an image, mesh or video file>)
  endif
  ifeq ($(INPUT)$(CONTEXT),)
    $(error make sample needs INPUT=<an image, mesh or video file> to condition on, or CONTEXT=<S as JSON rows or a .json file>)
  endif
  ifneq ($(DATA),)
    $(info make sample: DATA=$(DATA) is not used; a prediction's model and value bins are the checkpoint's (CKPT=))
  endif
endif
# WANDB= is the CLI's WANDB_MODE (of which make takes three); the CLI refuses unknown ones too, here before Python
ifneq ($(filter train eval,$(MAKECMDGOALS)),)
  ifneq ($(words $(WANDB)) $(words $(filter offline online disabled,$(WANDB))),1 1)
    $(error unknown WANDB=$(WANDB); choose one of: offline (the default) online disabled)
  endif
endif
ifneq ($(and $(filter train,$(MAKECMDGOALS)),$(RESUME),$(DATA)),)
  $(info make train: DATA=$(DATA) is not used; a resume continues the run with its own config.yaml and data (RESUME=))
endif

# The environment the targets run in. The project's own .venv is made, and brought up to date after a change of
# pyproject.toml or constraints.txt, by the first target that needs it; a VENV= of your own is used as it is (pip
# runs in it only when asked: make install VENV=...), and one without a Python, or whose Python has no
# pixeltransformer or another checkout's (whose core would run this checkout's domains), stops here.
OWN_VENV := $(filter $(abspath .venv),$(abspath $(VENV)))
VENV_READY := $(if $(OWN_VENV),$(VENV)/.installed)
VENV_GOALS := train eval sample test test-unit test-slow bench results classifier
HERE_PACKAGE := $(realpath src/pixeltransformer/__init__.py)
CHECK_VENV := $(and $(if $(OWN_VENV),,yours),$(filter $(VENV_GOALS),$(MAKECMDGOALS)),\
  $(if $(filter install,$(MAKECMDGOALS)),,run))
ifneq ($(CHECK_VENV),)
  FIND_PACKAGE := import importlib.util as u, os; s = u.find_spec("pixeltransformer"); \
    print(os.path.realpath(s.origin) if s and s.origin else "none")
  VENV_PACKAGE := $(shell if test -x $(PY); then $(PY) -c '$(FIND_PACKAGE)' 2>/dev/null || echo none; \
    else echo nopython; fi)
  # a checkout's folder, or an installed copy's package folder
  VENV_HOLDS = $(patsubst %/src/pixeltransformer,%,$(patsubst %/__init__.py,%,$(VENV_PACKAGE)))
  ifeq ($(VENV_PACKAGE),nopython)
    $(error VENV=$(VENV) has no bin/python: give a virtualenv's folder, or create one with make install VENV=$(VENV))
  else ifeq ($(VENV_PACKAGE),none)
    $(error VENV=$(VENV) has no pixeltransformer: install the project into it with make install VENV=$(VENV), \
      or give another VENV)
  else ifneq ($(VENV_PACKAGE),$(HERE_PACKAGE))
    $(error VENV=$(VENV) runs the pixeltransformer of $(VENV_HOLDS), not this checkout's: \
      install this one into it with make install VENV=$(VENV), or give another VENV)
  endif
endif

# a path or JSON as one shell word, whatever its spaces and quotes: 'it'\''s.obj'; a leading ~/ is left to the
# shell, which makes it the home folder: ~/'my runs/x.ckpt'
shq = $(if $(call home,$(1)),~/)'$(subst ','\'',$(if $(call home,$(1)),$(subst <<~/,,<<$(1)),$(1)))'
home = $(filter ~/%,$(firstword $(1)))

.DEFAULT_GOAL := help
.PHONY: help install train eval sample test test-unit test-slow bench classifier clean

help: ## list the targets
	@echo "PixelTransformer targets (variables: DOMAIN=$(DOMAIN) DATA=$(DATA) ARGS=... CKPT=... RESUME=... INPUT=... CONTEXT=... OUT=... RUNS=... WANDB=offline|online|disabled VENV=$(VENV))"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'
	@echo "DATA= of each DOMAIN (configs/<domain>/<dataset>.yaml; other files there are options: ARGS=\"--config ...\"):"
	@$(foreach d,$(DOMAINS),echo "  $(d): $(or $(call datasets,$(d)),none)";)

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PIN) $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -c constraints.txt -e ".[dev]"
	@touch $@

install: $(VENV)/.installed ## create .venv, or VENV=path (torch pinned; TORCH_INDEX=URL: its build), and install the project

train: $(VENV_READY) ## train DOMAIN (polynomial|images|sdf|video) [DATA=dataset] [ARGS="--trainer.max_steps=50"] [RESUME=run folder]
	$(CLI) fit $(if $(RESUME),--resume $(call shq,$(RESUME)),--config configs/$(DOMAIN).yaml $(DATA_CONFIG)) $(ARGS)

eval: $(VENV_READY) ## evaluate CKPT on DOMAIN's fixed test set: metrics.json + plots in <run>/eval
	$(CLI) test --config configs/$(DOMAIN).yaml $(DATA_CONFIG) --ckpt_path $(call shq,$(CKPT)) $(ARGS)

sample: $(VENV_READY) ## complete INPUT (or CONTEXT) with CKPT: pictures, meshes, videos in <run>/predict [ARGS="--num_context 64 --num_samples 3"]
	WANDB_MODE=disabled $(PY) -m pixeltransformer predict --config configs/$(DOMAIN).yaml --ckpt_path $(call shq,$(CKPT)) $(if $(INPUT),--input $(call shq,$(INPUT)),) $(if $(CONTEXT),--context $(call shq,$(CONTEXT)),) $(if $(OUT),--out $(call shq,$(OUT)),) $(ARGS)

test: $(VENV_READY) ## every tier but the slow tests: tests/unit, tests/domains, tests/cli (W&B disabled)
	WANDB_MODE=disabled $(PY) -m pytest -q

test-unit: $(VENV_READY) ## the unit tier (tests/unit): pure functions, under a minute
	WANDB_MODE=disabled $(PY) -m pytest -q tests/unit

test-slow: $(VENV_READY) ## the slow tests: DDP against one process, resume after kill, determinism, Ctrl-C under DDP
	WANDB_MODE=disabled $(PY) -m pytest -q -m slow

bench: $(VENV_READY) ## benchmarks: training throughput, AR sampling, memory, mean-field (JSON + table)
	WANDB_MODE=disabled $(PY) -m benchmarks.run $(ARGS)

.PHONY: results
results: $(VENV_READY) ## regenerate docs/results.md from docs/metrics/ [RUNS="runs/<domain>/<run> ..." imports those runs first]
	$(PY) -m pixeltransformer.results $(if $(RUNS),--runs $(call shq,$(RUNS)),) $(ARGS)

classifier: $(VENV_READY) ## train and cache the images evaluation's classifier and VAE [DATA=digits (the default)|mnist|cifar10|cats] [ARGS="--root path --download"]
	$(PY) -m domains.images.baselines.pretrained $(if $(DATA),--data $(DATA),) $(ARGS)

# clean deletes Python's own files (*.pyc), then the emptied folders: a run or data folder named __pycache__ stays
clean: ## remove Python and pytest caches (keeps .venv, runs/ and ~/.cache/pixeltransformer)
	rm -rf .pytest_cache
	find '$(CURDIR)' -path '$(abspath $(VENV))' -prune -o -path '$(CURDIR)/.git' -prune \
		-o -path '*/__pycache__/*.pyc' ! -path '*/__pycache__/*/*' -type f -exec rm -f {} +
	find '$(CURDIR)' -path '$(abspath $(VENV))' -prune -o -path '$(CURDIR)/.git' -prune \
		-o -name __pycache__ -type d -empty -exec rmdir {} +
