#!/usr/bin/env bash
# Brings up the compose stack (deploy/compose.yaml) with one command: `make stack`.
# On first use it writes the secrets the stack needs into deploy/.secrets/ (git-ignored,
# the directory 0700): the sealing key (32 random bytes, base64, as `onboard keygen` prints), the
# Redis password (a file, mounted as a secret into Redis and onboard), the API token and the
# Grafana admin password. It never prints them; read them there.
# Extra arguments go to `docker compose up` (e.g. `--scale worker=4`).
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077
mkdir -p .secrets
random() { head -c "$1" /dev/urandom | base64 | tr -d '\n'; }
hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
[ -s .secrets/sealing.key ] || random 32 > .secrets/sealing.key
# Compose bind-mounts the file itself, so the image's user (65532) must be able to read it;
# the directory (0700) keeps other users of this host out.
chmod 0644 .secrets/sealing.key
[ -s .secrets/redis.password ] || hex 24 > .secrets/redis.password
chmod 0644 .secrets/redis.password
if [ ! -s .secrets/env ]; then
  {
    echo "ONBOARD_API_TOKEN=$(hex 24)"
    echo "GRAFANA_ADMIN_PASSWORD=$(hex 12)"
  } > .secrets/env
fi
exec docker compose --env-file .secrets/env -f compose.yaml up -d --build "$@"
