#!/bin/sh
# The image's build steps, run by deploy/docker/Dockerfile and by
# tests/test_image_build.py on a clean copy of the project (no Docker engine needed).
#
#   deploy/docker/build-project.sh PROJECT_DIR
#
# Builds PROJECT_DIR in place: the workspace venv (.venv, without the dev group),
# Airflow's venv (orchestrate/airflow/.venv), every Meltano plugin (.meltano/), the
# schedules file for Airflow's DAGs; then runs smoke-test.sh (`--about` of every
# extractor and loader). Uses $UV (default: uv on PATH). Meant for a fresh copy of the
# build context.
set -eu

project=$(cd "${1:?usage: build-project.sh PROJECT_DIR}" && pwd)
uv=${UV:-uv}
here=$(cd "$(dirname "$0")" && pwd)

export UV_LINK_MODE=copy
# Byte-compile at install: the image's project is read-only, so Python could never
# cache what it compiles at each start of meltano, a tap or a target.
export UV_COMPILE_BYTECODE=1
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export MELTANO_CLI_DISABLE_VERSION_CHECK=true
# Nothing the build's own Meltano commands record (runs, settings) belongs in the
# image: the system database lives in a scratch folder removed at exit.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export MELTANO_DATABASE_URI="sqlite:///$scratch/meltano.db"
unset VIRTUAL_ENV

step() { printf '\n==> %s\n' "$*"; }

# The runtime needs dataops and meltano[postgres] (main dependencies). The taps and
# target-duckdb (dev group) are installed by Meltano into plugin venvs, from pip_url.
step "workspace venv ($project/.venv)"
UV_PROJECT_ENVIRONMENT="$project/.venv" "$uv" sync --frozen --no-dev --project "$project"

step "Airflow venv ($project/orchestrate/airflow/.venv)"
UV_PROJECT_ENVIRONMENT="$project/orchestrate/airflow/.venv" \
    "$uv" sync --frozen --no-dev --project "$project/orchestrate/airflow"

cd "$project"

step "meltano install (every plugin)"
.venv/bin/meltano install

step "schedules file for Airflow"
.venv/bin/dataops schedules export

step "smoke test: --about of every extractor and loader"
sh "$here/smoke-test.sh" "$project"

# Meltano's per-run files from the smoke test; at run time this is a writable mount.
rm -rf .meltano/run
# The project's own sources (editable installs), which uv does not compile.
.venv/bin/python -m compileall -q "$project/src" "$project/plugins" \
    "$project/orchestrate/airflow/dags" >/dev/null
# Nothing may be writable but by its owner (root in the image), e.g. uv's .lock files.
chmod -R go-w "$project"
step "built $project"
