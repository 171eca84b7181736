# Two commands a newcomer needs: `make demo` (start the local stack and play the main job) and `make test`.
# Everything they need is installed by the targets below, into virtual environments inside the repo.
SHELL := /bin/bash
PY_VERSION := 3.13
VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .tools/sam
CHECKOV_VENV := .tools/checkov
STRIPE_VENV := .tools/localstripe
# The project with its test tools and the PDF renderer (a variable: a comma inside $(call timed,…) would split it)
EXTRAS := .[dev,documents,reports]

.PHONY: install browser demo serve test lint template build openapi events-docs mutation bench clean
# apt-get as root, or through sudo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Each install says what it installs and, when done, how long it took: the first run spends minutes here.
timed = start=$$(date +%s); set -e; $(1); echo "  ✔ $(2) ready in $$(( $$(date +%s) - start )) s"

$(VENV)/.installed: pyproject.toml
	@echo "● First run: installing the project, its runtime (boto3, Powertools, pydantic, stripe) and its test tools"
	@echo "  (moto, pytest, hypothesis, schemathesis, ruff) into $(VENV); about a minute, once"
	@$(call timed,python$(PY_VERSION) -m venv $(VENV); $(PY) -m pip install --quiet --upgrade pip; \
		$(PY) -m pip install --quiet -e "$(EXTRAS)",$(VENV))
	@touch $@

# aws-sam-cli and cfn-lint pin their own boto3 and pydantic: they live in a venv of their own.
$(SAM_VENV)/.installed: infra/requirements-sam.txt
	@echo "● First run: installing aws-sam-cli and cfn-lint into $(SAM_VENV) (they pin their own boto3); about a minute, once"
	@$(call timed,python$(PY_VERSION) -m venv $(SAM_VENV); $(SAM_VENV)/bin/pip install --quiet --upgrade pip; \
		$(SAM_VENV)/bin/pip install --quiet -r infra/requirements-sam.txt,$(SAM_VENV))
	@touch $@

# checkov, the template's security scanner, pins its own boto3, pydantic and many more: a venv of its own too.
$(CHECKOV_VENV)/.installed: infra/requirements-checkov.txt
	@echo "● First run: installing checkov, the template's security scanner, into $(CHECKOV_VENV); about a minute, once"
	@$(call timed,python$(PY_VERSION) -m venv $(CHECKOV_VENV); $(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip; \
		$(CHECKOV_VENV)/bin/pip install --quiet -r infra/requirements-checkov.txt,$(CHECKOV_VENV))
	@touch $@

# localstripe (and the aiohttp it brings) stays out of the project's venv: stripe imports aiohttp when present.
$(STRIPE_VENV)/.installed: infra/requirements-localstripe.txt
	@echo "● First run: installing localstripe, the local stand-in for Stripe, into $(STRIPE_VENV); under a minute, once"
	@$(call timed,python$(PY_VERSION) -m venv $(STRIPE_VENV); $(STRIPE_VENV)/bin/pip install --quiet --upgrade pip; \
		$(STRIPE_VENV)/bin/pip install --quiet -r infra/requirements-localstripe.txt,$(STRIPE_VENV))
	@touch $@

# The pages' third-party browser code (Chart.js for the finance dashboard), pinned in infra/web/package-lock.json:
# `npm ci` installs it into infra/web/node_modules, and the built file, with its licences, is copied where the API
# serves it (billing/web/static/vendor/, not in git: the layer's build copies billing/ and takes it along).
WEB := infra/web
VENDOR := layers/billing/billing/web/static/vendor
$(VENDOR)/chart.umd.min.js: $(WEB)/package.json $(WEB)/package-lock.json
	@echo "● Installing Chart.js from npm (pinned in $(WEB)/package-lock.json) for the dashboard's charts; seconds, once"
	@$(call timed,(cd $(WEB) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error); mkdir -p $(VENDOR); \
		cp $(WEB)/node_modules/chart.js/dist/chart.umd.min.js $(VENDOR)/chart.umd.min.js; \
		cp $(WEB)/node_modules/chart.js/LICENSE.md $(VENDOR)/chart.js.LICENSE.md; \
		cp $(WEB)/node_modules/@kurkle/color/LICENSE.md $(VENDOR)/kurkle-color.LICENSE.md,Chart.js)

install: $(VENV)/.installed $(STRIPE_VENV)/.installed $(VENDOR)/chart.umd.min.js

# Pages are tested in a real headless browser: Debian's Chromium (Playwright's own browser download is not
# reachable), with Noto's CJK fonts for the zh pages (a customer's browser has its own; the pages' font stack names
# them for every platform). The PDFs are read back with poppler-utils
# (pdftotext, pdffonts, pdftoppm).
browser:
	@if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || ! command -v pdftotext >/dev/null; then \
		echo "● First run: installing Chromium, Noto CJK fonts and poppler-utils from Debian (apt-get; a minute or two, once)"; \
		$(call timed,$(SUDO) apt-get update -qq; \
			$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk poppler-utils >/dev/null,Chromium); \
	fi

# DEMO_START=2026-12-31T23:58:00Z starts the stack's clock at that instant (default: now).
demo: install
	$(PY) -m infra.local demo $(if $(DEMO_START),--start $(DEMO_START))

serve: install
	$(PY) -m infra.local serve

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

# cfn-lint, then checkov (docs/security.md): any failed check that template.yaml does not skip, with its reason,
# on the resource fails the build; the output names each failing check, its resource and its lines. Offline:
# --skip-download fetches no guidelines or policies from Prisma Cloud.
CHECKOV := $(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --skip-download --quiet --compact
template: $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed
	$(SAM_VENV)/bin/cfn-lint template.yaml
	$(CHECKOV)

build: $(SAM_VENV)/.installed $(VENDOR)/chart.umd.min.js
	PATH="$$(pyenv prefix $(PY_VERSION).0 2>/dev/null || true)/bin:$$PATH" $(SAM_VENV)/bin/sam build --template-file template.yaml --build-dir .aws-sam/build --cached --parallel

# The whole suite: lint, the template through cfn-lint and `sam build`, then unit, integration and end-to-end tests.
test: install browser lint template build
	$(PY) -m pytest -n 2 --dist loadfile

# The event catalog (docs/events.md) and each type's JSON Schema (docs/events/) are generated from billing/outbound/;
# a test keeps them current.
events-docs: $(VENV)/.installed
	$(PY) -m billing.outbound.docs

# The OpenAPI document is generated from the code; docs/openapi.json is a copy that a test keeps current.
openapi: $(VENV)/.installed
	$(PY) -c 'import json; from billing.api.app import openapi_document as d; print(json.dumps(json.loads(d()), indent=2))' > docs/openapi.json

# Mutation testing of billing/domain (mutmut inside functions, infra/mutation/tables.py for tables and constants):
# prints each module's score and writes docs/mutation.md. About half an hour on two cores; not part of `make test`.
mutation: $(VENV)/.installed
	$(PY) -m infra.mutation

bench: install
	$(PY) -m bench.cold_start
	$(PY) -m bench.dynamodb_calls
	$(PY) -m bench.billing_run
	$(PY) -m bench.clock_move
	$(PY) -m bench.documents
	$(PY) -m bench.reports

clean:
	rm -rf .aws-sam .local .mutation $(WEB)/node_modules $(VENDOR)
