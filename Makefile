# data-ops-meltano — the README's two commands (`make demo`, `make test`) and helpers.
# Everything is bootstrapped from a bare Python 3.11: uv goes into .tools/, the
# workspace venv into .venv/, Meltano's plugin venvs into .meltano/.

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
RUN := $(UV) run --frozen
export UV_LINK_MODE := copy
# Byte-compile at install: machines here set PYTHONDONTWRITEBYTECODE, and every
# meltano/tap/target start would otherwise recompile its imports (~1 s each).
export UV_COMPILE_BYTECODE := 1
export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: deploy-tools demo soak test test-snowflake lint typecheck bench setup install clean constraints airflow

# uv itself from a file of its hashes (`make constraints` writes it for UV_VERSION): a
# download whose hash is not listed is refused, like every other install here. Built
# once, like the venvs: after changing UV_VERSION, `make clean`.
$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r uv.requirements.txt

# H2's JDBC driver (Debian's libh2-java) stands in for the Xactly Connect driver.
H2_JAR := /usr/share/java/h2.jar
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

$(H2_JAR):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libh2-java

# gitlab-ci-local (npm, pinned in deploy/ci/package-lock.json): .gitlab-ci.yml checked offline.
GITLAB_CI_LOCAL := deploy/ci/node_modules/.bin/gitlab-ci-local

$(GITLAB_CI_LOCAL): deploy/ci/package.json deploy/ci/package-lock.json
	cd deploy/ci && npm ci --no-audit --no-fund
	touch $@

# Debian's Chromium and its driver: the status page is tested in a real browser.
CHROMEDRIVER := /usr/bin/chromedriver

$(CHROMEDRIVER):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver

.venv/.synced: $(UV) pyproject.toml uv.lock $(wildcard plugins/*/*/pyproject.toml)
	$(UV) sync --frozen
	touch $@

# Airflow in a venv of its own, so its pins never constrain Meltano or the taps.
AIRFLOW := orchestrate/airflow

$(AIRFLOW)/.venv/.synced: $(UV) $(AIRFLOW)/pyproject.toml $(AIRFLOW)/uv.lock
	$(UV) sync --frozen --project $(AIRFLOW)
	touch $@

# checkov too: its pins cannot live beside Meltano's.
CHECKOV := deploy/checkov

$(CHECKOV)/.venv/.synced: $(UV) $(CHECKOV)/pyproject.toml $(CHECKOV)/uv.lock
	$(UV) sync --frozen --project $(CHECKOV)
	touch $@

# Terraform (fmt, the workspace guard) and kubectl (kustomize) come with this machine
# image, as Java does; their installers are not on the registries reachable here.
deploy-tools:
	@command -v terraform >/dev/null || { echo "terraform not found: install Terraform 1.11+ (deploy/terraform/README.md)" >&2; exit 1; }
	@command -v kubectl >/dev/null || { echo "kubectl not found: install kubectl 1.30+ (it renders deploy/kubernetes with kustomize)" >&2; exit 1; }

## setup: Python venv (uv) + every Meltano plugin installed + the H2 JDBC driver + Chromium + gitlab-ci-local + Airflow's and checkov's venvs
setup: .venv/.synced install $(H2_JAR) $(CHROMEDRIVER) $(GITLAB_CI_LOCAL) $(AIRFLOW)/.venv/.synced $(CHECKOV)/.venv/.synced deploy-tools

install: .meltano/.installed

# Plugin venvs are rebuilt whenever a plugin's declaration or dependencies change.
.meltano/.installed: .venv/.synced meltano.yml $(wildcard meltano/*.yml) plugins/constraints.txt $(wildcard plugins/loaders/*.constraints.txt) $(wildcard plugins/*/*/pyproject.toml)
	$(RUN) meltano install --clean
	touch $@

## demo: sandboxes + every pipeline into output/warehouse.duckdb
demo: setup
	$(RUN) dataops demo

## airflow: the local schedules in Airflow (standalone, http://localhost:8080) against the sandboxes
airflow: setup
	$(RUN) dataops airflow

## test: lint, type-check, then the whole test suite (+ the live Snowflake test when
## TARGET_SNOWFLAKE_ACCOUNT and its credentials are in the environment)
test: setup lint typecheck
	$(RUN) pytest -n 2 --dist worksteal $(if $(TARGET_SNOWFLAKE_ACCOUNT),tests live_tests)

## test-snowflake: only the live Snowflake test (needs TARGET_SNOWFLAKE_* credentials)
test-snowflake: setup
	$(RUN) pytest live_tests

## plugin-readmes: rewrite the settings section of each plugin's README.md from its `--about`
.PHONY: plugin-readmes
plugin-readmes: .venv/.synced
	$(RUN) dataops plugin-readmes

lint: .venv/.synced
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: .venv/.synced $(AIRFLOW)/.venv/.synced
	$(RUN) mypy src bench plugins/lib/tap-kit/tapkit plugins/extractors/tap-zengrc/tap_zengrc plugins/extractors/tap-edcast/tap_edcast plugins/extractors/tap-xactly/tap_xactly plugins/extractors/tap-adaptive/tap_adaptive plugins/loaders/target-duckdb/target_duckdb
	cd $(AIRFLOW) && .venv/bin/mypy dags

## constraints: pin the plugin venvs Meltano installs: ours to the versions in uv.lock,
## the third-party loaders to a resolution of their pinned release; every pin with its
## hashes, which uv (Meltano's venv backend) checks at every install
LOADER_PINS := target-postgres=meltanolabs-target-postgres==0.8.1 target-snowflake=meltanolabs-target-snowflake==0.20.4
HASHED_PINS := $(UV) pip compile --quiet --generate-hashes --python-version 3.11 --no-header --no-annotate -
constraints: $(UV)
	echo uv==$(UV_VERSION) | $(HASHED_PINS) -o uv.requirements.txt
	$(UV) export --frozen --no-emit-workspace --all-packages --no-annotate --no-header -o plugins/constraints.txt
	for pin in $(LOADER_PINS); do \
	  echo "$${pin#*=}" | $(HASHED_PINS) -o plugins/loaders/$${pin%%=*}.constraints.txt; \
	done

## soak: random whole-pipeline trials against changing, faulty sandboxes (≈ 10 min)
soak: setup
	$(RUN) dataops soak --minutes 10

## bench: benchmark scenarios (results in bench/results/, summary in docs/benchmarks.md)
bench: setup
	$(RUN) python -m bench.run

clean:
	rm -rf .venv .tools .meltano output
