#!/bin/sh
# The build stage of every service image (services/**/Dockerfile): builds each service program of
# the systems (deploy/k8s/systems.json) in /src/build and bundles each with the shared libraries
# it needs under /out/<program> (`svckit bundle`). With the host's compiler cache at /ccache
# (./dev.sh images gives it) the compiling is mostly cache hits.
set -eu
export CCACHE_DIR=/ccache CCACHE_BASEDIR=/src CCACHE_NOHASHDIR=1
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
programs=$(python3 - <<'PY'
import json, pathlib
systems = json.loads(pathlib.Path("/src/deploy/k8s/systems.json").read_text())
print(" ".join(sorted({s for spec in systems.values() for s in spec["services"]})))
PY
)
cmake -S /src -B /src/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DSVCKIT_BUILD_TESTS=OFF \
  -DSVCKIT_BUILD_BENCHMARKS=OFF -DSVCKIT_BUILD_PYTHON=OFF >/dev/null
# shellcheck disable=SC2086
cmake --build /src/build --target $programs
# Swagger UI's two files for /docs (SWAGGER_UI_DIR in the Dockerfiles), when ./dev.sh has them.
ui=/src/tools/npm/node_modules/swagger-ui-dist
for p in $programs; do
  python3 /src/tools/svckit bundle "/src/build/bin/$p" "/out/$p"
  mkdir -p "/out/$p/usr/share/svckit/swagger-ui"
  if [ -f "$ui/swagger-ui-bundle.js" ]; then
    cp "$ui/swagger-ui.css" "$ui/swagger-ui-bundle.js" "/out/$p/usr/share/svckit/swagger-ui/"
  else
    echo "build-services.sh: no $ui (./dev.sh installs it): /docs in the images will say so"
  fi
done
