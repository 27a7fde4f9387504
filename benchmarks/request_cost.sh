#!/usr/bin/env bash
# User-space instructions per request, counted by callgrind: unlike req/s on this shared
# machine, the count is the same run after run, so small changes to the hot path can be judged.
# (No HOST variable here: vgdb names its pipe after $HOST, and callgrind_control must agree.)
#   benchmarks/request_cost.sh [PATH] [REQUESTS]      e.g. /health 5000
set -euo pipefail
cd "$(dirname "$0")/.."
path=${1:-/health}
requests=${2:-5000}
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; [[ -n ${KEEP:-} ]] && cp $work/cg.* $KEEP; rm -rf "$work"' EXIT
secret=request-cost-secret-0123456789abcdef
export AUTHORIZATION="Bearer $(/usr/bin/python3 -c 'import jwt,sys,time; print(jwt.encode({"sub":"bench","roles":["user"],"type":"access","exp":int(time.time())+3600}, sys.argv[1], algorithm="HS256"))' $secret)"
JWT_SECRET_KEY=$secret PORT=$port THREADS=1 LOG_LEVEL=warning SHUTDOWN_DELAY=0 DATA_DIR=$work/data \
  valgrind --tool=callgrind --callgrind-out-file=$work/cg build/bin/task-manager >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do
  /usr/bin/python3 benchmarks/keepalive_client.py $port /health 1 2>/dev/null && break
  sleep 0.2
done
if [[ $path == /api/v1/tasks/id ]]; then  # a real task to read back
  id=$(curl -s -X POST "http://127.0.0.1:$port/api/v1/tasks" -H 'Content-Type: application/json' -H "Authorization: $AUTHORIZATION" \
         -d '{"title":"cost"}' | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  path=/api/v1/tasks/$id
fi
/usr/bin/python3 benchmarks/keepalive_client.py $port "$path" 200       # warm-up
callgrind_control -z $pid >/dev/null 2>&1
/usr/bin/python3 benchmarks/keepalive_client.py $port "$path" $requests
callgrind_control -d $pid >/dev/null 2>&1
sleep 1
total=$(callgrind_annotate $work/cg.* 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
echo "$path: $((total / requests)) user-space instructions per request ($requests requests, THREADS=1)"
