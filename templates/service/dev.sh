#!/usr/bin/env bash
# @name@'s one entry point.
#   ./dev.sh run     build, then serve on http://127.0.0.1:${PORT:-8000} (Ctrl-C stops it gracefully)
#   ./dev.sh test    build, then run the tests: the unit tests and the black-box tests
#   ./dev.sh image   build the container image svckit/@name@ with podman (svckit's ./dev.sh images first)
set -euo pipefail
cd "$(dirname "$0")"
# Where svckit is installed (cmake --install); made by `svckit new`, change it if svckit moves.
SVCKIT_PREFIX="${SVCKIT_PREFIX:-@svckit_prefix@}"
# Debian's interpreter, which has python3-pytest, python3-requests and python3-grpcio.
PYTHON="${PYTHON:-/usr/bin/python3}"

build() {
  local generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$SVCKIT_PREFIX" -DPython3_EXECUTABLE="$PYTHON" >/dev/null
  cmake --build build
}

case "${1:-}" in
  run)
    build
    export DATA_DIR="${DATA_DIR:-$PWD/data}" HOST="${HOST:-127.0.0.1}" PORT="${PORT:-8000}"
    mkdir -p "$DATA_DIR"
    echo "dev.sh: @name@ on http://$HOST:$PORT (API: /docs, probes: /health /ready, /metrics)"
    exec build/@name@
    ;;
  test)
    build
    ctest --test-dir build --output-on-failure
    ;;
  image)
    # runc and explicit limits: what podman needs on a cgroup v1 machine (svckit's docs/deploy.md).
    podman build --runtime=runc --ulimit nofile=16384:16384 --ulimit nproc=4096:4096 \
      --format docker --network=none -t svckit/@name@:dev -f Dockerfile .
    ;;
  *)
    echo "usage: ./dev.sh run | test | image"
    exit 2
    ;;
esac
