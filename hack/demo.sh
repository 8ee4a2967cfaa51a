#!/usr/bin/env bash
# The local demo, from a fresh clone: install what is needed (hack/lib/setup.sh), then run
# the sandbox (hack/sandbox): Kubernetes API emulator, a real Ironic, sushy-tools, the
# fake agent and bmo, all on 127.0.0.1, with sample hosts walked to available and
# provisioned. Ctrl-C stops everything. Arguments go to the sandbox, e.g.
#   ./hack/demo.sh --hosts 5      # five fake:// hosts
#   ./hack/demo.sh --exit         # stop once the walk-through succeeded (CI smoke runs)
# Stop a sandbox left running: .venv/bin/python -m hack.sandbox down
set -euo pipefail
source "$(dirname "$0")/lib/setup.sh"
cd "$BMO_ROOT"
setup_all
exec python -m hack.sandbox demo "$@"
