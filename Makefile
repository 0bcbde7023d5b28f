# Quick start: `make create` (set up, then create the default local cluster) and `make test`.
STACK ?= stacks/local.yaml

.PHONY: setup create test lint unit

setup:
	./scripts/setup.sh

create: setup
	.venv/bin/kubeprov create -f $(STACK)

test:
	./scripts/test.sh

unit: setup
	.venv/bin/python -m pytest -q tests/unit

lint: setup
	.venv/bin/ruff check .
