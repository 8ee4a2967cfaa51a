#!/usr/bin/env bash
# Build the bmo image with podman (or docker): hack/build-image.sh [TAG]
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-localhost/bmo:dev}"
engine="$(command -v podman || command -v docker || true)"
[ -n "$engine" ] || { echo "build-image: neither podman nor docker is installed" >&2; exit 1; }
exec "$engine" build -f Containerfile -t "$tag" .
