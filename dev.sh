#!/usr/bin/env bash
# svckit's one entry point on a fresh Debian 12 machine.
#   ./dev.sh run [aether|apartment|raptorflow]   install what is missing, build, start a system behind the gateway
#                    (Ctrl-C stops it; AETHER_PHASE=1..5 runs AETHER-AI's migration beside a stand-in monolith)
#   ./dev.sh test    install, build, check formatting, run every test (also under ASan+UBSan; AETHER-AI as
#                    containers from its images), fuzz 10 s each
#   ./dev.sh build   install and build only
#   ./dev.sh images [system...]   build the container images with podman (docs/deploy.md)
#   ./dev.sh bench   install, build, run the benchmarks in benchmarks/
#   ./dev.sh fuzz [target] [seconds]   build the libFuzzer targets (fuzz/), run each or one (60 s)
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
  cmake ninja-build ccache g++ pkg-config clang-format
  libboost1.81-dev nlohmann-json3-dev prometheus-cpp-dev libsqlite3-dev libpq-dev postgresql-15 libssl-dev openssl libcrypt-dev libjemalloc-dev
  googletest libgmock-dev libbenchmark-dev
  python3-pytest python3-requests python3-jwt python3-cryptography python3-bcrypt
  librabbitmq-dev rabbitmq-server python3-pika pybind11-dev python3-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc python3-grpcio python3-protobuf
  prometheus python3-yaml wrk nginx-light python3-fastapi python3-uvicorn python3-uvloop python3-httptools valgrind
  nodejs chromium python3-jsonschema json-schema-test-suite python3-psycopg2 libhiredis-dev redis-server redis-tools
  python3-websockets python3-aiosmtpd python3-boto3 awscli libcurl4-openssl-dev libkainjow-mustache-dev libre2-dev
  libqrencode-dev oathtool python3-pyotp python3-authlib zbar-tools jq
  bubblewrap libseccomp-dev clang-16 libfuzzer-16-dev libclang-rt-16-dev
  libxgboost-dev python3-numpy python3-decorator libgfortran5 liblapack3 libblas3 liblbfgsb0
)
PYTHON=/usr/bin/python3  # Debian's interpreter: it has the Debian Python packages
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
# Paths relative to the checkout in the cache key: a fresh clone elsewhere (CI) reuses the cache.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"
# Builds with debug info (ASan, fuzzers) would otherwise put the directory in the key, and miss
# in every fresh clone (measured: 9 hits in 573); their debug info names the first checkout.
export CCACHE_NOHASHDIR=1

# python3-xgboost (the apartment system's risk model is trained with it, and tests compare with
# it) is unpacked from Debian's packages rather than installed: it needs python3-scipy, whose
# python3-pythran needs libboost-dev 1.74, which conflicts with libboost1.81-dev. Its runtime
# libraries are in PACKAGES; PYTHONPATH points here.
DEBIAN_PYTHON="$HOME/.cache/svckit/debian-python"
export PYTHONPATH="$DEBIAN_PYTHON${PYTHONPATH:+:$PYTHONPATH}"
install_python_xgboost() {
  [ -f "$DEBIAN_PYTHON/.unpacked" ] && return 0
  echo "dev.sh: unpacking python3-xgboost and python3-scipy into $DEBIAN_PYTHON"
  local tmp deb
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq python3-xgboost python3-scipy 2>/dev/null) ||
    (apt-get update -qq && cd "$tmp" && apt-get download -qq python3-xgboost python3-scipy)
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
  rm -rf "$DEBIAN_PYTHON"
  mkdir -p "$(dirname "$DEBIAN_PYTHON")"
  mv "$tmp/root/usr/lib/python3/dist-packages" "$DEBIAN_PYTHON"
  # The package's link to libxgboost is relative to /usr/lib/python3/dist-packages.
  ln -sfn /usr/lib/x86_64-linux-gnu/libxgboost.so.0 "$DEBIAN_PYTHON/xgboost/lib/libxgboost.so"
  rm -rf "$tmp"
  $PYTHON -c "import xgboost" && touch "$DEBIAN_PYTHON/.unpacked"
}

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # kubectl (its kustomize builds the manifests, docs/deploy.md): Debian's, unless one is here.
  command -v kubectl >/dev/null || missing+=(kubernetes-client)
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "dev.sh: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Swagger UI for /docs and the OpenAPI validator of the tests, pinned in tools/npm/package-lock.json.
install_npm_tools() {
  command -v npm >/dev/null || (PACKAGES=(npm); install_packages)
  local lock=tools/npm/package-lock.json installed=tools/npm/node_modules/.package-lock.json
  if [ ! -f "$installed" ] || [ "$lock" -nt "$installed" ]; then
    echo "dev.sh: installing tools/npm (swagger-ui-dist, openapi-schema-validator)"
    (cd tools/npm && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  fi
}

# build DIR [cmake options...]
build() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -G Ninja -DPython3_EXECUTABLE=$PYTHON "$@" >/dev/null
  cmake --build "$dir"
}

# The libFuzzer targets (fuzz/, docs/fuzzing.md) built with clang, ASan and UBSan in build-fuzz.
build_fuzzers() {
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++-16 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSVCKIT_FUZZ=ON -DSVCKIT_BUILD_TESTS=OFF -DSVCKIT_BUILD_BENCHMARKS=OFF -DSVCKIT_BUILD_PYTHON=OFF \
    -DSVCKIT_JEMALLOC=OFF >/dev/null
  cmake --build build-fuzz --target fuzzers
}

# Runs fuzz target $1 (every one when empty) for $2 seconds each, from its seed corpus in the repo;
# new inputs go to build-fuzz/corpus, a crash to build-fuzz/crashes (and fails the run).
run_fuzzers() {
  local only=$1 seconds=${2:-60} t
  for t in $(ls fuzz/corpus); do
    [ -z "$only" ] || [ "$only" = "$t" ] || continue
    mkdir -p "build-fuzz/corpus/$t" build-fuzz/crashes
    echo "dev.sh: fuzzing $t for ${seconds}s"
    if ! build-fuzz/bin/fuzz_$t -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -max_len=16384 -print_final_stats=1 -artifact_prefix="build-fuzz/crashes/$t-" \
      "build-fuzz/corpus/$t" "fuzz/corpus/$t" >"build-fuzz/fuzz-$t.log" 2>&1; then
      tail -60 "build-fuzz/fuzz-$t.log"
      echo "dev.sh: fuzz_$t failed: the input is in build-fuzz/crashes"
      return 1
    fi
    grep -E "^Done|stat::number_of_executed_units|stat::peak_rss" "build-fuzz/fuzz-$t.log" | tr '\n' ' ' || true
    echo
  done
}

# Waits until $1/ready answers 200 (60 s at most).
wait_ready() {
  $PYTHON - "$1" <<'WAIT'
import sys, time, urllib.request
for _ in range(600):
    try:
        if urllib.request.urlopen(sys.argv[1] + "/ready", timeout=1).status == 200:
            break
    except OSError:
        time.sleep(0.1)
else:
    raise SystemExit("dev.sh: " + sys.argv[1] + " did not become ready in 60 s")
WAIT
}

# The gateway in front on $PORT with routes file $1, once the system is ready (its first health
# checks find it UP). Its clients reach the services through it: they believe its X-Forwarded-For.
run_gateway() {
  GATEWAY_ROUTES="$1" SERVICE_NAME=gateway HOST=127.0.0.1 METRICS_PORT="$GATEWAY_METRICS_PORT" \
    build/bin/gateway
}

run_aether() {
  export SECURITY_ADMIN_EMAIL="${SECURITY_ADMIN_EMAIL:-admin@aether.local}"
  echo "dev.sh: AETHER-AI behind the gateway on http://127.0.0.1:$PORT; data in $DATA_DIR"
  echo "  auth:    POST /api/v1/auth/login  (admin: $SECURITY_ADMIN_EMAIL, password in $DATA_DIR/admin-password)"
  echo "  tasks:   /api/v1/tasks   probes: /health /ready   gRPC: 127.0.0.1:50051"
  echo "  metrics: http://127.0.0.1:8100/metrics (services), http://127.0.0.1:$GATEWAY_METRICS_PORT/metrics (gateway)"
  # The services in one process on 127.0.0.1:8100 (services/gateway/config/aether.json points
  # there), the gateway in front on $PORT. Ctrl-C stops both, gracefully.
  HOST=127.0.0.1 PORT=8100 TRUSTED_PROXIES=127.0.0.1 build/bin/aether &
  local pids=($!) routes=services/gateway/config/aether.json
  # The migration (seed 000 §8.2, docs/deploy.md): with AETHER_PHASE=1..5 a stand-in
  # monolith on 8090 takes each route's share that phase leaves it, the gateway splitting
  # users between the two, shadowing reads and armed to roll back.
  if [ -n "${AETHER_PHASE:-}" ]; then
    routes=services/gateway/config/aether-phase-$AETHER_PHASE.json
    [ -f "$routes" ] || { echo "dev.sh: no phase '$AETHER_PHASE' (1-5)"; kill -TERM "${pids[@]}"; exit 2; }
    $PYTHON tools/aether_monolith.py 8090 & pids+=($!)
    echo "  migration: phase $AETHER_PHASE's routes ($routes), the stand-in monolith on http://127.0.0.1:8090"
  fi
  trap "kill -TERM ${pids[*]} 2>/dev/null; wait ${pids[*]} 2>/dev/null" EXIT
  wait_ready http://127.0.0.1:8100
  run_gateway "$routes"
}

# The Agentic Apartment Manager (docs/apartment.md). On embedded defaults: the four services and
# the sign-in module in one process on 127.0.0.1:8200 (SQLite, the in-process bus). With BUS_URL:
# each in its own process on the seed's ports 8001-8004 (sign-in on 8010), over RabbitMQ.
# Raptorflow (docs/raptorflow.md). On embedded defaults: Auth, Configuration, Agent, Notification,
# File Storage and Analytics in one process on 127.0.0.1:8300 (SQLite, the in-process bus and
# key-value store). With DATABASE_URL, REDIS_URL and BUS_URL: each in its own process on
# 8101-8106 (services/gateway/config/raptorflow.json). The monolith's stand-in on 8090.
run_raptorflow() {
  export AUTH_ADMIN_EMAIL="${AUTH_ADMIN_EMAIL:-admin@raptorflow.local}"
  export AUTH_ADMIN_PASSWORD="${AUTH_ADMIN_PASSWORD:-$(cat "$DATA_DIR/admin-password")}"
  export AUTH_OIDC_ISSUER="${AUTH_OIDC_ISSUER:-http://127.0.0.1:$PORT}" TRUSTED_PROXIES=127.0.0.1
  # Keys of this machine's own, made once and kept with the data.
  [ -s "$DATA_DIR/config-kek" ] || (umask 077; openssl rand -hex 32 > "$DATA_DIR/config-kek")
  [ -s "$DATA_DIR/link-secret" ] || (umask 077; openssl rand -hex 32 > "$DATA_DIR/link-secret")
  export CONFIG_KEK_FILE="${CONFIG_KEK_FILE:-$DATA_DIR/config-kek}"
  export NOTIFY_LINK_SECRET="${NOTIFY_LINK_SECRET:-$(cat "$DATA_DIR/link-secret")}"
  local pids=() routes files_url=http://127.0.0.1:8300
  [ -n "${DATABASE_URL:-}${REDIS_URL:-}${BUS_URL:-}" ] && files_url=http://127.0.0.1:8106
  export AGENT_FILES_URL="${AGENT_FILES_URL:-$files_url}"  # the agents' files skill
  $PYTHON tools/raptorflow_monolith.py 8090 & pids+=($!)
  if [ -n "${DATABASE_URL:-}${REDIS_URL:-}${BUS_URL:-}" ]; then
    local ports=(auth:8101 agent:8102 analytics:8103 configuration:8104 notification:8105 files:8106)
    for entry in "${ports[@]}"; do
      env HOST=127.0.0.1 PORT="${entry#*:}" SERVICE_NAME="${entry%%:*}" "build/bin/${entry%%:*}" & pids+=($!)
    done
    trap "kill -TERM ${pids[*]} 2>/dev/null; wait ${pids[*]} 2>/dev/null" EXIT
    for entry in "${ports[@]}"; do wait_ready "http://127.0.0.1:${entry#*:}"; done
    routes=services/gateway/config/raptorflow.json
  else
    HOST=127.0.0.1 PORT=8300 build/bin/raptorflow & pids+=($!)
    trap "kill -TERM ${pids[*]} 2>/dev/null; wait ${pids[*]} 2>/dev/null" EXIT
    wait_ready http://127.0.0.1:8300
    routes=services/gateway/config/raptorflow-local.json
  fi
  local gw=http://127.0.0.1:$PORT
  echo "dev.sh: Raptorflow behind the gateway on $gw; data in $DATA_DIR"
  echo "  sign in: POST $gw/api/v1/auth/login (admin: $AUTH_ADMIN_EMAIL, password in $DATA_DIR/admin-password)"
  echo "  OIDC:    $gw/.well-known/openid-configuration   flags: $gw/ofrep/v1   agents: $gw/api/v1/agents"
  echo "  a first session, step by step: docs/raptorflow.md"
  run_gateway "$routes"
}

run_apartment() {
  export SECURITY_ADMIN_EMAIL="${SECURITY_ADMIN_EMAIL:-admin@apartment.local}"
  export SECURITY_BCRYPT_COST="${SECURITY_BCRYPT_COST:-10}" TRUSTED_PROXIES=127.0.0.1
  local pids=() routes
  if [ -n "${BUS_URL:-}" ]; then
    local urls=(AI_PROCESSING_SERVICE_URL=http://127.0.0.1:8002
      DECISION_SIMULATION_SERVICE_URL=http://127.0.0.1:8003 EXECUTION_SERVICE_URL=http://127.0.0.1:8004)
    env HOST=127.0.0.1 PORT=8010 SERVICE_NAME=security build/bin/security & pids+=($!)
    env HOST=127.0.0.1 PORT=8001 "${urls[@]}" build/bin/request-management & pids+=($!)
    env HOST=127.0.0.1 PORT=8002 build/bin/ai-processing & pids+=($!)
    env HOST=127.0.0.1 PORT=8003 build/bin/decision-simulation & pids+=($!)
    env HOST=127.0.0.1 PORT=8004 build/bin/execution & pids+=($!)
    trap "kill -TERM ${pids[*]} 2>/dev/null; wait ${pids[*]} 2>/dev/null" EXIT
    for port in 8010 8001 8002 8003 8004; do wait_ready "http://127.0.0.1:$port"; done
    routes=services/gateway/config/apartment.json
  else
    local self=http://127.0.0.1:8200
    HOST=127.0.0.1 PORT=8200 AI_PROCESSING_SERVICE_URL=$self DECISION_SIMULATION_SERVICE_URL=$self \
      EXECUTION_SERVICE_URL=$self build/bin/apartment & pids+=($!)
    trap "kill -TERM ${pids[*]} 2>/dev/null; wait ${pids[*]} 2>/dev/null" EXIT
    wait_ready $self
    routes=services/gateway/config/apartment-local.json
  fi
  # A resident to try it with (made once; their password is kept with the data).
  [ -s "$DATA_DIR/resident-password" ] || (umask 077; openssl rand -hex 12 > "$DATA_DIR/resident-password")
  local sign_in_url=http://127.0.0.1:8200
  [ -n "${BUS_URL:-}" ] && sign_in_url=http://127.0.0.1:8010
  $PYTHON tools/apartment_demo_resident.py "$sign_in_url" "$SECURITY_ADMIN_EMAIL" \
    "$SECURITY_ADMIN_PASSWORD" resident@apartment.local "$(cat "$DATA_DIR/resident-password")" 1204
  local gw=http://127.0.0.1:$PORT
  echo "dev.sh: the Agentic Apartment Manager behind the gateway on $gw; data in $DATA_DIR"
  echo "  sign in as the resident of unit 1204 (the password is in $DATA_DIR/resident-password):"
  echo "    curl -s $gw/api/v1/auth/login -H 'Content-Type: application/json' -d '{\"email\": \"resident@apartment.local\", \"password\": \"PASSWORD\"}'"
  echo "  submit a request with the access_token it returns:"
  echo "    curl -s $gw/api/v1/requests -H 'Authorization: Bearer TOKEN' -H 'Content-Type: application/json' -d '{\"message\": \"Water is leaking from my bathroom ceiling\"}'"
  echo "  then choose an option: POST $gw/api/v1/requests/ID/select-option {\"option_id\": \"...\"} (docs/apartment.md)"
  echo "  the admin is $SECURITY_ADMIN_EMAIL (password in $DATA_DIR/admin-password)"
  echo "  each service's API: http://127.0.0.1:8200/docs (with BUS_URL: :8001-:8004/docs)"
  run_gateway "$routes"
}

# Container images (docs/deploy.md): podman on runc with the limits of deploy/containers/containers.conf.
IMAGE_PACKAGES=(podman buildah runc mmdebstrap uidmap containernetworking-plugins
  golang-github-containernetworking-plugin-dnsname)  # dnsname: containers find each other by name
# The build stage's Debian 12: what building the services needs (no tests, no benchmarks).
BUILDER_PACKAGES=cmake,ninja-build,ccache,g++,pkg-config,libboost1.81-dev,nlohmann-json3-dev,prometheus-cpp-dev,libsqlite3-dev,libpq-dev,libssl-dev,libcrypt-dev,libjemalloc-dev,librabbitmq-dev,libgrpc++-dev,libprotobuf-dev,protobuf-compiler,protobuf-compiler-grpc,libhiredis-dev,libcurl4-openssl-dev,libkainjow-mustache-dev,libre2-dev,libqrencode-dev,libseccomp-dev,libxgboost-dev,googletest,libgmock-dev,python3,ca-certificates
# What every image drops: documentation, translations, apt's lists and caches, old logs (not
# their directories: a package's own, /var/log/rabbitmq, must stay).
SLIM_HOOK='rm -rf "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/usr/share/info/* "$1"/usr/share/locale/* "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* && find "$1"/var/log -type f -delete'
# User and group 10001 written directly: the smallest variant has no useradd.
USER_HOOK='echo "svckit:x:10001:10001::/nonexistent:/usr/sbin/nologin" >>"$1/etc/passwd" && echo "svckit:x:10001:" >>"$1/etc/group" && install -d -o 10001 -g 10001 "$1/var/lib/svckit"'

# base_image NAME VARIANT PACKAGES [podman import --change...]: localhost/NAME:latest, made with
# mmdebstrap from the configured Debian mirror once and kept in ~/.cache/svckit/images (keyed by
# what makes it).
base_image() {
  local name=$1 variant=$2 packages=$3
  shift 3
  local key tar
  key=$(printf '%s\n' "$variant" "$packages" "$SLIM_HOOK" "$USER_HOOK" "$@" | sha256sum | cut -c1-12)
  tar="$HOME/.cache/svckit/images/$name-$key.tar"
  if ! podman image exists "localhost/$name:$key"; then
    if [ ! -s "$tar" ]; then
      echo "dev.sh: making the $name image with mmdebstrap (once)"
      mkdir -p "$(dirname "$tar")"
      mmdebstrap --quiet --variant="$variant" --mode=auto --format=tar --include="$packages" \
        --customize-hook="$USER_HOOK" --customize-hook="$SLIM_HOOK" bookworm "$tar.part"
      rm -f "$(dirname "$tar")/$name-"*.tar  # what an earlier recipe made
      mv "$tar.part" "$tar"
    fi
    local changes=()
    for c in "$@"; do changes+=(--change "$c"); done
    podman import --quiet "${changes[@]}" "$tar" "localhost/$name:$key" >/dev/null
  fi
  podman tag "localhost/$name:$key" "localhost/$name:latest"
}

# images [SYSTEM...]: the base images, then the image of every service of the systems (all of
# them by default) and RabbitMQ's from Debian's package.
images() {
  export CONTAINERS_CONF="$PWD/deploy/containers/containers.conf"
  # Debian's Essential packages, CA certificates and the C++ runtime: what every program needs
  # and `svckit bundle` leaves to the base.
  base_image svckit-runtime essential ca-certificates,libstdc++6,libgcc-s1
  base_image svckit-builder apt "$BUILDER_PACKAGES"
  base_image svckit-rabbitmq minbase rabbitmq-server 'USER rabbitmq' 'ENV HOME=/var/lib/rabbitmq' \
    'CMD ["/usr/sbin/rabbitmq-server"]'
  # The SDK image: the builder with svckit installed, what a generated project's Dockerfile
  # builds on (templates/service/Dockerfile).
  rm -rf build/sdk-image && cmake --install build --prefix build/sdk-image/usr/local >/dev/null
  printf 'FROM localhost/svckit-builder:latest\nCOPY usr/local/ /usr/local/\n' >build/sdk-image/Dockerfile
  podman build --quiet --network=none -t localhost/svckit-sdk:latest build/sdk-image >/dev/null
  mkdir -p "$CCACHE_DIR"
  local services service
  services=$($PYTHON - "$@" <<'PY'
import json, sys
systems = json.load(open("deploy/k8s/systems.json"))
unknown = [name for name in sys.argv[1:] if name not in systems]
if unknown:
    sys.exit(f"dev.sh: no system {', '.join(unknown)} ({', '.join(systems)})")
print(" ".join(sorted({s for name in (sys.argv[1:] or systems) for s in systems[name]["services"]})))
PY
  )
  # The host's locale in the build stage: ccache puts it in its hash.
  local locale=()
  [ -n "${LANG+set}" ] && locale=(--build-arg "LANG=$LANG")
  for service in $services; do
    local home=services/gateway
    [ "$service" = gateway ] || home=$(dirname "$(ls services/*/"$service"/Dockerfile | head -1)")
    echo "dev.sh: image svckit/$service (from $home/Dockerfile)"
    podman build --quiet --format docker --network=none --volume "$CCACHE_DIR:/ccache" "${locale[@]}" \
      -f "$home/Dockerfile" -t "svckit/$service:dev" . >/dev/null
  done
  podman image prune --force >/dev/null  # layers of earlier builds nothing uses
  podman images --filter reference='svckit/*' --filter reference='localhost/svckit-*:latest' \
    --format '{{.Repository}}:{{.Tag}} {{.Size}}'
}

check_format() {
  local bad
  # templates/: text with @name@ markers; what `svckit new` makes from them is formatted as it is
  # written, and tests/install/test_svckit_new.py checks it.
  bad=$(git ls-files '*.cpp' '*.hpp' ':!templates' | xargs clang-format --dry-run -Werror 2>&1 | grep -c "error:" || true)
  if [ "$bad" != "0" ]; then
    git ls-files '*.cpp' '*.hpp' ':!templates' | xargs clang-format --dry-run -Werror 2>&1 | head -20
    echo "dev.sh: $bad formatting differences; run: git ls-files '*.cpp' '*.hpp' ':!templates' | xargs clang-format -i"
    return 1
  fi
  echo "dev.sh: formatting clean"
  # Two GCC 12 coroutine bugs that free things twice (docs/architecture.md).
  git ls-files '*.cpp' '*.hpp' | xargs $PYTHON tools/check_gcc12_coroutines.py
  # No include points up the layers (docs/architecture.md).
  $PYTHON tools/check_layers.py
}

case "${1:-}" in
  run)
    install_packages
    install_python_xgboost
    install_npm_tools
    build build -DCMAKE_BUILD_TYPE=Release
    # No load balancer deregisters the local system, so Ctrl-C need not wait SHUTDOWN_DELAY.
    export DATA_DIR="${DATA_DIR:-$PWD/data}" PORT="${PORT:-8000}" SHUTDOWN_DELAY="${SHUTDOWN_DELAY:-0}"
    mkdir -p "$DATA_DIR"
    # A signing secret and a first admin of this machine's own, made once and kept with the data.
    [ -s "$DATA_DIR/jwt-secret" ] || (umask 077; openssl rand -base64 48 > "$DATA_DIR/jwt-secret")
    [ -s "$DATA_DIR/admin-password" ] || (umask 077; openssl rand -base64 18 > "$DATA_DIR/admin-password")
    export JWT_SECRET_KEY="${JWT_SECRET_KEY:-$(cat "$DATA_DIR/jwt-secret")}"
    export SECURITY_ADMIN_PASSWORD="${SECURITY_ADMIN_PASSWORD:-$(cat "$DATA_DIR/admin-password")}"
    # METRICS_PORT is the gateway's: the services behind it serve /metrics on their own ports.
    GATEWAY_METRICS_PORT="${METRICS_PORT:-9100}"
    unset METRICS_PORT
    case "${2:-aether}" in
      aether) run_aether ;;
      apartment) run_apartment ;;
      raptorflow) run_raptorflow ;;
      *) echo "dev.sh: no system '$2' (aether, apartment, raptorflow)"; exit 2 ;;
    esac
    ;;
  test)
    install_packages
    install_python_xgboost
    install_npm_tools
    check_format
    build build -DCMAKE_BUILD_TYPE=Release
    ctest --test-dir build --output-on-failure --timeout 600
    # AETHER-AI as containers from its images (docs/deploy.md).
    (PACKAGES=("${IMAGE_PACKAGES[@]}"); install_packages)
    images aether
    $PYTHON -m pytest -q -p no:cacheprovider tests/containers
    # The same unit and integration tests against binaries built with ASan + UBSan.
    build build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSVCKIT_SANITIZE=ON -DSVCKIT_BUILD_BENCHMARKS=OFF
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
      ctest --test-dir build-asan --output-on-failure --timeout 900 -E install
    # Every parser that reads outside bytes, fuzzed briefly from its corpus (docs/fuzzing.md).
    build_fuzzers
    run_fuzzers "" 10
    ;;
  fuzz)
    install_packages
    build_fuzzers
    run_fuzzers "${2:-}" "${3:-60}"
    ;;
  images)
    install_packages
    install_npm_tools
    (PACKAGES=("${IMAGE_PACKAGES[@]}"); install_packages)
    build build -DCMAKE_BUILD_TYPE=Release
    images "${@:2}"
    ;;
  build)
    install_packages
    install_python_xgboost
    install_npm_tools
    build build -DCMAKE_BUILD_TYPE=Release
    ;;
  bench)
    install_packages
    install_python_xgboost
    install_npm_tools
    build build -DCMAKE_BUILD_TYPE=Release
    # bench_bus, bench_bus_bare, bench_grpc_* and bench_ws_* take arguments (the drivers below pass them)
    for b in build/bin/bench_*; do
      case "$b" in */bench_bus | */bench_bus_bare | */bench_grpc_* | */bench_ws_* | */bench_files_*) ;; *) "$b" ;; esac
    done
    build/bin/bench_bus 2000000 inproc:// 1 loops metrics
    $PYTHON benchmarks/bench_bus_rabbitmq.py 50000 10000 --rounds 5
    $PYTHON benchmarks/http_load.py --rounds 5
    $PYTHON benchmarks/nginx_parity.py --rounds 3
    $PYTHON benchmarks/grpc_load.py --rounds 5
    $PYTHON benchmarks/python_bindings.py --rounds 3
    $PYTHON benchmarks/websocket_broadcast.py --rounds 3
    $PYTHON benchmarks/file_transfer.py --rounds 3
    $PYTHON benchmarks/gateway_load.py --rounds 3
    benchmarks/request_cost.sh /health
    benchmarks/request_cost.sh /api/v1/tasks/id
    $PYTHON benchmarks/jwt_compare.py --rounds 3
    $PYTHON benchmarks/validate_load.py --connections 10000 --duration 15
    $PYTHON benchmarks/apartment_load.py --rounds 3
    ;;
  *)
    sed -n '2,7p' "$0"
    exit 2
    ;;
esac
