#!/bin/sh
# Throughput of the web-API backend next to plain curl, against the same Tahoe web-API:
#   bench/webapi.sh URL [SIZE_MIB]
# URL is a Tahoe-LAFS node's web-API (e.g. http://127.0.0.1:3456/, as in BASEDIR/node.url), or
# `fake` for the stand-in node from the test helpers. SIZE_MIB defaults to 256.
set -eu
if [ $# -lt 1 ]; then
  echo "usage: $0 URL|fake [SIZE_MIB]" >&2
  exit 2
fi
command -v curl >/dev/null || { echo "$0: curl is needed" >&2; exit 2; }
cd "$(dirname "$0")/.."
# Build privately when the web-API build folder is set up, else the whole project.
if [ -f .build-webapi/tsconfig.json ]; then
  npx tsc -p .build-webapi
  exec node .build-webapi/bench/webapi.js "$1" "${2:-256}"
fi
npx tsc -b
exec node dist/bench/webapi.js "$1" "${2:-256}"
