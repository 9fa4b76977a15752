#!/bin/sh
# lafsd on the web-API backend next to curl on the same Tahoe-LAFS web-API, and next to Tahoe's
# own SFTP frontend when the grid's grid.env describes that node:
#   bench/webapi.sh URL|fake [SIZE_MIB [SMALL_N]]
# URL is a Tahoe-LAFS node's web-API (e.g. http://127.0.0.1:3456/, as in BASEDIR/node.url), or
# `fake` for the stand-in node from the test helpers. SIZE_MIB defaults to 32, SMALL_N to 100.
# For each client (curl on the web-API, OpenSSH sftp → lafsd, curl FTP → lafsd, OpenSSH sftp →
# Tahoe's sftpd): one file up and down, SMALL_N × 4 KiB files up and down, fresh random data for
# every client in every round, ROUNDS (default 3) interleaved rounds, medians; then the ratios.
# grid.env: LAFSD_TAHOE_GRID_ENV, else $GRID_DIR/grid.env, else /tmp/tahoe-grid/grid.env
# (written by ../shared/tahoe-grid/start-grid.sh). LAFSD_MAIN: lafsd's compiled main.js
# (default: the build used here).
set -eu
if [ $# -lt 1 ]; then
  echo "usage: $0 URL|fake [SIZE_MIB [SMALL_N]]" >&2
  exit 2
fi
for cmd in curl sftp ssh ssh-keygen; do
  command -v "$cmd" >/dev/null || { echo "$0: $cmd is needed" >&2; exit 2; }
done
cd "$(dirname "$0")/.."
npx tsc -b
exec node dist/bench/webapi.js "$@"
