#!/usr/bin/env bash
# Installs what `make test` and `make run` need beyond the Rust toolchain: `redis-server`.
# Debian/Ubuntu: apt-get (as root, or through sudo). Elsewhere: a clear message and exit 1.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "installing redis-server with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
  command -v redis-server >/dev/null 2>&1 || { echo "apt-get did not install redis-server" >&2; exit 1; }
else
  echo "redis-server is missing and apt-get is not available on this system." >&2
  echo "Install Redis 6.2 or newer so that 'redis-server' is on PATH, then run make again." >&2
  exit 1
fi
