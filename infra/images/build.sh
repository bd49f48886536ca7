#!/usr/bin/env bash
# Build the three project images, tagged with the package version (components/images.py uses
# the same names): vrt-base, vrt-train, vrt-serve.
#
#   bash infra/images/build.sh                      # bare names: vrt-base:<version>, ...
#   VRT_IMAGE_REGISTRY=<your registry prefix> bash infra/images/build.sh --push
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/pyproject.toml" | head -1)"
PREFIX="${VRT_IMAGE_REGISTRY:+${VRT_IMAGE_REGISTRY%/}/}"
PUSH="${1:-}"

for name in vrt-base vrt-train vrt-serve; do
  ref="${PREFIX}${name}:${VERSION}"
  echo "== building $ref" >&2
  docker build -f "$ROOT/infra/images/$name.Dockerfile" --build-arg "VRT_VERSION=$VERSION" -t "$ref" "$ROOT"
  if [ "$PUSH" = "--push" ]; then
    docker push "$ref"
  fi
done
