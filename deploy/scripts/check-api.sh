#!/usr/bin/env bash
# The hostile-input HTTP suite of issue 11: schemathesis (PyPI, installed by install-deps.sh
# into the deploy-tools venv) reads the API's own /openapi.json and sends generated, malformed,
# oversized and wrong-type requests to every route of a real `onboard api` on a private
# redis-server (free ports, temporary directory, stopped on exit), with every check
# schemathesis has (`--checks all`): no server error (5xx); every status, content type and
# header documented; every answer matching its schema; every request the schema allows
# accepted and every request it forbids refused (the schema is as strict as the validation);
# every refusal a documented `{"error": ...}` naming the problem. The two rules JSON Schema
# cannot state (two usernames that must differ, a webhook family named twice) are taught to the generator by
# check_api_hooks.py.
# The suite must also be able to fail: it is run once more against a deliberately broken copy
# of the document (GET /v1/runs without its `limit` maximum, so the API's 400 for limit=501
# contradicts the document) and must report that failure.
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
# The cross-field rule JSON Schema cannot state (check_api_hooks.py).
export PYTHONPATH="$PWD/deploy/scripts" SCHEMATHESIS_HOOKS=check_api_hooks
started=$SECONDS
(cd "$scratch" && "$tools/schemathesis" run "http://127.0.0.1:$api_port/openapi.json" \
  -H "Authorization: Bearer check-api-token" \
  --checks all --max-examples 30 --seed 1 >"$scratch/st.log" 2>&1) \
  || { cat "$scratch/st.log" >&2; echo "check-api: the API does not keep to its OpenAPI document (above)" >&2; exit 1; }
grep -E "generated, " "$scratch/st.log" | sed 's/^ */check-api: schemathesis: /'
echo "check-api: every generated request to every route answered as documented ($((SECONDS - started)) s)"

# The broken copy: the suite must notice that the document no longer matches the API.
python3 - "http://127.0.0.1:$api_port/openapi.json" "$scratch/broken.json" <<'PY'
import json, sys, urllib.request
doc = json.load(urllib.request.urlopen(sys.argv[1], timeout=5))
for p in doc["paths"]["/v1/runs"]["get"]["parameters"]:
    if p["name"] == "limit":
        del p["schema"]["maximum"]
json.dump(doc, open(sys.argv[2], "w"))
PY
if (cd "$scratch" && "$tools/schemathesis" run "$scratch/broken.json" --url "http://127.0.0.1:$api_port" \
  -H "Authorization: Bearer check-api-token" --include-operation-id listRuns \
  --checks all --max-examples 30 --seed 1 >"$scratch/broken.log" 2>&1); then
  cat "$scratch/broken.log" >&2
  echo "check-api: schemathesis accepted a document that contradicts the API: the suite cannot fail" >&2
  exit 1
fi
grep -q "Schema-valid request rejected" "$scratch/broken.log" \
  || { cat "$scratch/broken.log" >&2; echo "check-api: the broken copy failed for another reason than the planted one" >&2; exit 1; }
echo "check-api: the broken copy of the document is reported (the suite can fail)"
