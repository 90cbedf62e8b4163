#!/bin/sh
# The image's smoke test: `meltano invoke PLUGIN --about` for every extractor and
# loader declared in meltano.yml, so a plugin Meltano cannot find or start fails the
# build, not the first sync in production. Exits non-zero naming each one that failed,
# with what it printed.
#
#   deploy/docker/smoke-test.sh PROJECT_DIR
#
# Run by build-project.sh; also runs alone on a built project (a running image too:
# `sh deploy/docker/smoke-test.sh /project`).
set -eu

project=$(cd "${1:?usage: smoke-test.sh PROJECT_DIR}" && pwd)
meltano="$project/.venv/bin/meltano"
cd "$project"

export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export MELTANO_CLI_DISABLE_VERSION_CHECK=true
# The invocations record nothing worth keeping: scratch system databases, one per
# invocation (Meltano creates its tables at first use, and two at once would collide).
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export MELTANO_DATABASE_URI="sqlite:///$scratch/meltano.db"

plugins=$("$meltano" --log-level=disabled plugin list --format=json |
    "$project/.venv/bin/python" -c '
import json, sys
for plugin in json.load(sys.stdin):
    if plugin["type"] in ("extractor", "loader"):
        print(plugin["name"])
')
[ -n "$plugins" ] || { echo "no extractor or loader declared in meltano.yml" >&2; exit 1; }

# Side by side (each is mostly Python start-up), each one's output kept to show a failure.
for plugin in $plugins; do
    (
        if MELTANO_DATABASE_URI="sqlite:///$scratch/$plugin.db" \
            "$meltano" invoke "$plugin" --about --format=json >"$scratch/$plugin.out" 2>&1; then
            echo "ok: $plugin"
        else
            touch "$scratch/$plugin.failed"
        fi
    ) &
done
wait

failed=""
for plugin in $plugins; do
    if [ -e "$scratch/$plugin.failed" ]; then
        echo "FAILED: meltano invoke $plugin --about" >&2
        cat "$scratch/$plugin.out" >&2
        failed="$failed $plugin"
    fi
done
[ -z "$failed" ] || { echo "smoke test failed for:$failed" >&2; exit 1; }
