#!/bin/sh
# Throughput of the web-API backend next to plain curl, against the same Tahoe web-API:
#   bench/webapi.sh URL [SIZE_MIB]
# URL is a Tahoe-LAFS node's web-API (e.g. http://127.0.0.1:3456/, as in BASEDIR/node.url), or
# `fake` for the stand-in node from the test helpers. SIZE_MIB defaults to 256.
# Two tables, MiB/s and ratios to curl's PUT /uri and GET /uri/$CAP of the same file: the
# backend alone (WebApiGrid in this process), and end to end through `lafsd run` on a fresh
# node with `grid = webapi` and that URL, with the OpenSSH sftp client (put, then get).
# LAFSD_MAIN: lafsd's compiled main.js for the second table (default: the build used here,
# else dist/src/cli/main.js).
set -eu
if [ $# -lt 1 ]; then
  echo "usage: $0 URL|fake [SIZE_MIB]" >&2
  exit 2
fi
for cmd in curl sftp ssh-keygen; do
  command -v "$cmd" >/dev/null || { echo "$0: $cmd is needed" >&2; exit 2; }
done
cd "$(dirname "$0")/.."
# Build privately when the web-API build folder is set up, else the whole project.
if [ -f .build-webapi/tsconfig.json ]; then
  npx tsc -p .build-webapi
  exec node .build-webapi/bench/webapi.js "$1" "${2:-256}"
fi
npx tsc -b
exec node dist/bench/webapi.js "$1" "${2:-256}"
