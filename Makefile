# One-command set-up on a fresh Debian/Ubuntu machine. Every target is idempotent.
SHELL := /bin/bash
VENV  ?= .venv
PY    := $(VENV)/bin/python
APT_PKGS := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
SUDO  := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
JOBS  ?= 2
DEMO_OUT ?= out/demo

.PHONY: setup system-deps venv test demo bench clean

setup: system-deps $(VENV)/.installed

system-deps:
	@missing=""; \
	for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: pyproject.toml setup.py
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

test: setup
	$(PY) -m pytest -n $(JOBS) --dist loadgroup -q -ra

demo: setup
	$(VENV)/bin/tinyml deploy --data digits --board qemu-m4 --granularity nm --nm 2:4 --format auto -o $(DEMO_OUT) --force

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf out build dist *.egg-info .pytest_cache
