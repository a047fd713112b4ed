#!/usr/bin/env bash
# Proves the crate boundaries written in the README: the pure crates pull in no I/O.
# autotask-types, onboarding-steps, onboarding-memory and onboarding-campaign: no tokio, reqwest, redis, hyper, axum, rand, and no
# clock crates (chrono, time) in their normal dependency tree.
set -euo pipefail
forbidden='^(tokio|reqwest|redis|hyper|axum|rand|chrono|time|mio) '
status=0
for crate in autotask-types onboarding-steps onboarding-memory onboarding-campaign; do
  if ! cargo metadata --format-version 1 --no-deps 2>/dev/null | grep -q "\"name\":\"$crate\""; then
    echo "boundaries: $crate is not in the workspace yet, skipped"
    continue
  fi
  found=$(cargo tree -p "$crate" -e normal --prefix none --format '{p}' | sort -u | grep -E "$forbidden" || true)
  if [ -n "$found" ]; then
    echo "boundaries: $crate must stay pure but depends on:" >&2
    echo "$found" >&2
    status=1
  else
    echo "boundaries: $crate is pure (no async runtime, HTTP, Redis, randomness or clock)"
  fi
done
exit $status
