#!/usr/bin/env bash
# The hostile-input HTTP suite of issue 11: schemathesis (PyPI, installed by install-deps.sh
# into the deploy-tools venv) reads the API's own /openapi.json and sends generated, malformed,
# oversized and wrong-type requests to every route of a real `onboard api` on a private
# redis-server (free ports, temporary directory, stopped on exit). The check: no response is
# a server error (5xx). Every refusal is a 4xx whose body names the problem (the API's
# `{"error": ...}` or axum's own rejection text).
set -euo pipefail
cd "$(dirname "$0")/../.."
target="${CARGO_TARGET_DIR:-target}"
tools="$target/deploy-tools/venv/bin"
[ -x "$tools/schemathesis" ] || { echo "check-api: run deploy/scripts/install-deps.sh first" >&2; exit 1; }
cargo build --quiet -p onboard
scratch=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port=$(free_port)
api_port=$(free_port)
cleanup() {
  [ -n "${api_pid:-}" ] && kill "$api_pid" 2>/dev/null || true
  redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$scratch" --save "" --appendonly no \
  --daemonize yes --logfile "$scratch/redis.log" >/dev/null
export ONBOARD_REDIS_URL="redis://127.0.0.1:$redis_port/" ONBOARD_PREFIX=apicheck
export ONBOARD_API_LISTEN="127.0.0.1:$api_port" ONBOARD_API_TOKEN=check-api-token
ONBOARD_SECRET_KEY=$("$target/debug/onboard" keygen)
export ONBOARD_SECRET_KEY
"$target/debug/onboard" api >"$scratch/api.log" 2>&1 &
api_pid=$!
healthy() { python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "http://127.0.0.1:$api_port/healthz" >/dev/null 2>&1; }
for _ in $(seq 1 100); do
  healthy && break
  sleep 0.1
done
healthy || { cat "$scratch/api.log" >&2; echo "check-api: onboard api did not start" >&2; exit 1; }
# From the scratch directory: schemathesis keeps a cache in .schemathesis/ under its cwd.
tools=$(cd "$tools" && pwd)
(cd "$scratch" && "$tools/schemathesis" run "http://127.0.0.1:$api_port/openapi.json" \
  -H "Authorization: Bearer check-api-token" \
  --checks not_a_server_error --max-examples 30 --seed 1 >"$scratch/st.log" 2>&1) \
  || { cat "$scratch/st.log" >&2; echo "check-api: the API answered a generated request with a server error" >&2; exit 1; }
grep -E "generated, " "$scratch/st.log" | sed 's/^ */check-api: schemathesis: /'
echo "check-api: no 5xx for any generated request to any route"
