#!/usr/bin/env bash
# The whole test suite, from a fresh machine: install, lint, types, layering, pytest.
# Extra arguments go to pytest (e.g. hack/test.sh tests/api -k parser).
set -euo pipefail
source "$(dirname "$0")/lib/setup.sh"
cd "$BMO_ROOT"
setup_all

log "ruff"
ruff check bmo testenv hack tests
ruff format --check bmo testenv hack tests
log "mypy (strict)"
mypy
log "import-linter (layering contracts)"
lint-imports
log "pytest"
python -m pytest "$@"
