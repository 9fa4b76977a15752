#!/usr/bin/env bash
# Passive FTP listeners as TIME_WAITs pile up (bench/passive-ports.ts), in a network namespace of
# its own when this runs as root with `unshare`, so the ports it holds in TIME_WAIT (up to
# BATCHES × PER_BATCH for 60 s) are not the machine's.
#   bench/passive-ports.sh [BATCHES=4] [PER_BATCH=6000] [OPENS=500]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
[ -f "$ROOT/dist/bench/passive-ports.js" ] || (cd "$ROOT" && npx tsc -b)
if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null; then
  exec unshare -n sh -c 'ip link set lo up && exec node "$0" "$@"' "$ROOT/dist/bench/passive-ports.js" "$@"
fi
echo "bench/passive-ports.sh: not root (or no unshare/ip): running in this machine's network namespace" >&2
exec node "$ROOT/dist/bench/passive-ports.js" "$@"
