#!/usr/bin/env bash
# GPU checks on a machine with an NVIDIA GPU and a Python with torch, but no network (the
# `device` machine): installs Nodal's runtime wheels from .gpu-wheels/ (made beforehand with
# `scripts/device_gpu_check.sh --prepare` on a machine with network) and bubblewrap from there,
# then runs the GPU tests and the GPU cold-start benchmark.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
WHEELS=.gpu-wheels
PKGS=(grpcio==1.85.1 croniter==7.0.0 cryptography==50.0.2 toml==0.10.2 aiohttp==3.14.5 uvicorn==0.54.0
      h11==0.16.0 wsproto==1.3.2 watchfiles==1.3.0 click==8.5.1)
if [[ "${1:-}" == "--prepare" ]]; then
  mkdir -p "$WHEELS"
  .venv/bin/python -m pip download -q --only-binary=:all: --python-version "${GPU_PYTHON_VERSION:-3.12}" \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --implementation cp -d "$WHEELS" "${PKGS[@]}"
  cp "$(command -v bwrap)" "$WHEELS/bwrap"
  exit 0
fi
PY=${NODAL_TEST_GPU_PYTHON:-python3}
"$PY" -m pip install -q --no-index --find-links "$WHEELS" "${PKGS[@]}"
command -v bwrap >/dev/null || install -m 755 "$WHEELS/bwrap" /usr/local/bin/bwrap
export PYTHONPATH="$PWD/src" NODAL_TEST_GPU_PYTHON="$(command -v "$PY")"
if [[ "${1:-}" == "--bench" ]]; then
  shift
  exec "$PY" bench/gpu.py "$@"
fi
"$PY" -m pytest -q -p no:cacheprovider tests/test_gpu_host.py tests/test_sandbox_gpu.py "$@"
