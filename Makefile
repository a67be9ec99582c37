# Steward — the two commands: `make run` and `make test`.
# Both install what they need first (Debian packages, npm packages), and do
# nothing for what is already there.

SHELL := /bin/bash
CARGO ?= cargo

# Debian packages needed to build: libpq for diesel's PostgreSQL backend;
# libxmlsec1, libxml2, OpenSSL and libclang (bindgen) for samael, which
# verifies SAML signatures with xmlsec.
BUILD_PACKAGES := pkg-config libpq-dev libssl-dev libxml2-dev libxmlsec1-dev libclang-dev
# Debian packages needed by the tests (ephemeral PostgreSQL clusters,
# PgBouncer in front of one, nginx in front of process roles).
TEST_PACKAGES := postgresql pgbouncer nginx
# SAML tests: SimpleSAMLphp is the IdP (tests/peers/simplesamlphp, served by
# `php -S`, tests/it/common/saml_idp.rs); it needs php-xml and php-mbstring,
# and openssl makes its key and certificate. The package pulls apache2,
# which the policy-rc.d below keeps from starting.
TEST_PACKAGES += simplesamlphp php-cli php-xml php-mbstring openssl
# Browser tests: headless Chromium driven through chromedriver (WebDriver,
# tests/it/common/browser.rs). Never downloaded at test time.
TEST_PACKAGES += chromium chromium-driver
SDK_DIR := tests/sdk
# Social sign-in tests: panva's oidc-provider as a real OpenID Connect
# provider (tests/peers/oidc/provider.mjs) and a GitHub-shaped OAuth2 mock
# (tests/peers/oidc/github.mjs), both started by tests/it/common/oidc.rs.
OIDC_DIR := tests/peers/oidc
# Python tools for the tests: aiosmtpd (a real SMTP server that captures
# mail), localstripe (a Stripe-compatible server for the payment tests,
# started through tests/peers/localstripe_server.py) and schemathesis
# (checks the Backend API against Clerk's OpenAPI spec,
# tests/it/conformance.rs).
VENV := .tools/venv
AIOSMTPD_VERSION := 1.4.6
LOCALSTRIPE_VERSION := 1.15.10
SCHEMATHESIS_VERSION := 4.32.5

.PHONY: run test build release lint fmt deps-build deps-test test-deps help bench bench-full deps-bench

help:
	@echo "make run    build (release) and serve on the embedded SQLite database"
	@echo "make test   formatting, clippy, and the whole test suite (SQLite + PostgreSQL + @clerk/backend + schemathesis)"
	@echo "make bench  quick benchmark against Better Auth (BENCH_MODE=full or make bench-full: the long one)"

run: deps-build
	$(CARGO) build --release
	./target/release/steward serve

test: deps-build deps-test
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings
	$(CARGO) test --all-targets --locked

build: deps-build
	$(CARGO) build --locked

release: deps-build
	$(CARGO) build --release --locked

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

# Installs the Debian packages in $(1) that are missing (root or sudo).
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps-build:
	$(call apt_install,$(BUILD_PACKAGES))
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)"; exit 1; }

deps-test:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ ! -x /usr/sbin/pgbouncer ] || [ ! -x /usr/sbin/nginx ] || \
	    [ ! -d /usr/share/simplesamlphp ] || [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
		$(MAKE) --no-print-directory apt-test-packages; \
	fi
	@if ! command -v node >/dev/null; then $(MAKE) --no-print-directory apt-node; fi
	@if [ ! -f $(SDK_DIR)/node_modules/.package-lock.json ] || \
	    [ $(SDK_DIR)/package-lock.json -nt $(SDK_DIR)/node_modules/.package-lock.json ]; then \
		cd $(SDK_DIR) && npm ci --no-audit --no-fund; \
	fi
	@if [ ! -f $(OIDC_DIR)/node_modules/.package-lock.json ] || \
	    [ $(OIDC_DIR)/package-lock.json -nt $(OIDC_DIR)/node_modules/.package-lock.json ]; then \
		cd $(OIDC_DIR) && npm ci --no-audit --no-fund; \
	fi
	@if ! $(VENV)/bin/python -c 'import sys' >/dev/null 2>&1; then \
		python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || $(MAKE) --no-print-directory apt-python-venv; \
		rm -rf $(VENV) && python3 -m venv $(VENV); \
	fi
	@$(VENV)/bin/python -c 'import aiosmtpd' >/dev/null 2>&1 || \
		$(VENV)/bin/pip install --quiet --disable-pip-version-check aiosmtpd==$(AIOSMTPD_VERSION)
	@[ "$$($(VENV)/bin/python -c 'import importlib.metadata as m; print(m.version("localstripe"))' 2>/dev/null)" = "$(LOCALSTRIPE_VERSION)" ] || \
		$(VENV)/bin/pip install --quiet --disable-pip-version-check localstripe==$(LOCALSTRIPE_VERSION)
	@[ "$$($(VENV)/bin/schemathesis --version 2>/dev/null)" = "schemathesis, version $(SCHEMATHESIS_VERSION)" ] || \
		$(VENV)/bin/pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION)

# Alias: the name the test harness tells people to run.
test-deps: deps-test

.PHONY: apt-test-packages apt-node apt-python-venv

# The tests start their own servers on loopback; a policy-rc.d keeps the
# packages from starting system services (nginx on port 80, and apache2,
# which simplesamlphp pulls in) while installing.
apt-test-packages:
	@if [ ! -e /usr/sbin/policy-rc.d ] && [ "$$(id -u)" = 0 ]; then \
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && touch .tools-policy-rc; \
	fi
	$(call apt_install,$(TEST_PACKAGES))
	@if [ -e .tools-policy-rc ]; then rm -f /usr/sbin/policy-rc.d .tools-policy-rc; fi

apt-node:
	$(call apt_install,nodejs npm)

apt-python-venv:
	$(call apt_install,python3 python3-venv)

# --- Benchmarks (docs/benchmarks.md) ---------------------------------------
# `make bench` is the quick run (a few seconds per scenario), `make
# bench-full` (or BENCH_MODE=full make bench) the long one. Both build the
# release binary, install wrk, PostgreSQL and the pinned Better Auth set,
# and run bench/run.py, which prints the results and writes them to
# docs/benchmarks.md. Set STEWARD_BIN to benchmark another binary;
# bench/run.py lists the other BENCH_* settings.

BENCH_MODE ?= quick
BENCH_PACKAGES := wrk openssl postgresql
BENCH_PEER_DIR := bench/better-auth
STEWARD_BIN ?= $(or $(CARGO_TARGET_DIR),target)/release/steward

bench: deps-build deps-bench
	$(CARGO) build --release --locked
	BENCH_MODE=$(BENCH_MODE) STEWARD_BIN=$(STEWARD_BIN) python3 bench/run.py

bench-full:
	@$(MAKE) --no-print-directory bench BENCH_MODE=full

deps-bench:
	@missing=""; for p in $(BENCH_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing=1; done; \
	if [ -n "$$missing" ]; then $(MAKE) --no-print-directory apt-bench-packages; fi
	@if ! command -v node >/dev/null; then $(MAKE) --no-print-directory apt-node; fi
	@if [ ! -f $(BENCH_PEER_DIR)/node_modules/.package-lock.json ] || \
	    [ $(BENCH_PEER_DIR)/package-lock.json -nt $(BENCH_PEER_DIR)/node_modules/.package-lock.json ]; then \
		cd $(BENCH_PEER_DIR) && npm ci --no-audit --no-fund; \
	fi

.PHONY: apt-bench-packages

# As apt-test-packages: keep the postgresql package from starting a system cluster.
apt-bench-packages:
	@if [ ! -e /usr/sbin/policy-rc.d ] && [ "$$(id -u)" = 0 ]; then \
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && touch .tools-policy-rc; \
	fi
	$(call apt_install,$(BENCH_PACKAGES))
	@if [ -e .tools-policy-rc ]; then rm -f /usr/sbin/policy-rc.d .tools-policy-rc; fi
