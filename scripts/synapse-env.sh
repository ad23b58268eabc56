#!/usr/bin/env bash
# Test-only: a virtualenv of its own holding matrix-synapse, so the Matrix end-to-end tests can
# start a throwaway homeserver on 127.0.0.1. Synapse (~275 MB) never enters the project's venv.
#
#   bash scripts/synapse-env.sh      # creates or reuses ${SYNAPSE_VENV:-.synapse-venv}
#
# Idempotent: a second run with Synapse already installed only prints the path. The last line
# on stdout is the venv's python; the tests look there (or at $SYNAPSE_PYTHON).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${SYNAPSE_VENV:-.synapse-venv}"
python="${PYTHON:-python3}"
spec="${SYNAPSE_SPEC:-matrix-synapse>=1.120,<2}"

stamp="$venv/.threadwise-synapse"
if [ ! -f "$stamp" ] || ! "$venv/bin/python" -c "import synapse" >/dev/null 2>&1; then
    echo "synapse-env: installing $spec into $venv (about a minute, once)" >&2
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$spec" >&2
    "$venv/bin/python" -c "import synapse.app.homeserver" >/dev/null  # the full server imports
    touch "$stamp"
fi
echo "$(cd "$venv" && pwd)/bin/python"
