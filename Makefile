# Esteira: build, test and demo against the local stack (MariaDB + moto on loopback).
#
#   make setup          install what is missing (Debian packages, .local/venv with moto)
#   make build          swift build
#   make test           setup + services-up + build tests + swift test (with .local/env) + fuzz + test-deploy
#   make test-deploy    setup + the chart, image and CloudFormation checks (Tests/Deploy, pytest)
#   make demo           setup + services-up + build + scripts/demo.sh
#   make services-up    start (or reuse) MariaDB and moto; writes .local/env
#   make services-down  stop them (data in .local/ is kept)
#   make format         format Sources, Tests, Fuzz and bench with swift format (.swift-format: 4 spaces, 120 columns)
#   make lint           check that formatting without changing anything (part of `make test`)
#   make fuzz           fuzz what a worker runs on a file for FUZZ_SECONDS (60) with libFuzzer + ASan (Fuzz/run.sh)
#   make clean          services-down, then remove .build and .local

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build
# The targets run scripts with side effects in a fixed order: never in parallel.
.NOTPARALLEL:

# The toolchain lives in /opt/swift on these machines; find it from a bare PATH too.
ifeq ($(shell command -v swift 2>/dev/null),)
export PATH := /opt/swift/usr/bin:$(PATH)
endif

ENV_FILE := .local/env

.PHONY: setup build test test-deploy demo services-up services-down clean fuzz format lint

setup:
	bash scripts/setup.sh

build:
	swift build

services-up: setup
	bash scripts/services-up.sh

services-down:
	bash scripts/services-down.sh

# Plain `swift test` (no --parallel) so Swift Testing prints its summary line;
# the recipe runs under `set -euo pipefail`, so its exit code is make's.
# The fuzz run (FUZZ_SECONDS, 60 by default; its build is cached in .build/fuzz) fails the target on any
# crash, hang or sanitizer report.
test: setup lint services-up
	swift build --build-tests
	# The worker's unit tests (no servers) drive heartbeats and grace periods of a few milliseconds: they
	# run alone first, so the rest of the suite cannot starve their two cooperative threads.
	swift test --skip-build --filter EsteiraWorkerTests
	# The SFTP gateway's suite (hostile clients, a 20,000-entry listing, OpenSSH and paramiko processes) runs
	# on its own too: beside the integration suite, two cores are not enough for its time-bounded clients.
	source $(ENV_FILE) && swift test --skip-build --filter EsteiraSFTPTests --skip HostileClientTests
	# The attack test times a partner's login under 350 hostile connections: alone (about 16 s), so the
	# 20,000-entry listing and the other clients do not share its two cores.
	source $(ENV_FILE) && swift test --skip-build --filter HostileClientTests
	source $(ENV_FILE) && swift test --skip-build --skip EsteiraWorkerTests --skip EsteiraSFTPTests
	bash Fuzz/run.sh
	$(DEPLOY_TESTS)

# No services needed: Helm renders offline, the linters read files. The ldd check reuses
# the debug build (ESTEIRA_DEPLOY_RELEASE_BUILD=1 builds the release binary instead).
DEPLOY_TESTS := .local/venv/bin/python -m pytest -q Tests/Deploy
test-deploy: setup
	$(DEPLOY_TESTS)

demo: setup services-up build
	source $(ENV_FILE) && bash scripts/demo.sh

# Also part of `test`: builds an instrumented copy of EsteiraCSV (once per source change) and runs for a
# bounded time. FUZZ_UPDATE_CORPUS=1 merges what it found into Fuzz/corpus.
fuzz:
	bash Fuzz/run.sh

clean: services-down
	rm -rf .build .local

# The toolchain ships swift-format (`swift format`); the configuration is .swift-format at the top.
SWIFT_FORMAT_PATHS := Package.swift Sources Tests $(wildcard Fuzz/*.swift) $(wildcard bench/*/Package.swift) $(wildcard bench/*/Sources)
format:
	swift format format --in-place --recursive --parallel $(SWIFT_FORMAT_PATHS)

lint:
	swift format lint --strict --recursive --parallel $(SWIFT_FORMAT_PATHS)
